//! Checking a snapshot before it is installed: a snapshot comes from another
//! node (raft's leader), so its bytes are evidence, not truth.
//!
//! A binary snapshot ([`super::tip`]) is installed only if
//! ([`verify_tip`]):
//! - its tip state passes box-core's [`checkpoint::decode`]: the notary
//!   state passes [`NotaryState::restore`]'s checks (`checked`), belongs to
//!   this node's genesis, its rows hash to the state root it claims, which is
//!   the tip header's `stateHash`, and that header hashes to the parent the
//!   checkpoint names;
//! - the tip header's seal recovers to a node account registered in the
//!   registry of that same state (after the tip block's entries): the
//!   registry a replica's own `SignBlock` check used (its live state then
//!   included the block's entries), so an honest tip always passes, and a key
//!   outside the deployment cannot certify a tip;
//! - if this node holds a block at the tip's height, it hashes to the tip; if
//!   it holds the one below, the tip names it as its parent; if it holds the
//!   next one, that one names the tip as its parent (a snapshot never
//!   rewrites or orphans a block this node holds; a fork deeper down is
//!   found when the blocks below are fetched, and never stored over);
//! - the pending block's header is the one its entries produce on the tip's
//!   state, the entries' log indices increase and none is past the log
//!   position the snapshot names, and no entry (nor the tip) is later than
//!   its latest entry time.
//!
//! What the pending and unsealed entries notarized, decided and proved is
//! recomputed by replaying them, never read from the snapshot.
//!
//! An earlier version's JSON snapshot (a leader not yet upgraded) is checked
//! as before ([`verify_json`]): restore's checks, its blocks from the genesis
//! with every seal and certificate ([`HistoryVerifier`]), every held block
//! byte-for-byte the snapshot's, the notarized records per block, and the
//! state after the pending and unsealed entries.
//!
//! Then (not here: it needs the network) a strict majority of the node
//! registry must attest the tip ([`super::attested`]).
//!
//! What it does not check: that the snapshot is the latest (raft's log ids
//! decide that), nor the raft membership it carries (raft's own business),
//! nor the blocks below the tip: those are fetched from peers afterwards and
//! checked by hash chain from the tip down (`crate::backfill`).

use super::kept::Sealed;
use super::tip::TipSnapshot;
use super::{ChainState, NotarizedRecord, PendingBlock, SnapshotData};
use box_core::block::{Block, BlockHeader, LoggedEntry, merkle_root};
use box_core::checkpoint;
use box_core::encoding::Canonical;
use box_core::ids::{SubjectId, Timestamp, TransferId};
use box_core::notary::{Event, NotaryState, TransferProof};
use box_core::quorum::NodeRegistry;
use box_core::typed::Genesis;
use box_core::{B256, audit::HistoryVerifier};
use std::collections::BTreeSet;

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

/// Verifies an earlier version's JSON snapshot `data` for a node of
/// `genesis` whose stored block at a height is `held(height)`. The error
/// says which check failed.
pub(super) fn verify_json(
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

/// A binary snapshot that verified: the chain state to install (its
/// derived records recomputed) and its tip block's height and hash.
pub(super) struct VerifiedTip {
    /// The chain state to install.
    pub(super) state: ChainState,
    /// The tip block's height (0 before block 1).
    pub(super) height: u64,
    /// The tip block's hash (zero before block 1).
    pub(super) hash: B256,
    /// Every live transfer's row, proven against the tip header's state root.
    pub(super) proofs: Vec<TransferProof>,
    /// The tip header and the node registry in the state it commits to
    /// (`None` at the genesis), for [`super::attested::certify_tip`].
    pub(super) tip: Option<(BlockHeader, NodeRegistry)>,
    /// The state the pending block's header commits to, when the snapshot
    /// has a pending block whose height `keep` accepted.
    pub(super) sealed: Option<Sealed>,
}

/// What a run of entries notarized, decided and which transfers' rows it changed.
fn replayed(
    notary: &mut NotaryState,
    entries: &[LoggedEntry],
) -> (Vec<NotarizedRecord>, Vec<SubjectId>, BTreeSet<TransferId>) {
    let events = replay(notary, entries);
    let transfers = events
        .iter()
        .filter_map(|e| if let Event::TransferStatus { transfer, .. } = e { Some(*transfer) } else { None })
        .collect();
    let (notarized, decided) = outcomes(events);
    (notarized, decided, transfers)
}

/// Where a snapshot [`verify_tip`] verifies comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    /// This node's own store (its saved snapshot, at its start).
    Own,
    /// A peer (raft's `InstallSnapshot`).
    Peer,
}

