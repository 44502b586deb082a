//! Offboarding a person (issue 15, item 5): their escrowed keystore revoked
//! and their applications still collecting approvals cancelled with the
//! reason. The freeze that stops what is already complete or on the chain
//! is a governance action a key holder signs besides (`POST /v1/governance`);
//! `boxctl keyholder offboard` does both.

use super::extract::path_address;
use super::{Caller, JsonBody, Shared};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::roles::Role;
use axum::Json;
use axum::extract::{Path, State};
use box_api::{OffboardIn, OffboardOut};

/// Offboard a person (key holder or admin): revoke their escrowed keystore,
/// cancel their applications still collecting approvals with `reason`.
#[utoipa::path(post, path = "/v1/people/{address}/offboard", tag = "people", request_body = OffboardIn,
    params(("address" = String, Path, description = "Who leaves")),
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 415, body = ErrorBody, description = "The body is not application/json"), (status = 200, body = OffboardOut, description = "OK"),
        (status = 400, body = ErrorBody, description = "Malformed request (JSON, field or query)"),
        (status = 403, body = ErrorBody, description = "The caller's role does not allow this"),
        (status = 404, body = ErrorBody, description = "Not found"),
        (status = 409, body = ErrorBody, description = "Conflicts with the current state, or a reused nonce"),
        (status = 422, body = ErrorBody, description = "Breaks a rule (signature, policy, separation of duties)")))]
pub(super) async fn offboard(
    State(st): State<Shared>,
    caller: Caller,
    Path(address): Path<String>,
    JsonBody(body): JsonBody<OffboardIn>,
) -> ApiResult<Json<OffboardOut>> {
    caller.require(&[Role::KeyHolder, Role::Admin], "offboarding a person")?;
    let who = path_address("address", &address)?;
    let reason = body.reason.trim();
    if reason.is_empty() {
        return Err(ApiError::unprocessable("reason_required", "give the reason for offboarding; the person sees it"));
    }
    if st.store.person(&who).await?.is_none() {
        return Err(ApiError::not_found("no_such_person", format!("{who} is not registered")));
    }
    let (keystore_revoked, cancelled) =
        st.store.offboard(&caller.nonce, &who, &caller.address, &format!("offboarded: {reason}")).await?;
    Ok(Json(OffboardOut { address: who, keystore_revoked, cancelled }))
}
