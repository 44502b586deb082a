//! A follower's verified state, persisted so that a restart resumes from it
//! and verifies only the blocks that follow, instead of replaying the
//! history from the genesis (the signer and the gateway keep one each, in
//! their own stores).
//!
//! The bytes ([`encode`]) are JSON: the height, the state root and the
//! sealed header of the last verified block, and the [`HistoryVerifier`]
//! (the notary state's rows, the parent hash, the next log index).
//! [`decode`] takes them back only if they hold together: the genesis is
//! the caller's, the state passes [`NotaryState::checked`], the root
//! recomputed from the rows is the root claimed and the header's state
//! hash, and the header hashes to the verifier's parent. A corrupted or
//! edited checkpoint is refused with the reason; the caller replays from
//! the genesis instead.
//!
//! What it does not do: prove the state to anyone but the process that
//! wrote it. A checkpoint consistent in itself but written by someone else
//! with access to the store is trusted like the store itself; the signer
//! compares the header with every node it dials before it acts on the
//! state (its cross-check), and a block that does not extend the header is
//! refused as it would be after a replay.

use crate::audit::HistoryVerifier;
use crate::evidence::SealedHeader;
use crate::notary::NotaryState;
use crate::typed::Genesis;
use alloy::primitives::B256;
use serde::{Deserialize, Serialize};

/// Why a persisted checkpoint is not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the persisted verified state is discarded: {0}")]
pub struct CheckpointError(pub String);

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
pub fn encode(verifier: &HistoryVerifier, header: Option<&SealedHeader>) -> Vec<u8> {
    let out = Out { height: verifier.height(), state_root: verifier.state().state_root().0, header, verifier };
    // Serialising plain data into a Vec cannot fail.
    serde_json::to_vec(&out).unwrap_or_default()
}

/// Takes a checkpoint written by [`encode`] back, for `genesis`, refusing
/// one that does not hold together (see the module docs).
pub fn decode(genesis: &Genesis, bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
    let bad = |m: String| CheckpointError(m);
    let c: In = serde_json::from_slice(bytes).map_err(|e| bad(format!("it does not parse ({e})")))?;
    let state: &NotaryState = c.verifier.state();
    if state.genesis() != genesis {
        return Err(bad("it belongs to another genesis".into()));
    }
    let state = state.clone().checked().map_err(|e| bad(e.to_string()))?;
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
