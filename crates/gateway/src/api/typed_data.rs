//! Wallet-signable typed data (issue 14, item 9): for every object a person
//! signs, the standard `eth_signTypedData_v4` JSON (box-core's
//! [`box_core::typed_data`]), so a browser wallet, a hardware wallet, the web
//! console and `boxctl` sign byte-identical EIP-712 digests. The signatures
//! they make are accepted by the ordinary endpoints (`POST /transfers`,
//! `…/approvals`, `…/authorizations`, `/governance`).
//!
//! The gateway is an untrusted relay: a client checks what it is handed
//! before it signs (the console recomputes every digest from the fields it
//! shows, the transfer id, the applicant's and lower levels' signatures, and
//! `below`). These endpoints read through the same handlers as the objects'
//! own endpoints, so who may read what is decided once.

use super::{Caller, JsonBody, QueryParams, Shared, flows, governance, transfers};
use crate::error::{ApiError, ApiResult, ErrorBody};
use axum::Json;
use axum::extract::{Path, State};
use box_api::action::{decode_action, encode_action};
use box_api::auth::ApiRequest;
use box_api::{
    AuthorizationQuery, FlowOut, FlowTypedData, GovernanceDraftIn, GovernanceKind, GovernanceTypedData, HexBytes,
    TransferOut, TransferRequestIn, TransferTypedData, TypedDataCatalogue,
};
use box_core::governance::GovernanceAction;
use box_core::transbox::TransBox;
use box_core::typed::{
    AddressBookEntry, Approval, BlockDestination, BoxFlow, FlowAuthorization, FreezeEmployee, PauseTransfers,
    RegisterAsset, TransferRequest,
};
use box_core::typed_data::{self, TypedDataError, domain_json, struct_types, types_json};
use serde_json::Value;

fn internal(e: TypedDataError) -> ApiError {
    ApiError::internal(e.to_string())
}

/// The deployment's EIP-712 domain and every struct a person signs (public:
/// a client needs them before its first signed request).
#[utoipa::path(get, path = "/v1/typed-data", tag = "status",
    responses((status = 200, body = TypedDataCatalogue, description = "OK")))]
pub(super) async fn catalogue(State(st): State<Shared>) -> Json<TypedDataCatalogue> {
    let mut all = struct_types::<ApiRequest>();
    all.extend(struct_types::<Approval>());
    all.extend(struct_types::<FlowAuthorization>());
    all.extend(struct_types::<BoxFlow>());
    all.extend(struct_types::<FreezeEmployee>());
    all.extend(struct_types::<BlockDestination>());
    all.extend(struct_types::<RegisterAsset>());
    all.extend(struct_types::<PauseTransfers>());
    all.extend(struct_types::<AddressBookEntry>());
    Json(TypedDataCatalogue { domain: domain_json(&st.domain), types: types_json(&all) })
}

/// The typed data of an application before it is signed: what `POST
/// /transfers` then takes with the applicant's signature. Checks the fields
/// parse; the rules are checked when it is applied for.
#[utoipa::path(post, path = "/v1/typed-data/transfer-request", tag = "transfers", request_body = TransferRequestIn,
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 200, body = Object, description = "eth_signTypedData_v4 JSON of the TransferRequest"),
        (status = 400, body = ErrorBody, description = "Malformed request (JSON, field or query)"),
        (status = 415, body = ErrorBody, description = "The body is not application/json")))]
pub(super) async fn transfer_request(
    State(st): State<Shared>,
    _caller: Caller,
    JsonBody(body): JsonBody<TransferRequestIn>,
) -> ApiResult<Json<Value>> {
    let request: TransferRequest = body.request.0;
    Ok(Json(typed_data::typed_data(&st.domain, &request).map_err(internal)?))
}

