//! Approval flows, key-holder authorizations and governance actions.

use crate::eip712_json::FlowJson;
use crate::status::{FlowState, GovernanceState, Needs, RelayOutcome};
use crate::wire::{HexBytes, SignatureHex};
use box_core::ids::{FlowHash, SubjectId};
use box_core::{Address, B256};
use serde::{Deserialize, Serialize};

/// Draft a flow (admin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FlowIn {
    /// The flow.
    pub flow: FlowJson,
}

/// Where a queued subject stands in the relay to the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RelayOut {
    /// The chain subject id.
    #[serde(with = "crate::wire::hash")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub subject_id: SubjectId,
    /// When the gateway accepted it.
    pub queued_at: i64,
    /// Submission attempts so far.
    pub attempts: i64,
    /// Why the last attempt failed, while no node has taken it.
    pub last_error: Option<String>,
    /// When a node accepted it.
    pub relayed_at: Option<i64>,
    /// `submitted`, `duplicate` or `refused: <reason>`.
    pub outcome: Option<RelayOutcome>,
}

/// A flow and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FlowOut {
    /// The flow hash (its identity; EIP-712 signing hash).
    #[serde(with = "crate::wire::hash")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub hash: FlowHash,
    /// The flow.
    pub flow: FlowJson,
    /// `draft`, `queued`, `submitted`, `notarized`, `authorized`, `active`,
    /// `disabled`, `rejected` or `refused` (by the chain at submission).
    pub status: FlowState,
    /// Key holders whose enable is notarized.
    #[serde(with = "crate::wire::eip55_vec")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub enabled_by: Vec<Address>,
    /// The anchoring transaction on the public chain, once active.
    #[serde(with = "crate::wire::hash_opt")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub anchor_tx: Option<B256>,
    /// The admin who drafted it.
    #[serde(with = "crate::wire::eip55")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub created_by: Address,
    /// When.
    pub created_at: i64,
    /// The relay of its submission.
    pub relay: Option<RelayOut>,
}

/// A key holder's signed `enable(flowHash)` or `disable(flowHash)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthorizationIn {
    /// `true` to enable, `false` to disable.
    pub enable: bool,
    /// The key holder's signature over EIP-712 `FlowAuthorization { flowHash, enable }`.
    pub signature: SignatureHex,
}

/// Accepted for the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueuedOut {
    /// The chain subject id.
    #[serde(with = "crate::wire::hash")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub subject_id: SubjectId,
}

/// A key holder's signature on a governance action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GovernanceIn {
    /// The action: box-core canonical bytes of `FreezeEmployee`,
    /// `BlockDestination`, `RegisterAsset` or `PauseTransfers`, 0x hex.
    pub action: HexBytes,
    /// The key holder's signature over the action's EIP-712 signing hash.
    pub signature: SignatureHex,
}

/// A governance action and its signatures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GovernanceOut {
    /// The action's signing hash.
    #[serde(with = "crate::wire::hash")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub hash: B256,
    /// What it does.
    pub description: String,
    /// The canonical action bytes, 0x hex.
    pub action: HexBytes,
    /// Key holders who signed.
    #[serde(with = "crate::wire::eip55_vec")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub signers: Vec<Address>,
    /// `any_key_holder` or `all_key_holders`.
    pub needs: Needs,
    /// How many signatures it needs in all (1, or every key holder).
    pub required: u32,
    /// The key holders who still have to sign (empty once it has enough).
    #[serde(with = "crate::wire::eip55_vec")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub waiting_for: Vec<Address>,
    /// Where it stands.
    pub state: GovernanceState,
    /// Why the nodes refused it, when they did.
    pub rejection: Option<String>,
    /// The relay, once the signatures suffice.
    pub relay: Option<RelayOut>,
}

/// Which governance actions `GET /v1/governance` lists (its query string).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GovernanceQuery {
    /// `true`: only the actions still collecting signatures (read from an
    /// index of them: the cost follows what is open, not the history);
    /// otherwise every action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<bool>,
}
