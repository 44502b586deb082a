//! Retirement: a finished transfer, and a decided subject that carries no
//! transfer, leave the live state once no later rule needs them (crate
//! README, "State commitment", "Retirement"). What stays is its id, for replay
//! protection: the ids retired so far, in retirement order, folded into one
//! committed row (tag `0x08`).
//!
//! Retirement is deterministic by log time: after an entry stamped `t` is
//! applied, every item whose deadline is at or before `t` retires, in
//! (deadline, id) order. A deadline queue makes that O(k log n) per entry for
//! the k items due, never a scan.

use super::rows::{row_key, tag};
use super::{NotaryState, Subject, SubjectRecord, SubjectStatus, TransferRecord};
use crate::flow::MAX_PERIOD_SECONDS;
use crate::ids::{FlowHash, SubjectId, Timestamp, TransferId};
use alloy::primitives::{B256, keccak256};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};

/// How long (log-time seconds) a finished transfer, or a decided subject,
/// stays live after it finished: long enough for the signer to report a
/// reorg of a confirmed transfer (it watches 128 Ethereum blocks, about 26
/// minutes) and for followers to read it as blocks come.
pub const RETAIN_SECONDS: u64 = 6 * 3600;

/// When a live item retires, and which of its rows it is
/// ([`tag::TRANSFER`] or [`tag::SUBJECT`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Due {
    /// Its deadline (log time).
    pub(super) at: Timestamp,
    /// The tag of its row.
    pub(super) tag: u8,
}

/// The ids retired so far, in order, with the fold the state commits to.
///
/// A node holds every id in memory. A follower (the signer, the gateway)
/// may keep the first [`Retired::indexed`] of them in its own store instead
/// and hold only those retired after ([`NotaryState::retired_lookups`]).
#[derive(Debug, Clone, Default)]
pub(super) struct Retired {
    /// How many ids retired before `ids[0]`: held in the follower's own
    /// index, not here (0 on a node: every id is listed).
    indexed: u64,
    /// (row tag, id) in retirement order, after the first `indexed`.
    ids: Vec<(u8, B256)>,
    /// The same ids, for O(1) lookups.
    set: HashSet<B256>,
    /// `chain_n` over every id, indexed and listed (or, right after
    /// deserialising, what the bytes said it was: [`Retired::folds`] checks it
    /// when nothing is indexed).
    chain: B256,
    /// What the follower's index answered for the block being applied: the
    /// ids asked, each with whether the index holds it. Empty between blocks.
    answers: HashMap<B256, bool>,
    /// Whether a block is being applied with the index's answers.
    answering: bool,
    /// Set when a lookup fell outside the ids asked (then answered "retired",
    /// so a gap in the answers can never let a replay through).
    missed: Missed,
}

/// A flag set through a shared reference (a lookup is a read).
#[derive(Debug, Default)]
struct Missed(AtomicBool);

impl Clone for Missed {
    fn clone(&self) -> Self {
        Self(AtomicBool::new(self.0.load(Ordering::Relaxed)))
    }
}

impl PartialEq for Retired {
    fn eq(&self, other: &Self) -> bool {
        self.indexed == other.indexed && self.ids == other.ids && self.chain == other.chain
    }
}

impl Eq for Retired {}

/// `chain_i = keccak256(chain_{i-1} ‖ tag_i ‖ id_i)`, `chain_0 = 0`.
pub fn retired_fold(ids: &[(u8, B256)]) -> B256 {
    ids.iter().fold(B256::ZERO, |chain, (t, id)| next_link(&chain, *t, id))
}

fn next_link(chain: &B256, t: u8, id: &B256) -> B256 {
    let mut buf = [0u8; 65];
    buf[..32].copy_from_slice(chain.as_slice());
    buf[32] = t;
    buf[33..].copy_from_slice(id.as_slice());
    keccak256(buf)
}

