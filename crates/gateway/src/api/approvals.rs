//! Nested approvals level by level, rejections, and what waits for an
//! approver (see [`super::transfers`] for the nesting).

use super::extract::path_hash;
use super::flows::outbox_row;
use super::rules::{refused, verify_complete};
use super::view::{find, flow_of, summary, transbox, transfer_out};
use super::{Caller, JsonBody, Shared};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::roles::Role;
use crate::store::{ApprovalRow, StoreError, TransferFilter, now};
use axum::Json;
use axum::extract::{Path, State};
use box_api::{ApproveIn, CollectionState, RejectIn, TransferOut, TransferSummary};
use box_core::Address;
use box_core::ids::TransferId;
use box_core::notary::Subject;

/// How often an approval is retried when another approval raced it.
const RETRIES: usize = 8;

/// Transfers waiting for the caller's approval at their open level.
#[utoipa::path(get, path = "/v1/approvals/pending", tag = "transfers",
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 200, body = Vec<TransferSummary>, description = "OK"), (status = 403, body = ErrorBody, description = "The caller's role does not allow this")))]
pub(super) async fn pending(State(st): State<Shared>, caller: Caller) -> ApiResult<Json<Vec<TransferSummary>>> {
    caller.require(&[Role::Approver], "listing pending approvals")?;
    let me = caller.address;
    let rows = st
        .store
        .transfers(&TransferFilter { state: Some(CollectionState::Collecting), limit: 500, ..Default::default() })
        .await?;
    let mut out = Vec::new();
    for row in rows {
        if row.applicant == me {
            continue;
        }
        let Some((flow, _)) = flow_of(&st, &row.flow_hash) else { continue };
        let idx = usize::try_from(row.level - 1).unwrap_or(usize::MAX);
        if !flow.levels.get(idx).is_some_and(|l| l.approvers.contains(&caller.address)) {
            continue;
        }
        if st.store.approvals(&row.id).await?.iter().any(|a| a.approver == me) {
            continue;
        }
        out.push(summary(&st, &row).await?);
    }
    Ok(Json(out))
}

/// Approve at the open level (an approver of that level; never the applicant).
#[utoipa::path(post, path = "/v1/transfers/{id}/approvals", tag = "transfers", request_body = ApproveIn,
    params(("id" = String, Path, description = "Transfer id")),
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 415, body = ErrorBody, description = "The body is not application/json"), (status = 200, body = TransferOut, description = "OK"), (status = 403, body = ErrorBody, description = "The caller's role does not allow this"), (status = 404, body = ErrorBody, description = "Not found"),
        (status = 409, body = ErrorBody, description = "Conflicts with the current state, or a reused nonce"), (status = 422, body = ErrorBody, description = "Breaks a rule (signature, policy, separation of duties)")))]
