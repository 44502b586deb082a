//! The executor's mirror of the signer's durable record, with the indexes
//! its decisions need: which ids were executed, what counts towards a flow's
//! limits by time, which executions are unfinished, which may still need a
//! report. Kept in step with the store by the executor (it changes the mirror
//! when the store took the change, or when the change is one whose failure
//! stops the signer).
//!
//! Bounded by what is still open, not by history: an execution that is final
//! and whose outcome the chain reflects ([`Record::settle`]) leaves the
//! mirror, and only its id stays (the replay check); its period-limit entry
//! stays until no window can reach it (`MAX_PERIOD_SECONDS` behind the latest
//! decision). Every lookup is a hash or B-tree lookup (O(log n)), never a scan
//! of past executions; the store keeps every record in full.

use crate::store::{Execution, ExecutionKind, ExecutionState};
use box_core::amount::Amount;
use box_core::decision::{SignerRecord, oldest_counted};
use box_core::ids::{FlowHash, Timestamp, TransferId};
use box_core::transbox::counts_towards;
use box_core::{Address, B256, U256};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// What one transfer contributes to its flow's period limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counted {
    asset: Address,
    amount: U256,
    max_fee: U256,
    /// Whether it counts (signed and not failed on chain).
    counts: bool,
}

/// Every execution the signer recorded, indexed.
#[derive(Debug, Default)]
pub struct Record {
    /// Executions still open: not final, or final with an outcome the chain
    /// may not reflect yet.
    executions: HashMap<B256, Execution>,
    /// Executions that left `executions` (final and settled): their ids only.
    done: HashSet<B256>,
    /// Transfers by (flow, decision time, id): a period limit reads only its window.
    by_flow: BTreeMap<(B256, u64, B256), Counted>,
    /// The same entries by (decision time, flow, id), to drop those no window reaches.
    by_time: BTreeSet<(u64, B256, B256)>,
    max_nonce: Option<u64>,
    latest_time: u64,
    /// Signed, broadcast or mined: followed on the public chain.
    live: BTreeSet<B256>,
    /// Executions whose outcome the chain may not reflect yet.
    unsettled: BTreeSet<B256>,
    /// Confirmed transfers whose receipts are still checked for reorgs, by
    /// (block, subject): only those within the watch window
    /// ([`Record::unwatch_before`]).
    watched: BTreeSet<(u64, B256)>,
    /// The block each watched subject is keyed by in `watched`.
    watch_block: HashMap<B256, u64>,
    /// Settled executions still watched for reorgs: bounded by the watch
    /// window, not by history.
    watching: HashMap<B256, Execution>,
}

impl Record {
    /// The mirror of `executions`.
    pub fn new(executions: Vec<(B256, Execution)>) -> Self {
        let mut r = Self::default();
        for (s, x) in executions {
            r.put(s, x);
        }
        r
    }

    /// Records `x` for `subject` (new or replacing).
    pub(crate) fn put(&mut self, subject: B256, x: Execution) {
        // A replaced record keeps its decision time; should it not, its old
        // window entry goes, so it never counts twice.
        if let Some(old) = self.executions.get(&subject)
            && let ExecutionKind::Transfer { flow, .. } = &old.kind
        {
            self.by_flow.remove(&(*flow, old.time, subject));
            self.by_time.remove(&(old.time, *flow, subject));
        }
        if let ExecutionKind::Transfer { flow, asset, amount, max_fee, .. } = &x.kind {
            let counted = Counted { asset: *asset, amount: *amount, max_fee: *max_fee, counts: x.counts() };
            self.by_flow.insert((*flow, x.time, subject), counted);
            self.by_time.insert((x.time, *flow, subject));
        }
        if let Some(n) = x.nonce {
            self.max_nonce = Some(self.max_nonce.map_or(n, |m| m.max(n)));
        }
        self.latest_time = self.latest_time.max(x.time);
        if matches!(x.state, ExecutionState::Signed | ExecutionState::Broadcast | ExecutionState::Mined { .. }) {
            self.live.insert(subject);
        } else {
            self.live.remove(&subject);
        }
        if let Some(block) = self.watch_block.remove(&subject) {
            self.watched.remove(&(block, subject));
        }
        if let (ExecutionState::Confirmed { block, .. }, ExecutionKind::Transfer { .. }) = (&x.state, &x.kind) {
            self.watched.insert((*block, subject));
            self.watch_block.insert(subject, *block);
        }
        self.unsettled.insert(subject);
        self.done.remove(&subject);
        self.watching.remove(&subject);
        self.executions.insert(subject, x);
        self.forget_old_windows();
    }

