//! Governance actions: key holders sign, the gateway collects the
//! signatures and queues the action once its authority is met.

use super::extract::path_hash;
use super::flows::outbox_row;
use super::{Caller, JsonBody, QueryParams, Shared};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::roles::Role;
use crate::store::{GovernanceRow, now};
use axum::Json;
use axum::extract::{Path, State};
use box_api::action::{decode_action, encode_action};
use box_api::{GovernanceIn, GovernanceOut, GovernanceQuery, GovernanceState, HexBytes, Needs};
use box_core::governance::{Authority, SignedAction, verify_action};
use box_core::ids::SubjectId;
use box_core::notary::{Subject, SubjectStatus};
use box_core::{Address, B256, Signature};

async fn governance_out(st: &Shared, hash: &B256) -> ApiResult<GovernanceOut> {
    let (g, sigs) = st
        .store
        .governance(hash)
        .await?
        .ok_or_else(|| ApiError::not_found("no_such_action", format!("no governance action {hash}")))?;
    let (relay, state, rejection) = match g.queued_at {
        Some(_) => {
            let signed = SignedAction { action: g.action.clone(), signatures: sigs.iter().map(|(_, s)| *s).collect() };
            let id = Subject::Governance(signed).id(&st.domain)?;
            let (state, rejection) = on_chain(st, &id).await?;
            (st.store.outbox(&id).await?.map(Into::into), state, rejection)
        }
        None => (None, GovernanceState::Collecting, None),
    };
    let signers: Vec<Address> = sigs.iter().map(|(a, _)| *a).collect();
    let key_holders = &st.registry.key_holders;
    let required = match g.action.authority() {
        Authority::AnyKeyHolder => 1,
        _ => key_holders.len(),
    };
    let waiting_for = if state == GovernanceState::Collecting {
        key_holders.iter().filter(|k| !signers.contains(k)).copied().collect()
    } else {
        Vec::new()
    };
    Ok(GovernanceOut {
        hash: g.hash,
        description: g.description,
        action: HexBytes(encode_action(&g.action)),
        signers,
        needs: Needs::from(g.action.authority()),
        required: u32::try_from(required).unwrap_or(u32::MAX),
        waiting_for,
        state,
        rejection,
        relay,
    })
}

/// Where the subject `id` stands on the verified replica, or, once it
/// retired from the live state (or while the replica is below a height a
/// decision was recorded at: `Replica::behind_records`), the decision
/// recorded from the verified block that made it when that is newer
/// (crate::finals; one primary-key lookup, only then).
async fn on_chain(st: &Shared, id: &SubjectId) -> ApiResult<(GovernanceState, Option<String>)> {
    let (live, verified, behind) = {
        let r = st.replica.read();
        (r.state().subject(id).map(|s| s.status.clone()), r.height(), r.behind_records())
    };
    let status = match live {
        Some(s) if !behind => Some(s),
        live => super::view::newer(live, verified, st.store.final_subject(&id.0).await?),
    };
    Ok(match status {
        None => (GovernanceState::Queued, None),
        Some(SubjectStatus::Pending) => (GovernanceState::Submitted, None),
        Some(SubjectStatus::Notarized { .. }) => (GovernanceState::Notarized, None),
        Some(SubjectStatus::Rejected { reasons }) => (GovernanceState::Rejected, Some(reasons.join("; "))),
    })
}

/// Add a key holder's signature to a governance action; once the signatures
/// meet its authority (one key holder for protective actions, all for
/// relaxing ones) it is queued for the chain.
#[utoipa::path(post, path = "/v1/governance", tag = "flows", request_body = GovernanceIn,
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 415, body = ErrorBody, description = "The body is not application/json"), (status = 200, body = GovernanceOut, description = "OK"), (status = 403, body = ErrorBody, description = "The caller's role does not allow this"), (status = 422, body = ErrorBody, description = "Breaks a rule (signature, policy, separation of duties, an ERC-20 registered with other decimals or symbol than the chain's)"), (status = 503, body = ErrorBody, description = "Registering an ERC-20 needs the Ethereum JSON-RPC endpoint, which is not configured or does not answer")))]
pub(super) async fn sign_governance(
    State(st): State<Shared>,
    caller: Caller,
    JsonBody(body): JsonBody<GovernanceIn>,
) -> ApiResult<Json<GovernanceOut>> {
    caller.require(&[Role::KeyHolder], "signing a governance action")?;
    let action = decode_action(&body.action.0).map_err(|m| ApiError::unprocessable("invalid_action", m))?;
    super::asset_check::registration(&st, &action).await?;
    let signature = body.signature.0;
    let hash = action.signing_hash(&st.domain);
    let who = box_core::crypto::recover(&hash, &signature)
        .map_err(|e| ApiError::unprocessable("bad_governance_signature", e.to_string()))?;
    if who != caller.address {
        return Err(ApiError::unprocessable(
            "bad_governance_signature",
            format!("the action is signed by {who}, not by the caller {}", caller.address),
        ));
    }
    let existing = st.store.governance(&hash).await?;
    let mut sigs: Vec<(Address, Signature)> = Vec::new();
    if let Some((g, stored)) = &existing {
        if g.queued_at.is_some() {
            return Err(ApiError::conflict(
                "already_queued",
                format!("action {hash} already has its signatures and is queued"),
            ));
        }
        sigs.extend(stored.iter().copied());
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
    let row = GovernanceRow { hash, description: action.describe(), action, created_at: now(), queued_at: None };
    st.store.sign_governance(&caller.nonce, &row, &who, &signature, outbox.as_ref()).await?;
    if outbox.is_some() {
        st.relay_wake.notify_one();
    }
    Ok(Json(governance_out(&st, &row.hash).await?))
}

/// Most actions still collecting signatures one answer lists.
const MAX_PENDING: i64 = 1000;

/// Governance actions (key holders, admins, auditors): with `pending=true`
/// only those still collecting signatures (newest first, at most 1000),
/// read from an index of them; otherwise every one.
#[utoipa::path(get, path = "/v1/governance", tag = "flows", params(GovernanceQuery),
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 200, body = Vec<GovernanceOut>, description = "OK"), (status = 403, body = ErrorBody, description = "The caller's role does not allow this")))]
pub(super) async fn list_governance(
    State(st): State<Shared>,
    caller: Caller,
    QueryParams(q): QueryParams<GovernanceQuery>,
) -> ApiResult<Json<Vec<GovernanceOut>>> {
    caller.require(&[Role::KeyHolder, Role::Admin, Role::Auditor], "reading governance actions")?;
    let rows = if q.pending == Some(true) {
        st.store.governance_collecting(MAX_PENDING).await?
    } else {
        st.store.governance_list().await?
    };
    let mut out = Vec::new();
    for g in rows {
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
    let h: B256 = path_hash("hash", &hash)?;
    Ok(Json(governance_out(&st, &h).await?))
}
