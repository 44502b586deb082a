//! The deployment, the cluster, the gateway's own state and the audit export.

use crate::wire::HexBytes;
use box_core::Address;
use box_core::ids::{ChainId, DeploymentId, FlowHash};
use box_core::typed::Genesis;
use serde::{Deserialize, Serialize};

/// The deployment this gateway serves: what clients sign under. A client
/// compares it with the genesis it was given; it proves nothing by itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentOut {
    /// EIP-712 domain name.
    pub domain_name: String,
    /// EIP-712 domain version.
    pub domain_version: String,
    /// Public chain id (domain chainId).
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub chain_id: ChainId,
    /// Deployment id (domain salt).
    #[serde(with = "crate::wire::hash")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub deployment_id: DeploymentId,
    /// Key holders.
    #[serde(with = "crate::wire::eip55_vec")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub key_holders: Vec<Address>,
    /// The signer's address.
    #[serde(with = "crate::wire::eip55")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub signer: Address,
}

/// One node's view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeOut {
    /// Raft id.
    pub id: u64,
    /// Endpoint.
    pub endpoint: String,
    /// Whether it answered.
    pub reachable: bool,
    /// Why not.
    pub error: Option<String>,
    /// The leader it names (0 = none).
    pub leader: u64,
    /// Its latest sealed block.
    pub height: u64,
    /// Last applied log index.
    pub last_applied: u64,
    /// Voters.
    pub voters: Vec<u64>,
    /// Learners.
    pub learners: Vec<u64>,
    /// Its node account; `null` when it did not answer (or named no usable address).
    #[serde(with = "crate::wire::eip55_opt")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub account: Option<Address>,
    /// Entries not yet sealed.
    pub unsealed: u64,
}

/// The cluster as its nodes see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterOut {
    /// Each node.
    pub nodes: Vec<NodeOut>,
    /// The leader most reachable nodes name, if any.
    pub leader: Option<u64>,
}

/// The gateway's own state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatusOut {
    /// Blocks verified and replayed by the gateway.
    pub verified_height: u64,
    /// The greatest height a node claims to hold that the gateway still
    /// believes (a node caught claiming more than it serves loses its
    /// claim), at least `verified_height`; refreshed every 0.5 s.
    pub latest_height: u64,
    /// Why transfers are paused, if they are.
    pub paused: Option<String>,
    /// Subjects accepted but not yet taken by a node.
    pub outbox_pending: u64,
    /// Registered assets for people: `ETH` and ERC-20 symbols with their contract.
    pub assets: Vec<String>,
    /// Employees frozen by governance (their applications and notarized
    /// transfers are refused), EIP-55.
    #[serde(with = "crate::wire::eip55_vec")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub frozen: Vec<Address>,
    /// Destinations blocked by governance, EIP-55.
    #[serde(with = "crate::wire::eip55_vec")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub blocked: Vec<Address>,
    /// The node registry at the verified height (genesis plus notarized
    /// node changes), by node id: whose votes count. Empty from a gateway
    /// that predates this field.
    #[serde(default)]
    pub nodes: Vec<RegisteredNodeOut>,
    /// Votes a subject needs at the verified height: a strict majority of
    /// `nodes` (0 from a gateway that predates this field).
    #[serde(default)]
    pub quorum: u64,
    /// The governed address book (what flows with `addressBookOnly` may pay).
    #[serde(default)]
    pub address_book: Vec<AddressBookOut>,
}

/// One destination in the governed address book, as the verified chain
/// holds it (`GET /v1/address-book`). Listed by every key holder, removed
/// by one; read only by flows with `addressBookOnly`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddressBookOut {
    /// The destination, EIP-55.
    #[serde(with = "crate::wire::eip55")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub address: Address,
    /// What people call it.
    pub label: String,
    /// The one flow it is listed for; `null`: every flow.
    #[serde(with = "crate::wire::hash_opt")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub flow: Option<FlowHash>,
}

/// A registered node account, as the gateway verified it from the genesis
/// and the notarized node changes (not the node's own word).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisteredNodeOut {
    /// Its raft id (`box:node:<id>` in its certificate).
    pub id: u64,
    /// Where it listens (host:port), as registered.
    pub endpoint: String,
    /// Its node account, EIP-55.
    #[serde(with = "crate::wire::eip55")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub account: Address,
}

/// An ERC-20 contract as the gateway's Ethereum node reads it now
/// (`GET /v1/tokens/{address}`): what a key holder checks before signing
/// its registration. The gateway's word only: the signed registration
/// carries the symbol and decimals the key holders saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenOut {
    /// The contract, EIP-55.
    #[serde(with = "crate::wire::eip55")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub token: Address,
    /// `symbol()`.
    pub symbol: String,
    /// `decimals()`.
    pub decimals: u8,
    /// Whether the verified chain registers it already.
    pub registered: bool,
}

/// The audit export: verify with `box_core::audit::verify_history(genesis, blocks)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditOut {
    /// The genesis (JSON, as the nodes read it).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub genesis: Genesis,
    /// Sealed blocks from `from`, each box-core canonical bytes, 0x hex.
    pub blocks: Vec<HexBytes>,
    /// Height of the first block.
    pub from: u64,
    /// The height to ask from next, when more blocks remain.
    pub next: Option<u64>,
}

/// Paging for the audit export (the query string of `GET /v1/audit/export`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditQuery {
    /// First height (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<u64>,
    /// Most blocks (default and maximum 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}
