// Who signs: a keystore v3 file decrypted here (the password and the key
// never leave this tab) or an injected EIP-1193 wallet asked with
// eth_signTypedData_v4. Either way the console recovers every signature it
// gets and refuses one that is not the signed-in person's over the digest it
// computed itself.
import { scryptAsync } from '@noble/hashes/scrypt';
import { pbkdf2Async } from '@noble/hashes/pbkdf2';
import { sha256 } from '@noble/hashes/sha256';
import { keccak_256 } from '@noble/hashes/sha3';
import { ctr } from '@noble/ciphers/aes.js';
import { privateKeyToAccount } from 'viem/accounts';
import { getAddress, bytesToHex } from 'viem';
import { normaliseSignature, signerOf } from './typed.js';

/** Hostile parameters are refused before anything is allocated (as boxctl does). */
const MAX_SCRYPT_BYTES = 256 * 1024 * 1024;
const MAX_PBKDF2_ROUNDS = 10_000_000;

export class WrongPassword extends Error {}

function hexBytes(field, s) {
  const h = String(s ?? '').replace(/^0x/i, '');
  if (!/^[0-9a-fA-F]*$/.test(h) || h.length % 2) throw new Error(`the keystore's ${field} is not hex`);
  return Uint8Array.from(h.match(/../g) || [], (b) => parseInt(b, 16));
}

function equal(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

/** Decrypts a keystore v3 JSON text with `password`; returns the 32-byte key. */
export async function decryptKeystore(text, password, onProgress) {
  let ks;
  try {
    ks = JSON.parse(text);
  } catch {
    throw new Error('the file is not JSON: choose a keystore v3 file (what boxctl, geth and most wallets export)');
  }
  const c = ks.crypto || ks.Crypto;
  if (ks.version !== 3 || !c) throw new Error('the file is not a keystore v3 file (no version 3 and crypto section)');
  if (String(c.cipher).toLowerCase() !== 'aes-128-ctr') throw new Error(`the keystore uses cipher ${c.cipher}; only aes-128-ctr is read`);
  const p = c.kdfparams || {};
  const salt = hexBytes('salt', p.salt);
  const iv = hexBytes('iv', c.cipherparams?.iv);
  const ciphertext = hexBytes('ciphertext', c.ciphertext);
  const mac = hexBytes('mac', c.mac);
  if (iv.length > 16 || ciphertext.length !== 32 || mac.length !== 32) throw new Error('the keystore has an iv, ciphertext or mac of the wrong length');
  const ivFull = new Uint8Array(16);
  ivFull.set(iv, 16 - iv.length); // IVs written without leading zero bytes
  const kdf = String(c.kdf).toLowerCase();
  const derive = async (pw) => {
    const bytes = new TextEncoder().encode(pw);
    if (kdf === 'scrypt') {
      const { n, r, p: par, dklen } = p;
      if (!Number.isInteger(n) || n < 2 || (n & (n - 1)) !== 0 || !(r > 0) || !(par > 0)) throw new Error('the keystore has malformed scrypt parameters');
      if (128 * r * n > MAX_SCRYPT_BYTES) throw new Error(`the keystore asks scrypt for more than 256 MiB (n=${n}, r=${r}, p=${par}); refused`);
      return scryptAsync(bytes, salt, { N: n, r, p: par, dkLen: dklen || 32, onProgress });
    }
    if (kdf === 'pbkdf2') {
      if (p.prf !== 'hmac-sha256') throw new Error(`the keystore uses pbkdf2 with ${p.prf}; only hmac-sha256 is read`);
      if (!(p.c > 0) || p.c > MAX_PBKDF2_ROUNDS) throw new Error(`the keystore asks for ${p.c} pbkdf2 rounds (at most 10^7); refused`);
      return pbkdf2Async(sha256, bytes, salt, { c: p.c, dkLen: p.dklen || 32 });
    }
    throw new Error(`the keystore uses kdf ${c.kdf}; only scrypt and pbkdf2 are read`);
  };
  const tries = [...new Set([password, password.normalize('NFKC')])];
  for (const pw of tries) {
    const dk = await derive(pw);
    const check = keccak_256(new Uint8Array([...dk.slice(16, 32), ...ciphertext]));
    if (equal(check, mac)) {
      const key = ctr(dk.slice(0, 16), ivFull).decrypt(ciphertext);
      dk.fill(0);
      const address = privateKeyToAccount(bytesToHex(key)).address;
      if (ks.address && getAddress(`0x${String(ks.address).replace(/^0x/i, '')}`) !== address) {
        key.fill(0);
        throw new Error('the keystore decrypts to another address than the one it names; refused');
      }
      return key;
    }
    dk.fill(0);
  }
  throw new WrongPassword('wrong password for this keystore file: it does not open it (checked here; nothing was sent)');
}

/** A signer from a decrypted key. `forget()` overwrites the key bytes. */
export function keystoreSigner(key) {
  let account = privateKeyToAccount(bytesToHex(key));
  const address = account.address;
  return {
    kind: 'keystore file',
    address,
    async sign(td) {
      if (!account) throw new Error('signed out');
      const { EIP712Domain, ...types } = td.types;
      const toBig = (t, v) => (t.endsWith('[]') ? v.map((x) => toBig(t.slice(0, -2), x))
        : td.types[t] ? Object.fromEntries(td.types[t].map((fl) => [fl.name, toBig(fl.type, v[fl.name])]))
        : /^u?int\d*$/.test(t) ? BigInt(v) : v);
      const sig = await account.signTypedData({
        domain: { ...td.domain, chainId: BigInt(td.domain.chainId) },
        types,
        primaryType: td.primaryType,
        message: toBig(td.primaryType, td.message),
      });
      return checked(td, sig, address);
    },
    forget() {
      key.fill(0);
      account = null;
    },
  };
}

/** A signer through an injected EIP-1193 wallet (window.ethereum). */
export async function walletSigner(provider) {
  if (!provider?.request) throw new Error('no browser wallet found in this page (an EIP-1193 window.ethereum)');
  const accounts = await provider.request({ method: 'eth_requestAccounts' });
  if (!accounts?.length) throw new Error('the wallet shared no account');
  const address = getAddress(accounts[0]);
  return {
    kind: 'browser wallet',
    address,
    async sign(td) {
      const sig = await provider.request({ method: 'eth_signTypedData_v4', params: [address, JSON.stringify(td)] });
      return checked(td, normaliseSignature(sig), address);
    },
    forget() {},
  };
}

/** The signature, after recovering it over our own digest of `td`. */
async function checked(td, sig, address) {
  const who = await signerOf(td, sig);
  if (who !== address) throw new Error(`the signature over ${td.primaryType} recovers to ${who}, not ${address}: nothing was sent`);
  return sig.toLowerCase();
}
