//! Checking a snapshot before it is installed: a snapshot comes from another
//! node (raft's leader), so its bytes are evidence, not truth.
//!
//! A snapshot is installed only if:
//! - its notary state passes [`NotaryState::restore`]'s checks and belongs to
//!   this node's genesis;
//! - its blocks, from height 1, verify as [`HistoryVerifier`] verifies a
//!   history: parent hashes, Merkle roots, each seal by a node account
//!   registered at its height (the registry verified from the genesis), every
//!   quorum certificate against the registry of its time, and each header's
//!   state hash after replaying its entries; so the tip's seal is checked
//!   against the registry the chain itself established;
//! - every block this node already holds is byte-for-byte the snapshot's
//!   (a snapshot never rewrites history this node verified);
//! - the notarized records listed per block are exactly those the replay
//!   produces;
//! - the state after the tip, plus the sealed-but-unsigned block and the
//!   unsealed entries replayed on top, is the snapshot's notary state, and
//!   the pending header is the one this node would have computed.
//!
//! What it does not check: that the snapshot is the latest (raft's log ids
//! decide that), nor the raft membership it carries (raft's own business).

use super::{ChainState, NotarizedRecord, PendingBlock, SnapshotData};
use box_core::block::{Block, BlockHeader, LoggedEntry, merkle_root};
use box_core::encoding::Canonical;
use box_core::ids::{SubjectId, Timestamp};
use box_core::notary::{Event, NotaryState, TransferProof};
use box_core::typed::Genesis;
use box_core::{B256, audit::HistoryVerifier};

/// A verified block with what it notarized and decided, the rows of the
/// transfers it changed, proven against its state root, and what it rejected.
pub(super) type VerifiedBlock =
    (Block, Vec<NotarizedRecord>, Vec<SubjectId>, Vec<TransferProof>, Vec<super::RejectedRecord>);

/// A snapshot that verified: its blocks with what each notarized and
/// decided and its transfer proofs (recomputed, not read from the snapshot),
/// and its state.
pub(super) struct VerifiedSnapshot {
    /// Blocks from height 1.
    pub(super) blocks: Vec<VerifiedBlock>,
    /// The chain state to install.
    pub(super) state: ChainState,
}

/// What a run of entries notarized and decided, as the state machine records them.
fn outcomes(events: impl IntoIterator<Item = Event>) -> (Vec<NotarizedRecord>, Vec<SubjectId>) {
    let (mut notarized, mut decided) = (Vec::new(), Vec::new());
    for ev in events {
        match ev {
            Event::Notarized { subject, payload, certificate } => {
                notarized.push(NotarizedRecord {
                    subject,
                    payload: payload.encode(),
                    certificate: certificate.encode(),
                });
                decided.push(subject);
            }
            Event::Rejected { subject, .. } => decided.push(subject),
            _ => {}
        }
    }
    (notarized, decided)
}

fn replay(state: &mut NotaryState, entries: &[LoggedEntry]) -> Vec<Event> {
    entries.iter().flat_map(|e| state.apply(&e.entry, Timestamp(e.time))).collect()
}

/// Verifies `data` for a node of `genesis` whose stored block at a height is
/// `held(height)`. The error says which check failed.
pub(super) fn verify(
    genesis: &Genesis,
    data: SnapshotData,
    held: impl Fn(u64) -> Result<Option<Vec<u8>>, String>,
) -> Result<VerifiedSnapshot, String> {
    let claimed = data.state.notary.snapshot();
    NotaryState::restore(&claimed).map_err(|e| format!("its notary state does not restore: {e}"))?;
    if data.state.notary.genesis() != genesis {
        return Err("it belongs to another genesis".into());
    }
    let mut verifier = HistoryVerifier::new(genesis).map_err(|e| e.to_string())?;
    let mut blocks = Vec::with_capacity(data.blocks.len());
    for (i, (hex_block, listed)) in data.blocks.iter().enumerate() {
        let height = i as u64 + 1;
        let raw = hex::decode(hex_block).map_err(|e| format!("block {height} is not hex: {e}"))?;
        let block = Block::decode(&raw).map_err(|e| format!("block {height} does not decode: {e}"))?;
        if let Some(mine) = held(height)?
            && mine != raw
        {
            return Err(format!("its block {height} differs from the block {height} this node holds"));
        }
        let events = verifier.push(&block).map_err(|e| e.to_string())?;
        let changed: std::collections::BTreeSet<_> = events
            .iter()
            .filter_map(|e| if let Event::TransferStatus { transfer, .. } = e { Some(*transfer) } else { None })
            .collect();
        let proofs = changed.iter().filter_map(|t| verifier.state().transfer_proof(t)).collect();
        let rejected = super::rejections::from_events(&events);
        let (notarized, decided) = outcomes(events);
        if &notarized != listed {
            return Err(format!("the notarized records of block {height} are not what its entries notarize"));
        }
        blocks.push((block, notarized, decided, proofs, rejected));
    }
    let domain = genesis.domain();
    let tip = blocks.last().map_or(B256::ZERO, |(b, ..)| b.hash(&domain));
    let s = &data.state;
    if s.parent != tip || s.next_height != blocks.len() as u64 + 1 {
        return Err("its chain tip is not its last block".into());
    }
    let mut notary = verifier.state().clone();
    if let Some(p) = &s.pending {
        check_pending(&mut notary, p, s.next_height, tip)?;
    }
    let unsealed_bytes: u64 = s.unsealed.iter().map(|e| super::entry_cost(e.entry.encode().len())).sum();
    if unsealed_bytes != s.unsealed_bytes {
        return Err("the size it records for the unsealed entries is not what they take".into());
    }
    let (notarized, decided) = outcomes(replay(&mut notary, &s.unsealed));
    if notarized != s.unsealed_notarized || decided != s.unsealed_decided {
        return Err("the unsealed records are not what the unsealed entries decide".into());
    }
    if notary.snapshot() != claimed {
        return Err("its notary state is not the state its blocks and entries produce".into());
    }
    let latest = s.pending.iter().map(|p| p.header.time).chain(s.unsealed.iter().map(|e| e.time));
    if latest.max().is_some_and(|t| t > s.last_time) {
        return Err("its latest entry time is earlier than its entries".into());
    }
    Ok(VerifiedSnapshot { blocks, state: data.state })
}

/// The sealed block awaiting its signature: its header must be the one this
/// node computes over its entries, after the tip.
fn check_pending(notary: &mut NotaryState, p: &PendingBlock, height: u64, tip: B256) -> Result<(), String> {
    let events = replay(notary, &p.entries);
    let leaves: Vec<B256> = p.entries.iter().map(LoggedEntry::leaf).collect();
    let expected = BlockHeader {
        height,
        parent: tip,
        entriesRoot: merkle_root(&leaves),
        stateHash: notary.state_root().0,
        time: p.header.time,
        firstIndex: p.entries.first().map_or(0, |e| e.index),
        entryCount: p.entries.len() as u64,
    };
    if p.header != expected {
        return Err("its pending block header is not the one its entries produce".into());
    }
    let (notarized, decided) = outcomes(events);
    if notarized != p.notarized || decided != p.decided {
        return Err("the pending block's records are not what its entries decide".into());
    }
    if p.proofs.iter().any(|proof| proof.verify(&p.header.stateHash).is_none()) {
        return Err("a transfer proof of the pending block does not verify against its header".into());
    }
    Ok(())
}
