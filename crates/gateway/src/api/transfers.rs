//! Transfers: apply, nested approvals level by level, reject, read.
//!
//! Nesting (box-core `transbox`): level k approvers sign an `Approval` whose
//! `below` commits to the applicant's signature and every signature of the
//! levels below k. So a level must be closed (its threshold met, its set of
//! signatures fixed) before the next level can sign: the gateway keeps one
//! open level per transfer and records exactly `threshold` signatures in it.
//! When the last level closes, the complete TransBox is verified with
//! box-core and queued for the chain in the same transaction.

use super::dto::{
    ApplyIn, ApproveIn, LevelProgress, RejectIn, SignatureOut, TransferOut, TransferQuery, TransferRequestJson,
    TransferStatusOut, TransferSummary, key, parse_b256, parse_sig, show,
};
use super::flows::outbox_row;
use super::{Caller, JsonBody, Shared};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::roles::Role;
use crate::store::{ApprovalRow, OutboxRow, StoreError, TransferFilter, TransferRow, now};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use box_core::amount::Amount;
use box_core::encoding::Canonical;
use box_core::ids::{FlowHash, Timestamp, TransferId};
use box_core::notary::{Subject, TransferStatus};
use box_core::transbox::{TransBox, TransferContext, check_period_limits, check_request_limits, verify_transbox};
use box_core::typed::{BoxFlow, TransferRequest};

use box_core::{Address, Refusal};

/// How often an approval is retried when another approval raced it.
const RETRIES: usize = 8;

fn decode_request(row: &TransferRow) -> ApiResult<(TransferRequest, box_core::Signature)> {
    let req = hex::decode(row.request.trim_start_matches("0x"))
        .ok()
        .and_then(|b| TransferRequest::decode(&b).ok())
        .ok_or_else(|| ApiError::internal(format!("stored transfer {} does not decode", row.id)))?;
    Ok((req, parse_sig("stored", &row.applicant_signature)?))
}

/// The TransBox with every closed level (those below `row.level`).
fn transbox(row: &TransferRow, approvals: &[ApprovalRow]) -> ApiResult<TransBox> {
    let (request, applicant_signature) = decode_request(row)?;
    let closed = usize::try_from(row.level.saturating_sub(1)).unwrap_or(0);
    let mut levels = vec![Vec::new(); closed];
    for a in approvals {
        let l = usize::try_from(a.level).unwrap_or(0);
        if (1..=closed).contains(&l) {
            levels[l - 1].push(parse_sig("stored", &a.signature)?);
        }
    }
    Ok(TransBox { request, applicant_signature, levels })
}

fn flow_of(st: &Shared, hash: &str) -> Option<(BoxFlow, bool)> {
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
    let tb = transbox(row, approvals)?;
    Ok(st.store.outbox(&Subject::Transfer(tb).id(&st.domain)?.to_string()).await?)
}

async fn transfer_out(st: &Shared, row: TransferRow) -> ApiResult<TransferOut> {
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
        applicant_signature: super::dto::sig_hex(&applicant_signature),
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

fn summary(st: &Shared, row: &TransferRow) -> TransferSummary {
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

fn refused(code: &'static str, r: Refusal) -> ApiError {
    ApiError::unprocessable(code, r.to_string())
}

/// The checks of `verify_transbox` that need no approval, so an application
/// that could never pass is refused at once instead of after every level signed.
fn precheck(st: &Shared, req: &TransferRequest) -> ApiResult<()> {
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

async fn find(st: &Shared, id: &str) -> ApiResult<TransferRow> {
    let id = parse_b256("id", id)?;
    st.store
        .transfer(&id.to_string())
        .await?
        .ok_or_else(|| ApiError::not_found("no_such_transfer", format!("no transfer {id}")))
}

fn can_read(st: &Shared, caller: &Caller, row: &TransferRow) -> ApiResult<()> {
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
        let mut tb = transbox(&row, &approvals)?;
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
        let mut signers: Vec<(String, box_core::Signature)> = approvals
            .iter()
            .filter(|a| a.level == row.level)
            .map(|a| Ok((a.approver.clone(), parse_sig("stored", &a.signature)?)))
            .collect::<ApiResult<_>>()?;
        signers.push((me.clone(), signature));
        signers.sort_by(|a, b| a.0.cmp(&b.0));
        let closes = signers.len() >= level.threshold as usize;
        let (next_level, state, outbox) = if !closes {
            (row.level, "collecting", None)
        } else if idx + 1 < flow.levels.len() {
            (row.level + 1, "collecting", None)
        } else {
            tb.levels.push(signers.iter().map(|(_, s)| *s).collect());
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

/// The complete TransBox passes every rule box-core checks, as of the
/// gateway's verified replica; the nodes check again.
fn verify_complete(st: &Shared, tb: &TransBox) -> ApiResult<()> {
    let r = st.replica.read();
    let state = r.state();
    let flow = state.active_flow(&FlowHash(tb.request.flowHash)).map_err(|e| refused("flow_not_active", e))?;
    let tid = tb.transfer_id(&st.domain);
    let history = state.history(&flow.hash(), &tb.request.asset, Some(&tid));
    let eth_history = state.history(&flow.hash(), &Address::ZERO, Some(&tid));
    let ctx = TransferContext {
        domain: &st.domain,
        flow: &flow,
        policy: state.policy(),
        now: Timestamp(u64::try_from(now()).unwrap_or(0)),
        history: &history,
        eth_history: &eth_history,
    };
    verify_transbox(tb, &ctx).map(|_| ()).map_err(|e| refused("refused", e))
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