impl Retired {
    pub(super) fn is_empty(&self) -> bool {
        self.indexed == 0 && self.ids.is_empty() && self.chain.is_zero()
    }
    /// Whether `id` retired: listed here, or (on an indexed state, while a
    /// block is applied) answered so by the follower's index. There, an id
    /// the index was not asked about counts as retired and marks the lookup
    /// as missed. Outside a block, an indexed id is not seen (the caller
    /// asks its index: [`NotaryState::retired_indexed`]).
    pub(super) fn contains(&self, id: &B256) -> bool {
        if self.set.contains(id) {
            return true;
        }
        if self.indexed == 0 || !self.answering {
            return false;
        }
        match self.answers.get(id) {
            Some(found) => *found,
            None => {
                self.missed.0.store(true, Ordering::Relaxed);
                true
            }
        }
    }
    /// Whether `id` is among the ids listed here (not the indexed ones).
    pub(super) fn lists(&self, id: &B256) -> bool {
        self.set.contains(id)
    }
    pub(super) fn count(&self) -> u64 {
        self.indexed + self.ids.len() as u64
    }
    pub(super) fn indexed(&self) -> u64 {
        self.indexed
    }
    pub(super) fn chain(&self) -> B256 {
        self.chain
    }
    /// Whether no id is listed twice and, if `fold`, the listed ids fold
    /// to the chain held (only checkable when nothing is indexed; one hash
    /// an id, the costliest check of a state read back).
    pub(super) fn folds(&self, fold: bool) -> bool {
        self.set.len() == self.ids.len() && (self.indexed > 0 || !fold || retired_fold(&self.ids) == self.chain)
    }
    fn push(&mut self, t: u8, id: B256) {
        self.chain = next_link(&self.chain, t, &id);
        self.ids.push((t, id));
        self.set.insert(id);
    }
    /// The listed ids in retirement order, with their row tags (every id
    /// when nothing is indexed).
    pub(super) fn ids(&self) -> &[(u8, B256)] {
        &self.ids
    }
    /// A list read back (a binary state) with the chain its row says it
    /// folds to, after `indexed` ids held in a follower's index;
    /// [`Retired::folds`] checks what it can.
    pub(super) fn listed(indexed: u64, ids: Vec<(u8, B256)>, chain: B256) -> Self {
        let set = ids.iter().map(|(_, id)| *id).collect();
        Self { indexed, ids, set, chain, ..Self::default() }
    }
    /// Where a run starts: the count listed and chain to go back to.
    pub(super) fn mark(&self) -> (usize, B256) {
        (self.ids.len(), self.chain)
    }
    /// Goes back to `mark` (undoing the retirements since).
    pub(super) fn rewind(&mut self, mark: (usize, B256)) {
        for (_, id) in self.ids.drain(mark.0..) {
            self.set.remove(&id);
        }
        self.chain = mark.1;
    }
    /// Takes the index's answers for the block about to be applied.
    pub(super) fn answer(&mut self, answers: HashMap<B256, bool>) {
        self.answers = answers;
        self.answering = true;
        self.missed = Missed::default();
    }
    /// Drops the answers; whether a lookup missed them since [`Retired::answer`].
    pub(super) fn answered(&mut self) -> bool {
        self.answers = HashMap::new();
        self.answering = false;
        !std::mem::take(&mut self.missed).0.into_inner()
    }
}

/// The snapshot form: `{count, chain, ids: [[tag, id], …]}`.
#[derive(Serialize, Deserialize)]
struct RetiredWire {
    count: u64,
    chain: B256,
    ids: Vec<(u8, B256)>,
}

impl Serialize for Retired {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RetiredWire { count: self.count(), chain: self.chain, ids: self.ids.clone() }.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Retired {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = RetiredWire::deserialize(d)?;
        if w.count != w.ids.len() as u64 {
            return Err(serde::de::Error::custom(format!("the retired ids say {} but list {}", w.count, w.ids.len())));
        }
        Ok(Self::listed(0, w.ids, w.chain))
    }
}

impl NotaryState {
    /// Whether `id` (a transfer id, or the id of a subject that carried no
    /// transfer) has retired from the live state, among the ids this state
    /// holds: on a state that leaves the older ones to a follower's index
    /// ([`NotaryState::retired_indexed`] > 0), `false` may mean "ask the
    /// index".
    pub fn is_retired(&self, id: &B256) -> bool {
        self.retired.lists(id)
    }

