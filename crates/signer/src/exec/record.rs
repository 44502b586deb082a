//! The executor's mirror of the signer's durable record, with the indexes
//! its decisions need: what counts towards a flow's limits by time, which
//! executions are unfinished, which may still need a report. Kept in step
//! with the store by the executor (it changes the mirror when the store
//! took the change, or when the change is one whose failure stops the
//! signer).

use crate::store::{Execution, ExecutionKind, ExecutionState};
use box_core::amount::Amount;
use box_core::decision::{SignerRecord, oldest_counted};
use box_core::ids::{FlowHash, Timestamp, TransferId};
use box_core::transbox::counts_towards;
use box_core::{Address, B256, U256};
use std::collections::{BTreeSet, HashMap};

/// Every execution the signer recorded, indexed.
#[derive(Debug, Default)]
pub struct Record {
    executions: HashMap<B256, Execution>,
    /// Transfers by (flow, decision time, id): a period limit reads only its window.
    by_flow: BTreeSet<(B256, u64, B256)>,
    max_nonce: Option<u64>,
    latest_time: u64,
    /// Signed, broadcast or mined: followed on the public chain.
    live: BTreeSet<B256>,
    /// Executions whose outcome the chain may not reflect yet.
    unsettled: BTreeSet<B256>,
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
        if let ExecutionKind::Transfer { flow, .. } = &x.kind {
            self.by_flow.insert((*flow, x.time, subject));
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
        self.unsettled.insert(subject);
        self.executions.insert(subject, x);
    }

    /// Whether `subject` has an execution.
    pub fn has(&self, subject: &B256) -> bool {
        self.executions.contains_key(subject)
    }

    /// The execution of `subject`.
    pub fn get(&self, subject: &B256) -> Option<&Execution> {
        self.executions.get(subject)
    }

    /// The highest nonce any execution owns.
    pub fn max_nonce(&self) -> Option<u64> {
        self.max_nonce
    }

    /// The latest decision time recorded.
    pub fn latest_time(&self) -> u64 {
        self.latest_time
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

    /// Executions that may still need a report.
    pub(crate) fn unsettled(&self) -> Vec<B256> {
        self.unsettled.iter().copied().collect()
    }

    /// `subject`'s outcome is on the chain; it needs no report until it changes.
    pub(crate) fn settle(&mut self, subject: &B256) {
        self.unsettled.remove(subject);
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
            .filter(|(_, _, s)| *s != except.0)
            .filter_map(|(_, _, s)| {
                let x = self.executions.get(s)?;
                let ExecutionKind::Transfer { asset: a, amount, max_fee, .. } = &x.kind else { return None };
                if !x.counts() {
                    return None;
                }
                // box-core's rule: fee caps count towards the ETH window.
                let counted = counts_towards(asset, a, Amount(*amount), Amount(*max_fee))?;
                Some((Timestamp(x.time), counted))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

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
}
