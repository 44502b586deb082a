// The gateway API, every call signed here exactly as boxctl signs it: the
// X-Box-* headers over EIP-712 ApiRequest(method, path, bodyHash, timestamp,
// nonce) under the deployment's domain. No cookie, no server-side session:
// the gateway holds no authority.
import { keccak256, toHex, bytesToHex } from 'viem';
import { typedData } from './typed.js';

/** An answer of the gateway that is not 2xx: its {code, message}. */
export class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/** The public, unsigned reads. */
export async function publicGet(path) {
  return answer(await fetch(path, { headers: { accept: 'application/json' }, credentials: 'omit', cache: 'no-store' }));
}

async function answer(res) {
  const text = await res.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (res.ok) return body;
  const retry = Number(res.headers.get('retry-after')) || undefined;
  throw new ApiError(res.status, body?.code || 'unknown', body?.message || text.slice(0, 300) || res.statusText, retry);
}

/** A client of the gateway acting as `signer` under `domain`. */
export function client(domain, signer, onActivity) {
  async function call(method, path, body) {
    onActivity?.();
    const text = body === undefined ? '' : JSON.stringify(body);
    const nonce = bytesToHex(crypto.getRandomValues(new Uint8Array(32)));
    const timestamp = Math.floor(Date.now() / 1000);
    const msg = { method, path, bodyHash: keccak256(toHex(new TextEncoder().encode(text))), timestamp, nonce };
    const signature = await signer.sign(typedData(domain, 'ApiRequest', msg));
    const headers = {
      accept: 'application/json',
      'x-box-signer': signer.address,
      'x-box-timestamp': String(timestamp),
      'x-box-nonce': nonce,
      'x-box-signature': signature,
    };
    if (text) headers['content-type'] = 'application/json';
    return answer(await fetch(path, { method, headers, body: text || undefined, credentials: 'omit', cache: 'no-store' }));
  }
  return {
    get: (path) => call('GET', path),
    post: (path, body) => call('POST', path, body),
  };
}

/** A refusal or failure in words a person can act on. */
export function explain(e) {
  if (e?.name === 'Untrusted') {
    return `Refused to sign: ${e.message}.\nWhat the gateway showed does not verify in this browser; nothing was signed or sent. Tell your security team.`;
  }
  if (e instanceof ApiError) {
    if (e.status === 429) {
      const wait = e.retryAfter ? ` Try again in ${e.retryAfter} seconds.` : ' Try again later.';
      const why = e.code === 'source_throttled'
        ? 'The gateway is refusing requests from this network for a while, after too many failed signatures from it.'
        : 'The gateway is limiting how many requests you may send (too many requests).';
      return `${why}${wait}\n(${e.code}: ${e.message})`;
    }
    if (e.code === 'stale_timestamp') return `This computer's clock differs too much from the gateway's; set the clock right and try again.\n(${e.message})`;
    if (e.code === 'bad_signature') return `The gateway did not accept this browser's signature.\n(${e.message})`;
    if (e.status === 403) return `Your role does not allow this: ${e.message}`;
    if (e.status === 503) return `The private chain is not reachable right now; try again shortly.\n(${e.message})`;
    return `The gateway refused (${e.status} ${e.code}): ${e.message}`;
  }
  if (e?.name === 'TypeError' && /fetch/i.test(e.message)) return 'The gateway cannot be reached: check the network and try again.';
  return e?.message || String(e);
}
