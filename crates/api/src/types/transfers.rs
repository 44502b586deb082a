//! Applications, nested approvals and transfers.

use crate::eip712_json::TransferRequestJson;
use crate::status::{CollectionState, TransferState};
use crate::types::RelayOut;
use crate::wire::{BaseUnits, SignatureHex};
use box_core::ids::{FlowHash, TransferId};
use box_core::{Address, B256};
use serde::{Deserialize, Serialize};

/// Apply for a transfer (employee).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApplyIn {
    /// The request.
    pub request: TransferRequestJson,
    /// The applicant's signature over its EIP-712 signing hash.
    pub signature: SignatureHex,
}

/// Approve at a level (approver).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApproveIn {
    /// The level, 1-based; must be the open level.
    pub level: u32,
    /// The approver's signature over EIP-712 `Approval { request, level, below }`,
    /// with `below` computed by the client from the signatures it was shown.
    pub signature: SignatureHex,
}

/// Reject (an approver of the open level).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RejectIn {
    /// Why, for the applicant.
    pub reason: String,
}

/// One approver's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignatureOut {
    /// The approver.
    #[serde(with = "crate::wire::eip55")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub approver: Address,
    /// Their signature.
    pub signature: SignatureHex,
}

/// One level's progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LevelProgress {
    /// 1-based.
    pub level: u32,
    /// Name.
    pub name: String,
    /// Required approvals.
    pub threshold: u32,
    /// Who may approve.
    #[serde(with = "crate::wire::eip55_vec")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub approvers: Vec<Address>,
    /// Signatures collected, ascending by approver address.
    pub signatures: Vec<SignatureOut>,
    /// Closed: the threshold is met and the level above may sign.
    pub complete: bool,
}

/// Where a transfer stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransferStatusOut {
    /// `collecting`, `rejected_by_approver`, `queued` (accepted, not yet on the
    /// chain), `refused_by_chain`, and from the chain: `submitted`, `notarized`,
    /// `broadcast`, `confirmed`, `rejected`, `refused`, `failed`.
    pub state: TransferState,
    /// The reason, for the rejected, refused and failed states.
    pub reason: Option<String>,
    /// The public transaction, once broadcast.
    #[serde(with = "crate::wire::hash_opt")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub tx_hash: Option<B256>,
    /// Its nonce.
    pub nonce: Option<u64>,
    /// For the confirmed state: what the signer's confirmed report adds, in
    /// the token's units with its symbol, e.g. `shortfall: delivered 247.5 of
    /// 250 FEE; 2.5 FEE did not arrive (the token takes a fee on transfer)`
    /// for a token that keeps a fee; absent when it added nothing. The
    /// signer's word as the chain records it.
    #[serde(default)]
    pub detail: Option<String>,
}

impl TransferStatusOut {
    /// Just a state.
    pub fn of(state: TransferState) -> Self {
        Self { state, reason: None, tx_hash: None, nonce: None, detail: None }
    }
}

/// A transfer in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransferSummary {
    /// Transfer id.
    #[serde(with = "crate::wire::hash")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub id: TransferId,
    /// Flow.
    #[serde(with = "crate::wire::hash")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub flow_hash: FlowHash,
    /// Applicant.
    #[serde(with = "crate::wire::eip55")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub applicant: Address,
    /// Asset.
    #[serde(with = "crate::wire::eip55")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub asset: Address,
    /// Destination.
    #[serde(with = "crate::wire::eip55")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub to: Address,
    /// Base units, decimal.
    pub amount: BaseUnits,
    /// The open level while collecting.
    pub open_level: Option<u32>,
    /// Where it stands.
    pub status: TransferStatusOut,
    /// When it was applied for.
    pub created_at: i64,
}

/// A transfer with its approval progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransferOut {
    /// Transfer id (EIP-712 hash of the request).
    #[serde(with = "crate::wire::hash")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub id: TransferId,
    /// The signed request.
    pub request: TransferRequestJson,
    /// The applicant's signature.
    pub applicant_signature: SignatureHex,
    /// The amount in whole units with the asset's symbol, e.g. `1.5 ETH`, if the asset is registered.
    pub display_amount: Option<String>,
    /// Progress per level.
    pub levels: Vec<LevelProgress>,
    /// The level that may sign now, while collecting.
    pub open_level: Option<u32>,
    /// Where it stands.
    pub status: TransferStatusOut,
    /// Who rejected it (an approver), if so.
    #[serde(with = "crate::wire::eip55_opt")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub rejected_by: Option<Address>,
    /// The relay to the chain, once complete.
    pub relay: Option<RelayOut>,
    /// When it was applied for.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
}

/// Filters for listing transfers (the query string of `GET /v1/transfers`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransferQuery {
    /// Only this applicant's (employees always see only their own).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::wire::eip55_opt")]
    #[cfg_attr(feature = "openapi", param(value_type = Option<String>))]
    pub applicant: Option<Address>,
    /// Only this local state: `collecting`, `submitting`, `rejected`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(inline))]
    pub state: Option<CollectionState>,
    /// Only this flow's.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::wire::hash_opt")]
    #[cfg_attr(feature = "openapi", param(value_type = Option<String>))]
    pub flow: Option<FlowHash>,
    /// Page size, 1 to 500 (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// Skip this many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
}
