//! Transfers: apply, read, list. Approvals and rejections: [`super::approvals`].
//!
//! Nesting (box-core `transbox`): level k approvers sign an `Approval` whose
//! `below` commits to the applicant's signature and every signature of the
//! levels below k. So a level must be closed (its threshold met, its set of
//! signatures fixed) before the next level can sign: the gateway keeps one
//! open level per transfer and records exactly `threshold` signatures in it.
//! When the last level closes, the complete TransBox is verified with
//! box-core and queued for the chain in the same transaction.

use super::extract::{QueryParams, path_hash};
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
use box_core::ids::{FlowHash, Timestamp};
use box_core::transbox::{check_period_limits, check_request_limits};
use box_core::typed::TransferRequest;
use box_core::{Address, Refusal};

pub(super) fn refused(code: &'static str, r: Refusal) -> ApiError {
    ApiError::unprocessable(code, r.to_string())
}

/// The checks of `verify_transbox` that need no approval, so an application
/// that could never pass is refused at once instead of after every level signed.
pub(super) fn precheck(st: &Shared, req: &TransferRequest) -> ApiResult<()> {
    let r = st.replica.read();
    let state = r.state();
    if req.chainId != st.domain.chain_id.0 {
        return Err(refused(
            "wrong_chain",
            Refusal::WrongChain { request: req.chainId, expected: st.domain.chain_id.0 },
        ));
    }
    let flow = state.active_flow(&FlowHash(req.flowHash)).map_err(|e| refused("flow_not_active", e))?;
    if !flow.flow().employees.contains(&req.applicant) {
        return Err(ApiError::forbidden("not_in_employee_group", Refusal::NotAnEmployee(req.applicant).to_string()));
    }
    if let Some(reason) = state.paused() {
        return Err(refused("paused", Refusal::Paused(reason.to_owned())));
    }
    let Some(asset) = state.assets().get(&req.asset) else {
        return Err(refused("unknown_asset", Refusal::UnknownAsset(req.asset)));
    };
    if req.to.is_zero() || req.amount.is_zero() {
        return Err(refused(
            "malformed_transfer",
            Refusal::MalformedTransfer("the destination must not be address(0) and the amount must not be zero".into()),
        ));
    }
    if state.is_blocked(&req.to) {
        return Err(refused("blocked_destination", Refusal::BlockedDestination(req.to)));
    }
    if state.is_frozen(&req.applicant) {
        return Err(refused("frozen_employee", Refusal::FrozenEmployee(req.applicant)));
    }
    // box-core's rules, as the companions and the signer apply them.
    check_request_limits(req, &flow, Some(&asset)).map_err(|e| {
        let code = match e {
            Refusal::NoLimitForAsset(_) => "no_limit",
            Refusal::OverFeeCap { .. } => "over_fee_cap",
            _ => "over_limit",
        };
        refused(code, e)
    })?;
    let now = Timestamp(u64::try_from(now()).unwrap_or(0));
    let history = state.history(&flow.hash(), &req.asset, None);
    let eth_history = state.history(&flow.hash(), &Address::ZERO, None);
    check_period_limits(req, &flow, &asset, &history, &eth_history, now).map_err(|e| refused("over_limit", e))?;
    Ok(())
}

/// An application is signed just before it is sent, so its date must be
/// now: not ahead of the clock by more than box-core allows anywhere
/// ([`box_core::transbox::check_not_future`], the rule the nodes and the
/// signer apply), and not older than the request-signing window. The lower
/// bound is this edge's own: later checks cannot have one, since approvals
/// may take days.
fn check_application_date(req: &TransferRequest, now: u64, window: u64) -> ApiResult<()> {
    box_core::transbox::check_not_future(req, Timestamp(now)).map_err(|r| refused("future_request", r))?;
    if req.timestamp.saturating_add(window) < now {
        return Err(ApiError::unprocessable(
            "stale_request",
            format!(
                "the request is dated {} s after the epoch, {} s before the gateway's clock ({now}); an application is dated when it is signed: sign it again with the current time (at most {window} s old)",
                req.timestamp,
                now.saturating_sub(req.timestamp)
            ),
        ));
    }
    Ok(())
}

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
    match st.domain.recover(&req, &signature) {
        Ok(a) if a == req.applicant => {}
        other => {
            return Err(ApiError::unprocessable(
                "bad_applicant_signature",
                format!(
                    "the request's signature recovers to {}, not the applicant {}",
                    other.map_or_else(|e| e.to_string(), |a| a.to_checksum(None)),
                    req.applicant
                ),
            ));
        }
    }
    check_application_date(&req, u64::try_from(now()).unwrap_or(0), st.limits.timestamp_window_seconds)?;
    precheck(&st, &req)?;
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
    Ok(Json(rows.iter().map(|r| summary(&st, r)).collect()))
}
