//! Transfers: apply, nested approvals level by level, reject, read.
//!
//! Nesting (box-core `transbox`): level k approvers sign an `Approval` whose
//! `below` commits to the applicant's signature and every signature of the
//! levels below k. So a level must be closed (its threshold met, its set of
//! signatures fixed) before the next level can sign: the gateway keeps one
//! open level per transfer and records exactly `threshold` signatures in it.
//! When the last level closes, the complete TransBox is verified with
//! box-core and queued for the chain in the same transaction.
//!
//! What may be accepted is box-core's decision (`rules`); reading a stored
//! transfer is `view`.

mod rules;
mod view;

use super::dto::{
    ApplyIn, ApproveIn, RejectIn, TransferOut, TransferQuery, TransferSummary, key, parse_b256, parse_sig,
};
use super::flows::outbox_row;
use super::{Caller, JsonBody, Shared};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::roles::Role;
use crate::store::{ApprovalRow, StoreError, TransferFilter, TransferRow, now};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use box_core::Address;
use box_core::encoding::Canonical;
use box_core::notary::Subject;
use rules::{check_application, check_application_date, refused, verify_complete};
use view::{can_read, find, flow_of, summary, transbox, transfer_out};

/// How often an approval is retried when another approval raced it.
const RETRIES: usize = 8;

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
    let req = body.request.parse()?;
    let signature = parse_sig("signature", &body.signature)?;
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
    check_application(&st, &req, &signature)?;
    let id = st.domain.transfer_id(&req);
    let t = now();
    let row = TransferRow {
        id: id.to_string(),
        flow_hash: req.flowHash.to_string(),
        applicant: key(&req.applicant),
        asset: key(&req.asset),
        destination: key(&req.to),
        amount: req.amount.to_string(),
        request: format!("0x{}", hex::encode(req.encode())),
        applicant_signature: super::dto::sig_hex(&signature),
        level: 1,
        state: "collecting".into(),
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
    let row = find(&st, &id).await?;
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
    Query(q): Query<TransferQuery>,
) -> ApiResult<Json<Vec<TransferSummary>>> {
    let sees_all = [Role::Admin, Role::Auditor, Role::KeyHolder, Role::Approver].iter().any(|r| caller.is(*r));
    let mut applicant = q.applicant.as_deref().map(|a| super::dto::parse_addr("applicant", a)).transpose()?;
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
    if let Some(s) = &q.state
        && !["collecting", "submitting", "rejected"].contains(&s.as_str())
    {
        return Err(ApiError::bad_request("invalid_field", "state must be collecting, submitting or rejected"));
    }
    let flow = q.flow.as_deref().map(|f| parse_b256("flow", f)).transpose()?;
    let rows = st
        .store
        .transfers(&TransferFilter {
            applicant: applicant.as_ref().map(key),
            state: q.state.clone(),
            flow_hash: flow.map(|f| f.to_string()),
            limit,
            offset: q.offset.unwrap_or(0),
        })
        .await?;
    Ok(Json(rows.iter().map(|r| summary(&st, r)).collect()))
}

/// Transfers waiting for the caller's approval at their open level.
#[utoipa::path(get, path = "/v1/approvals/pending", tag = "transfers",
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 200, body = Vec<TransferSummary>, description = "OK"), (status = 403, body = ErrorBody, description = "The caller's role does not allow this")))]
pub(super) async fn pending(State(st): State<Shared>, caller: Caller) -> ApiResult<Json<Vec<TransferSummary>>> {
    caller.require(&[Role::Approver], "listing pending approvals")?;
    let me = key(&caller.address);
    let rows = st
        .store
        .transfers(&TransferFilter { state: Some("collecting".into()), limit: 500, ..Default::default() })
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
        out.push(summary(&st, &row));
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
    let signature = parse_sig("signature", &body.signature)?;
    let me = key(&caller.address);
    for _ in 0..RETRIES {
        let row = find(&st, &id).await?;
        if row.applicant == me {
            return Err(ApiError::forbidden("self_approval", "nobody approves their own request"));
        }
        if row.state != "collecting" {
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
            tb.add_approval(&st.domain, idx + 1, parse_sig("stored", &a.signature)?).map_err(|e| {
                ApiError::internal(format!("a stored approval of transfer {} does not fit: {e}", row.id))
            })?;
        }
        tb.add_approval(&st.domain, idx + 1, signature).map_err(refused)?;
        let signed = tb.levels.get(idx).map_or(0, Vec::len);
        let closes = signed >= level.threshold as usize;
        let (next_level, state, outbox) = if !closes {
            (row.level, "collecting", None)
        } else if idx + 1 < flow.levels.len() {
            (row.level + 1, "collecting", None)
        } else {
            verify_complete(&st, &tb)?;
            (row.level + 1, "submitting", Some(outbox_row(&st, &Subject::Transfer(tb))?))
        };
        let a = ApprovalRow {
            transfer_id: row.id.clone(),
            level: row.level,
            approver: me.clone(),
            signature: super::dto::sig_hex(&signature),
            created_at: now(),
        };
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
    let row = find(&st, &id).await?;
    if row.applicant == key(&caller.address) {
        return Err(ApiError::forbidden("self_approval", "an applicant cannot decide on their own request"));
    }
    if row.state != "collecting" {
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
    match st.store.reject(&caller.nonce, &row.id, row.version, &key(&caller.address), reason).await {
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
