//! Indexes over the notary state, so that what every entry or vote reads
//! costs O(log n) plus what it returns, never a scan of everything that ever
//! happened: the pending subjects (what companions vote on), and transfers
//! by (flow, submission time) (what a period limit counts). Derived data:
//! not in the snapshot, rebuilt on restore, kept in step by
//! [`NotaryState::commit`](super::NotaryState) for the rows each entry touched.

use super::{NotaryState, SubjectRecord, SubjectStatus};
use crate::amount::Amount;
use crate::ids::{FlowHash, SubjectId, Timestamp, TransferId};
use alloy::primitives::{Address, B256};
use std::collections::{BTreeMap, BTreeSet};

/// The indexes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Indexes {
    /// Subjects awaiting a decision.
    pending: BTreeSet<SubjectId>,
    /// Transfers by (flow, submission time, id).
    by_flow: BTreeSet<(FlowHash, Timestamp, TransferId)>,
    /// Where each transfer sits in `by_flow`.
    placed: BTreeMap<TransferId, (FlowHash, Timestamp)>,
    /// What retires next: (deadline, id) of every scheduled item.
    due: BTreeSet<(Timestamp, B256)>,
    /// Where each scheduled item sits in `due`.
    due_placed: BTreeMap<B256, Timestamp>,
    /// The live subjects that carry each transfer (its transboxes, the
    /// signer's reports about it): they retire with it.
    carried: BTreeMap<TransferId, BTreeSet<SubjectId>>,
    /// Which transfer each subject in `carried` carries.
    carrier: BTreeMap<SubjectId, TransferId>,
}

impl NotaryState {
    /// Puts subject `id` in the indexes as the state now holds it.
    pub(super) fn index_subject(&mut self, id: &SubjectId) {
        match self.subjects.get(id) {
            Some(r) if r.status == SubjectStatus::Pending => self.index.pending.insert(*id),
            _ => self.index.pending.remove(id),
        };
        if let Some(t) = self.index.carrier.remove(id)
            && let Some(set) = self.index.carried.get_mut(&t)
        {
            set.remove(id);
            if set.is_empty() {
                self.index.carried.remove(&t);
            }
        }
        let domain = self.domain();
        if let Some(t) = self.subjects.get(id).and_then(|r| r.subject.transfer(&domain)) {
            self.index.carried.entry(t).or_default().insert(*id);
            self.index.carrier.insert(*id, t);
        }
    }

    /// Puts item `id` in the deadline queue as `retiring` now holds it.
    pub(super) fn index_due(&mut self, id: &B256) {
        if let Some(at) = self.index.due_placed.remove(id) {
            self.index.due.remove(&(at, *id));
        }
        if let Some(d) = self.retiring.get(id) {
            self.index.due.insert((d.at, *id));
            self.index.due_placed.insert(*id, d.at);
        }
    }

    /// The first (deadline, id) in the queue.
    pub(super) fn next_due(&self) -> Option<(Timestamp, B256)> {
        self.index.due.first().copied()
    }

    /// The live subjects that carry transfer `t`.
    pub(super) fn carried_by(&self, t: &TransferId) -> Vec<SubjectId> {
        self.index.carried.get(t).map(|s| s.iter().copied().collect()).unwrap_or_default()
    }

    /// Puts transfer `id` in the indexes as the state now holds it.
    pub(super) fn index_transfer(&mut self, id: &TransferId) {
        if let Some((flow, at)) = self.index.placed.remove(id) {
            self.index.by_flow.remove(&(flow, at, *id));
        }
        if let Some(t) = self.transfers.get(id) {
            self.index.by_flow.insert((t.flow, t.submitted_at, *id));
            self.index.placed.insert(*id, (t.flow, t.submitted_at));
        }
    }

    /// Rebuilds every index from the state.
    pub(super) fn rebuild_indexes(&mut self) {
        self.index = Indexes::default();
        let subjects: Vec<SubjectId> = self.subjects.keys().copied().collect();
        subjects.iter().for_each(|s| self.index_subject(s));
        let transfers: Vec<TransferId> = self.transfers.keys().copied().collect();
        transfers.iter().for_each(|t| self.index_transfer(t));
        let due: Vec<B256> = self.retiring.keys().copied().collect();
        due.iter().for_each(|id| self.index_due(id));
    }

    /// Subjects still awaiting a decision, in id order. O(pending), whatever
    /// the history.
    pub fn pending(&self) -> impl Iterator<Item = (&SubjectId, &SubjectRecord)> {
        self.index
            .pending
            .iter()
            .filter_map(|id| self.subjects.get_key_value(id))
            .filter(|(_, r)| r.status == SubjectStatus::Pending)
    }

    /// Earlier transfers under `flow` submitted at or after `since` as they
    /// count towards its period limit for `asset`, excluding `except`: for a
    /// token its amounts; for ETH (`address(0)`) every ETH amount plus every
    /// transfer's fee cap ([`crate::transbox::counts_towards`]). Reads only
    /// that window of the flow's transfers (a B-tree range).
    pub fn history_since(
        &self,
        flow: &FlowHash,
        asset: &Address,
        except: Option<&TransferId>,
        since: Timestamp,
    ) -> Vec<(Timestamp, Amount)> {
        let from = (*flow, since, TransferId(B256::ZERO));
        let to = (*flow, Timestamp(u64::MAX), TransferId(B256::repeat_byte(0xFF)));
        self.index
            .by_flow
            .range(from..=to)
            .filter(|(_, _, id)| Some(id) != except)
            .filter_map(|(_, _, id)| self.transfers.get(id))
            .filter(|t| t.status.counts_towards_limits())
            .filter_map(|t| {
                let counted = crate::transbox::counts_towards(asset, &t.asset, t.amount, t.max_fee)?;
                Some((t.submitted_at, counted))
            })
            .collect()
    }

    /// [`NotaryState::history_since`] over the flow's whole history.
    pub fn history(&self, flow: &FlowHash, asset: &Address, except: Option<&TransferId>) -> Vec<(Timestamp, Amount)> {
        self.history_since(flow, asset, except, Timestamp(0))
    }
}
