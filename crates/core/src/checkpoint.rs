//! A follower's verified state, persisted so that a restart resumes from it
//! and verifies only the blocks that follow, instead of replaying the
//! history from the genesis (the signer and the gateway keep one each, in
//! their own stores).
//!
//! The bytes ([`encode`]) are binary (crate README, "Binary state"):
//! [`MAGIC`], the height, the state root, the verifier's parent hash and
//! next log index, the sealed header of the last verified block, then the
//! notary state as its genesis and rows ([`NotaryState::to_binary`]).
//! [`decode`] also reads the JSON checkpoints earlier versions wrote (a
//! follower upgraded in place resumes from its old one), and takes either
//! back only if it holds together: the genesis is the caller's, the state
//! passes [`NotaryState::checked`], the root recomputed from the rows is the
//! root claimed and the header's state hash, and the header hashes to the
//! verifier's parent. A corrupted or edited checkpoint is refused with the
//! reason; the caller replays from the genesis instead.
//!
//! A follower may keep the retired ids (replay protection: every transfer
//! and subject that ever finished) in its own store instead
//! ([`encode_indexed`], version 2): the checkpoint then lists only the ids
//! retired since the index was last written, so persisting and resuming
//! cost the live state, not the history. Their fold into the retired row
//! cannot be checked at resume (the ids are not at hand): the index is
//! trusted like the store, as below, and only the follower that wrote it
//! reads it back ([`decode_indexed`]; [`decode`] refuses it). A block
//! applied to such a state needs the index's answers
//! ([`HistoryVerifier::push_answered`]).
//!
//! What it does not do: prove the state to anyone but the process that
//! wrote it. A checkpoint consistent in itself but written by someone else
//! with access to the store is trusted like the store itself; the signer
//! compares the header with every node it dials before it acts on the
//! state (its cross-check), and a block that does not extend the header is
//! refused as it would be after a replay.

use crate::audit::HistoryVerifier;
use crate::block::BlockHeader;
use crate::evidence::SealedHeader;
use crate::notary::{NotaryState, Reader, put_sized};
use crate::typed::Genesis;
use alloy::primitives::{B256, Signature};
use alloy::sol_types::SolValue;
use serde::{Deserialize, Serialize};

/// Why a persisted checkpoint is not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the persisted verified state is discarded: {0}")]
pub struct CheckpointError(pub String);

/// The first bytes of a binary checkpoint (magic and version 1).
pub const MAGIC: &[u8; 9] = b"BOXCHKPT\x01";

/// The first bytes of a checkpoint whose older retired ids are in the
/// follower's own index ([`encode_indexed`]): version 2.
pub const MAGIC_INDEXED: &[u8; 9] = b"BOXCHKPT\x02";

/// The JSON form earlier versions wrote (read by [`decode`]).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Out<'a> {
    height: u64,
    state_root: B256,
    header: Option<&'a SealedHeader>,
    verifier: &'a HistoryVerifier,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct In {
    height: u64,
    state_root: B256,
    header: Option<SealedHeader>,
    verifier: HistoryVerifier,
}

/// A checkpoint that held together.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The verifier, at the checkpoint's height.
    pub verifier: HistoryVerifier,
    /// The sealed header of the last verified block (`None` at height 0).
    pub header: Option<SealedHeader>,
}

/// The bytes to persist for `verifier`, whose last accepted block has the
/// sealed header `header` (`None` before block 1). O(state): write it now
/// and then, not per block.
///
/// A verifier whose state leaves retired ids to a follower's index
/// ([`NotaryState::retired_indexed`] > 0) is written in the indexed form
/// for the same index ([`encode_indexed`]), the only form that holds it.
pub fn encode(verifier: &HistoryVerifier, header: Option<&SealedHeader>) -> Vec<u8> {
    let indexed = verifier.state().retired_indexed();
    if indexed > 0
        && let Some(bytes) = encode_indexed(verifier, header, indexed)
    {
        return bytes;
    }
    let mut out = MAGIC.to_vec();
    put_head(&mut out, verifier, header);
    out.extend_from_slice(&verifier.state().to_binary());
    out
}

