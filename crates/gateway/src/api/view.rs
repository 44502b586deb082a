//! How a stored transfer is shown: its TransBox so far (rebuilt with
//! box-core's `TransBox::add_approval`: the order within a level is core's,
//! whatever order the store returns approvals in), its status (the verified
//! replica's once the chain has it, the final status recorded from the
//! verified blocks once it retired, the gateway's own before), its progress
//! per level.

use super::{Caller, Shared};
use crate::error::{ApiError, ApiResult};
use crate::roles::Role;
use crate::store::{ApprovalRow, FinalTransfer, OutboxRow, TransferRow};
use box_api::{
    CollectionState, LevelProgress, RelayOutcome, SignatureOut, TransferOut, TransferState, TransferStatusOut,
    TransferSummary,
};
use box_core::amount::Amount;
use box_core::ids::{FlowHash, TransferId};
use box_core::notary::{FlowStatus, Subject, TransferStatus};
use box_core::transbox::TransBox;
use box_core::typed::BoxFlow;

/// The TransBox with every closed level (those below `row.level`), each
/// level in box-core's order ([`TransBox::add_approval`]), whatever order
/// `approvals` come in.
pub(super) fn transbox(st: &Shared, row: &TransferRow, approvals: &[ApprovalRow]) -> ApiResult<TransBox> {
    let closed = usize::try_from(row.level.saturating_sub(1)).unwrap_or(0);
    let mut tb =
        TransBox { request: row.request.clone(), applicant_signature: row.applicant_signature, levels: Vec::new() };
    let mut by_level: Vec<&ApprovalRow> = approvals.iter().collect();
    // Levels are added bottom-up (each signs over the ones below).
    by_level.sort_by_key(|a| a.level);
    for a in by_level {
        let l = usize::try_from(a.level).unwrap_or(0);
        if (1..=closed).contains(&l) {
            tb.add_approval(&st.domain, l, a.signature).map_err(|e| {
                ApiError::internal(format!("a stored approval of transfer {} does not fit: {e}", row.id))
            })?;
        }
    }
    Ok(tb)
}

/// The flow as the verified replica holds it, and whether it is active.
pub(super) fn flow_of(st: &Shared, hash: &FlowHash) -> Option<(BoxFlow, bool)> {
    let r = st.replica.read();
    r.state().flow(hash).map(|f| (f.flow.clone(), f.status == FlowStatus::Active))
}

/// Where a transfer stands: the chain's word once the replica holds it,
/// else the gateway's (collecting, rejected by an approver, queued, or
/// refused at submission). `recorded`: the final status recorded for it
/// and the height of the block that made it final ([`recorded`]).
pub(super) fn status_of(
    st: &Shared,
    row: &TransferRow,
    relay: Option<&OutboxRow>,
    recorded: Option<&(u64, FinalTransfer)>,
) -> TransferStatusOut {
    let s = TransferStatusOut::of;
    let (live, verified) = {
        let r = st.replica.read();
        let live =
            r.state().transfer(&row.id).map(|rec| (rec.status.clone(), rec.confirmed_detail().map(str::to_owned)));
        (live, r.height())
    };
    // Live, unless the final status recorded from the verified block that
    // made it final (crate::finals) is newer: it retired from the live
    // state, or the replica has not reached that block again (a gateway
    // that bootstrapped again below what it had verified).
    let recorded = recorded.map(|(height, f)| (*height, (f.status.clone(), f.detail.clone())));
    if let Some((status, detail)) = newer(live, verified, recorded) {
        return match &status {
            TransferStatus::Submitted => s(TransferState::Submitted),
            TransferStatus::Notarized => s(TransferState::Notarized),
            TransferStatus::Broadcast { tx_hash, nonce } => {
                TransferStatusOut { tx_hash: Some(*tx_hash), nonce: Some(*nonce), ..s(TransferState::Broadcast) }
            }
            TransferStatus::Confirmed { tx_hash } => {
                TransferStatusOut { tx_hash: Some(*tx_hash), detail, ..s(TransferState::Confirmed) }
            }
            TransferStatus::Rejected { reason } => {
                TransferStatusOut { reason: Some(reason.clone()), ..s(TransferState::Rejected) }
            }
            TransferStatus::Refused { reason } => {
                TransferStatusOut { reason: Some(reason.clone()), ..s(TransferState::Refused) }
            }
            TransferStatus::Failed { reason } => {
                TransferStatusOut { reason: Some(reason.clone()), ..s(TransferState::Failed) }
            }
        };
    }
    match row.state {
        CollectionState::Collecting => s(TransferState::Collecting),
        CollectionState::Rejected => {
            TransferStatusOut { reason: row.reason.clone(), ..s(TransferState::RejectedByApprover) }
        }
        CollectionState::Submitting => match relay.and_then(|r| r.outcome.as_ref()) {
            Some(RelayOutcome::Refused(reason)) => {
                TransferStatusOut { reason: Some(reason.clone()), ..s(TransferState::RefusedByChain) }
            }
            // A node took it; the block that records it is not verified here yet.
            Some(_) => s(TransferState::Submitted),
            None => TransferStatusOut { reason: relay.and_then(|r| r.last_error.clone()), ..s(TransferState::Queued) },
        },
    }
}

/// What to show of an item: the status recorded from the verified block
/// that made it final (with that block's height) where the live state does
/// not hold the item or is below that height, else the live status of the
/// replica verified to `verified`. The recorded rows are forgotten when an
/// item leaves its final status (crate::finals), so neither is older than
/// the other claims.
pub(super) fn newer<T>(live: Option<T>, verified: u64, recorded: Option<(u64, T)>) -> Option<T> {
    match recorded {
        Some((height, r)) if live.is_none() || height > verified => Some(r),
        _ => live,
    }
}