pub(super) async fn approve(
    State(st): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ApproveIn>,
) -> ApiResult<Json<TransferOut>> {
    caller.require(&[Role::Approver], "approving a transfer")?;
    if caller.is(Role::Admin) || caller.is(Role::KeyHolder) {
        return Err(ApiError::forbidden(
            "separation_of_duties",
            "admins and key holders cannot approve transfers (DESIGN.md §8)",
        ));
    }
    let signature = body.signature.0;
    let me = caller.address;
    let id: TransferId = path_hash("id", &id)?;
    for _ in 0..RETRIES {
        let row = find(&st, &id).await?;
        if row.applicant == me {
            return Err(ApiError::forbidden("self_approval", "nobody approves their own request"));
        }
        if row.state != CollectionState::Collecting {
            return Err(ApiError::conflict(
                "not_collecting",
                format!("transfer {} is no longer collecting approvals ({})", row.id, row.state),
            ));
        }
        let (flow, active) = flow_of(&st, &row.flow_hash).ok_or_else(|| {
            ApiError::conflict("flow_not_active", format!("flow {} is unknown to the chain", row.flow_hash))
        })?;
        if !active {
            return Err(ApiError::conflict("flow_not_active", format!("flow {} is no longer active", row.flow_hash)));
        }
        if i64::from(body.level) != row.level {
            return Err(ApiError::conflict(
                "level_not_open",
                format!("level {} is the open level of transfer {}, not level {}", row.level, row.id, body.level),
            ));
        }
        let idx = usize::try_from(row.level - 1).unwrap_or(usize::MAX);
        let level = flow.levels.get(idx).ok_or_else(|| ApiError::internal("open level beyond the flow"))?;
        if !level.approvers.contains(&caller.address) {
            return Err(ApiError::forbidden(
                "not_an_approver",
                format!("{} is not an approver of level {} ({})", caller.address, row.level, level.name),
            ));
        }
        let approvals = st.store.approvals(&row.id).await?;
        if approvals.iter().any(|a| a.approver == me) {
            return Err(ApiError::conflict(
                "already_approved",
                "you already approved this transfer; each person counts once",
            ));
        }
        let mut tb = transbox(&st, &row, &approvals)?;
        let approval = tb.approval_for(idx + 1);
        match st.domain.recover(&approval, &signature) {
            Ok(a) if a == caller.address => {}
            other => {
                return Err(ApiError::unprocessable(
                    "bad_approval_signature",
                    format!(
                        "the signature over the level {} approval recovers to {}, not the caller {}; sign the Approval (the request, the level, and below computed from the signatures shown)",
                        row.level,
                        other.map_or_else(|e| e.to_string(), |a| a.to_checksum(None)),
                        caller.address
                    ),
                ));
            }
        }
        // The open level as it would stand: box-core orders it.
        for a in approvals.iter().filter(|a| a.level == row.level) {
            tb.add_approval(&st.domain, idx + 1, a.signature).map_err(|e| {
                ApiError::internal(format!("a stored approval of transfer {} does not fit: {e}", row.id))
            })?;
        }
        tb.add_approval(&st.domain, idx + 1, signature).map_err(refused)?;
        let signed = tb.levels.get(idx).map_or(0, Vec::len);
        let closes = signed >= level.threshold as usize;
        let (next_level, state, outbox) = if !closes {
            (row.level, CollectionState::Collecting, None)
        } else if idx + 1 < flow.levels.len() {
            (row.level + 1, CollectionState::Collecting, None)
        } else {
            verify_complete(&st, &tb).await?;
            (row.level + 1, CollectionState::Submitting, Some(outbox_row(&st, &Subject::Transfer(tb))?))
        };
        let a = ApprovalRow { transfer_id: row.id, level: row.level, approver: me, signature, created_at: now() };
        match st.store.approve(&caller.nonce, row.version, &a, next_level, state, outbox.as_ref()).await {
            Ok(()) => {
                if outbox.is_some() {
                    st.relay_wake.notify_one();
                    tracing::info!(transfer = %row.id, "approvals complete; queued for the chain");
                }
                let row = find(&st, &id).await?;
                return Ok(Json(transfer_out(&st, row).await?));
            }
            Err(StoreError::Conflict) => continue, // another approval landed first: re-read
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::conflict("busy", "the transfer kept changing under concurrent approvals; retry").retry_after(1))
}

/// Reject at the open level (an approver of that level), with a reason.
#[utoipa::path(post, path = "/v1/transfers/{id}/reject", tag = "transfers", request_body = RejectIn,
    params(("id" = String, Path, description = "Transfer id")),
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 415, body = ErrorBody, description = "The body is not application/json"), (status = 200, body = TransferOut, description = "OK"), (status = 403, body = ErrorBody, description = "The caller's role does not allow this"), (status = 409, body = ErrorBody, description = "Conflicts with the current state, or a reused nonce")))]
pub(super) async fn reject(
    State(st): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RejectIn>,
) -> ApiResult<Json<TransferOut>> {
    caller.require(&[Role::Approver], "rejecting a transfer")?;
    let reason = body.reason.trim();
    if reason.is_empty() || reason.len() > 1000 {
        return Err(ApiError::bad_request("invalid_field", "reason: 1 to 1000 bytes, for the applicant to read"));
    }
    let id: TransferId = path_hash("id", &id)?;
    let row = find(&st, &id).await?;
    if row.applicant == caller.address {
        return Err(ApiError::forbidden("self_approval", "an applicant cannot decide on their own request"));
    }
    if row.state != CollectionState::Collecting {
        return Err(ApiError::conflict("not_collecting", format!("transfer {} is {}", row.id, row.state)));
    }
    let idx = usize::try_from(row.level - 1).unwrap_or(usize::MAX);
    let may: Option<Address> = flow_of(&st, &row.flow_hash)
        .and_then(|(f, _)| f.levels.get(idx).map(|l| l.approvers.contains(&caller.address)))
        .and_then(|ok| ok.then_some(caller.address));
    if may.is_none() {
        return Err(ApiError::forbidden(
            "not_an_approver",
            format!("{} is not an approver of the open level {}", caller.address, row.level),
        ));
    }
    match st.store.reject(&caller.nonce, &row.id, row.version, &caller.address, reason).await {
        Ok(()) => {}
        Err(StoreError::Conflict) => {
            return Err(
                ApiError::conflict("busy", "the transfer changed while rejecting; read it again").retry_after(1)
            );
        }
        Err(e) => return Err(e.into()),
    }
    let row = find(&st, &id).await?;
    Ok(Json(transfer_out(&st, row).await?))
}
