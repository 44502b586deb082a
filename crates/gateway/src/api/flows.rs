//! Approval flows, key-holder authorizations and governance actions.
//!
//! The gateway drafts and relays; it signs nothing. A flow's status comes
//! from the verified replica of the chain.

use super::dto::{
    AuthorizationIn, FlowIn, FlowJson, FlowOut, GovernanceIn, GovernanceOut, QueuedOut, key, parse_b256, parse_bytes,
    parse_sig, show,
};
use super::{Caller, JsonBody, Shared};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::roles::{Role, parse_stored};
use crate::store::{FlowRow, GovernanceRow, NewOutbox, now};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use box_core::encoding::{Canonical, Kind, header};
use box_core::governance::{Authority, GovernanceAction, SignedAction, verify_action};
use box_core::ids::FlowHash;
use box_core::notary::{FlowStatus, Subject};
use box_core::typed::{
    BlockDestination, BoxFlow, FlowAuthorization, FreezeEmployee, PauseTransfers, RegisterAsset, Signed,
};
use box_core::{Address, Signature};

/// The outbox row for a subject.
pub(super) fn outbox_row(st: &Shared, subject: &Subject) -> ApiResult<NewOutbox> {
    let id = subject.id(&st.domain)?;
    let kind = match subject {
        Subject::Flow(_) => "flow",
        Subject::FlowAuthorization(_) => "flow_authorization",
        Subject::Transfer(_) => "transfer",
        Subject::Governance(_) => "governance",
        Subject::SignerReport(_) => "signer_report",
    };
    Ok(NewOutbox {
        subject_id: id.to_string(),
        kind: kind.into(),
        subject: format!("0x{}", hex::encode(subject.encode())),
    })
}

fn decode_flow(row: &FlowRow) -> ApiResult<BoxFlow> {
    hex::decode(row.body.trim_start_matches("0x"))
        .ok()
        .and_then(|b| BoxFlow::decode(&b).ok())
        .ok_or_else(|| ApiError::internal(format!("stored flow {} does not decode", row.hash)))
}

fn flow_status_name(s: &FlowStatus) -> &'static str {
    match s {
        FlowStatus::Submitted => "submitted",
        FlowStatus::Notarized => "notarized",
        FlowStatus::Authorized => "authorized",
        FlowStatus::Active => "active",
        FlowStatus::Disabled => "disabled",
        FlowStatus::Rejected => "rejected",
    }
}

async fn flow_out(st: &Shared, row: FlowRow) -> ApiResult<FlowOut> {
    let flow = decode_flow(&row)?;
    let hash: FlowHash = row.hash.parse().map_err(|_| ApiError::internal("stored flow hash"))?;
    let relay = st.store.outbox(&Subject::Flow(flow.clone()).id(&st.domain)?.to_string()).await?;
    let (mut status, enabled_by, anchor_tx) = {
        let r = st.replica.read();
        match r.state().flow(&hash) {
            Some(rec) => (
                flow_status_name(&rec.status).to_owned(),
                rec.enabled_by.iter().map(|a| a.to_checksum(None)).collect(),
                rec.anchor_tx.map(|t| t.to_string()),
            ),
            None => ((if row.submitted_at.is_some() { "queued" } else { "draft" }).to_owned(), Vec::new(), None),
        }
    };
    if status == "queued" && relay.as_ref().and_then(|r| r.outcome.as_deref()).is_some_and(|o| o.starts_with("refused"))
    {
        status = "refused".into();
    }
    Ok(FlowOut {
        hash: row.hash,
        flow: FlowJson::from_flow(&flow),
        status,
        enabled_by,
        anchor_tx,
        created_by: show(&row.created_by),
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
    let flow = body.flow.parse()?;
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
        hash: verified.hash().to_string(),
        name: flow.name.clone(),
        body: format!("0x{}", hex::encode(flow.encode())),
        created_by: key(&caller.address),
        created_at: now(),
        submitted_at: None,
    };
    let created = st.store.insert_flow(&caller.nonce, &row).await?;
    let row = st.store.flow(&row.hash).await?.ok_or_else(|| ApiError::internal("flow vanished"))?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(flow_out(&st, row).await?)))
}

