//! Deployment, health, gateway status, cluster status and the audit export.

use super::extract::QueryParams;
use super::{Caller, Shared};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::roles::Role;
use axum::Json;
use axum::extract::State;
use box_api::{AuditOut, AuditQuery, ClusterOut, DeploymentOut, HexBytes, NodeOut, RegisteredNodeOut, StatusOut};
use box_core::asset::Asset;
use box_core::ids::{ChainId, DeploymentId};
use box_core::typed::{DOMAIN_NAME, DOMAIN_VERSION};

/// The deployment: the EIP-712 domain every request and object is signed under. Public.
#[utoipa::path(get, path = "/v1/deployment", tag = "status", responses((status = 200, body = DeploymentOut, description = "OK")))]
pub(super) async fn deployment(State(st): State<Shared>) -> Json<DeploymentOut> {
    let g = &st.genesis;
    Json(DeploymentOut {
        domain_name: DOMAIN_NAME.into(),
        domain_version: DOMAIN_VERSION.into(),
        chain_id: ChainId(g.chainId),
        deployment_id: DeploymentId(g.deploymentId),
        key_holders: g.keyHolders.clone(),
        signer: g.signer,
    })
}

/// Liveness. Public.
#[utoipa::path(get, path = "/v1/health", tag = "status", responses((status = 200, description = "The gateway serves")))]
pub(super) async fn health() -> &'static str {
    "ok"
}

/// The gateway's own state: verified height, pause, outbox backlog (anyone registered).
#[utoipa::path(get, path = "/v1/status", tag = "status",
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 200, body = StatusOut, description = "OK"), (status = 403, body = ErrorBody, description = "The caller's role does not allow this")))]
pub(super) async fn status(State(st): State<Shared>, caller: Caller) -> ApiResult<Json<StatusOut>> {
    if caller.roles.is_empty() {
        return Err(ApiError::forbidden("role_required", format!("{} is not registered", caller.address)));
    }
    let pending = st.store.outbox_due(10_000).await?.len() as u64;
    let r = st.replica.read();
    let assets = r
        .state()
        .assets()
        .all()
        .into_iter()
        .map(|a| match a {
            Asset::Eth => "ETH".to_owned(),
            Asset::Erc20 { contract, symbol, .. } => format!("{symbol} ({})", contract.to_checksum(None)),
        })
        .collect();
    Ok(Json(StatusOut {
        verified_height: r.height(),
        latest_height: r.latest_seen(),
        paused: r.state().paused().map(str::to_owned),
        outbox_pending: pending,
        assets,
        frozen: r.state().policy().frozen.iter().copied().collect(),
        blocked: r.state().policy().blocked.iter().copied().collect(),
        address_book: super::assets::address_book_of(r.state()),
        nodes: registered_nodes(r.state()),
        quorum: r.state().registry().majority() as u64,
    }))
}

/// The registry of `state`, by node id.
fn registered_nodes(state: &box_core::notary::NotaryState) -> Vec<RegisteredNodeOut> {
    let mut nodes: Vec<RegisteredNodeOut> = state
        .nodes()
        .map(|n| RegisteredNodeOut { id: n.nodeId, endpoint: n.endpoint.clone(), account: n.account })
        .collect();
    nodes.sort_by_key(|n| n.id);
    nodes
}

/// Every node's view of the cluster, asked now. 503 when no node answers.
#[utoipa::path(get, path = "/v1/cluster", tag = "status",
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 200, body = ClusterOut, description = "OK"), (status = 403, body = ErrorBody, description = "The caller's role does not allow this"), (status = 503, body = ErrorBody, description = "No chain node answers")))]
pub(super) async fn cluster(State(st): State<Shared>, caller: Caller) -> ApiResult<Json<ClusterOut>> {
    if caller.roles.is_empty() {
        return Err(ApiError::forbidden("role_required", format!("{} is not registered", caller.address)));
    }
    let views = st.chain.cluster().await;
    if views.iter().all(|v| v.info.is_err()) {
        let reasons: Vec<String> = views
            .iter()
            .map(|v| format!("{}: {}", v.node.addr, v.info.as_ref().err().map_or("", String::as_str)))
            .collect();
        return Err(ApiError::unavailable(
            "chain_unavailable",
            format!(
                "no chain node answers ({}); check the nodes and the gateway's [chain] TLS settings",
                reasons.join("; ")
            ),
        ));
    }
    let mut votes = std::collections::BTreeMap::<u64, usize>::new();
    let nodes = views
        .into_iter()
        .map(|v| match v.info {
            Ok(i) => {
                if i.leader != 0 {
                    *votes.entry(i.leader).or_default() += 1;
                }
                NodeOut {
                    id: if v.node.id == 0 { i.node_id } else { v.node.id },
                    endpoint: v.node.addr,
                    reachable: true,
                    error: None,
                    leader: i.leader,
                    height: i.height,
                    last_applied: i.last_applied,
                    voters: i.voters,
                    learners: i.learners,
                    // The node's word for its account; one that is no address shows as none.
                    account: box_core::address::parse_address(&i.account).ok(),
                    unsealed: i.unsealed,
                }
            }
            Err(e) => NodeOut {
                id: v.node.id,
                endpoint: v.node.addr,
                reachable: false,
                error: Some(e),
                leader: 0,
                height: 0,
                last_applied: 0,
                voters: vec![],
                learners: vec![],
                account: None,
                unsealed: 0,
            },
        })
        .collect();
    let leader = votes.into_iter().max_by_key(|(_, n)| *n).map(|(l, _)| l);
    Ok(Json(ClusterOut { nodes, leader }))
}

/// Sealed blocks and the genesis, for `box_core::audit::verify_history`
/// (auditor, key holder, admin). Served from the gateway's verified copy.
#[utoipa::path(get, path = "/v1/audit/export", tag = "status", params(AuditQuery),
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 200, body = AuditOut, description = "OK"), (status = 403, body = ErrorBody, description = "The caller's role does not allow this"), (status = 409, body = ErrorBody, description = "This gateway bootstrapped from an attested state and does not hold the blocks before it")))]
pub(super) async fn audit(
    State(st): State<Shared>,
    caller: Caller,
    QueryParams(q): QueryParams<AuditQuery>,
) -> ApiResult<Json<AuditOut>> {
    caller.require(&[Role::Auditor, Role::KeyHolder, Role::Admin], "exporting the history")?;
    let from = q.from.unwrap_or(1).max(1);
    crate::bootstrap::check_export(&st.store, from).await?;
    let limit = q.limit.unwrap_or(1000).clamp(1, 1000);
    let rows =
        st.store.blocks(i64::try_from(from).unwrap_or(i64::MAX), i64::try_from(limit + 1).unwrap_or(1001)).await?;
    let more = rows.len() as u64 > limit;
    let blocks = rows
        .into_iter()
        .take(usize::try_from(limit).unwrap_or(1000))
        .map(|(height, b)| {
            b.parse::<HexBytes>().map_err(|e| ApiError::internal(format!("stored block {height} is corrupt: {e}")))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let next = more.then(|| from + blocks.len() as u64);
    Ok(Json(AuditOut { genesis: st.genesis.clone(), blocks, from, next }))
}
