//! Recovery from two faults of the public chain that re-pricing and
//! re-broadcasting cannot end:
//!
//! - **A fee cap that stays below the base fee.** A transfer's transaction
//!   may not spend more than its signed fee cap, so while the base fee is
//!   above it the transaction cannot be mined, and its nonce blocks every
//!   later one. Once it has stayed below for `cancel_after_secs`, the
//!   signer signs a *cancellation* on the same nonce: zero value from the
//!   wallet to itself, no data, priced to be mined now, its fee bounded by
//!   `cancel_max_fee` (the operator's budget; no approval is needed since it
//!   moves nothing). Whichever of the nonce's transactions is mined decides:
//!   the original confirms as usual; the cancellation, once deep enough,
//!   ends the transfer `failed` with a reason the applicant can act on.
//! - **A reorg deeper than `confirmations`.** A confirmed transfer's receipt
//!   is still checked for `reorg_watch_blocks` blocks after its block (only
//!   those; the window bounds the work). If its block is no longer
//!   canonical, the same bytes are broadcast again (never a new signature),
//!   an alert is raised at once, the record keeps what happened, the
//!   signer's status shows it while it waits, and the chain is told with a
//!   `Reorged` report (its status goes back to broadcast, then confirmed).

use super::execute::fees_within;
use super::{Action, Context, ETH_TRANSFER_GAS, Executor, Note, note};
use crate::store::{Cancellation, Execution, ExecutionKind, ExecutionState};
use crate::tx::{self, Payload};
use box_core::B256;
use box_eth::{Fees, Receipt};

impl Executor {
    /// Whether `x`'s newest transaction has had its fee cap below the base
    /// fee for `cancel_after_secs` (updating since when, in `x`).
    pub(super) fn due_for_cancel(&self, ctx: &Context<'_>, x: &mut Execution, base_fee: u128) -> bool {
        if x.max_fee_per_gas >= base_fee || x.recovery.cancel.is_some() {
            if x.recovery.cancel.is_none() {
                x.recovery.below_base_since = 0;
            }
            return x.recovery.cancel.is_some();
        }
        if x.recovery.below_base_since == 0 {
            x.recovery.below_base_since = ctx.now;
        }
        let transfer = matches!(x.kind, ExecutionKind::Transfer { .. });
        transfer
            && self.config.cancel_after_secs > 0
            && ctx.now.saturating_sub(x.recovery.below_base_since) >= self.config.cancel_after_secs
    }

    /// Signs (or re-prices) the cancellation of `subject`'s stuck
    /// transaction: a 0-value self-send on its nonce, within
    /// `cancel_max_fee`. If the budget does not reach what can be mined, the
    /// transfer stays stuck (shown waiting, with the alert).
    pub(super) fn cancel(
        &mut self,
        ctx: &Context<'_>,
        subject: B256,
        mut x: Execution,
        suggested: Fees,
        base_fee: u128,
    ) -> Vec<Action> {
        let (Some(nonce), Some(wallet), Some(key)) = (x.nonce, ctx.wallet, ctx.key) else { return Vec::new() };
        // It must replace what the pool holds on the nonce: 12.5 % over the
        // newest transaction (the previous cancellation, or the original).
        let prev = match &x.recovery.cancel {
            Some(c) => Fees { max_fee_per_gas: c.max_fee_per_gas, priority_fee_per_gas: c.priority_fee_per_gas },
            None => Fees { max_fee_per_gas: x.max_fee_per_gas, priority_fee_per_gas: x.priority_fee_per_gas },
        };
        // Mined now: twice the base fee plus the tip, as wallets price.
        let tip = suggested.priority_fee_per_gas;
        let wanted = Fees {
            max_fee_per_gas: base_fee.saturating_mul(2).saturating_add(tip).max(suggested.max_fee_per_gas),
            priority_fee_per_gas: tip,
        };
        let budget = self.config.cancel_max_fee;
        let fees = match fees_within("ethereum.cancel_max_fee", ETH_TRANSFER_GAS, budget, Some(prev), wanted, base_fee)
        {
            Ok(f) => f,
            Err(why) => return self.stay_stuck(ctx, subject, x, format!("cannot be cancelled: {why}")),
        };
        let payload = Payload::Cancel { wallet, chain_id: self.config.chain_id.0 };
        let signed = match tx::sign(key, nonce, ETH_TRANSFER_GAS, fees, &payload) {
            Ok(s) => s,
            Err(e) => return self.stay_stuck(ctx, subject, x, format!("cannot sign its cancellation: {e}")),
        };
        let below = ctx.now.saturating_sub(x.recovery.below_base_since);
        let reason = match &x.recovery.cancel {
            Some(c) => c.reason.clone(),
            None => format!(
                "cancelled: its fee cap of {} wei per gas ({} wei signed for {} gas) stayed below the network's base \
                 fee ({base_fee} wei per gas) for {below} s, so the signer freed its nonce {nonce} with a 0-value \
                 transaction from the hot wallet to itself ({}); nothing was moved. Apply again with a higher fee cap.",
                x.max_fee_per_gas, x.fee_cap, x.gas, signed.hash
            ),
        };
        let first = x.recovery.cancel.is_none();
        x.recovery.cancel = Some(Cancellation {
            tx_hash: signed.hash,
            max_fee_per_gas: fees.max_fee_per_gas,
            priority_fee_per_gas: fees.priority_fee_per_gas,
            reason,
        });
        x.raw.push(signed.raw.clone());
        x.hashes.push(signed.hash);
        x.sent_at = ctx.now;
        self.record.put(subject, x.clone());
        let mut out = self.hold(
            ctx,
            super::track::stuck(subject),
            format!("{subject} is being cancelled (its fee cap stayed below the base fee): {}", signed.hash),
        );
        out.push(Action::Update { subject, execution: x });
        out.push(note(subject, Note::Cancelling { nonce, tx: signed.hash, first }));
        out.push(Action::Broadcast { subject, raw: signed.raw });
        out
    }