async fn require_role(st: &Shared, who: &Address, role: Role, what: &str) -> ApiResult<()> {
    let registered = st.store.person(&key(who)).await?.map(|p| parse_stored(&p.roles)).unwrap_or_default();
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
    let h = parse_b256("hash", hash)?;
    st.store
        .flow(&h.to_string())
        .await?
        .ok_or_else(|| ApiError::not_found("no_such_flow", format!("no flow {h} was drafted here")))
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
    let out = outbox_row(&st, &Subject::Flow(decode_flow(&row)?))?;
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
    let h = parse_b256("hash", &hash)?;
    let signature = parse_sig("signature", &body.signature)?;
    let status = st.replica.read().state().flow(&FlowHash(h)).map(|r| r.status.clone());
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
                    flow_status_name(closed)
                ),
            ));
        }
        _ => {}
    }
    let signed = Signed { value: FlowAuthorization { flowHash: h, enable: body.enable }, signature };
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

/// Decodes a bare governance action from its canonical bytes.
pub fn decode_action(bytes: &[u8]) -> Result<GovernanceAction, String> {
    let (kind, _) = header(bytes).map_err(|e| e.to_string())?;
    let e = |e: box_core::encoding::DecodeError| e.to_string();
    Ok(match kind {
        Kind::FreezeEmployee => GovernanceAction::FreezeEmployee(FreezeEmployee::decode(bytes).map_err(e)?),
        Kind::BlockDestination => GovernanceAction::BlockDestination(BlockDestination::decode(bytes).map_err(e)?),
        Kind::RegisterAsset => GovernanceAction::RegisterAsset(RegisterAsset::decode(bytes).map_err(e)?),
        Kind::PauseTransfers => GovernanceAction::PauseTransfers(PauseTransfers::decode(bytes).map_err(e)?),
        Kind::NodeChange => {
            return Err("node changes are signed by node accounts and submitted through a node, not the gateway".into());
        }
        other => {
            return Err(format!(
                "the bytes encode another kind of object (kind {}), not a governance action (freeze employee, block destination, register asset or pause transfers)",
                other as u8
            ));
        }
    })
}

/// The canonical bytes of a bare governance action.
pub fn encode_action(a: &GovernanceAction) -> Vec<u8> {
    match a {
        GovernanceAction::FreezeEmployee(v) => v.encode(),
        GovernanceAction::BlockDestination(v) => v.encode(),
        GovernanceAction::RegisterAsset(v) => v.encode(),
        GovernanceAction::NodeChange(v) => v.encode(),
        GovernanceAction::PauseTransfers(v) => v.encode(),
    }
}

fn needs(a: &GovernanceAction) -> &'static str {
    match a.authority() {
        Authority::AnyKeyHolder => "any_key_holder",
        Authority::AllKeyHolders => "all_key_holders",
        Authority::AllNodes => "all_nodes",
        Authority::NodeMajority => "node_majority",
    }
}

async fn governance_out(st: &Shared, hash: &str) -> ApiResult<GovernanceOut> {
    let (g, sigs) = st
        .store
        .governance(hash)
        .await?
        .ok_or_else(|| ApiError::not_found("no_such_action", format!("no governance action {hash}")))?;
    let action = parse_bytes("action", &g.action).and_then(|b| decode_action(&b).map_err(ApiError::internal))?;
    let relay = match g.queued_at {
        Some(_) => {
            let mut signed = SignedAction { action: action.clone(), signatures: Vec::new() };
            for (_, s) in &sigs {
                signed.signatures.push(parse_sig("stored", s)?);
            }
            st.store.outbox(&Subject::Governance(signed).id(&st.domain)?.to_string()).await?.map(Into::into)
        }
        None => None,
    };
    Ok(GovernanceOut {
        hash: g.hash,
        description: g.description,
        action: g.action,
        signers: sigs.iter().map(|(a, _)| show(a)).collect(),
        needs: needs(&action).into(),
        relay,
    })
}

