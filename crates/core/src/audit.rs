//! Offline verification of an exported history against the genesis alone.
//!
//! Replays every block's entries through the notary state machine and checks,
//! block by block: the height sequence and parent hash chain, the entries'
//! Merkle root, increasing log indices, the sealer's signature by a node
//! account registered at that point, the state hash after the block, and every
//! quorum certificate the replay produces against the registry of its time.
//! The first failure is reported with the block height and what failed.

use crate::block::{Block, LoggedEntry, merkle_root};
use crate::crypto::{self, RecoveryMemo};
use crate::evidence::SealedHeader;
use crate::ids::Timestamp;
use crate::notary::{Event, NotaryState};
use crate::quorum::verify_certificate;
use crate::typed::Genesis;
use alloy::primitives::B256;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

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
    let mut v = HistoryVerifier::new(genesis)?;
    let mut report = AuditReport { blocks: 0, entries: 0, notarized: 0, rejected: 0, state: v.state.clone() };
    for block in blocks {
        for ev in v.push(block)? {
            match ev {
                Event::Notarized { .. } => report.notarized += 1,
                Event::Rejected { .. } => report.rejected += 1,
                _ => {}
            }
        }
        report.entries += block.entries.len() as u64;
        report.blocks += 1;
    }
    report.state = v.state;
    Ok(report)
}

/// Verifies a history one block at a time, as it arrives: what a live
/// follower (the signer) runs. Each accepted block extends the verified state;
/// a refused block changes nothing, so the caller may fetch it again from
/// another node.
///
/// It serialises (serde) as a checkpoint, so a follower resumes where it
/// stopped without replaying the history. A checkpoint is only as good as
/// the disk it was kept on: resuming from one trusts whoever wrote it.
///
/// A block's votes are recovered once: applying a vote recovers its signer,
/// and the quorum certificate the decision produces carries the same
/// signatures, which are checked again against the registry. The verifier
/// keeps a bounded memo of the signers it recovered ([`RecoveryMemo`], the
/// last [`MEMO_CAPACITY`]; not part of a checkpoint), so the certificate's
/// check finds them there; a memo already set on the thread (a node's,
/// [`crypto::with_memo`]) is used instead. The memo only ever returns what
/// recovery computes, so no result changes.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct HistoryVerifier {
    state: NotaryState,
    parent: B256,
    height: u64,
    next_index: Option<u64>,
    #[serde(skip, default = "fresh_memo")]
    memo: Arc<RecoveryMemo>,
}

/// How many recovered signers a [`HistoryVerifier`] remembers (about 150
/// bytes each, 2.5 MB in all): more than the vote signatures a block can
/// hold (at most about 10,000 in 1 MiB, a vote taking over 100 bytes), so
/// the votes of a decision sealed in the block after them are still found.
pub const MEMO_CAPACITY: usize = 16_384;

fn fresh_memo() -> Arc<RecoveryMemo> {
    Arc::new(RecoveryMemo::new(MEMO_CAPACITY))
}

impl HistoryVerifier {
    /// Starts at the genesis, before block 1.
    pub fn new(genesis: &Genesis) -> Result<Self, AuditError> {
        let state = NotaryState::new(genesis.clone()).map_err(|e| AuditError::Genesis(e.to_string()))?;
        Ok(Self { state, parent: B256::ZERO, height: 0, next_index: None, memo: fresh_memo() })
    }

    /// A verifier taken back from a checkpoint (crate [`checkpoint`](crate::checkpoint)),
    /// which checks that the parts hold together.
    pub(crate) fn resumed(state: NotaryState, parent: B256, height: u64, next_index: Option<u64>) -> Self {
        Self { state, parent, height, next_index, memo: fresh_memo() }
    }

    /// A verifier at `state`, the state after the block `sealed` whose last
    /// entry's log index is `next_index - 1`, as the caller holds it (a
    /// node's own state, put aside when it sealed that block). Nothing is
    /// checked: the state is trusted as the caller's own, like a
    /// checkpoint it wrote; blocks pushed after it are verified as usual.
    pub fn at_sealed(state: NotaryState, sealed: &SealedHeader, next_index: Option<u64>) -> Self {
        let parent = sealed.hash(&state.domain());
        Self { state, parent, height: sealed.header.height, next_index, memo: fresh_memo() }
    }

    /// The least log index the next block's first entry may have.
    pub fn next_index(&self) -> Option<u64> {
        self.next_index
    }

    /// The verified state after the last accepted block.
    pub fn state(&self) -> &NotaryState {
        &self.state
    }

    /// Height of the last accepted block (0 before the first).
    pub fn height(&self) -> u64 {
        self.height
    }

    /// Hash of the last accepted block (zero before the first): the parent
    /// the next block must name.
    pub fn parent(&self) -> B256 {
        self.parent
    }

    /// Checks `block` as the next one and applies it, returning the events its
    /// entries produced, each log time-stamped (entry time, event). Every
    /// notarization's certificate is checked against the registry of its time.
    pub fn push(&mut self, block: &Block) -> Result<Vec<Event>, AuditError> {
        Ok(self.push_timed(block)?.into_iter().map(|(_, e)| e).collect())
    }

