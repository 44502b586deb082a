//! People, roles and the key escrow.

use crate::roles::Role;
use box_core::ids::TransferId;
use box_core::{Address, B256};
use serde::{Deserialize, Serialize};

/// Register or update a person (admin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PersonIn {
    /// Their address (their own key).
    #[serde(with = "crate::wire::eip55")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub address: Address,
    /// Display name.
    pub name: String,
    /// Any of `employee`, `approver`, `auditor`.
    pub roles: Vec<Role>,
}

/// A registered person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PersonOut {
    /// Address (EIP-55).
    #[serde(with = "crate::wire::eip55")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub address: Address,
    /// Display name.
    pub name: String,
    /// Registered roles.
    pub roles: Vec<Role>,
    /// The admin who registered them.
    #[serde(with = "crate::wire::eip55")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub registered_by: Address,
    /// When (Unix seconds).
    pub registered_at: i64,
}

/// Who the caller is, as the registry knows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MeOut {
    /// The caller's address.
    #[serde(with = "crate::wire::eip55")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub address: Address,
    /// Display name, if registered.
    pub name: Option<String>,
    /// Every role: registered, key holder (genesis), admin (config).
    pub roles: Vec<Role>,
}

/// Upload an encrypted key file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EscrowIn {
    /// An Ethereum keystore v3 JSON object, encrypted by the client. The
    /// gateway never sees the password.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub keystore: serde_json::Value,
    /// For a key issued to someone else: keccak256 of the 32-byte download
    /// token (0x hex) the admin hands over with the password. The keystore can
    /// then be claimed once, unsigned, with the token (`POST
    /// /v1/people/{address}/keystore/claim`); afterwards only signed reads
    /// serve it. Without one, only signed reads ever serve it.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::wire::hash_opt")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub download_token_hash: Option<B256>,
}

/// Claim an issued keystore once, with its download token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimIn {
    /// The 32-byte download token, 0x + 64 hex digits.
    #[serde(with = "crate::wire::hash")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub token: B256,
}

/// An escrowed key file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EscrowOut {
    /// Whose key.
    #[serde(with = "crate::wire::eip55")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub address: Address,
    /// The keystore v3 JSON, as uploaded.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub keystore: serde_json::Value,
    /// Who uploaded it.
    #[serde(with = "crate::wire::eip55")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub uploaded_by: Address,
    /// When.
    pub uploaded_at: i64,
}

/// Offboard a person (key holder or admin): their escrowed keystore is
/// revoked and every application of theirs still collecting approvals is
/// cancelled with `reason`. The freeze that stops what is already on the
/// chain is a governance action a key holder signs besides
/// (`boxctl keyholder offboard` does both).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OffboardIn {
    /// Why (shown to the person on each cancelled application).
    pub reason: String,
}

/// What offboarding did at the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OffboardOut {
    /// The person (EIP-55).
    #[serde(with = "crate::wire::eip55")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub address: Address,
    /// Whether an escrowed keystore was revoked (deleted).
    pub keystore_revoked: bool,
    /// The applications cancelled (they were collecting approvals).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub cancelled: Vec<TransferId>,
}
