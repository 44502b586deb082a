//! Transfers: apply, read, list. Approvals and rejections: [`super::approvals`].
//!
//! Nesting (box-core `transbox`): level k approvers sign an `Approval` whose
//! `below` commits to the applicant's signature and every signature of the
//! levels below k. So a level must be closed (its threshold met, its set of
//! signatures fixed) before the next level can sign: the gateway keeps one
//! open level per transfer and records exactly `threshold` signatures in it.
//! When the last level closes, the complete TransBox is verified with
//! box-core and queued for the chain in the same transaction.
//!
//! What may be accepted is box-core's decision ([`super::rules`]).

use super::extract::{QueryParams, path_hash};
use super::rules::{check_application, check_application_date};
use super::view::{can_read, find, summary, transfer_out};
use super::{Caller, JsonBody, Shared};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::roles::Role;
use crate::store::{TransferFilter, TransferRow, now};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use box_api::{ApplyIn, CollectionState, TransferOut, TransferQuery, TransferSummary};
use box_core::amount::Amount;
use box_core::ids::FlowHash;

/// Apply for a transfer (employee, for themselves).
#[utoipa::path(post, path = "/v1/transfers", tag = "transfers", request_body = ApplyIn,
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 415, body = ErrorBody, description = "The body is not application/json"), (status = 201, body = TransferOut, description = "Created"), (status = 400, body = ErrorBody, description = "Malformed request (JSON, field or query)"), (status = 403, body = ErrorBody, description = "The caller's role does not allow this"),
        (status = 409, body = ErrorBody, description = "Conflicts with the current state, or a reused nonce"), (status = 422, body = ErrorBody, description = "Breaks a rule (signature, policy, separation of duties)")))]
pub(super) async fn apply(
    State(st): State<Shared>,
    caller: Caller,
    JsonBody(body): JsonBody<ApplyIn>,
) -> ApiResult<(StatusCode, Json<TransferOut>)> {
    caller.require(&[Role::Employee], "applying for a transfer")?;
    let req = body.request.0;
    let signature = body.signature.0;
    if req.applicant != caller.address {
        return Err(ApiError::forbidden(
            "not_the_applicant",
            format!(
                "the request names applicant {} but the caller is {}; apply for yourself",
                req.applicant, caller.address
            ),
        ));
    }
    check_application_date(&req, st.limits.timestamp_window_seconds)?;
    // box-core's first stage: what the companions and the signer would
    // refuse without any approval (the applicant's signature included).
    check_application(&st, &req, &signature).await?;
    let id = st.domain.transfer_id(&req);
    let t = now();
    let row = TransferRow {
        id,
        flow_hash: FlowHash(req.flowHash),
        applicant: req.applicant,
        asset: req.asset,
        destination: req.to,
        amount: Amount(req.amount),
        request: req.clone(),
        applicant_signature: signature,
        level: 1,
        state: CollectionState::Collecting,
        reason: None,
        rejected_by: None,
        version: 0,
        created_at: t,
        updated_at: t,
    };
    if !st.store.insert_transfer(&caller.nonce, &row).await? {
        return Err(ApiError::conflict(
            "already_applied",
            format!("transfer {id} exists: the same request was applied for before (use a new requestId)"),
        ));
    }
    tracing::info!(transfer = %id, applicant = %req.applicant, "applied");
    Ok((StatusCode::CREATED, Json(transfer_out(&st, row).await?)))
}

/// One transfer with its approval progress per level.
#[utoipa::path(get, path = "/v1/transfers/{id}", tag = "transfers",
    params(("id" = String, Path, description = "Transfer id")),
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 200, body = TransferOut, description = "OK"), (status = 403, body = ErrorBody, description = "The caller's role does not allow this"), (status = 404, body = ErrorBody, description = "Not found")))]
pub(super) async fn get_transfer(
    State(st): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<TransferOut>> {
    let row = find(&st, &path_hash("id", &id)?).await?;
    can_read(&st, &caller, &row)?;
    Ok(Json(transfer_out(&st, row).await?))
}

/// Transfers, newest first. Employees see only their own.
#[utoipa::path(get, path = "/v1/transfers", tag = "transfers", params(TransferQuery),
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 200, body = Vec<TransferSummary>, description = "OK"), (status = 400, body = ErrorBody, description = "Malformed request (JSON, field or query)"), (status = 403, body = ErrorBody, description = "The caller's role does not allow this")))]
pub(super) async fn list_transfers(
    State(st): State<Shared>,
    caller: Caller,
    QueryParams(q): QueryParams<TransferQuery>,
) -> ApiResult<Json<Vec<TransferSummary>>> {
    let sees_all = [Role::Admin, Role::Auditor, Role::KeyHolder, Role::Approver].iter().any(|r| caller.is(*r));
    let mut applicant = q.applicant;
    if !sees_all {
        caller.require(&[Role::Employee], "listing transfers")?;
        if applicant.is_some_and(|a| a != caller.address) {
            return Err(ApiError::forbidden("not_allowed_to_read", "an employee lists only their own transfers"));
        }
        applicant = Some(caller.address);
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) || q.offset.is_some_and(|o| o < 0) {
        return Err(ApiError::bad_request("invalid_field", "limit must be 1 to 500 and offset 0 or more"));
    }
    let rows = st
        .store
        .transfers(&TransferFilter {
            applicant,
            state: q.state,
            flow_hash: q.flow,
            limit,
            offset: q.offset.unwrap_or(0),
        })
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(summary(&st, r).await?);
    }
    Ok(Json(out))
}
