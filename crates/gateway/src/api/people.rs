//! People, roles and the employee key escrow.

use super::extract::path_address;
use super::{Caller, JsonBody, Shared};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::roles::Role;
use crate::store::{Escrow, Person, now};
use alloy::primitives::keccak256;
use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use box_api::{ClaimIn, EscrowIn, EscrowOut, MeOut, PersonIn, PersonOut};
use box_core::Address;
use std::collections::BTreeSet;

fn person_out(p: Person) -> PersonOut {
    PersonOut {
        address: p.address,
        name: p.name,
        roles: p.roles.into_iter().collect(),
        registered_by: p.registered_by,
        registered_at: p.registered_at,
    }
}

/// Who the caller is.
#[utoipa::path(get, path = "/v1/me", tag = "people",
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 200, body = MeOut, description = "OK"), (status = 401, body = ErrorBody, description = "Missing, malformed, stale or badly signed credentials")))]
pub(super) async fn me(caller: Caller) -> Json<MeOut> {
    Json(MeOut { address: caller.address, name: caller.name, roles: caller.roles.into_iter().collect() })
}

/// Everyone registered (admin, key holder, auditor).
#[utoipa::path(get, path = "/v1/people", tag = "people",
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 200, body = Vec<PersonOut>, description = "OK"), (status = 403, body = ErrorBody, description = "The caller's role does not allow this")))]
pub(super) async fn list_people(State(st): State<Shared>, caller: Caller) -> ApiResult<Json<Vec<PersonOut>>> {
    caller.require(&[Role::Admin, Role::KeyHolder, Role::Auditor], "listing people")?;
    Ok(Json(st.store.people().await?.into_iter().map(person_out).collect()))
}

/// Register or update a person's roles (admin).
#[utoipa::path(post, path = "/v1/people", tag = "people", request_body = PersonIn,
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 415, body = ErrorBody, description = "The body is not application/json"), (status = 200, body = PersonOut, description = "OK"), (status = 400, body = ErrorBody, description = "Malformed request (JSON, field or query)"), (status = 403, body = ErrorBody, description = "The caller's role does not allow this"),
        (status = 409, body = ErrorBody, description = "Conflicts with the current state, or a reused nonce"), (status = 422, body = ErrorBody, description = "Breaks a rule (signature, policy, separation of duties)")))]
pub(super) async fn register(
    State(st): State<Shared>,
    caller: Caller,
    JsonBody(body): JsonBody<PersonIn>,
) -> ApiResult<Json<PersonOut>> {
    caller.require(&[Role::Admin], "registering people")?;
    let who = body.address;
    let name = body.name.trim();
    if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request("invalid_field", "name: 1 to 128 bytes without control characters"));
    }
    let roles: BTreeSet<Role> = body.roles.iter().copied().collect();
    if roles.is_empty() {
        return Err(ApiError::bad_request("invalid_field", "roles: give at least one of employee, approver, auditor"));
    }
    st.registry.check_registration(&who, &roles)?;
    let p = Person { address: who, name: name.to_owned(), roles, registered_by: caller.address, registered_at: now() };
    st.store.put_person(&caller.nonce, &p).await?;
    let words: Vec<&str> = p.roles.iter().map(|r| r.as_str()).collect();
    tracing::info!(person = %who, roles = %words.join(","), by = %caller.address, "registered");
    Ok(Json(person_out(p)))
}

/// One person (themselves, or admin, key holder, auditor).
#[utoipa::path(get, path = "/v1/people/{address}", tag = "people",
    params(("address" = String, Path, description = "Their address")),
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 200, body = PersonOut, description = "OK"), (status = 403, body = ErrorBody, description = "The caller's role does not allow this"), (status = 404, body = ErrorBody, description = "Not found")))]
pub(super) async fn person(
    State(st): State<Shared>,
    caller: Caller,
    Path(address): Path<String>,
) -> ApiResult<Json<PersonOut>> {
    let who = path_address("address", &address)?;
    if who != caller.address {
        caller.require(&[Role::Admin, Role::KeyHolder, Role::Auditor], "reading another person")?;
    }
    let p = st
        .store
        .person(&who)
        .await?
        .ok_or_else(|| ApiError::not_found("no_such_person", format!("{who} is not registered")))?;
    Ok(Json(person_out(p)))
}

/// Checks the shape of a keystore v3 file without decrypting anything.
fn check_keystore(v: &serde_json::Value, owner: &box_core::Address) -> ApiResult<()> {
    let bad = |m: &str| ApiError::unprocessable("invalid_keystore", format!("not an Ethereum keystore v3 file: {m}"));
    let obj = v.as_object().ok_or_else(|| bad("expected a JSON object"))?;
    if obj.get("version").and_then(serde_json::Value::as_u64) != Some(3) {
        return Err(bad("\"version\" must be 3"));
    }
    let crypto = obj
        .get("crypto")
        .or_else(|| obj.get("Crypto"))
        .and_then(|c| c.as_object())
        .ok_or_else(|| bad("\"crypto\" is missing"))?;
    for field in ["cipher", "ciphertext", "kdf", "mac"] {
        if !crypto.get(field).is_some_and(serde_json::Value::is_string) {
            return Err(bad(&format!("\"crypto.{field}\" is missing")));
        }
    }
    for field in ["cipherparams", "kdfparams"] {
        if !crypto.get(field).is_some_and(serde_json::Value::is_object) {
            return Err(bad(&format!("\"crypto.{field}\" is missing")));
        }
    }
    if let Some(a) = obj.get("address").and_then(serde_json::Value::as_str) {
        let a = if a.starts_with("0x") { a.to_owned() } else { format!("0x{a}") };
        if a.parse::<Address>().ok() != Some(*owner) {
            return Err(ApiError::unprocessable("invalid_keystore", format!("the keystore is for {a}, not {owner}")));
        }
    }
    Ok(())
}

