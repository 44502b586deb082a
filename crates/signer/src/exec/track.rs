//! Tracking: every unfinished execution on the public chain. A receipt
//! moves it to mined, then confirmed at depth; one that vanishes in a reorg
//! sends the same bytes again; one unmined after `replace_after_secs` is
//! re-priced on the same nonce, within the signed cap, from a fresh
//! authorization (a replacement is a new signature).

use super::execute::fees_within;
use super::{Action, Context, Executor, Mined, Note, note};
use crate::store::{ExecutionKind, ExecutionState};
use crate::tx::{self, Payload};
use box_core::decision::{Attempt, authorize};
use box_core::ids::{FlowHash, Timestamp, TransferId};
use box_core::{B256, U256};
use box_eth::{EthError, Fees, erc20};

/// Re-broadcast an unmined transaction's bytes at most this often (milliseconds).
pub const RESEND_EVERY_MS: u64 = 3_000;

/// The key of `subject`'s hold for being stuck (apart from its transient
/// holds, which a successful read clears).
pub(super) fn stuck(subject: B256) -> B256 {
    alloy::primitives::keccak256([subject.as_slice(), b"stuck"].concat())
}

impl Executor {
    pub(super) fn track(&mut self) -> Vec<Action> {
        if self.record.live().is_empty() && self.record.watched().is_empty() { Vec::new() } else { vec![Action::Head] }
    }

    pub(super) fn head(&mut self, ctx: &Context<'_>, head: Result<u64, EthError>) -> Vec<Action> {
        match head {
            Ok(h) => {
                self.head = h;
                self.resolved(&B256::ZERO);
                // Confirmed transfers are watched for reorgs only while
                // their block is within the window.
                self.record.unwatch_before(h.saturating_sub(self.config.reorg_watch_blocks));
                self.record
                    .live()
                    .into_iter()
                    .chain(self.record.watched())
                    .filter_map(|subject| {
                        let x = self.record.get(&subject)?;
                        Some(Action::Receipts { subject, hashes: x.hashes.iter().rev().copied().collect() })
                    })
                    .collect()
            }
            Err(e) => self.hold(ctx, B256::ZERO, format!("cannot follow transactions on the public chain: {e}")),
        }
    }

    pub(super) fn receipt(
        &mut self,
        ctx: &Context<'_>,
        subject: B256,
        result: Result<Option<Mined>, EthError>,
    ) -> Vec<Action> {
        let Some(mut x) = self.record.get(&subject).cloned() else { return Vec::new() };
        let mined = match result {
            Ok(m) => m,
            Err(e) => return self.hold(ctx, subject, format!("cannot read the receipts of {subject}: {e}")),
        };
        // A receipt counts only while its block is the canonical one at its
        // height: one from a block reorganised away (a node's stale index)
        // is no receipt at all.
        let mut out = Vec::new();
        let mined = match mined {
            Some(m) if m.canonical != Some(m.receipt.block_hash) => {
                out.push(note(subject, Note::StaleReceipt { block: m.receipt.block, hash: m.receipt.block_hash }));
                None
            }
            Some(m) => Some((m.tx, m.receipt)),
            None => None,
        };
        // A confirmed transfer (watched for reorgs): nothing changes while
        // its receipt stays in its canonical block.
        if let ExecutionState::Confirmed { tx_hash, block } = x.state {
            if mined.as_ref().is_some_and(|(t, r)| *t == tx_hash && r.block == block) {
                return out;
            }
            if matches!(x.kind, ExecutionKind::Transfer { .. }) {
                out.extend(self.deep_reorg(ctx, subject, x, (tx_hash, block), mined));
            }
            return out;
        }
        // Mined: neither waiting nor stuck. (A hold of an unmined one ends
        // with its next successful broadcast.)
        if mined.is_some() {
            self.resolved(&subject);
            self.resolved(&stuck(subject));
            self.last_resend.remove(&subject);
        }
        let resend =
            |x: &crate::store::Execution| x.raw.last().map(|raw| Action::Broadcast { subject, raw: raw.clone() });
        match mined {
            Some((tx_hash, r)) if super::recover::is_cancel(&x, &tx_hash) => {
                out.extend(self.cancel_mined(subject, x, tx_hash, &r));
            }
            Some((tx_hash, r)) if !r.success => {
                x.state = ExecutionState::Failed { reason: format!("reverted on chain in block {}", r.block), tx_hash };
                out.push(note(subject, Note::Reverted { tx: tx_hash }));
                self.record.put(subject, x.clone());
                out.push(Action::Update { subject, execution: x });
            }
            Some((tx_hash, r)) => {
                let mut changed = false;
                // A token transfer succeeded only if the token says it moved
                // the tokens: its Transfer(wallet, to, …) events in this receipt.
                if let ExecutionKind::Transfer { asset, amount, to, .. } = &x.kind
                    && !asset.is_zero()
                {
                    let got = if to.is_zero() {
                        // A record from before recipients were kept: any recipient.
                        erc20::transfers(&r.logs)
                            .iter()
                            .filter(|t| t.token == *asset && t.from == r.from)
                            .fold(U256::ZERO, |sum, t| sum.saturating_add(t.amount))
                    } else {
                        erc20::delivered(&r.logs, *asset, r.from, *to)
                    };
                    if got.is_zero() {
                        let reason = format!(
                            "token {asset} moved nothing: the receipt in block {} has status 1 but no Transfer event \
                             from the hot wallet to {to} (its transfer returned false, or did nothing, without reverting)",
                            r.block
                        );
                        x.state = ExecutionState::Failed { reason, tx_hash };
                        x.delivered = Some(U256::ZERO);
                        out.push(note(subject, Note::Reverted { tx: tx_hash }));
                        self.record.put(subject, x.clone());
                        out.push(Action::Update { subject, execution: x });
                        return out;
                    }
                    if x.delivered != Some(got) {
                        if got < *amount {
                            out.push(note(subject, Note::Shortfall { delivered: got, amount: *amount }));
                        }
                        x.delivered = Some(got);
                        changed = true;
                    }
                }
                let depth = self.head.saturating_sub(r.block) + 1;
                let next = if depth >= self.config.confirmations {
                    ExecutionState::Confirmed { tx_hash, block: r.block }
                } else {
                    ExecutionState::Mined { block: r.block, tx_hash }
                };
                if next != x.state || changed {
                    if next != x.state {
                        out.push(match next {
                            ExecutionState::Confirmed { .. } => {
                                note(subject, Note::Confirmed { tx: tx_hash, block: r.block })
                            }
                            _ => note(subject, Note::Mined { tx: tx_hash, block: r.block }),
                        });
                    }
                    x.state = next;
                    self.record.put(subject, x.clone());
                    out.push(Action::Update { subject, execution: x });
                }
            }
            None => match x.state {
                ExecutionState::Mined { block, .. } => {
                    out.push(note(subject, Note::Reorged { block }));
                    x.state = ExecutionState::Broadcast;
                    x.sent_at = ctx.now;
                    self.record.put(subject, x.clone());
                    out.push(Action::Update { subject, execution: x.clone() });
                    out.extend(resend(&x));
                }
                ExecutionState::Signed => out.extend(resend(&x)),
                ExecutionState::Broadcast => {
                    // A pool may drop a transaction (underpriced, evicted,
                    // restarted): the same bytes go back every RESEND_EVERY_MS
                    // until mined (idempotent while the node holds them).
                    if self.last_resend.get(&subject).is_none_or(|t| ctx.now_ms.saturating_sub(*t) >= RESEND_EVERY_MS) {
                        self.last_resend.insert(subject, ctx.now_ms);
                        out.extend(resend(&x));
                    }
                    if ctx.now.saturating_sub(x.sent_at) >= self.config.replace_after_secs && ctx.key.is_some() {
                        out.push(Action::Fees { subject });
                    }
                }
                _ => {}
            },
        }
        out
    }