/// The checkpoint of `verifier` for a follower whose own index holds the
/// first `indexed` retired ids (in retirement order): [`MAGIC_INDEXED`],
/// [`encode`]'s fields, `indexed` (8 bytes, big-endian), then the state
/// with only the retired ids after those listed. It stays O(live state +
/// ids not yet indexed), so a follower that adds
/// `verifier.state().retired_after(indexed)` to its index, in the same
/// durable write as these bytes, persists and resumes (`decode`) at a cost
/// that does not grow with the ids that ever retired.
///
/// `None` if `indexed` is below the ids `verifier`'s state already leaves
/// to the index ([`NotaryState::retired_indexed`]) or above its retired
/// count.
pub fn encode_indexed(verifier: &HistoryVerifier, header: Option<&SealedHeader>, indexed: u64) -> Option<Vec<u8>> {
    let state = verifier.state().to_binary_indexed(indexed)?;
    let mut out = MAGIC_INDEXED.to_vec();
    put_head(&mut out, verifier, header);
    out.extend_from_slice(&indexed.to_be_bytes());
    out.extend_from_slice(&state);
    Some(out)
}

/// Whether `bytes` are in the form a follower persists now
/// ([`encode_indexed`], version 2). A follower that resumed from any other
/// (version 1, or an earlier version's JSON) writes its state again.
pub fn is_current(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC_INDEXED)
}

/// The fields both versions share after the magic.
fn put_head(out: &mut Vec<u8>, verifier: &HistoryVerifier, header: Option<&SealedHeader>) {
    out.extend_from_slice(&verifier.height().to_be_bytes());
    out.extend_from_slice(verifier.state().state_root().0.as_slice());
    out.extend_from_slice(verifier.parent().as_slice());
    match verifier.next_index() {
        None => out.push(0),
        Some(i) => {
            out.push(1);
            out.extend_from_slice(&i.to_be_bytes());
        }
    }
    match header {
        None => out.push(0),
        Some(h) => {
            out.push(1);
            put_sized(out, &h.header.abi_encode());
            out.extend_from_slice(&h.signature.as_bytes());
        }
    }
}

/// The checkpoint [`encode`] writes for a verifier that just accepted the
/// block `sealed` (hash under `domain`) and holds `state` after it, with
/// `next_index` the least log index the next block may start at (its last
/// entry's index + 1): what a node writes for the state it keeps at a
/// sealed height (`Notary.GetState`), which never ran a verifier. Nothing
/// is checked here; [`decode`] checks it all.
pub fn encode_sealed(state: NotaryState, sealed: &SealedHeader, next_index: Option<u64>) -> Vec<u8> {
    encode(&HistoryVerifier::at_sealed(state, sealed, next_index), Some(sealed))
}

/// The JSON checkpoint earlier versions wrote (about four times the size
/// of [`encode`]'s). [`decode`] still reads it, so a follower upgraded in
/// place resumes from its old checkpoint; nothing here writes it any more
/// except tests of that path.
pub fn encode_json(verifier: &HistoryVerifier, header: Option<&SealedHeader>) -> Vec<u8> {
    let out = Out { height: verifier.height(), state_root: verifier.state().state_root().0, header, verifier };
    // Serialising plain data into a Vec cannot fail.
    serde_json::to_vec(&out).unwrap_or_default()
}

/// A binary checkpoint's parts, its state taken back from its rows.
fn read_binary(bytes: &[u8], own: bool) -> Result<In, String> {
    let mut r = Reader::new(bytes);
    let indexed = r.take(MAGIC.len(), "its magic")? == MAGIC_INDEXED;
    let height = r.u64("its height")?;
    let state_root = r.b256("its state root")?;
    let parent = r.b256("its parent hash")?;
    let next_index = match r.u8("its next log index")? {
        0 => None,
        1 => Some(r.u64("its next log index")?),
        f => return Err(format!("its next log index has the unknown flag {f}")),
    };
    let header = match r.u8("its header")? {
        0 => None,
        1 => {
            let header = BlockHeader::abi_decode_validate(r.sized("its header")?)
                .map_err(|e| format!("its header does not decode ({e})"))?;
            let signature = Signature::try_from(r.take(65, "its header's seal")?)
                .map_err(|_| "its header's seal is not a signature".to_owned())?;
            Some(SealedHeader { header, signature })
        }
        f => return Err(format!("its header has the unknown flag {f}")),
    };
    let state = if indexed {
        let n = r.u64("its count of indexed retired ids")?;
        NotaryState::from_binary_indexed(r.rest(), n)
    } else if own {
        NotaryState::from_binary_own(r.rest())
    } else {
        NotaryState::from_binary(r.rest())
    }
    .map_err(|e| e.to_string())?;
    Ok(In { height, state_root, header, verifier: HistoryVerifier::resumed(state, parent, height, next_index) })
}