/// Upload a person's client-encrypted keystore (admin, or the person). An
/// admin issuing a key to someone else may add the hash of a download token,
/// which lets its owner claim it once without a signature.
#[utoipa::path(put, path = "/v1/people/{address}/keystore", tag = "people", request_body = EscrowIn,
    params(("address" = String, Path, description = "Whose key")),
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 204, description = "Stored"), (status = 400, body = ErrorBody, description = "Malformed request (JSON, field or query)"), (status = 403, body = ErrorBody, description = "The caller's role does not allow this"), (status = 404, body = ErrorBody, description = "Not found"), (status = 415, body = ErrorBody, description = "The body is not application/json"), (status = 422, body = ErrorBody, description = "Breaks a rule (signature, policy, separation of duties)")))]
pub(super) async fn put_escrow(
    State(st): State<Shared>,
    caller: Caller,
    Path(address): Path<String>,
    JsonBody(body): JsonBody<EscrowIn>,
) -> ApiResult<StatusCode> {
    let who = path_address("address", &address)?;
    if who != caller.address {
        caller.require(&[Role::Admin], "uploading someone else's keystore")?;
    }
    if caller.is(Role::Auditor) {
        return Err(ApiError::forbidden("role_required", "an auditor only reads"));
    }
    if st.store.person(&who).await?.is_none() {
        return Err(ApiError::not_found("no_such_person", format!("{who} is not registered; register them first")));
    }
    check_keystore(&body.keystore, &who)?;
    st.store
        .put_escrow(&caller.nonce, &who, &body.keystore, &caller.address, body.download_token_hash.as_ref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn escrow_out(who: &Address, e: Escrow) -> Json<EscrowOut> {
    Json(EscrowOut { address: *who, keystore: e.keystore, uploaded_by: e.uploaded_by, uploaded_at: e.uploaded_at })
}

/// Download a keystore, signed (the person, or an admin). An issued key's
/// owner, who has no key to sign with yet, claims it once with its download
/// token instead (`POST /v1/people/{address}/keystore/claim`).
#[utoipa::path(get, path = "/v1/people/{address}/keystore", tag = "people",
    params(("address" = String, Path, description = "Whose key")),
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 200, body = EscrowOut, description = "OK"), (status = 401, body = ErrorBody, description = "Missing, malformed, stale or badly signed credentials"), (status = 403, body = ErrorBody, description = "The caller's role does not allow this"), (status = 404, body = ErrorBody, description = "Not found")))]
pub(super) async fn get_escrow(
    State(st): State<Shared>,
    caller: Caller,
    Path(address): Path<String>,
) -> ApiResult<Json<EscrowOut>> {
    let who = path_address("address", &address)?;
    if who != caller.address {
        caller.require(&[Role::Admin], "downloading someone else's keystore")?;
    }
    let row = st
        .store
        .escrow(&who)
        .await?
        .ok_or_else(|| ApiError::not_found("no_keystore", format!("no keystore is escrowed for {who}")))?;
    Ok(escrow_out(&who, row))
}

/// The one answer to every claim that does not succeed, whatever the reason:
/// nobody learns from it who has an escrowed key.
fn nothing_to_claim() -> ApiError {
    ApiError::not_found(
        "nothing_to_claim",
        "no keystore can be claimed for this address with this token: the token (derived from the password the admin \
         gave you) is wrong, or the keystore was claimed already (its owner then reads it with a signed request), or \
         none was issued",
    )
}

/// Claim an issued keystore once, without a signature, with its download
/// token (whitepaper step E: its owner has no key before downloading it).
/// The first claim with the right token answers the keystore and spends the
/// token; afterwards only signed reads serve it. Every failure (unknown
/// person, no keystore, wrong or spent token) is the same 404 and counts
/// against the client IP like a bad signature.
#[utoipa::path(post, path = "/v1/people/{address}/keystore/claim", tag = "people", request_body = ClaimIn,
    params(("address" = String, Path, description = "Whose key")),
    security(()),
    responses((status = 200, body = EscrowOut, description = "The keystore; the token is spent"), (status = 400, body = ErrorBody, description = "Malformed request (JSON, field or query)"), (status = 404, body = ErrorBody, description = "Nothing to claim with this token (the same answer for every reason)"), (status = 415, body = ErrorBody, description = "The body is not application/json"), (status = 429, body = ErrorBody, description = "Too many requests, or too many failed proofs from this client IP")))]
pub(super) async fn claim_escrow(
    State(st): State<Shared>,
    ConnectInfo(crate::server::PeerAddr(peer)): ConnectInfo<crate::server::PeerAddr>,
    Path(address): Path<String>,
    JsonBody(body): JsonBody<ClaimIn>,
) -> ApiResult<Json<EscrowOut>> {
    let who = path_address("address", &address)?;
    let hash = keccak256(body.token.as_slice());
    match st.store.claim_escrow(&who, &hash).await? {
        Some(row) => {
            tracing::info!(person = %who, "issued keystore claimed with its download token");
            Ok(escrow_out(&who, row))
        }
        None => {
            if st.bad_sources.strike(&peer.ip(), std::time::Instant::now()) {
                tracing::warn!(source = %peer.ip(), "source throttled after repeated failed keystore claims");
            }
            Err(nothing_to_claim())
        }
    }
}
