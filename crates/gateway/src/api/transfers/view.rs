//! Reading transfers: a stored row as the API shows it, with its status
//! from the verified replica (or the relay while the chain has not
//! recorded it), and the TransBox of its closed levels, rebuilt with
//! box-core's `TransBox::add_approval` (the order within a level is core's,
//! whatever order the store returns approvals in).

use super::super::dto::{
    LevelProgress, SignatureOut, TransferOut, TransferRequestJson, TransferStatusOut, TransferSummary, key, parse_b256,
    parse_sig, show,
};
use super::super::{Caller, Shared};
use crate::error::{ApiError, ApiResult};
use crate::roles::Role;
use crate::store::{ApprovalRow, OutboxRow, TransferRow};
use box_core::amount::Amount;
use box_core::encoding::Canonical;
use box_core::ids::{FlowHash, TransferId};
use box_core::notary::{Subject, TransferStatus};
use box_core::transbox::TransBox;
use box_core::typed::{BoxFlow, TransferRequest};

pub(super) fn decode_request(row: &TransferRow) -> ApiResult<(TransferRequest, box_core::Signature)> {
    let req = hex::decode(row.request.trim_start_matches("0x"))
        .ok()
        .and_then(|b| TransferRequest::decode(&b).ok())
        .ok_or_else(|| ApiError::internal(format!("stored transfer {} does not decode", row.id)))?;
    Ok((req, parse_sig("stored", &row.applicant_signature)?))
}

/// The TransBox with every closed level (those below `row.level`), each
/// level in box-core's order ([`TransBox::add_approval`]), whatever order
/// `approvals` come in.
pub(super) fn transbox(st: &Shared, row: &TransferRow, approvals: &[ApprovalRow]) -> ApiResult<TransBox> {
    let (request, applicant_signature) = decode_request(row)?;
    let closed = usize::try_from(row.level.saturating_sub(1)).unwrap_or(0);
    let mut tb = TransBox { request, applicant_signature, levels: Vec::new() };
    let mut by_level: Vec<&ApprovalRow> = approvals.iter().collect();
    // Levels are added bottom-up (each signs over the ones below).
    by_level.sort_by_key(|a| a.level);
    for a in by_level {
        let l = usize::try_from(a.level).unwrap_or(0);
        if (1..=closed).contains(&l) {
            tb.add_approval(&st.domain, l, parse_sig("stored", &a.signature)?).map_err(|e| {
                ApiError::internal(format!("a stored approval of transfer {} does not fit: {e}", row.id))
            })?;
        }
    }
    Ok(tb)
}

pub(super) fn flow_of(st: &Shared, hash: &str) -> Option<(BoxFlow, bool)> {
    let h: FlowHash = hash.parse().ok()?;
    let r = st.replica.read();
    r.state().flow(&h).map(|f| (f.flow.clone(), f.status == box_core::notary::FlowStatus::Active))
}

fn status_of(st: &Shared, row: &TransferRow, relay: Option<&OutboxRow>) -> TransferStatusOut {
    let s = |state: &str| TransferStatusOut { state: state.into(), reason: None, tx_hash: None, nonce: None };
    if let Ok(id) = row.id.parse::<TransferId>()
        && let Some(rec) = st.replica.read().state().transfer(&id)
    {
        return match &rec.status {
            TransferStatus::Submitted => s("submitted"),
            TransferStatus::Notarized => s("notarized"),
            TransferStatus::Broadcast { tx_hash, nonce } => {
                TransferStatusOut { tx_hash: Some(tx_hash.to_string()), nonce: Some(*nonce), ..s("broadcast") }
            }
            TransferStatus::Confirmed { tx_hash } => {
                TransferStatusOut { tx_hash: Some(tx_hash.to_string()), ..s("confirmed") }
            }
            TransferStatus::Rejected { reason } => TransferStatusOut { reason: Some(reason.clone()), ..s("rejected") },
            TransferStatus::Refused { reason } => TransferStatusOut { reason: Some(reason.clone()), ..s("refused") },
            TransferStatus::Failed { reason } => TransferStatusOut { reason: Some(reason.clone()), ..s("failed") },
        };
    }
    match row.state.as_str() {
        "collecting" => s("collecting"),
        "rejected" => TransferStatusOut { reason: row.reason.clone(), ..s("rejected_by_approver") },
        _ => match relay.and_then(|r| r.outcome.as_deref()) {
            Some(o) if o.starts_with("refused") => TransferStatusOut {
                reason: Some(o.trim_start_matches("refused: ").to_owned()),
                ..s("refused_by_chain")
            },
            // A node took it; the block that records it is not verified here yet.
            Some(_) => s("submitted"),
            None => TransferStatusOut { reason: relay.and_then(|r| r.last_error.clone()), ..s("queued") },
        },
    }
}

fn open_level(row: &TransferRow) -> Option<u32> {
    (row.state == "collecting").then(|| u32::try_from(row.level).unwrap_or(u32::MAX))
}

async fn relay_of(st: &Shared, row: &TransferRow, approvals: &[ApprovalRow]) -> ApiResult<Option<OutboxRow>> {
    if row.state != "submitting" {
        return Ok(None);
    }
    // A transfer's subject id is its complete transbox's, as queued when the
    // last level closed (every level is closed now).
    let tb = transbox(st, row, approvals)?;
    Ok(st.store.outbox(&Subject::Transfer(tb).id(&st.domain)?.to_string()).await?)
}

pub(super) async fn transfer_out(st: &Shared, row: TransferRow) -> ApiResult<TransferOut> {
    let approvals = st.store.approvals(&row.id).await?;
    let (request, applicant_signature) = decode_request(&row)?;
    let relay = relay_of(st, &row, &approvals).await?;
    let status = status_of(st, &row, relay.as_ref());
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
                    approvers: l.approvers.iter().map(|a| a.to_checksum(None)).collect(),
                    signatures: approvals
                        .iter()
                        .filter(|a| a.level == n)
                        .map(|a| SignatureOut { approver: show(&a.approver), signature: a.signature.clone() })
                        .collect(),
                    complete: n < row.level,
                }
            })
            .collect(),
        None => Vec::new(),
    };
    Ok(TransferOut {
        id: row.id.clone(),
        request: TransferRequestJson::from_request(&request),
        applicant_signature: super::super::dto::sig_hex(&applicant_signature),
        display_amount,
        levels,
        open_level: open_level(&row),
        status,
        rejected_by: row.rejected_by.as_deref().map(show),
        relay: relay.map(Into::into),
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

pub(super) fn summary(st: &Shared, row: &TransferRow) -> TransferSummary {
    TransferSummary {
        id: row.id.clone(),
        flow_hash: row.flow_hash.clone(),
        applicant: show(&row.applicant),
        asset: show(&row.asset),
        to: show(&row.destination),
        amount: row.amount.clone(),
        open_level: open_level(row),
        // Lists skip the outbox lookup: a submitted transfer shows `queued`
        // until its block is verified; the detail endpoint has the relay state.
        status: status_of(st, row, None),
        created_at: row.created_at,
    }
}

pub(super) async fn find(st: &Shared, id: &str) -> ApiResult<TransferRow> {
    let id = parse_b256("id", id)?;
    st.store
        .transfer(&id.to_string())
        .await?
        .ok_or_else(|| ApiError::not_found("no_such_transfer", format!("no transfer {id}")))
}

pub(super) fn can_read(st: &Shared, caller: &Caller, row: &TransferRow) -> ApiResult<()> {
    if key(&caller.address) == row.applicant
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