    /// Not re-priceable and not cancellable: the same bytes keep going out
    /// (tracking), shown as waiting, with the alert once it lasts, and the
    /// note goes to the chain once.
    pub(super) fn stay_stuck(
        &mut self,
        ctx: &Context<'_>,
        subject: B256,
        mut x: Execution,
        reason: String,
    ) -> Vec<Action> {
        let mut out = self.hold(ctx, super::track::stuck(subject), format!("{subject} is stuck: {reason}"));
        x.sent_at = ctx.now;
        if x.note.is_empty() {
            x.note = format!("stuck: {reason}");
            x.note_reported = false;
            out.push(note(subject, Note::Stuck(x.note.clone())));
        }
        self.record.put(subject, x.clone());
        out.push(Action::Update { subject, execution: x });
        out
    }

    /// The cancellation of `x` was mined (`r`): the transfer fails once it
    /// is deep enough; nothing was moved.
    pub(super) fn cancel_mined(&mut self, subject: B256, mut x: Execution, tx_hash: B256, r: &Receipt) -> Vec<Action> {
        let Some(c) = x.recovery.cancel.clone() else { return Vec::new() };
        let depth = self.head.saturating_sub(r.block) + 1;
        let next = if depth >= self.config.confirmations {
            ExecutionState::Failed { reason: c.reason, tx_hash }
        } else {
            ExecutionState::Mined { block: r.block, tx_hash }
        };
        if next == x.state {
            return Vec::new();
        }
        let mut out = Vec::new();
        if matches!(next, ExecutionState::Failed { .. }) {
            out.push(note(subject, Note::Cancelled { tx: tx_hash, block: r.block }));
        } else {
            out.push(note(subject, Note::Mined { tx: tx_hash, block: r.block }));
        }
        x.state = next;
        self.record.put(subject, x.clone());
        out.push(Action::Update { subject, execution: x });
        out
    }

    /// A confirmed transfer whose receipt is no longer in its canonical
    /// block (`found`: where its nonce's transaction is now, if anywhere):
    /// the record keeps it, the alert goes out at once, the same bytes are
    /// broadcast again, and the chain is told (`Reorged`). Nothing is signed.
    pub(super) fn deep_reorg(
        &mut self,
        ctx: &Context<'_>,
        subject: B256,
        mut x: Execution,
        (confirmed, block): (B256, u64),
        found: Option<(B256, Receipt)>,
    ) -> Vec<Action> {
        let words = format!(
            "transfer {subject}, confirmed in block {block} at depth {}, was reorganised away (a reorg deeper than \
             ethereum.confirmations): that block is no longer canonical; the same signed transaction is broadcast \
             again (no new signature)",
            self.config.confirmations
        );
        let mut out = vec![note(subject, Note::Alert(words.clone()))];
        x.recovery.deep_reorg = words.clone();
        match found {
            Some((tx_hash, r)) => {
                out.push(note(subject, Note::Mined { tx: tx_hash, block: r.block }));
                x.state = ExecutionState::Mined { block: r.block, tx_hash };
            }
            None => {
                out.extend(self.hold(ctx, subject, words));
                x.state = ExecutionState::Broadcast;
                x.sent_at = ctx.now;
                // The bytes that were confirmed (any other of the nonce's if
                // those are unknown, never the cancellation).
                let pairs = || x.raw.iter().zip(&x.hashes).rev();
                let raw = pairs().find(|(_, h)| **h == confirmed).or_else(|| pairs().find(|(_, h)| !is_cancel(&x, h)));
                if let Some((raw, _)) = raw {
                    out.push(Action::Broadcast { subject, raw: raw.clone() });
                }
            }
        }
        self.record.put(subject, x.clone());
        out.insert(1, Action::Update { subject, execution: x });
        out
    }
}

/// Whether `hash` is `x`'s cancellation.
pub(super) fn is_cancel(x: &Execution, hash: &B256) -> bool {
    x.recovery.cancel.as_ref().is_some_and(|c| c.tx_hash == *hash)
}

/// The newest transaction of `x` that carries the transfer itself (not its
/// cancellation): what the chain is told was broadcast.
pub(super) fn newest_transfer_tx(x: &Execution) -> B256 {
    x.hashes.iter().rev().find(|h| !is_cancel(x, h)).copied().unwrap_or_default()
}
