// The EIP-712 types BOX signs (box-core's typed.rs and the gateway's
// ApiRequest), built into this console. At sign-in they are compared with
// the gateway's catalogue (GET /v1/typed-data): a console and a gateway that
// disagree on what is signed refuse to work together.
import { hashTypedData, keccak256, concatHex, recoverAddress, getAddress, isAddress, toHex } from 'viem';

const f = (name, type) => ({ name, type });

export const TYPES = {
  EIP712Domain: [f('name', 'string'), f('version', 'string'), f('chainId', 'uint256'), f('salt', 'bytes32')],
  ApiRequest: [f('method', 'string'), f('path', 'string'), f('bodyHash', 'bytes32'), f('timestamp', 'uint64'), f('nonce', 'bytes32')],
  TransferRequest: [
    f('requestId', 'bytes32'), f('flowHash', 'bytes32'), f('applicant', 'address'), f('asset', 'address'),
    f('to', 'address'), f('amount', 'uint256'), f('maxFee', 'uint256'), f('chainId', 'uint64'), f('timestamp', 'uint64'),
  ],
  Approval: [f('request', 'TransferRequest'), f('level', 'uint32'), f('below', 'bytes32')],
  FlowAuthorization: [f('flowHash', 'bytes32'), f('enable', 'bool')],
  BoxFlow: [f('name', 'string'), f('employees', 'address[]'), f('levels', 'ApprovalLevel[]'), f('limits', 'AssetLimit[]'), f('nonce', 'uint64'), f('addressBookOnly', 'bool')],
  ApprovalLevel: [f('name', 'string'), f('approvers', 'address[]'), f('threshold', 'uint32')],
  AssetLimit: [f('asset', 'address'), f('perTransfer', 'uint256'), f('perPeriod', 'uint256'), f('periodSeconds', 'uint64'), f('maxFee', 'uint256')],
  FreezeEmployee: [f('employee', 'address'), f('frozen', 'bool'), f('reason', 'string'), f('nonce', 'uint64')],
  BlockDestination: [f('destination', 'address'), f('blocked', 'bool'), f('reason', 'string'), f('nonce', 'uint64')],
  RegisterAsset: [f('token', 'address'), f('symbol', 'string'), f('decimals', 'uint8'), f('registered', 'bool'), f('nonce', 'uint64')],
  PauseTransfers: [f('paused', 'bool'), f('reason', 'string'), f('nonce', 'uint64')],
  AddressBookEntry: [f('destination', 'address'), f('label', 'string'), f('flowHash', 'bytes32'), f('listed', 'bool'), f('nonce', 'uint64')],
  BlockHeader: [
    f('height', 'uint64'), f('parent', 'bytes32'), f('entriesRoot', 'bytes32'), f('stateHash', 'bytes32'),
    f('time', 'uint64'), f('firstIndex', 'uint64'), f('entryCount', 'uint64'),
  ],
};

/** A refusal to sign: what the gateway showed does not verify. */
export class Untrusted extends Error {
  constructor(message) {
    super(message);
    this.name = 'Untrusted';
  }
}

/** The types `primary` needs: itself and every struct it nests, plus EIP712Domain. */
function typesFor(primary) {
  const out = { EIP712Domain: TYPES.EIP712Domain };
  const walk = (t) => {
    if (out[t]) return;
    out[t] = TYPES[t];
    for (const { type } of TYPES[t]) {
      const base = type.replace(/\[\]$/, '');
      if (TYPES[base]) walk(base);
    }
  };
  walk(primary);
  return out;
}

/** The eth_signTypedData_v4 JSON of `message` as a `primary`, under `domain`. */
export function typedData(domain, primary, message) {
  return { types: typesFor(primary), primaryType: primary, domain, message };
}

/** viem wants bigints for integers; the JSON has numbers or decimal strings. */
function toViem(types, type, v) {
  if (type.endsWith('[]')) return v.map((x) => toViem(types, type.slice(0, -2), x));
  if (types[type]) return Object.fromEntries(types[type].map(({ name, type: t }) => [name, toViem(types, t, v[name])]));
  if (/^u?int\d*$/.test(type)) return BigInt(v);
  return v;
}

/** The EIP-712 digest of typed data (0x hex, lowercase). */
export function digest(td) {
  const { EIP712Domain, ...types } = td.types;
  return hashTypedData({
    domain: { ...td.domain, chainId: BigInt(td.domain.chainId) },
    types,
    primaryType: td.primaryType,
    message: toViem(td.types, td.primaryType, td.message),
  }).toLowerCase();
}

/** Whether two type lists are the same (names and types, in order). */
function sameFields(a, b) {
  return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => x.name === b[i].name && x.type === b[i].type);
}

/**
 * Checks the gateway's catalogue against the types built into this console
 * and the deployment's domain; returns the domain to sign under.
 */
export function checkCatalogue(catalogue, deployment) {
  for (const [name, fields] of Object.entries(TYPES)) {
    if (name === 'BlockHeader') continue; // the nodes sign it; not in the people's catalogue
    if (!sameFields(catalogue.types?.[name], fields)) {
      throw new Untrusted(`this console and the gateway disagree on the signed type ${name}; do not sign here (update the gateway and the console together)`);
    }
  }
  const d = catalogue.domain;
  if (d.name !== deployment.domainName || d.version !== deployment.domainVersion || d.chainId !== deployment.chainId ||
      d.salt.toLowerCase() !== deployment.deploymentId.toLowerCase()) {
    throw new Untrusted('the typed-data domain differs from the deployment the gateway names');
  }
  return { name: d.name, version: d.version, chainId: d.chainId, salt: d.salt.toLowerCase() };
}

/** Who signed typed data `td` with `signature` (checksummed). */
export async function signerOf(td, signature) {
  return getAddress(await recoverAddress({ hash: digest(td), signature }));
}

/** A 65-byte signature with v as 27/28 (a wallet may answer 0/1). */
export function normaliseSignature(sig) {
  if (typeof sig !== 'string' || !/^0x[0-9a-fA-F]{130}$/.test(sig)) throw new Error('the wallet answered something that is not a 65-byte signature');
  const v = parseInt(sig.slice(130), 16);
  const fixed = v < 27 ? v + 27 : v;
  if (fixed !== 27 && fixed !== 28) throw new Error(`the wallet's signature has v = ${v}`);
  return sig.slice(0, 130).toLowerCase() + fixed.toString(16);
}

/** `below` (box-core transbox::below_digest): the applicant's signature, then each lower level's signatures. */
export function belowDigest(applicantSignature, lowerLevels) {
  let d = keccak256(concatHex([toHex(new TextEncoder().encode('BOX/below/v1')), applicantSignature]));
  for (const level of lowerLevels) d = keccak256(concatHex([d, ...level]));
  return d.toLowerCase();
}

/** A strict EIP-55 address: mixed case must be the right checksum. */
export function parseAddress(text) {
  const s = String(text).trim();
  if (!/^0x[0-9a-fA-F]{40}$/.test(s)) throw new Error(`"${s}" is not an address (0x and 40 hex digits)`);
  const mixed = s !== s.toLowerCase() && s.slice(2) !== s.slice(2).toUpperCase();
  if (mixed && !isAddress(s, { strict: true })) throw new Error(`${s} has a wrong EIP-55 checksum: check every character`);
  return getAddress(s);
}

export const ETH = '0x0000000000000000000000000000000000000000';