/// Verifies a binary snapshot for a node of `genesis` whose stored block at
/// a height is `held(height)` (see the module docs). The error says which
/// check failed. A pending block's state is copied for the caller
/// ([`VerifiedTip::sealed`]) when `keep(its height)`. `Source::Own` for
/// the snapshot this node saved in its own store, read at its start: the
/// fold of the retired ids it lists is not checked again
/// (box-core `checkpoint::decode_own`); a snapshot from a peer is `Peer`.
pub(super) fn verify_tip(
    genesis: &Genesis,
    source: Source,
    data: TipSnapshot,
    held: impl Fn(u64) -> Result<Option<Vec<u8>>, String>,
    keep: impl Fn(u64) -> bool,
) -> Result<VerifiedTip, String> {
    let decode = match source {
        Source::Own => checkpoint::decode_own,
        Source::Peer => checkpoint::decode,
    };
    let cp = decode(genesis, &data.checkpoint).map_err(|e| format!("its tip state is refused: {}", e.0))?;
    let domain = genesis.domain();
    let (height, hash) = (cp.verifier.height(), cp.verifier.parent());
    if let Some(h) = &cp.header {
        let sealer = h.sealer(&domain).map_err(|e| format!("its tip header's seal does not recover ({e})"))?;
        if !cp.verifier.state().registry().contains(&sealer) {
            return Err(format!(
                "its tip block {height} is sealed by {sealer}, not a registered node account in its own state"
            ));
        }
    }
    let decoded = |h: u64| -> Result<Option<Block>, String> {
        held(h)?
            .map(|raw| Block::decode(&raw).map_err(|e| format!("the block {h} this node holds does not decode: {e}")))
            .transpose()
    };
    if height > 0
        && let Some(mine) = decoded(height)?
        && mine.hash(&domain) != hash
    {
        return Err(format!("its tip block {height} differs from the block {height} this node holds"));
    }
    if height > 1
        && let (Some(tip), Some(mine)) = (&cp.header, decoded(height - 1)?)
        && tip.header.parent != mine.hash(&domain)
    {
        return Err(format!("its tip block {height} does not extend the block {} this node holds", height - 1));
    }
    if let Some(next) = decoded(height + 1)?
        && next.header.parent != hash
    {
        return Err(format!("the block {} this node holds does not extend its tip block {height}", height + 1));
    }
    let last_index = data.raft.last_applied.map_or(0, |l| l.index);
    let all = data.pending.iter().flat_map(|(_, e)| e.iter()).chain(data.unsealed.iter());
    let mut previous: Option<u64> = None;
    for e in all {
        if previous.is_some_and(|p| e.index <= p) || e.index > last_index {
            return Err(format!("its entry at log index {} is out of order or past its log position", e.index));
        }
        if e.time > data.last_time {
            return Err("its latest entry time is earlier than its entries".into());
        }
        previous = Some(e.index);
    }
    if cp.header.as_ref().is_some_and(|h| h.header.time > data.last_time) {
        return Err("its latest entry time is earlier than its tip block".into());
    }
    let tip_state = cp.verifier.state();
    let tip = cp.header.as_ref().map(|h| (h.header.clone(), tip_state.registry().clone()));
    let proofs = tip_state.transfers().filter_map(|(id, _)| tip_state.transfer_proof(id)).collect();
    let mut notary = tip_state.clone();
    let pending = match data.pending {
        None => None,
        Some((header, entries)) => Some(pending_block(&mut notary, header, entries, height + 1, hash)?),
    };
    // The live state is the one the pending header commits to until the unsealed entries apply.
    let sealed = pending.as_ref().filter(|p| keep(p.header.height)).map(|p| Sealed {
        height: p.header.height,
        state: notary.clone(),
        next_index: p.entries.last().map(|e| e.index + 1),
    });
    let unsealed_bytes = data.unsealed.iter().map(|e| super::entry_cost(e.entry.encode().len())).sum();
    if unsealed_bytes > super::BLOCK_ENTRY_BUDGET {
        return Err("its unsealed entries take more than a block holds".into());
    }
    let (unsealed_notarized, unsealed_decided, unsealed_transfers) = replayed(&mut notary, &data.unsealed);
    let state = ChainState {
        notary,
        last_applied: data.raft.last_applied,
        membership: data.raft.membership,
        last_time: data.last_time,
        next_height: height + 1,
        parent: hash,
        unsealed: data.unsealed,
        unsealed_bytes,
        unsealed_notarized,
        unsealed_decided,
        unsealed_transfers,
        pending,
    };
    Ok(VerifiedTip { state, height, hash, proofs, tip, sealed })
}

/// The sealed block awaiting its signature, rebuilt from its entries
/// replayed on `notary` (the tip's state): its header must be the one this
/// node computes, after the tip.
fn pending_block(
    notary: &mut NotaryState,
    header: BlockHeader,
    entries: Vec<LoggedEntry>,
    height: u64,
    tip: B256,
) -> Result<PendingBlock, String> {
    let (notarized, decided, transfers) = replayed(notary, &entries);
    let leaves: Vec<B256> = entries.iter().map(LoggedEntry::leaf).collect();
    let expected = BlockHeader {
        height,
        parent: tip,
        entriesRoot: merkle_root(&leaves),
        stateHash: notary.state_root().0,
        time: header.time,
        firstIndex: entries.first().map_or(0, |e| e.index),
        entryCount: entries.len() as u64,
    };
    if header != expected || entries.is_empty() {
        return Err("its pending block header is not the one its entries produce after its tip".into());
    }
    let proofs = transfers.iter().filter_map(|t| notary.transfer_proof(t)).collect();
    Ok(PendingBlock { header, entries, notarized, decided, proofs })
}