    /// [`HistoryVerifier::push`], with each event's log time.
    pub fn push_timed(&mut self, block: &Block) -> Result<Vec<(Timestamp, Event)>, AuditError> {
        self.push_with(block, HashMap::new())
    }

    /// The ids [`HistoryVerifier::push_answered`] needs the follower's index
    /// to answer for `block` (box-core [`NotaryState::retired_lookups`]):
    /// empty unless the verified state leaves retired ids to that index.
    pub fn retired_lookups(&self, block: &Block) -> Vec<B256> {
        self.state.retired_lookups(block.entries.iter().map(|e| &e.entry))
    }

    /// [`HistoryVerifier::push`] on a state that leaves its older retired
    /// ids to the follower's own index (one resumed from
    /// [`crate::checkpoint::encode_indexed`]): `found` holds the ids among
    /// [`HistoryVerifier::retired_lookups`] that the index holds. Errors as
    /// `push`; a block that looks up an id outside those asked is refused
    /// (such a lookup counts as retired, so it never lets a replay through).
    pub fn push_answered(&mut self, block: &Block, found: &HashSet<B256>) -> Result<Vec<Event>, AuditError> {
        let answers = self.retired_lookups(block).into_iter().map(|id| (id, found.contains(&id))).collect();
        Ok(self.push_with(block, answers)?.into_iter().map(|(_, e)| e).collect())
    }

    fn push_with(
        &mut self,
        block: &Block,
        answers: HashMap<B256, bool>,
    ) -> Result<Vec<(Timestamp, Event)>, AuditError> {
        let memo = self.memo.clone();
        crypto::with_memo_unless_set(&memo, || self.push_memoized(block, answers))
    }

    fn push_memoized(
        &mut self,
        block: &Block,
        answers: HashMap<B256, bool>,
    ) -> Result<Vec<(Timestamp, Event)>, AuditError> {
        let h = &block.header;
        let fail = |reason: String| AuditError::Block { height: h.height, reason };
        if Some(h.height) != self.height.checked_add(1) {
            return Err(fail(format!("expected height {}", self.height.saturating_add(1))));
        }
        if h.parent != self.parent {
            return Err(fail(format!(
                "parent hash {} does not match the previous block's hash {}",
                h.parent, self.parent
            )));
        }
        let leaves: Vec<B256> = block.entries.iter().map(LoggedEntry::leaf).collect();
        if merkle_root(&leaves) != h.entriesRoot || h.entryCount != block.entries.len() as u64 {
            return Err(fail("the entries do not match the header's Merkle root and count".into()));
        }
        // Log indices only increase; they need not be contiguous, because the
        // log also carries raft and sealing commands that are not notary entries.
        let mut next_index = self.next_index;
        for (j, e) in block.entries.iter().enumerate() {
            if j == 0 && e.index != h.firstIndex {
                return Err(fail(format!("first entry index {} but the header says {}", e.index, h.firstIndex)));
            }
            if next_index.is_some_and(|min| e.index < min) {
                return Err(fail(format!("entry index {} does not follow the previous entry", e.index)));
            }
            next_index = Some(e.index.checked_add(1).ok_or_else(|| fail("entry index overflows".into()))?);
        }
        let domain = self.state.domain();
        let sealer = block.sealer(&domain).map_err(|e| fail(format!("seal signature: {e}")))?;
        if !self.state.registry().contains(&sealer) {
            return Err(fail(format!("sealed by {sealer}, which is not a registered node account")));
        }
        // Applied in place; a refusal undoes exactly the rows the block wrote
        // (`atomically`), so a refused block leaves the verified state as it
        // was, and an accepted one costs only its own entries.
        let indexed = self.state.retired_indexed() > 0;
        if indexed {
            self.state.answer_retired(answers);
        }
        let events = self.state.atomically(|state| {
            let mut events = Vec::new();
            for e in &block.entries {
                let mut registry = state.registry().clone();
                for ev in state.apply(&e.entry, Timestamp(e.time)) {
                    match &ev {
                        Event::Notarized { certificate, .. } => {
                            verify_certificate(&domain, &registry, certificate)
                                .map_err(|err| fail(format!("entry {}: {err}", e.index)))?;
                        }
                        Event::RegistryChanged { .. } => registry = state.registry().clone(),
                        _ => {}
                    }
                    events.push((Timestamp(e.time), ev));
                }
            }
            if indexed && !state.retired_answered() {
                return Err(fail(
                    "it looks up a retired id the follower's index was not asked about (a state that leaves retired \
                     ids to an index verifies with push_answered)"
                        .into(),
                ));
            }
            if state.state_root().0 != h.stateHash {
                return Err(fail("the state after replaying the block differs from the sealed state hash".into()));
            }
            Ok(events)
        });
        if indexed {
            self.state.retired_answered();
        }
        let events = events?;
        self.parent = block.hash(&domain);
        self.height = h.height;
        self.next_index = next_index;
        Ok(events)
    }
}