    /// Drops the period-limit entries no window can reach any more: every
    /// later decision is at or after `latest_time`.
    fn forget_old_windows(&mut self) {
        let oldest = oldest_counted(Timestamp(self.latest_time)).0;
        while let Some(&(time, flow, subject)) = self.by_time.first() {
            if time >= oldest {
                break;
            }
            self.by_time.pop_first();
            self.by_flow.remove(&(flow, time, subject));
        }
    }

    /// Whether `subject` has an execution.
    pub fn has(&self, subject: &B256) -> bool {
        self.executions.contains_key(subject) || self.done.contains(subject) || self.watching.contains_key(subject)
    }

    /// The execution of `subject`, while it is open (not yet settled). A
    /// settled one is read from the store.
    pub fn get(&self, subject: &B256) -> Option<&Execution> {
        self.executions.get(subject).or_else(|| self.watching.get(subject))
    }

    /// The highest nonce any execution owns.
    pub fn max_nonce(&self) -> Option<u64> {
        self.max_nonce
    }

    /// The latest decision time recorded.
    pub fn latest_time(&self) -> u64 {
        self.latest_time
    }

    /// How many open executions the mirror holds in full, and how many
    /// period-limit entries: what its memory grows with (besides the
    /// confirmed transfers watched for reorgs, bounded by the watch window:
    /// [`Record::watched`]).
    pub fn held(&self) -> (usize, usize) {
        (self.executions.len(), self.by_flow.len())
    }

    /// Unfinished executions (signed, broadcast, mined), by subject.
    pub(crate) fn live(&self) -> Vec<B256> {
        self.live.iter().copied().collect()
    }

    /// What executions signed but not yet mined may still take from the
    /// wallet: wei (ETH amounts and every worst-case fee) and base units of
    /// `token`. Mined ones are in the node's balances already. Reads only
    /// the unfinished executions.
    pub(crate) fn in_flight(&self, token: Option<Address>) -> (U256, U256) {
        let (mut wei, mut units) = (U256::ZERO, U256::ZERO);
        for x in self.live.iter().filter_map(|s| self.executions.get(s)) {
            if !matches!(x.state, ExecutionState::Signed | ExecutionState::Broadcast) {
                continue;
            }
            wei = wei.saturating_add(U256::from(x.gas) * U256::from(x.max_fee_per_gas));
            if let Some(c) = &x.recovery.cancel {
                // Either the transfer or its cancellation is mined: count both.
                wei = wei.saturating_add(U256::from(super::ETH_TRANSFER_GAS) * U256::from(c.max_fee_per_gas));
            }
            if let ExecutionKind::Transfer { asset, amount, .. } = &x.kind {
                if asset.is_zero() {
                    wei = wei.saturating_add(*amount);
                } else if Some(*asset) == token {
                    units = units.saturating_add(*amount);
                }
            }
        }
        (wei, units)
    }

    /// Confirmed transfers still watched for reorgs.
    pub(crate) fn watched(&self) -> Vec<B256> {
        self.watched.iter().map(|(_, s)| *s).collect()
    }

