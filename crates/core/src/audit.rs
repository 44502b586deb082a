//! Offline verification of an exported history against the genesis alone.
//!
//! Replays every block's entries through the notary state machine and checks,
//! block by block: the height sequence and parent hash chain, the entries'
//! Merkle root, increasing log indices, the sealer's signature by a node
//! account registered at that point, the state hash after the block, and every
//! quorum certificate the replay produces against the registry of its time.
//! The first failure is reported with the block height and what failed.

use crate::block::{Block, LoggedEntry, merkle_root};
use crate::ids::Timestamp;
use crate::notary::{Event, NotaryState};
use crate::quorum::verify_certificate;
use crate::typed::Genesis;
use alloy::primitives::B256;

/// Why a history does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// The genesis itself is invalid.
    #[error("genesis: {0}")]
    Genesis(String),
    /// A block failed a check.
    #[error("block {height}: {reason}")]
    Block {
        /// Height of the offending block.
        height: u64,
        /// What failed.
        reason: String,
    },
}

/// What a verified history contains.
#[derive(Debug, Clone)]
pub struct AuditReport {
    /// Blocks verified.
    pub blocks: u64,
    /// Entries replayed.
    pub entries: u64,
    /// Subjects notarized (each with a verified certificate).
    pub notarized: u64,
    /// Subjects rejected.
    pub rejected: u64,
    /// The state after the last block.
    pub state: NotaryState,
}

/// Verifies `blocks` (from height 1, in order) against `genesis`.
pub fn verify_history(genesis: &Genesis, blocks: &[Block]) -> Result<AuditReport, AuditError> {
    let mut state = NotaryState::new(genesis.clone()).map_err(|e| AuditError::Genesis(e.to_string()))?;
    let domain = genesis.domain();
    let mut parent = B256::ZERO;
    let mut next_index: Option<u64> = None;
    let mut report = AuditReport { blocks: 0, entries: 0, notarized: 0, rejected: 0, state: state.clone() };
    for (i, block) in blocks.iter().enumerate() {
        let h = &block.header;
        let fail = |reason: String| AuditError::Block { height: h.height, reason };
        if h.height != i as u64 + 1 {
            return Err(fail(format!("expected height {}", i + 1)));
        }
        if h.parent != parent {
            return Err(fail(format!("parent hash {} does not match the previous block's hash {parent}", h.parent)));
        }
        let leaves: Vec<B256> = block.entries.iter().map(LoggedEntry::leaf).collect();
        if merkle_root(&leaves) != h.entriesRoot || h.entryCount != block.entries.len() as u64 {
            return Err(fail("the entries do not match the header's Merkle root and count".into()));
        }
        // Log indices only increase; they need not be contiguous, because the
        // log also carries raft and sealing commands that are not notary entries.
        for (j, e) in block.entries.iter().enumerate() {
            if j == 0 && e.index != h.firstIndex {
                return Err(fail(format!("first entry index {} but the header says {}", e.index, h.firstIndex)));
            }
            if next_index.is_some_and(|min| e.index < min) {
                return Err(fail(format!("entry index {} does not follow the previous entry", e.index)));
            }
            next_index = Some(e.index.checked_add(1).ok_or_else(|| fail("entry index overflows".into()))?);
        }
        let sealer = block.sealer(&domain).map_err(|e| fail(format!("seal signature: {e}")))?;
        if !state.registry().contains(&sealer) {
            return Err(fail(format!("sealed by {sealer}, which is not a registered node account")));
        }
        for e in &block.entries {
            let mut registry = state.registry().clone();
            for ev in state.apply(&e.entry, Timestamp(e.time)) {
                match ev {
                    Event::Notarized { certificate, .. } => {
                        verify_certificate(&domain, &registry, &certificate)
                            .map_err(|err| fail(format!("entry {}: {err}", e.index)))?;
                        report.notarized += 1;
                    }
                    Event::Rejected { .. } => report.rejected += 1,
                    Event::RegistryChanged { .. } => registry = state.registry().clone(),
                    _ => {}
                }
            }
            report.entries += 1;
        }
        if state.state_hash().0 != h.stateHash {
            return Err(fail("the state after replaying the block differs from the sealed state hash".into()));
        }
        parent = block.hash(&domain);
        report.blocks += 1;
    }
    report.state = state;
    Ok(report)
}
