//! Approval flows, key-holder authorizations and governance actions.
//!
//! The gateway drafts and relays; it signs nothing. A flow's status comes
//! from the verified replica of the chain.

use super::extract::path_hash;
use super::{Caller, JsonBody, Shared};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::roles::Role;
use crate::store::{FlowRow, NewOutbox, SubjectKind, now};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use box_api::{AuthorizationIn, FlowIn, FlowOut, FlowState, QueuedOut, RelayOutcome};
use box_core::Address;
use box_core::encoding::Canonical;
use box_core::ids::FlowHash;
use box_core::notary::{FlowStatus, Subject};
use box_core::typed::{FlowAuthorization, Signed};

/// The outbox row for a subject.
pub(super) fn outbox_row(st: &Shared, subject: &Subject) -> ApiResult<NewOutbox> {
    let id = subject.id(&st.domain)?;
    let kind = match subject {
        Subject::Flow(_) => SubjectKind::Flow,
        Subject::FlowAuthorization(_) => SubjectKind::FlowAuthorization,
        Subject::Transfer(_) => SubjectKind::Transfer,
        Subject::Governance(_) => SubjectKind::Governance,
        Subject::SignerReport(_) => SubjectKind::SignerReport,
    };
    Ok(NewOutbox { subject_id: id, kind, subject: subject.encode() })
}

async fn flow_out(st: &Shared, row: FlowRow) -> ApiResult<FlowOut> {
    let relay = st.store.outbox(&Subject::Flow(row.flow.clone()).id(&st.domain)?).await?;
    let (mut status, enabled_by, anchor_tx) = {
        let r = st.replica.read();
        match r.state().flow(&row.hash) {
            Some(rec) => (FlowState::from(&rec.status), rec.enabled_by.iter().copied().collect(), rec.anchor_tx),
            None => (if row.submitted_at.is_some() { FlowState::Queued } else { FlowState::Draft }, Vec::new(), None),
        }
    };
    if status == FlowState::Queued
        && relay.as_ref().is_some_and(|r| matches!(r.outcome, Some(RelayOutcome::Refused(_))))
    {
        status = FlowState::Refused;
    }
    Ok(FlowOut {
        hash: row.hash,
        flow: row.flow.into(),
        status,
        enabled_by,
        anchor_tx,
        created_by: row.created_by,
        created_at: row.created_at,
        relay: relay.map(Into::into),
    })
}

/// Every flow (anyone registered).
#[utoipa::path(get, path = "/v1/flows", tag = "flows",
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 200, body = Vec<FlowOut>, description = "OK"), (status = 403, body = ErrorBody, description = "The caller's role does not allow this")))]
pub(super) async fn list_flows(State(st): State<Shared>, caller: Caller) -> ApiResult<Json<Vec<FlowOut>>> {
    require_registered(&caller)?;
    let mut out = Vec::new();
    for row in st.store.flows().await? {
        out.push(flow_out(&st, row).await?);
    }
    Ok(Json(out))
}

fn require_registered(caller: &Caller) -> ApiResult<()> {
    if caller.roles.is_empty() {
        return Err(ApiError::forbidden("role_required", format!("{} is not registered", caller.address)));
    }
    Ok(())
}

/// Draft a flow (admin). Its employees must be registered employees and its
/// approvers registered approvers.
#[utoipa::path(post, path = "/v1/flows", tag = "flows", request_body = FlowIn,
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 415, body = ErrorBody, description = "The body is not application/json"), (status = 201, body = FlowOut, description = "Created"), (status = 200, description = "The same flow exists already", body = FlowOut),
        (status = 400, body = ErrorBody, description = "Malformed request (JSON, field or query)"), (status = 403, body = ErrorBody, description = "The caller's role does not allow this"), (status = 422, body = ErrorBody, description = "Breaks a rule (signature, policy, separation of duties)")))]
pub(super) async fn create_flow(
    State(st): State<Shared>,
    caller: Caller,
    JsonBody(body): JsonBody<FlowIn>,
) -> ApiResult<(StatusCode, Json<FlowOut>)> {
    caller.require(&[Role::Admin], "drafting a flow")?;
    let flow = body.flow.0;
    let verified = box_core::flow::verify_flow(&st.domain, &flow)?;
    for e in &flow.employees {
        require_role(&st, e, Role::Employee, "is in the employee group").await?;
    }
    for (i, level) in flow.levels.iter().enumerate() {
        for a in &level.approvers {
            require_role(&st, a, Role::Approver, &format!("approves at level {} ({})", i + 1, level.name)).await?;
        }
    }
    let row = FlowRow {
        hash: verified.hash(),
        name: flow.name.clone(),
        flow: flow.clone(),
        created_by: caller.address,
        created_at: now(),
        submitted_at: None,
    };
    let created = st.store.insert_flow(&caller.nonce, &row).await?;
    let row = st.store.flow(&row.hash).await?.ok_or_else(|| ApiError::internal("flow vanished"))?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(flow_out(&st, row).await?)))
}