    /// Re-prices a stuck transaction on its nonce, while the signed cap and
    /// a fresh authorization allow; otherwise notes it (once) for the report.
    pub(super) fn reprice(
        &mut self,
        ctx: &Context<'_>,
        subject: B256,
        market: Result<(Fees, u128), EthError>,
    ) -> Vec<Action> {
        let Some(mut x) = self.record.get(&subject).cloned() else { return Vec::new() };
        let (Some(nonce), ExecutionState::Broadcast) = (x.nonce, &x.state) else { return Vec::new() };
        let (suggested, base) = match market {
            Ok(m) => m,
            Err(e) => return self.hold(ctx, subject, format!("cannot price a replacement of {subject} yet: {e}")),
        };
        // A fee cap below the base fee for `cancel_after_secs` (or a
        // cancellation under way): the nonce is freed by a cancellation.
        if self.due_for_cancel(ctx, &mut x, base) {
            return self.cancel(ctx, subject, x, suggested, base);
        }
        let payload = match x.kind {
            ExecutionKind::Anchor => match ctx.wallet {
                Some(wallet) => {
                    Ok(Payload::Anchor { wallet, flow: FlowHash(subject), chain_id: self.config.chain_id.0 })
                }
                None => return Vec::new(),
            },
            ExecutionKind::Transfer { .. } => {
                let now = Timestamp(ctx.log_time.max(self.record.latest_time()));
                authorize(
                    ctx.state,
                    &TransferId(subject),
                    self.config.chain_id,
                    &self.record,
                    Attempt::Replacement,
                    now,
                )
                .map(|a| Payload::Transfer(Box::new(a)))
                .map_err(|r| format!("not re-priced: {r}"))
            }
        };
        let prev = Fees { max_fee_per_gas: x.max_fee_per_gas, priority_fee_per_gas: x.priority_fee_per_gas };
        let signed = payload.and_then(|p| {
            let fees = fees_within("the signed fee cap", x.gas, x.fee_cap, Some(prev), suggested, base)?;
            let key = ctx.key.ok_or_else(|| "sealed".to_owned())?;
            tx::sign(key, nonce, x.gas, fees, &p).map(|s| (s, fees))
        });
        match signed {
            Ok((tx, fees)) => {
                x.raw.push(tx.raw.clone());
                x.hashes.push(tx.hash);
                x.max_fee_per_gas = fees.max_fee_per_gas;
                x.priority_fee_per_gas = fees.priority_fee_per_gas;
                x.sent_at = ctx.now;
                x.note.clear();
                x.recovery.below_base_since = 0;
                self.resolved(&stuck(subject));
                self.record.put(subject, x.clone());
                vec![
                    Action::Update { subject, execution: x },
                    note(subject, Note::Repriced { nonce, tx: tx.hash }),
                    Action::Broadcast { subject, raw: tx.raw },
                ]
            }
            // Not re-priceable: the same bytes keep going out (above);
            // shown as waiting, with the alert once it lasts.
            Err(reason) => self.stay_stuck(ctx, subject, x, reason),
        }
    }
}