/// The level that may sign now, while collecting.
pub(super) fn open_level(row: &TransferRow) -> Option<u32> {
    (row.state == CollectionState::Collecting).then(|| u32::try_from(row.level).unwrap_or(u32::MAX))
}

async fn relay_of(st: &Shared, row: &TransferRow, approvals: &[ApprovalRow]) -> ApiResult<Option<OutboxRow>> {
    if row.state != CollectionState::Submitting {
        return Ok(None);
    }
    // A transfer's subject id is its complete transbox's, as queued when the
    // last level closed (every level is closed now).
    let tb = transbox(st, row, approvals)?;
    Ok(st.store.outbox(&Subject::Transfer(tb).id(&st.domain)?).await?)
}

/// The transfer with its progress per level and its relay.
pub(super) async fn transfer_out(st: &Shared, row: TransferRow) -> ApiResult<TransferOut> {
    let approvals = st.store.approvals(&row.id).await?;
    let relay = relay_of(st, &row, &approvals).await?;
    let recorded = recorded(st, &row).await?;
    let status = status_of(st, &row, relay.as_ref(), recorded.as_ref());
    let request = &row.request;
    let flow = flow_of(st, &row.flow_hash).map(|(f, _)| f);
    let display_amount = st
        .replica
        .read()
        .state()
        .assets()
        .get(&request.asset)
        .map(|a| format!("{} {}", Amount(request.amount).format(a.decimals()), a.symbol()));
    let levels = match &flow {
        Some(f) => f
            .levels
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let n = i as i64 + 1;
                LevelProgress {
                    level: u32::try_from(n).unwrap_or(u32::MAX),
                    name: l.name.clone(),
                    threshold: l.threshold,
                    approvers: l.approvers.clone(),
                    signatures: approvals
                        .iter()
                        .filter(|a| a.level == n)
                        .map(|a| SignatureOut { approver: a.approver, signature: a.signature.into() })
                        .collect(),
                    complete: n < row.level,
                }
            })
            .collect(),
        None => Vec::new(),
    };
    Ok(TransferOut {
        id: row.id,
        request: row.request.clone().into(),
        applicant_signature: row.applicant_signature.into(),
        display_amount,
        levels,
        open_level: open_level(&row),
        status,
        rejected_by: row.rejected_by,
        relay: relay.map(Into::into),
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// A transfer in a list. Lists skip the outbox lookup: a submitted transfer
/// shows `queued` until its block is verified; the detail has the relay state.
pub(super) async fn summary(st: &Shared, row: &TransferRow) -> ApiResult<TransferSummary> {
    let recorded = recorded(st, row).await?;
    Ok(TransferSummary {
        id: row.id,
        flow_hash: row.flow_hash,
        applicant: row.applicant,
        asset: row.asset,
        to: row.destination,
        amount: row.amount.into(),
        open_level: open_level(row),
        status: status_of(st, row, None, recorded.as_ref()),
        created_at: row.created_at,
    })
}

/// The final status recorded for a transfer the chain took, with its
/// height, when the live state may not have it: the transfer retired from
/// it, or the replica is below a height a final status was recorded at
/// ([`crate::follower::Replica::behind_records`]); one primary-key lookup,
/// only then.
async fn recorded(st: &Shared, row: &TransferRow) -> ApiResult<Option<(u64, FinalTransfer)>> {
    let current = {
        let r = st.replica.read();
        r.state().transfer(&row.id).is_some() && !r.behind_records()
    };
    if row.state != CollectionState::Submitting || current {
        return Ok(None);
    }
    Ok(st.store.final_transfer(&row.id.0).await?)
}

/// The stored transfer `id`, or `404 no_such_transfer`.
pub(super) async fn find(st: &Shared, id: &TransferId) -> ApiResult<TransferRow> {
    st.store.transfer(id).await?.ok_or_else(|| ApiError::not_found("no_such_transfer", format!("no transfer {id}")))
}

/// A transfer is visible to its applicant, the approvers of its flow,
/// admins, key holders and auditors.
pub(super) fn can_read(st: &Shared, caller: &Caller, row: &TransferRow) -> ApiResult<()> {
    if caller.address == row.applicant
        || caller.is(Role::Admin)
        || caller.is(Role::Auditor)
        || caller.is(Role::KeyHolder)
    {
        return Ok(());
    }
    if caller.is(Role::Approver)
        && flow_of(st, &row.flow_hash)
            .is_some_and(|(f, _)| f.levels.iter().any(|l| l.approvers.contains(&caller.address)))
    {
        return Ok(());
    }
    Err(ApiError::forbidden(
        "not_allowed_to_read",
        "a transfer is visible to its applicant, the approvers of its flow, admins, key holders and auditors",
    ))
}

#[cfg(test)]
mod tests {
    use super::newer;

    #[test]
    fn the_newer_of_the_live_and_the_recorded_status_is_shown() {
        // Retired: only the record.
        assert_eq!(newer(None, 50, Some((40, "confirmed"))), Some("confirmed"));
        // The replica at or past the record's block: the live status (it
        // holds whatever followed).
        assert_eq!(newer(Some("confirmed"), 40, Some((40, "confirmed"))), Some("confirmed"));
        assert_eq!(newer(Some("broadcast"), 45, Some((40, "confirmed"))), Some("broadcast"));
        // A replica started below the record's block (bootstrapped again
        // lower): the record is newer than the live status.
        assert_eq!(newer(Some("broadcast"), 38, Some((40, "confirmed"))), Some("confirmed"));
        // Nothing recorded: the live status, or nothing.
        assert_eq!(newer(Some("notarized"), 38, None), Some("notarized"));
        assert_eq!(newer::<&str>(None, 38, None), None);
    }
}