async fn require_role(st: &Shared, who: &Address, role: Role, what: &str) -> ApiResult<()> {
    let registered = st.store.person(who).await?.map(|p| p.roles).unwrap_or_default();
    let roles = st.registry.roles(who, registered);
    if role == Role::Approver && (roles.contains(&Role::Admin) || roles.contains(&Role::KeyHolder)) {
        return Err(ApiError::unprocessable(
            "separation_of_duties",
            format!("{who} {what} but is an admin or key holder, who cannot approve transfers"),
        ));
    }
    if !roles.contains(&role) {
        return Err(ApiError::unprocessable(
            "unregistered_member",
            format!("{who} {what} but is not a registered {}; register them first", role.as_str()),
        ));
    }
    Ok(())
}

/// One flow.
#[utoipa::path(get, path = "/v1/flows/{hash}", tag = "flows",
    params(("hash" = String, Path, description = "Flow hash")),
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 200, body = FlowOut, description = "OK"), (status = 404, body = ErrorBody, description = "Not found")))]
pub(super) async fn get_flow(
    State(st): State<Shared>,
    caller: Caller,
    Path(hash): Path<String>,
) -> ApiResult<Json<FlowOut>> {
    require_registered(&caller)?;
    let row = find_flow(&st, &hash).await?;
    Ok(Json(flow_out(&st, row).await?))
}

async fn find_flow(st: &Shared, hash: &str) -> ApiResult<FlowRow> {
    let h: FlowHash = path_hash("hash", hash)?;
    st.store.flow(&h).await?.ok_or_else(|| ApiError::not_found("no_such_flow", format!("no flow {h} was drafted here")))
}

/// Submit a drafted flow to the chain (admin). Accepted into the durable
/// outbox; the chain notarizes it asynchronously.
#[utoipa::path(post, path = "/v1/flows/{hash}/submit", tag = "flows",
    params(("hash" = String, Path, description = "Flow hash")),
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 202, body = QueuedOut, description = "Accepted into the durable outbox for the chain"), (status = 403, body = ErrorBody, description = "The caller's role does not allow this"), (status = 404, body = ErrorBody, description = "Not found")))]
pub(super) async fn submit_flow(
    State(st): State<Shared>,
    caller: Caller,
    Path(hash): Path<String>,
) -> ApiResult<(StatusCode, Json<QueuedOut>)> {
    caller.require(&[Role::Admin], "submitting a flow")?;
    let row = find_flow(&st, &hash).await?;
    let out = outbox_row(&st, &Subject::Flow(row.flow.clone()))?;
    st.store.submit_flow(&caller.nonce, &row.hash, &out).await?;
    st.relay_wake.notify_one();
    Ok((StatusCode::ACCEPTED, Json(QueuedOut { subject_id: out.subject_id })))
}

/// Relay a key holder's signed enable or disable of a flow.
#[utoipa::path(post, path = "/v1/flows/{hash}/authorizations", tag = "flows", request_body = AuthorizationIn,
    params(("hash" = String, Path, description = "Flow hash")),
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 415, body = ErrorBody, description = "The body is not application/json"), (status = 202, body = QueuedOut, description = "Accepted into the durable outbox for the chain"), (status = 403, body = ErrorBody, description = "The caller's role does not allow this"), (status = 409, body = ErrorBody, description = "Conflicts with the current state, or a reused nonce"),
        (status = 422, body = ErrorBody, description = "Breaks a rule (signature, policy, separation of duties)")))]
pub(super) async fn authorize_flow(
    State(st): State<Shared>,
    caller: Caller,
    Path(hash): Path<String>,
    JsonBody(body): JsonBody<AuthorizationIn>,
) -> ApiResult<(StatusCode, Json<QueuedOut>)> {
    caller.require(&[Role::KeyHolder], "authorizing a flow")?;
    let h: FlowHash = path_hash("hash", &hash)?;
    let signature = body.signature.0;
    let status = st.replica.read().state().flow(&h).map(|r| r.status.clone());
    match (&status, body.enable) {
        (None | Some(FlowStatus::Submitted), _) => {
            return Err(ApiError::conflict(
                "flow_not_notarized",
                format!("flow {h} is not notarized on the chain yet; authorize it once it is"),
            ));
        }
        (Some(closed @ (FlowStatus::Rejected | FlowStatus::Disabled)), true) => {
            return Err(ApiError::conflict(
                "flow_closed",
                format!(
                    "flow {h} is {}; it cannot be enabled again (draft and authorize a new flow instead)",
                    FlowState::from(closed)
                ),
            ));
        }
        _ => {}
    }
    let signed = Signed { value: FlowAuthorization { flowHash: h.0, enable: body.enable }, signature };
    let who =
        signed.signer(&st.domain).map_err(|e| ApiError::unprocessable("bad_authorization_signature", e.to_string()))?;
    if who != caller.address {
        return Err(ApiError::unprocessable(
            "bad_authorization_signature",
            format!("the authorization is signed by {who}, not by the caller {}", caller.address),
        ));
    }
    let out = outbox_row(&st, &Subject::FlowAuthorization(signed))?;
    st.store.enqueue(&caller.nonce, &out).await?;
    st.relay_wake.notify_one();
    Ok((StatusCode::ACCEPTED, Json(QueuedOut { subject_id: out.subject_id })))
}
