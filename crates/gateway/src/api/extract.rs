//! Extractors: the authenticated caller, JSON bodies and query strings
//! refused as JSON errors, and path parameters parsed into box-core types.

use crate::error::{ApiError, ApiResult};
use crate::roles::Role;
use crate::store::NonceUse;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use box_core::address::parse_address;
use box_core::{Address, B256};
use serde::de::DeserializeOwned;
use std::collections::BTreeSet;

/// An authenticated caller: the signature checked, the roles from the registry.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Address.
    pub address: Address,
    /// Display name, if registered.
    pub name: Option<String>,
    /// Roles.
    pub roles: BTreeSet<Role>,
    /// The request's nonce, to be recorded with whatever it changes.
    pub nonce: NonceUse,
}

impl Caller {
    /// Fails unless the caller has one of `allowed`.
    pub fn require(&self, allowed: &[Role], what: &str) -> ApiResult<()> {
        crate::roles::require(&self.roles, allowed, what)
    }
    /// Whether the caller has `r`.
    pub fn is(&self, r: Role) -> bool {
        self.roles.contains(&r)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            ApiError::new(axum::http::StatusCode::UNAUTHORIZED, "missing_credentials", "this call must be signed")
        })
    }
}

impl<S: Send + Sync> axum::extract::OptionalFromRequestParts<S> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, ApiError> {
        Ok(parts.extensions.get::<Caller>().cloned())
    }
}

/// A JSON body, parsed into the API's types: syntax errors are `400
/// malformed_json`; unknown or missing fields, wrong types and values that do
/// not parse (an address with a bad checksum, an amount that is not decimal
/// base units) are `400 invalid_body`, naming the field where serde knows it.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            ApiError::bad_request("unreadable_body", format!("the request body could not be read: {e}"))
        })?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        let parsed = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
            let at = match e.path().to_string() {
                p if p == "." => String::new(),
                p => format!(" at {p}"),
            };
            (e.into_inner(), at)
        });
        let value = parsed.and_then(|v| de.end().map(|()| v).map_err(|e| (e, String::new())));
        value.map(JsonBody).map_err(|(e, at)| match e.classify() {
            serde_json::error::Category::Data => {
                ApiError::bad_request("invalid_body", format!("the JSON body does not fit{at}: {e}"))
            }
            _ => ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {e}")),
        })
    }
}

/// A query string, parsed into the API's types: anything that does not fit
/// is `400 invalid_field` with the reason (as JSON, like every refusal).
#[derive(Debug, Clone)]
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri).map(|q| Self(q.0)).map_err(|e| {
            ApiError::bad_request("invalid_field", format!("the query string does not fit: {}", e.body_text()))
        })
    }
}

/// A path parameter that names an address (`400 invalid_field` otherwise).
pub(super) fn path_address(field: &str, s: &str) -> ApiResult<Address> {
    parse_address(s).map_err(|e| ApiError::bad_request("invalid_field", format!("{field}: {e}")))
}

/// A path parameter that names a 32-byte hash or id (`400 invalid_field` otherwise).
pub(super) fn path_hash<T: From<B256>>(field: &str, s: &str) -> ApiResult<T> {
    box_api::wire::parse_hex_32(s).map(T::from).ok_or_else(|| {
        ApiError::bad_request("invalid_field", format!("{field}: expected 0x followed by 64 hex digits"))
    })
}
