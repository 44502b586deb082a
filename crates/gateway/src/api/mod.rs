//! The HTTPS API under `/v1`: state, authentication middleware, extractors,
//! the router and its OpenAPI document (built from the same route list, so
//! nothing is served undocumented).

pub mod assets;
mod ceremony;
pub mod dto;
mod flows;
mod lane;
mod people;
mod status;
mod transfers;
pub mod typed_data;

pub use flows::{decode_action, encode_action};

use crate::auth::Credentials;
use crate::chain::Chain;
use crate::config::Limits;
use crate::error::{ApiError, ApiResult};
use crate::follower::SharedReplica;
use crate::limits::{RateLimiter, SourceThrottle};
use crate::roles::{Registry, Role};
use crate::store::{NonceUse, Store};
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use box_core::Address;
use box_core::typed::{Domain, Genesis};
use serde::de::DeserializeOwned;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Everything a handler needs.
#[derive(Debug)]
pub struct AppState {
    /// The store.
    pub store: Store,
    /// The chain.
    pub chain: Chain,
    /// The verified replica of the notary state.
    pub replica: SharedReplica,
    /// The deployment's genesis.
    pub genesis: Genesis,
    /// Its EIP-712 domain.
    pub domain: Domain,
    /// Key holders and admins.
    pub registry: Registry,
    /// Limits.
    pub limits: Limits,
    /// Per-signer rate.
    pub per_key: RateLimiter<Address>,
    /// Per-IP rate.
    pub per_ip: RateLimiter<IpAddr>,
    /// Sources (client IPs) that failed to prove who they are too often.
    pub bad_sources: SourceThrottle<IpAddr>,
    /// Wakes the relay when rows are queued.
    pub relay_wake: Arc<Notify>,
    /// The public chain's JSON-RPC, when configured.
    pub eth: Option<crate::eth::EthRpc>,
}

impl AppState {
    /// State with limiters built from `limits`.
    pub fn new(
        store: Store,
        chain: Chain,
        replica: SharedReplica,
        genesis: Genesis,
        admins: BTreeSet<Address>,
        limits: Limits,
        eth: Option<crate::eth::EthRpc>,
    ) -> Self {
        Self {
            store,
            chain,
            replica,
            domain: genesis.domain(),
            registry: Registry { key_holders: genesis.keyHolders.iter().copied().collect(), admins },
            genesis,
            per_key: RateLimiter::new(limits.per_key_per_minute, limits.burst),
            per_ip: RateLimiter::new(limits.per_ip_per_minute, limits.burst),
            bad_sources: SourceThrottle::new(
                limits.bad_signatures_per_source,
                Duration::from_secs(limits.source_lock_seconds),
            ),
            limits,
            relay_wake: Arc::default(),
            eth,
        }
    }
}

/// Shared state.
pub type Shared = Arc<AppState>;

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

