// The auditor's check of the exported history, in this browser: every block
// decoded from box-core's canonical bytes (version 1, kind 17, ABI of
// BlockWire), then block by block: height sequence and parent-hash chain,
// the entries' Merkle root, entry count and increasing log indices, and the
// sealer's EIP-712 signature by a node account of the genesis. It does NOT
// replay the notary state machine (state hashes, quorum certificates, the
// rules each subject passed): that is box-core's verify_history, which
// `boxctl audit verify` runs offline. See the console README.
import { decodeAbiParameters, keccak256, concatHex, toHex, recoverAddress, getAddress, numberToHex } from 'viem';
import { typedData, digest } from './typed.js';

const BLOCK_WIRE = [{
  type: 'tuple',
  components: [
    { name: 'header', type: 'tuple', components: [
      { name: 'height', type: 'uint64' }, { name: 'parent', type: 'bytes32' }, { name: 'entriesRoot', type: 'bytes32' },
      { name: 'stateHash', type: 'bytes32' }, { name: 'time', type: 'uint64' }, { name: 'firstIndex', type: 'uint64' },
      { name: 'entryCount', type: 'uint64' }] },
    { name: 'signature', type: 'bytes' },
    { name: 'entries', type: 'tuple[]', components: [{ name: 'index', type: 'uint64' }, { name: 'time', type: 'uint64' }, { name: 'entry', type: 'bytes' }] },
  ],
}];

const ZERO = `0x${'00'.repeat(32)}`;

function leaf(e) {
  return keccak256(concatHex(['0x00', numberToHex(e.index, { size: 8 }), numberToHex(e.time, { size: 8 }), e.entry]));
}

export function merkleRoot(leaves) {
  if (!leaves.length) return ZERO;
  let level = leaves;
  while (level.length > 1) {
    const next = [];
    for (let i = 0; i < level.length; i += 2) next.push(i + 1 < level.length ? keccak256(concatHex(['0x01', level[i], level[i + 1]])) : level[i]);
    level = next;
  }
  return level[0].toLowerCase();
}

/** Decodes one block's canonical bytes (0x hex). */
export function decodeBlock(hex) {
  if (!/^0x0111/i.test(hex)) throw new Error('not a version-1 block encoding');
  const [w] = decodeAbiParameters(BLOCK_WIRE, `0x${hex.slice(6)}`);
  return w;
}

/**
 * Verifies `blocks` (canonical hex, from height 1) against `genesis` under
 * `domain`; returns { blocks, entries } or throws an Error naming the block.
 */
export async function verifyExport(domain, genesis, blocks, onProgress) {
  if (genesis.chainId !== domain.chainId || genesis.deploymentId.toLowerCase() !== domain.salt) {
    throw new Error('the exported genesis is not this deployment\'s (deployment id or chain id differ)');
  }
  const nodes = new Set(genesis.nodes.map((n) => getAddress(n.account)));
  let parent = ZERO;
  let nextIndex = null;
  let entries = 0;
  for (let i = 0; i < blocks.length; i++) {
    const height = i + 1;
    const fail = (why) => new Error(`block ${height}: ${why}`);
    let b;
    try {
      b = decodeBlock(blocks[i]);
    } catch (e) {
      throw fail(`does not decode (${e.shortMessage || e.message})`);
    }
    const hd = b.header;
    if (Number(hd.height) !== height) throw fail(`has height ${hd.height}`);
    if (hd.parent.toLowerCase() !== parent) throw fail('does not name the previous block as its parent');
    if (Number(hd.entryCount) !== b.entries.length) throw fail(`says ${hd.entryCount} entries and holds ${b.entries.length}`);
    // Log indices only increase; they need not be contiguous (the log also
    // carries raft and sealing commands that are not notary entries).
    b.entries.forEach((e, k) => {
      if (nextIndex !== null && e.index < nextIndex) throw fail(`entry ${k} has log index ${e.index}, which does not follow the previous entry`);
      nextIndex = e.index + 1n;
    });
    if (b.entries.length && b.entries[0].index !== hd.firstIndex) throw fail('its first index differs from its first entry\'s');
    if (merkleRoot(b.entries.map(leaf)) !== hd.entriesRoot.toLowerCase()) throw fail('its entries do not hash to its Merkle root');
    const td = typedData(domain, 'BlockHeader', Object.fromEntries(Object.entries(hd).map(([k, v]) => [k, typeof v === 'bigint' ? v.toString() : v])));
    const hash = digest(td);
    let sealer;
    try {
      sealer = getAddress(await recoverAddress({ hash, signature: b.signature }));
    } catch {
      throw fail('its seal does not recover');
    }
    if (!nodes.has(sealer)) throw fail(`is sealed by ${sealer}, not a node account of the genesis (a node added later needs boxctl audit verify)`);
    parent = hash;
    entries += b.entries.length;
    onProgress?.(height);
  }
  return { blocks: blocks.length, entries, tip: parent };
}

export { toHex };