    /// How many ids have retired, and their fold (the retired row's value).
    pub fn retired_chain(&self) -> (u64, B256) {
        (self.retired.count(), self.retired.chain())
    }

    /// How many of the retired ids (the first, in retirement order) this
    /// state leaves to a follower's own index (0: it holds every one; a node
    /// always does). Such a state comes from a checkpoint written by
    /// [`crate::checkpoint::encode_indexed`]; applying a block to it needs
    /// the index's answers for [`NotaryState::retired_lookups`].
    pub fn retired_indexed(&self) -> u64 {
        self.retired.indexed()
    }

    /// The ids retired after the first `n`, in retirement order, with their
    /// row tags ([`tag::TRANSFER`] or [`tag::SUBJECT`]): what a follower adds to its index when it persists
    /// a checkpoint indexed up to [`NotaryState::retired_chain`]'s count.
    /// `None` if `n` is below [`NotaryState::retired_indexed`] (those ids are
    /// not held here) or above the count.
    pub fn retired_after(&self, n: u64) -> Option<&[(u8, B256)]> {
        let skip = usize::try_from(n.checked_sub(self.retired.indexed())?).ok()?;
        self.retired.ids().get(skip..)
    }

    /// The ids that applying `entries` next may look up among the retired
    /// ones: each submitted subject's id, a transbox's transfer and what a
    /// signer report is about. Empty when nothing is indexed. A follower
    /// holding the older ids in its own index asks it about these before
    /// applying the block ([`crate::audit::HistoryVerifier::push_answered`]);
    /// asking about more is harmless.
    pub fn retired_lookups<'a>(&self, entries: impl IntoIterator<Item = &'a crate::notary::Entry>) -> Vec<B256> {
        if self.retired.indexed() == 0 {
            return Vec::new();
        }
        let domain = self.domain();
        let mut out = Vec::new();
        for e in entries {
            if let crate::notary::Entry::Submit(subject) = e {
                if let Ok(id) = subject.id(&domain) {
                    out.push(id.0);
                }
                match subject {
                    Subject::Transfer(t) => out.push(t.transfer_id(&domain).0),
                    // Any report, an anchoring one (about a flow) included.
                    Subject::SignerReport(r) => out.push(r.value.subject),
                    _ => {}
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Takes the follower's index's answers (id asked → whether it holds
    /// it) for the entries about to be applied.
    pub(crate) fn answer_retired(&mut self, answers: HashMap<B256, bool>) {
        self.retired.answer(answers);
    }

    /// Drops the answers; `false` if a lookup since
    /// [`NotaryState::answer_retired`] fell outside them.
    pub(crate) fn retired_answered(&mut self) -> bool {
        self.retired.answered()
    }

    /// When the live transfer or subject `id` retires, if it is scheduled to.
    pub fn retires_at(&self, id: &B256) -> Option<Timestamp> {
        self.retiring.get(id).map(|d| d.at)
    }

    /// The next item to retire: (deadline, id), the least in that order.
    pub fn next_retirement(&self) -> Option<(Timestamp, B256)> {
        self.next_due()
    }

    /// The longest rolling period among `flow`'s limits (what its period
    /// limits can still count), or the longest a flow may have.
    fn counted_period(&self, flow: &FlowHash) -> u64 {
        self.flows
            .get(flow)
            .and_then(|r| r.flow.limits.iter().map(|l| l.periodSeconds).max())
            .map_or(MAX_PERIOD_SECONDS, |p| p.min(MAX_PERIOD_SECONDS))
    }

    /// A final transfer's deadline, finished at `at`.
    fn transfer_deadline(&self, r: &TransferRecord, at: Timestamp) -> Timestamp {
        let retain = at.0.saturating_add(RETAIN_SECONDS);
        if r.status.counts_towards_limits() {
            Timestamp(retain.max(r.submitted_at.0.saturating_add(self.counted_period(&r.flow))))
        } else {
            Timestamp(retain)
        }
    }

    /// Schedules (or unschedules) the transfers and subjects an entry applied
    /// at `at` touched: a transfer that became final is due at its deadline,
    /// one that left a final status is not due any more; a decided subject
    /// that carries no live transfer is due `RETAIN_SECONDS` after `at`.
    pub(super) fn schedule(&mut self, subjects: &BTreeSet<SubjectId>, transfers: &BTreeSet<TransferId>, at: Timestamp) {
        for t in transfers {
            let deadline = match self.transfers.get(t) {
                Some(r) if r.status.is_final() => Some(self.transfer_deadline(r, at)),
                _ => None,
            };
            match (deadline, self.retiring.contains_key(&t.0)) {
                (Some(d), false) => self.set_due(t.0, Some(Due { at: d, tag: tag::TRANSFER })),
                (None, true) => self.set_due(t.0, None),
                _ => {}
            }
        }
        let domain = self.domain();
        for s in subjects {
            if self.subject_due(s, &domain) && !self.retiring.contains_key(&s.0) {
                let d = Timestamp(at.0.saturating_add(RETAIN_SECONDS));
                self.set_due(s.0, Some(Due { at: d, tag: tag::SUBJECT }));
            }
        }
    }

    /// Whether subject `s` is live, decided and carries no live transfer
    /// (what [`NotaryState::schedule`] gives a deadline).
    fn subject_due(&self, s: &SubjectId, domain: &crate::typed::Domain) -> bool {
        match self.subjects.get(s) {
            Some(SubjectRecord { status: SubjectStatus::Pending, .. }) | None => false,
            Some(r) => r.subject.transfer(domain).is_none_or(|t| !self.transfers.contains_key(&t)),
        }
    }

    /// Whether a live item that [`NotaryState::schedule`] would have given a
    /// deadline has none: a final transfer or a decided subject carrying no
    /// live transfer outside the queue (a state read from a form that did not
    /// carry the queue). O(state).
    pub(super) fn deadline_missing(&self) -> bool {
        let domain = self.domain();
        self.transfers.iter().any(|(t, r)| r.status.is_final() && !self.retiring.contains_key(&t.0))
            || self.subjects.keys().any(|s| self.subject_due(s, &domain) && !self.retiring.contains_key(&s.0))
    }

    /// Puts the retired list and the queue read from a binary state (the
    /// queue's index is built with the others, [`NotaryState::rebuild_tree`]).
    pub(super) fn take_retirement(&mut self, retired: Retired, queue: Vec<(B256, Due)>) {
        self.retired = retired;
        for (id, due) in queue {
            self.retiring.insert(id, due);
        }
    }

    fn set_due(&mut self, id: B256, due: Option<Due>) {
        match due {
            Some(d) => self.retiring.insert(id, d),
            None => self.retiring.remove(&id),
        };
        self.index_due(&id);
    }

    /// Retires every item due at or before `at`, in (deadline, id) order.
    pub(super) fn retire_due(&mut self, at: Timestamp) {
        let mut any = false;
        while let Some((d, id)) = self.next_due()
            && d <= at
        {
            let Some(due) = self.retiring.get(&id).copied() else { break };
            self.set_due(id, None);
            any = true;
            match due.tag {
                tag::TRANSFER => {
                    let tid = TransferId(id);
                    for s in self.carried_by(&tid) {
                        self.drop_subject(&s);
                    }
                    self.transfers.remove(&tid);
                    self.index_transfer(&tid);
                    self.tree.remove(&row_key(tag::TRANSFER, &id));
                }
                _ => self.drop_subject(&SubjectId(id)),
            }
            self.retired.push(due.tag, id);
        }
        if any {
            self.write_retired();
        }
    }

    /// Removes a subject from the live state (its row, its indexes).
    fn drop_subject(&mut self, s: &SubjectId) {
        if self.retiring.contains_key(&s.0) {
            self.set_due(s.0, None);
        }
        self.subjects.remove(s);
        self.index_subject(s);
        self.tree.remove(&row_key(tag::SUBJECT, &s.0));
    }
}