/// A JSON body: syntax errors are `400 malformed_json`, unknown fields and
/// wrong types `400 invalid_body`, each with serde's message.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            ApiError::bad_request("unreadable_body", format!("the request body could not be read: {e}"))
        })?;
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => {
                ApiError::bad_request("invalid_body", format!("the JSON body does not fit: {e}"))
            }
            _ => ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {e}")),
        })
    }
}

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
async fn authenticate(
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
    let person = st.store.person(&dto::key(&creds.signer)).await?;
    let registered = person.as_ref().map(|p| crate::roles::parse_stored(&p.roles)).unwrap_or_default();
    let caller = Caller {
        address: creds.signer,
        name: person.map(|p| p.name),
        roles: st.registry.roles(&creds.signer, registered),
        nonce: NonceUse {
            signer: dto::key(&creds.signer),
            nonce: creds.nonce.to_string(),
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

/// The OpenAPI document's fixed parts; paths come from the router.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "BOX gateway API",
        version = "1",
        description = "The HTTPS API of box-gateway, BOX's untrusted relay between the apps and the private chain.\n\n\
Authentication: every call except /v1/openapi.json, /v1/deployment, /v1/health and the keystore claim \
(POST /v1/people/{address}/keystore/claim, proven by its download token) carries the headers \
X-Box-Signer (address), X-Box-Timestamp (Unix seconds), X-Box-Nonce (0x + 64 hex, never reused) and X-Box-Signature \
(65-byte signature, 0x hex) over the EIP-712 struct ApiRequest(string method,string path,bytes32 bodyHash,uint64 timestamp,bytes32 nonce) \
under the deployment's BOX domain (see /v1/deployment); bodyHash is keccak256 of the exact body bytes and path includes the query string.\n\n\
Errors are JSON {code, message}: 400 malformed_json / invalid_body / invalid_field; 401 missing_credentials / \
malformed_credentials / stale_timestamp / bad_signature; 403 role_required, self_approval, not_an_approver, separation_of_duties; \
404; 409 nonce_reused and state conflicts; 413 body_too_large; 415 unsupported_media_type (bodies are application/json only); \
422 rule refusals; 429 rate_limited / source_throttled (Retry-After); 503 chain_unavailable (Retry-After).\n\n\
Limits: requests are rate-limited per client IP and per signer. A bad signature or a wrong download token counts \
against the client IP it came from, never against the address it names (a failure proves no identity): too many \
within a window throttle that IP (429 source_throttled). A key holder's pause (POST /v1/governance with \
PauseTransfers paused=true) and panic (POST /v1/ceremony/messages with purpose panic) pass every limit, so no third \
party can block them; they are still verified like every other request."
    ),
    modifiers(&Security),
    tags(
        (name = "people", description = "People, roles and key escrow"),
        (name = "flows", description = "Approval flows, key-holder authorizations and governance"),
        (name = "transfers", description = "Applications and nested approvals"),
        (name = "status", description = "Deployment, cluster, gateway status and audit export"),
        (name = "ceremony", description = "Key-ceremony relay, signer and wallet status")
    )
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, header) in [
            ("box_signer", "X-Box-Signer"),
            ("box_timestamp", "X-Box-Timestamp"),
            ("box_nonce", "X-Box-Nonce"),
            ("box_signature", "X-Box-Signature"),
        ] {
            components.add_security_scheme(name, SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new(header))));
        }
    }
}

/// The router (without the layers) and the OpenAPI document.
fn routes() -> (axum::Router<Shared>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(status::deployment))
        .routes(routes!(status::health))
        .routes(routes!(status::status))
        .routes(routes!(status::cluster))
        .routes(routes!(status::audit))
        .routes(routes!(people::me))
        .routes(routes!(people::list_people, people::register))
        .routes(routes!(people::person))
        .routes(routes!(people::put_escrow, people::get_escrow))
        .routes(routes!(people::claim_escrow))
        .routes(routes!(flows::list_flows, flows::create_flow))
        .routes(routes!(flows::get_flow))
        .routes(routes!(flows::submit_flow))
        .routes(routes!(flows::authorize_flow))
        .routes(routes!(flows::list_governance, flows::sign_governance))
        .routes(routes!(flows::get_governance))
        .routes(routes!(transfers::list_transfers, transfers::apply))
        .routes(routes!(transfers::get_transfer))
        .routes(routes!(transfers::approve))
        .routes(routes!(transfers::reject))
        .routes(routes!(transfers::pending))
        .routes(routes!(ceremony::relay_message))
        .routes(routes!(ceremony::signer))
        .routes(routes!(ceremony::wallet))
        .routes(routes!(assets::assets))
        .routes(routes!(typed_data::catalogue))
        .routes(routes!(typed_data::transfer_request))
        .routes(routes!(typed_data::transfer))
        .routes(routes!(typed_data::flow))
        .routes(routes!(typed_data::governance))
        .routes(routes!(typed_data::draft_governance))
        .split_for_parts()
}

/// The OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = routes();
    // The document is served at a path of its own.
    doc.paths.paths.insert(
        "/v1/openapi.json".into(),
        utoipa::openapi::path::PathItem::new(
            utoipa::openapi::HttpMethod::Get,
            utoipa::openapi::path::OperationBuilder::new()
                .operation_id(Some("openapi"))
                .tag("status")
                .summary(Some("This OpenAPI 3 document"))
                .response("200", utoipa::openapi::ResponseBuilder::new().description("The document").build())
                .build(),
        ),
    );
    doc
}

/// The complete application.
pub fn router(state: Shared) -> axum::Router {
    let (router, _) = routes();
    let doc = openapi();
    router
        .route("/v1/openapi.json", axum::routing::get(move || async move { axum::Json(doc) }))
        .fallback(|| async { ApiError::not_found("no_such_endpoint", "no such endpoint; see /v1/openapi.json") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not take that method; see /v1/openapi.json",
            )
        })
        .layer(axum::middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state)
        .merge(crate::console::routes())
}