/// Add a key holder's signature to a governance action; once the signatures
/// meet its authority (one key holder for protective actions, all for
/// relaxing ones) it is queued for the chain.
#[utoipa::path(post, path = "/v1/governance", tag = "flows", request_body = GovernanceIn,
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 415, body = ErrorBody, description = "The body is not application/json"), (status = 200, body = GovernanceOut, description = "OK"), (status = 403, body = ErrorBody, description = "The caller's role does not allow this"), (status = 422, body = ErrorBody, description = "Breaks a rule (signature, policy, separation of duties)")))]
pub(super) async fn sign_governance(
    State(st): State<Shared>,
    caller: Caller,
    JsonBody(body): JsonBody<GovernanceIn>,
) -> ApiResult<Json<GovernanceOut>> {
    caller.require(&[Role::KeyHolder], "signing a governance action")?;
    let bytes = parse_bytes("action", &body.action)?;
    let action = decode_action(&bytes).map_err(|m| ApiError::unprocessable("invalid_action", m))?;
    let signature = parse_sig("signature", &body.signature)?;
    let hash = action.signing_hash(&st.domain);
    let who = box_core::crypto::recover(&hash, &signature)
        .map_err(|e| ApiError::unprocessable("bad_governance_signature", e.to_string()))?;
    if who != caller.address {
        return Err(ApiError::unprocessable(
            "bad_governance_signature",
            format!("the action is signed by {who}, not by the caller {}", caller.address),
        ));
    }
    let existing = st.store.governance(&hash.to_string()).await?;
    let mut sigs: Vec<(Address, Signature)> = Vec::new();
    if let Some((g, stored)) = &existing {
        if g.queued_at.is_some() {
            return Err(ApiError::conflict(
                "already_queued",
                format!("action {hash} already has its signatures and is queued"),
            ));
        }
        for (a, s) in stored {
            sigs.push((a.parse().map_err(|_| ApiError::internal("stored signer"))?, parse_sig("stored", s)?));
        }
    }
    if !sigs.iter().any(|(a, _)| *a == who) {
        sigs.push((who, signature));
    }
    sigs.sort_by_key(|(a, _)| *a);
    let key_holders = st.registry.key_holders.clone();
    let complete = match action.authority() {
        Authority::AnyKeyHolder => true,
        _ => sigs.len() == key_holders.len(),
    };
    let outbox = if complete {
        let signed = SignedAction { action: action.clone(), signatures: sigs.iter().map(|(_, s)| *s).collect() };
        let registry = st.replica.read().state().registry().clone();
        verify_action(&st.domain, &signed, &key_holders, &registry)?;
        Some(outbox_row(&st, &Subject::Governance(signed))?)
    } else {
        None
    };
    let row = GovernanceRow {
        hash: hash.to_string(),
        action: format!("0x{}", hex::encode(encode_action(&action))),
        description: action.describe(),
        created_at: now(),
        queued_at: None,
    };
    st.store
        .sign_governance(&caller.nonce, &row, &key(&who), &super::dto::sig_hex(&signature), outbox.as_ref())
        .await?;
    if outbox.is_some() {
        st.relay_wake.notify_one();
    }
    Ok(Json(governance_out(&st, &row.hash).await?))
}

/// Governance actions (key holders, admins, auditors).
#[utoipa::path(get, path = "/v1/governance", tag = "flows",
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 200, body = Vec<GovernanceOut>, description = "OK"), (status = 403, body = ErrorBody, description = "The caller's role does not allow this")))]
pub(super) async fn list_governance(State(st): State<Shared>, caller: Caller) -> ApiResult<Json<Vec<GovernanceOut>>> {
    caller.require(&[Role::KeyHolder, Role::Admin, Role::Auditor], "reading governance actions")?;
    let mut out = Vec::new();
    for g in st.store.governance_list().await? {
        out.push(governance_out(&st, &g.hash).await?);
    }
    Ok(Json(out))
}

/// One governance action.
#[utoipa::path(get, path = "/v1/governance/{hash}", tag = "flows",
    params(("hash" = String, Path, description = "The action's signing hash")),
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 200, body = GovernanceOut, description = "OK"), (status = 404, body = ErrorBody, description = "Not found")))]
pub(super) async fn get_governance(
    State(st): State<Shared>,
    caller: Caller,
    Path(hash): Path<String>,
) -> ApiResult<Json<GovernanceOut>> {
    caller.require(&[Role::KeyHolder, Role::Admin, Role::Auditor], "reading governance actions")?;
    let h = parse_b256("hash", &hash)?;
    Ok(Json(governance_out(&st, &h.to_string()).await?))
}