/// The typed data of a transfer: its request, and the approval its open
/// level signs (readable by whoever may read the transfer).
#[utoipa::path(get, path = "/v1/transfers/{id}/typed-data", tag = "transfers",
    params(("id" = String, Path, description = "Transfer id")),
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 200, body = TransferTypedData, description = "OK"), (status = 403, body = ErrorBody, description = "The caller's role does not allow this"), (status = 404, body = ErrorBody, description = "Not found")))]
pub(super) async fn transfer(
    State(st): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<TransferTypedData>> {
    let Json(t) = transfers::get_transfer(State(st.clone()), caller, Path(id)).await?;
    let request = t.request.0.clone();
    let approval = match t.open_level {
        Some(level) => {
            Some(typed_data::typed_data(&st.domain, &approval_at(&t, request.clone(), level)).map_err(internal)?)
        }
        None => None,
    };
    Ok(Json(TransferTypedData {
        id: t.id,
        request: typed_data::typed_data(&st.domain, &request).map_err(internal)?,
        open_level: t.open_level,
        approval,
    }))
}

/// The approval of `level`, from the signatures the transfer shows below it.
fn approval_at(t: &TransferOut, request: TransferRequest, level: u32) -> Approval {
    let mut tb = TransBox { request, applicant_signature: t.applicant_signature.0, levels: vec![] };
    for l in t.levels.iter().filter(|l| l.level < level) {
        tb.levels.push(l.signatures.iter().map(|s| s.signature.0).collect());
    }
    tb.approval_for(level as usize)
}

/// The typed data of a flow and of a key holder's `enable`/`disable` of it
/// (readable by anyone registered, as the flow is).
#[utoipa::path(get, path = "/v1/flows/{hash}/typed-data", tag = "flows",
    params(("hash" = String, Path, description = "Flow hash"), AuthorizationQuery),
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 200, body = FlowTypedData, description = "OK"), (status = 403, body = ErrorBody, description = "The caller's role does not allow this"), (status = 404, body = ErrorBody, description = "Not found")))]
pub(super) async fn flow(
    State(st): State<Shared>,
    caller: Caller,
    Path(hash): Path<String>,
    QueryParams(q): QueryParams<AuthorizationQuery>,
) -> ApiResult<Json<FlowTypedData>> {
    let Json(f): Json<FlowOut> = flows::get_flow(State(st.clone()), caller, Path(hash)).await?;
    let flow = f.flow.0;
    let authorization = FlowAuthorization { flowHash: f.hash.0, enable: q.enable.unwrap_or(true) };
    Ok(Json(FlowTypedData {
        hash: f.hash,
        flow: typed_data::typed_data(&st.domain, &flow).map_err(internal)?,
        authorization: typed_data::typed_data(&st.domain, &authorization).map_err(internal)?,
    }))
}

fn governance_out(st: &Shared, action: &GovernanceAction) -> ApiResult<GovernanceTypedData> {
    Ok(GovernanceTypedData {
        hash: action.signing_hash(&st.domain),
        action: HexBytes(encode_action(action)),
        typed_data: typed_data::governance_typed_data(&st.domain, action).map_err(internal)?,
    })
}

/// The typed data of a pending governance action, for the other key holders
/// to sign (readable by key holders, admins and auditors).
#[utoipa::path(get, path = "/v1/governance/{hash}/typed-data", tag = "flows",
    params(("hash" = String, Path, description = "The action's signing hash")),
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 200, body = GovernanceTypedData, description = "OK"), (status = 403, body = ErrorBody, description = "The caller's role does not allow this"), (status = 404, body = ErrorBody, description = "Not found")))]
pub(super) async fn governance(
    State(st): State<Shared>,
    caller: Caller,
    Path(hash): Path<String>,
) -> ApiResult<Json<GovernanceTypedData>> {
    let Json(g) = governance::get_governance(State(st.clone()), caller, Path(hash)).await?;
    let action = decode_action(&g.action.0).map_err(ApiError::internal)?;
    Ok(Json(governance_out(&st, &action)?))
}

/// The typed data and canonical bytes of a new governance action (key
/// holders): sign the typed data, then `POST /governance` with the bytes.
#[utoipa::path(post, path = "/v1/governance/typed-data", tag = "flows", request_body = GovernanceDraftIn,
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 200, body = GovernanceTypedData, description = "OK"),
        (status = 400, body = ErrorBody, description = "Malformed request (JSON, field or query)"),
        (status = 403, body = ErrorBody, description = "The caller's role does not allow this"),
        (status = 415, body = ErrorBody, description = "The body is not application/json")))]
pub(super) async fn draft_governance(
    State(st): State<Shared>,
    caller: Caller,
    JsonBody(body): JsonBody<GovernanceDraftIn>,
) -> ApiResult<Json<GovernanceTypedData>> {
    caller.require(&[crate::roles::Role::KeyHolder], "drafting a governance action")?;
    fn parse<T: serde::de::DeserializeOwned>(kind: &str, mut v: Value) -> ApiResult<T> {
        // The typed data writes integers beyond 2^53 as decimal strings; read them back.
        if let Some(m) = v.as_object_mut() {
            for x in m.values_mut() {
                if let Some(n) = x.as_str().and_then(|s| s.parse::<u64>().ok()) {
                    *x = Value::from(n);
                }
            }
        }
        serde_json::from_value(v).map_err(|e| ApiError::bad_request("invalid_body", format!("{kind}: {e}")))
    }
    let action = match body.primary_type {
        GovernanceKind::FreezeEmployee => GovernanceAction::FreezeEmployee(parse("FreezeEmployee", body.message)?),
        GovernanceKind::BlockDestination => {
            GovernanceAction::BlockDestination(parse("BlockDestination", body.message)?)
        }
        GovernanceKind::RegisterAsset => GovernanceAction::RegisterAsset(parse("RegisterAsset", body.message)?),
        GovernanceKind::PauseTransfers => GovernanceAction::PauseTransfers(parse("PauseTransfers", body.message)?),
        GovernanceKind::AddressBookEntry => {
            GovernanceAction::AddressBookEntry(parse("AddressBookEntry", body.message)?)
        }
    };
    Ok(Json(governance_out(&st, &action)?))
}