    /// Stops watching transfers confirmed before block `oldest` (they leave
    /// the mirror once settled): what is watched is bounded by the window,
    /// not by history.
    pub(crate) fn unwatch_before(&mut self, oldest: u64) {
        while let Some(&(block, subject)) = self.watched.first() {
            if block >= oldest {
                break;
            }
            self.watched.pop_first();
            self.watch_block.remove(&subject);
            if self.watching.remove(&subject).is_some() {
                self.done.insert(subject);
            }
        }
    }

    /// Executions that may still need a report.
    pub(crate) fn unsettled(&self) -> Vec<B256> {
        self.unsettled.iter().copied().collect()
    }

    /// `subject`'s outcome is on the chain; it needs no report until it
    /// changes. A final one leaves the mirror (its id stays).
    pub(crate) fn settle(&mut self, subject: &B256) {
        self.unsettled.remove(subject);
        if self.live.contains(subject) {
            return;
        }
        if let Some(x) = self.executions.remove(subject) {
            if self.watch_block.contains_key(subject) {
                self.watching.insert(*subject, x);
            } else {
                self.done.insert(*subject);
            }
        }
    }
}

impl SignerRecord for Record {
    fn executed(&self, id: &TransferId) -> bool {
        self.has(&id.0)
    }

    fn counted(
        &self,
        flow: &FlowHash,
        asset: &Address,
        now: Timestamp,
        except: &TransferId,
    ) -> Vec<(Timestamp, Amount)> {
        let from = (flow.0, oldest_counted(now).0, B256::ZERO);
        let to = (flow.0, u64::MAX, B256::repeat_byte(0xFF));
        self.by_flow
            .range(from..=to)
            .filter(|((_, _, s), c)| *s != except.0 && c.counts)
            .filter_map(|((_, time, _), c)| {
                // box-core's rule: fee caps count towards the ETH window.
                let counted = counts_towards(asset, &c.asset, Amount(c.amount), Amount(c.max_fee))?;
                Some((Timestamp(*time), counted))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use box_core::flow::MAX_PERIOD_SECONDS;

    fn transfer(flow: B256, asset: Address, amount: u64, max_fee: u64, time: u64) -> Execution {
        Execution {
            kind: ExecutionKind::Transfer {
                flow,
                asset,
                amount: U256::from(amount),
                max_fee: U256::from(max_fee),
                to: Address::ZERO,
            },
            nonce: Some(time),
            raw: Vec::new(),
            hashes: Vec::new(),
            max_fee_per_gas: 0,
            priority_fee_per_gas: 0,
            gas: 0,
            fee_cap: U256::from(max_fee),
            time,
            sent_at: time,
            note: String::new(),
            note_reported: false,
            delivered: None,
            state: ExecutionState::Broadcast,
            recovery: Default::default(),
        }
    }

    #[test]
    fn every_fee_cap_counts_towards_the_eth_window_as_box_core_says() {
        let (flow, token) = (B256::repeat_byte(1), Address::repeat_byte(0x70));
        let record = Record::new(vec![
            (B256::repeat_byte(0xE1), transfer(flow, Address::ZERO, 400, 7, 100)),
            (B256::repeat_byte(0xE2), transfer(flow, token, 300, 5, 101)),
        ]);
        let (now, none) = (Timestamp(200), TransferId(B256::ZERO));
        let amounts = |window: &Address| -> Vec<u64> {
            record.counted(&FlowHash(flow), window, now, &none).iter().map(|(_, a)| a.0.to::<u64>()).collect()
        };
        // The ETH window: the ETH amount with its fee cap, and the token
        // transfer's fee cap alone (box_core::transbox::eth_spend).
        assert_eq!(amounts(&Address::ZERO), vec![407, 5]);
        // The token's window: its amount only.
        assert_eq!(amounts(&token), vec![300]);
    }

    fn confirmed(mut x: Execution) -> Execution {
        x.state = ExecutionState::Confirmed { tx_hash: B256::repeat_byte(0xAA), block: 1 };
        x
    }

    fn id(i: u64) -> B256 {
        B256::from(U256::from(i + 1))
    }

    /// Years of settled transfers: the mirror keeps their ids (the replay
    /// check) and only the window entries a period limit can still reach;
    /// every one of them still refuses a replay, and the window sums only
    /// what is in it.
    #[test]
    fn settled_executions_leave_the_mirror_and_old_window_entries_are_dropped() {
        let (flow, other) = (B256::repeat_byte(1), B256::repeat_byte(2));
        let day = 24 * 3600;
        let days = 3 * 366;
        let mut record = Record::default();
        for i in 0..days {
            let f = if i % 2 == 0 { flow } else { other };
            record.put(id(i), confirmed(transfer(f, Address::ZERO, 10, 1, 1_000 + i * day)));
            record.settle(&id(i));
        }
        let (open, window) = record.held();
        assert_eq!(open, 0, "settled executions are not held in full");
        let reachable = MAX_PERIOD_SECONDS / day + 1;
        assert!(window as u64 <= reachable, "{window} window entries kept, at most {reachable} can be reached");
        for i in 0..days {
            assert!(record.executed(&TransferId(id(i))), "transfer {i} must still be a replay");
        }
        assert!(!record.executed(&TransferId(id(days))));
        let now = Timestamp(record.latest_time());
        let counted = record.counted(&FlowHash(flow), &Address::ZERO, now, &TransferId(B256::ZERO));
        let oldest = oldest_counted(now).0;
        let expected = (0..days).filter(|i| i % 2 == 0 && 1_000 + i * day >= oldest).count();
        assert_eq!(counted.len(), expected, "exactly the flow's transfers in the window");
        assert!(counted.iter().all(|(t, a)| t.0 >= oldest && a.0 == U256::from(11u64)));
    }

    /// Confirmed transfers are watched for reorgs only within the window:
    /// after years of them, what is watched is what the window holds.
    #[test]
    fn only_the_watch_windows_confirmed_transfers_are_watched() {
        let flow = B256::repeat_byte(1);
        let mut record = Record::default();
        for i in 0..1_000u64 {
            let mut x = confirmed(transfer(flow, Address::ZERO, 10, 1, 1_000 + i));
            x.state = ExecutionState::Confirmed { tx_hash: B256::repeat_byte(0xAA), block: i };
            record.put(id(i), x);
            record.settle(&id(i));
            record.unwatch_before(i.saturating_sub(64));
        }
        assert_eq!(record.held().0, 0, "settled executions are not open");
        let watched = record.watched();
        assert_eq!(watched.len(), 65, "blocks 935..=999");
        assert!(watched.iter().all(|s| record.get(s).is_some()), "a watched one can be checked");
        assert!(
            record.get(&id(900)).is_none() && record.executed(&TransferId(id(900))),
            "out of the window: its id only"
        );
    }

    /// An execution still followed on the public chain stays whole, settled
    /// or not, and a refused or failed one stops counting.
    #[test]
    fn open_executions_stay_whole_and_only_counting_ones_count() {
        let flow = B256::repeat_byte(1);
        let mut record = Record::default();
        record.put(id(0), transfer(flow, Address::ZERO, 5, 0, 100));
        record.settle(&id(0));
        assert!(record.get(&id(0)).is_some(), "a broadcast transfer is still tracked");
        let mut failed = transfer(flow, Address::ZERO, 7, 0, 101);
        failed.state = ExecutionState::Failed { reason: "reverted".into(), tx_hash: B256::ZERO };
        record.put(id(1), failed);
        let all = record.counted(&FlowHash(flow), &Address::ZERO, Timestamp(200), &TransferId(B256::ZERO));
        assert_eq!(all, vec![(Timestamp(100), Amount(U256::from(5u64)))]);
        let none = record.counted(&FlowHash(flow), &Address::ZERO, Timestamp(200), &TransferId(id(0)));
        assert!(none.is_empty(), "the replaced transfer itself is left out");
    }
}
