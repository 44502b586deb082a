//! Authentication of every request: limits, body size and type, the
//! signed headers (box-api's [`Credentials`]), the caller's roles.

use super::extract::Caller;
use super::{AppState, Shared, lane};
use crate::error::ApiError;
use crate::store::NonceUse;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use box_api::auth::Credentials;
use std::net::IpAddr;
use std::time::Instant;

/// How far past the body limit a request is still read (and dropped).
const DRAIN_FACTOR: usize = 4;

/// The body if it fits in `max` bytes; otherwise drains up to
/// `DRAIN_FACTOR * max` bytes and returns `None`.
async fn read_body(body: Body, max: usize) -> Option<Bytes> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut buf = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return None };
        if let Ok(data) = frame.into_data() {
            seen = seen.saturating_add(data.len());
            if seen > max.saturating_mul(DRAIN_FACTOR) {
                return None;
            }
            if seen <= max {
                buf.extend_from_slice(&data);
            }
        }
    }
    (seen <= max).then(|| Bytes::from(buf))
}

/// Paths served without a signature.
const PUBLIC: &[&str] = &["/v1/openapi.json", "/v1/deployment", "/v1/health", "/v1/typed-data"];

/// An unsigned `POST /v1/people/{address}/keystore/claim`: the one-time
/// download of an admin-issued keystore with its download token (whitepaper
/// step E); the handler needs no caller, the token is the proof.
fn keystore_claim(req: &Request) -> bool {
    let path = req.uri().path();
    req.method() == axum::http::Method::POST
        && path
            .strip_prefix("/v1/people/")
            .and_then(|r| r.strip_suffix("/keystore/claim"))
            .is_some_and(|a| !a.contains('/'))
}

fn unix_now() -> u64 {
    u64::try_from(crate::store::now()).unwrap_or(0)
}

/// Bodies are JSON and nothing else: a request with a body (or a
/// `Content-Type`) must say `application/json`. Form and text encodings are
/// what a browser sends cross-site without asking; refusing them keeps every
/// state change an explicit API call. Headers only: runs before the body is read.
fn require_json(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
    let has_body = headers.contains_key(TRANSFER_ENCODING)
        || headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim() != "0");
    let declared = headers.get(CONTENT_TYPE);
    if declared.is_none() && !has_body {
        return Ok(());
    }
    let json = declared
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"));
    if json {
        return Ok(());
    }
    let given = declared.and_then(|v| v.to_str().ok()).map_or_else(|| "none".to_owned(), |v| format!("\"{v}\""));
    Err(ApiError::new(
        axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        format!("request bodies are JSON: send Content-Type: application/json (this request's Content-Type: {given})"),
    ))
}

/// The per-IP bucket and the source throttle, in that order.
fn throttle(st: &AppState, ip: IpAddr, now: Instant) -> Result<(), ApiError> {
    let too_many = |code: &'static str, message: String, wait: u64| {
        ApiError::new(axum::http::StatusCode::TOO_MANY_REQUESTS, code, message).retry_after(wait)
    };
    st.per_ip.check(&ip, now).map_err(|wait| {
        too_many(
            "rate_limited",
            format!("too many requests from {ip}; at most {} per minute", st.limits.per_ip_per_minute),
            wait,
        )
    })?;
    st.bad_sources.check(&ip, now).map_err(|wait| {
        too_many(
            "source_throttled",
            format!(
                "{ip} sent {} requests that failed to prove who sent them (bad signatures or download tokens) within {} s; requests from it are refused for {wait} s more (a key holder's pause and panic still pass)",
                st.limits.bad_signatures_per_source, st.limits.source_lock_seconds
            ),
            wait,
        )
    })
}

/// Authenticates every request: limits (per IP, then the source throttle;
/// a key holder's pause or panic skips every limit, see [`lane`]), body size
/// and type, headers, timestamp, signature, per-key rate, roles. A failed
/// proof counts against the source IP, never against the identity the
/// request names. Nonces are recorded by the handlers, in the transaction of
/// what they change.
pub(super) async fn authenticate(
    State(st): State<Shared>,
    ConnectInfo(crate::server::PeerAddr(peer)): ConnectInfo<crate::server::PeerAddr>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let now = Instant::now();
    let ip = peer.ip();
    let creds = Credentials::parse(|h| req.headers().get(h).and_then(|v| v.to_str().ok()));
    let candidate = creds
        .as_ref()
        .is_ok_and(|c| lane::may_be_emergency(req.method(), req.uri().path(), &c.signer, &st.registry.key_holders));
    if !candidate {
        throttle(&st, ip, now)?;
    }
    let max = st.limits.max_body_bytes;
    let too_large = || {
        ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body exceeds the limit of {max} bytes"),
        )
    };
    // Bodies past the limit are read and dropped up to DRAIN_FACTOR times the
    // limit, so an ordinary client sees the 413 instead of a broken pipe;
    // beyond that the connection is simply answered and closed.
    if req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > max.saturating_mul(DRAIN_FACTOR))
    {
        return Err(too_large());
    }
    require_json(req.headers())?;
    if PUBLIC.contains(&req.uri().path()) || keystore_claim(&req) {
        return Ok(next.run(req).await);
    }
    let creds = creds?;
    let (mut parts, body) = req.into_parts();
    let bytes = read_body(body, max).await.ok_or_else(too_large)?;
    let emergency = candidate && lane::is_emergency(parts.uri.path(), &bytes);
    if candidate && !emergency {
        throttle(&st, ip, now)?;
    }
    let path = parts.uri.path_and_query().map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
    let checked =
        creds.verify(&st.domain, parts.method.as_str(), &path, &bytes, unix_now(), st.limits.timestamp_window_seconds);
    if let Err(e) = checked {
        if e.code() == "bad_signature" && st.bad_sources.strike(&ip, now) {
            tracing::warn!(source = %ip, "source throttled after repeated bad signatures");
        }
        return Err(e.into());
    }
    if !emergency {
        st.per_key.check(&creds.signer, now).map_err(|wait| {
            ApiError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many requests from {}; at most {} per minute", creds.signer, st.limits.per_key_per_minute),
            )
            .retry_after(wait)
        })?;
    }
    let person = st.store.person(&creds.signer).await?;
    let registered = person.as_ref().map(|p| p.roles.clone()).unwrap_or_default();
    let caller = Caller {
        address: creds.signer,
        name: person.map(|p| p.name),
        roles: st.registry.roles(&creds.signer, registered),
        nonce: NonceUse {
            signer: creds.signer,
            nonce: creds.nonce,
            at: i64::try_from(creds.timestamp).unwrap_or(i64::MAX),
        },
    };
    // Fail a replay fast with its own code; the handler's transaction records
    // the nonce and is what actually guarantees it is used once.
    if parts.method != axum::http::Method::GET && st.store.nonce_seen(&caller.nonce.signer, &caller.nonce.nonce).await?
    {
        return Err(ApiError::conflict(
            "nonce_reused",
            format!(
                "nonce {} was already used by {}; every request needs a fresh nonce",
                caller.nonce.nonce, caller.address
            ),
        ));
    }
    parts.extensions.insert(caller);
    Ok(next.run(Request::from_parts(parts, Body::from(bytes))).await)
}
