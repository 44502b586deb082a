//! Reports: the chain's record brought in line with the signer's. Every
//! outcome (broadcast with hash and nonce, confirmed, refused, failed,
//! anchored, stuck) goes back as a signed report, re-sent every
//! [`REPORT_EVERY_MS`] until the chain reflects it.

use super::{Action, Context, Executor, REPORT_EVERY_MS};
use crate::store::{Execution, ExecutionKind, ExecutionState};
use box_core::B256;
use box_core::amount::Amount;
use box_core::asset::AssetRegistry;
use box_core::ids::{FlowHash, TransferId};
use box_core::notary::{FlowStatus, TransferStatus};
use box_core::typed::{ReportStatus, SignerReport};

impl Executor {
    pub(super) fn report(&mut self, ctx: &Context<'_>) -> Vec<Action> {
        let mut out = Vec::new();
        for subject in self.record.unsettled() {
            let Some(x) = self.record.get(&subject).cloned() else { continue };
            let due = match &x.kind {
                ExecutionKind::Anchor => match (&x.state, ctx.state.flow(&FlowHash(subject))) {
                    (ExecutionState::Confirmed { tx_hash, .. }, Some(f)) if f.status == FlowStatus::Authorized => {
                        Some(report(subject, ReportStatus::Anchored, *tx_hash, x.nonce, ""))
                    }
                    _ => None,
                },
                ExecutionKind::Transfer { .. } => {
                    let Some(t) = ctx.state.transfer(&TransferId(subject)) else { continue };
                    match transfer_report(subject, &x, &t.status, ctx.state.assets()) {
                        Some(r) => Some(r),
                        None if !x.note.is_empty() && !x.note_reported && x.state == ExecutionState::Broadcast => {
                            let mut x = x.clone();
                            x.note_reported = true;
                            let sent = super::recover::newest_transfer_tx(&x);
                            let r = report(subject, ReportStatus::Broadcast, sent, x.nonce, &x.note);
                            self.record.put(subject, x.clone());
                            out.push(Action::Update { subject, execution: x });
                            Some(r)
                        }
                        None => None,
                    }
                }
            };
            match due {
                Some(r) => {
                    if self.last_report.get(&subject).is_some_and(|t| ctx.now_ms.saturating_sub(*t) < REPORT_EVERY_MS) {
                        continue;
                    }
                    self.last_report.insert(subject, ctx.now_ms);
                    out.push(Action::Report(r));
                }
                None if settled(&x) => {
                    self.record.settle(&subject);
                    self.last_report.remove(&subject);
                }
                None => {}
            }
        }
        out
    }
}

/// Whether an execution whose outcome the chain reflects can change again
/// only through the signer (a final state, any note reported).
fn settled(x: &Execution) -> bool {
    let finished = matches!(
        x.state,
        ExecutionState::Confirmed { .. } | ExecutionState::Refused { .. } | ExecutionState::Failed { .. }
    );
    finished && (x.note.is_empty() || x.note_reported)
}

fn report(subject: B256, status: ReportStatus, tx: B256, nonce: Option<u64>, detail: &str) -> SignerReport {
    SignerReport { subject, status: status as u8, txHash: tx, nonce: nonce.unwrap_or(0), detail: detail.to_owned() }
}

/// For a token transfer that delivered less than its amount: what arrived
/// and what did not, in the asset's units (the confirmed report's detail:
/// the approvers' view and the audit record). Empty otherwise.
pub(super) fn shortfall(x: &Execution, assets: &AssetRegistry) -> String {
    let ExecutionKind::Transfer { asset, amount, .. } = &x.kind else { return String::new() };
    let Some(delivered) = x.delivered.filter(|d| d < amount) else { return String::new() };
    let (symbol, decimals) =
        assets.get(asset).map_or_else(|| (asset.to_string(), 0), |a| (a.symbol().to_owned(), a.decimals()));
    let f = |v| Amount(v).format(decimals);
    format!(
        "shortfall: delivered {} of {} {symbol}; {} {symbol} did not arrive (the token takes a fee on transfer)",
        f(delivered),
        f(*amount),
        f(*amount - delivered)
    )
}

/// The next report a transfer needs, given what the chain shows.
fn transfer_report(
    subject: B256,
    x: &Execution,
    chain: &TransferStatus,
    assets: &AssetRegistry,
) -> Option<SignerReport> {
    use ExecutionState as E;
    use TransferStatus as T;
    // The chain is told of the transfer's own transactions only, never of
    // its cancellation (which ends it `failed`, with the reason).
    let newest = super::recover::newest_transfer_tx(x);
    let sent = match &x.state {
        E::Mined { tx_hash, .. } | E::Confirmed { tx_hash, .. } | E::Failed { tx_hash, .. }
            if !super::recover::is_cancel(x, tx_hash) =>
        {
            *tx_hash
        }
        _ => newest,
    };
    let broadcast = || report(subject, ReportStatus::Broadcast, sent, x.nonce, &x.note);
    match (&x.state, chain) {
        // Confirmed on the chain, but a reorg deeper than the confirmation
        // depth undid it: the chain's status goes back to broadcast.
        (E::Broadcast | E::Mined { .. }, T::Confirmed { .. }) if !x.recovery.deep_reorg.is_empty() => {
            Some(report(subject, ReportStatus::Reorged, sent, x.nonce, &x.recovery.deep_reorg))
        }
        (E::Refused { reason }, T::Notarized) => Some(report(subject, ReportStatus::Refused, B256::ZERO, None, reason)),
        (E::Broadcast | E::Mined { .. } | E::Confirmed { .. } | E::Failed { .. }, T::Notarized) => Some(broadcast()),
        (E::Broadcast | E::Mined { .. }, T::Broadcast { tx_hash, .. }) if *tx_hash != sent => Some(broadcast()),
        (E::Confirmed { tx_hash, block }, T::Broadcast { .. }) => {
            let mut detail = shortfall(x, assets);
            // After a reorg undid a confirmation the report differs from the
            // first one (a report is one subject: the same bytes again would
            // be a replay), and says what happened.
            if !x.recovery.deep_reorg.is_empty() {
                if !detail.is_empty() {
                    detail.push_str("; ");
                }
                detail.push_str(&format!(
                    "confirmed again in block {block} after a reorg deeper than the confirmation depth undid its \
                     earlier confirmation"
                ));
            }
            Some(report(subject, ReportStatus::Confirmed, *tx_hash, x.nonce, &detail))
        }
        (E::Failed { reason, tx_hash }, T::Broadcast { .. }) => {
            Some(report(subject, ReportStatus::Failed, *tx_hash, x.nonce, reason))
        }
        _ => None,
    }
}
