//! The HTTPS API under `/v1`: the state handlers share, the router and the
//! OpenAPI document. The request and response types are box-api's; the
//! handlers (one module per area) parse nothing by hand but path parameters.

mod approvals;
mod asset_check;
mod assets;
mod authn;
mod ceremony;
mod extract;
mod flows;
mod governance;
mod lane;
mod offboard;
mod openapi;
mod people;
mod rules;
mod status;
mod transfers;
mod typed_data;
mod view;

pub use extract::{Caller, JsonBody, QueryParams};
pub use openapi::openapi;

use crate::config::Limits;
use crate::error::ApiError;
use crate::follower::SharedReplica;
use crate::limits::{RateLimiter, SourceThrottle};
use crate::roles::Registry;
use crate::store::Store;
use box_core::Address;
use box_core::typed::{Domain, Genesis};
use box_proto::NodeClient;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Everything a handler needs.
#[derive(Debug)]
pub struct AppState {
    /// The store.
    pub store: Store,
    /// The chain.
    pub chain: NodeClient,
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
    pub eth: Option<box_eth::Eth>,
}

impl AppState {
    /// State with limiters built from `limits`.
    pub fn new(
        store: Store,
        chain: NodeClient,
        replica: SharedReplica,
        genesis: Genesis,
        admins: BTreeSet<Address>,
        limits: Limits,
        eth: Option<box_eth::Eth>,
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

/// The router (without the layers) and the OpenAPI document.
fn routes() -> (axum::Router<Shared>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
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
        .routes(routes!(offboard::offboard))
        .routes(routes!(flows::list_flows, flows::create_flow))
        .routes(routes!(flows::get_flow))
        .routes(routes!(flows::submit_flow))
        .routes(routes!(flows::authorize_flow))
        .routes(routes!(governance::list_governance, governance::sign_governance))
        .routes(routes!(governance::get_governance))
        .routes(routes!(transfers::list_transfers, transfers::apply))
        .routes(routes!(transfers::get_transfer))
        .routes(routes!(approvals::approve))
        .routes(routes!(approvals::reject))
        .routes(routes!(approvals::pending))
        .routes(routes!(ceremony::relay_message))
        .routes(routes!(ceremony::signer))
        .routes(routes!(ceremony::wallet))
        .routes(routes!(assets::assets))
        .routes(routes!(assets::address_book))
        .routes(routes!(assets::token))
        .routes(routes!(typed_data::catalogue))
        .routes(routes!(typed_data::transfer_request))
        .routes(routes!(typed_data::transfer))
        .routes(routes!(typed_data::flow))
        .routes(routes!(typed_data::governance))
        .routes(routes!(typed_data::draft_governance))
        .split_for_parts()
}

/// The complete application.
pub fn router(state: Shared) -> axum::Router {
    let (router, _) = routes();
    let doc = openapi::openapi();
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
        .layer(axum::middleware::from_fn_with_state(state.clone(), authn::authenticate))
        .with_state(state)
        .merge(crate::console::routes())
}