/// Takes a checkpoint written by [`encode`] (or an earlier version's JSON)
/// back, for `genesis`, refusing one that does not hold together (see the
/// module docs), and refusing an indexed one ([`encode_indexed`]): its
/// older retired ids are in some follower's store, not in the bytes, so
/// whoever receives it from elsewhere (a node's snapshot, a bootstrap, an
/// auditor's file) could not check or answer them. A follower reads back
/// its own with [`decode_indexed`].
pub fn decode(genesis: &Genesis, bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
    if bytes.starts_with(MAGIC_INDEXED) {
        return Err(CheckpointError(
            "it leaves its retired ids to a follower's own index (version 2), which only that follower can read back"
                .into(),
        ));
    }
    decode_indexed(genesis, bytes)
}

/// [`decode`] for the follower that wrote the checkpoint, whose own store
/// holds the retired ids an indexed checkpoint ([`encode_indexed`]) leaves
/// out: takes either form back.
pub fn decode_indexed(genesis: &Genesis, bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
    decode_from(genesis, bytes, false)
}

/// [`decode`] for a checkpoint this process wrote to its own store (a
/// node's saved snapshot, read at its start): every check but the fold of
/// the retired ids it lists, one hash an id ever retired, which the store
/// is trusted for as a follower's index is ([`decode_indexed`]). Whatever
/// comes from elsewhere goes through [`decode`].
pub fn decode_own(genesis: &Genesis, bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
    if bytes.starts_with(MAGIC_INDEXED) {
        return decode(genesis, bytes);
    }
    decode_from(genesis, bytes, true)
}

fn decode_from(genesis: &Genesis, bytes: &[u8], own: bool) -> Result<Checkpoint, CheckpointError> {
    let bad = |m: String| CheckpointError(m);
    let c: In = if bytes.starts_with(MAGIC) || bytes.starts_with(MAGIC_INDEXED) {
        read_binary(bytes, own).map_err(bad)?
    } else {
        let mut c: In = serde_json::from_slice(bytes).map_err(|e| bad(format!("it does not parse ({e})")))?;
        let (state, parent, height, next) =
            (c.verifier.state().clone(), c.verifier.parent(), c.verifier.height(), c.verifier.next_index());
        let state = state.checked().map_err(|e| bad(e.to_string()))?;
        c.verifier = HistoryVerifier::resumed(state, parent, height, next);
        c
    };
    let state: &NotaryState = c.verifier.state();
    if state.genesis() != genesis {
        return Err(bad("it belongs to another genesis".into()));
    }
    let root = state.state_root().0;
    if root != c.state_root {
        return Err(bad(format!(
            "the state root of its rows is {root}, not the {} it claims (corrupted or edited)",
            c.state_root
        )));
    }
    if c.height != c.verifier.height() {
        return Err(bad(format!("it claims height {} but its verifier is at {}", c.height, c.verifier.height())));
    }
    match &c.header {
        None if c.height == 0 && c.verifier.parent() == B256::ZERO => {}
        None => return Err(bad(format!("it has no header for height {}", c.height))),
        Some(h) => {
            if h.header.height != c.height || h.header.stateHash != root {
                return Err(bad(format!(
                    "its header (height {}) is not the one of height {} with its state root",
                    h.header.height, c.height
                )));
            }
            if h.hash(&genesis.domain()) != c.verifier.parent() {
                return Err(bad("its header is not the last block its verifier accepted".into()));
            }
        }
    }
    Ok(Checkpoint { verifier: c.verifier, header: c.header })
}
