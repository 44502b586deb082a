//! Wallet-signable typed data (`…/typed-data`) and the asset registry
//! (`/assets`): what a client needs to sign with a wallet and to turn whole
//! units into base units.
//!
//! Each typed-data document is the standard `eth_signTypedData_v4` JSON
//! (`types`, `primaryType`, `domain`, `message`) that box-core's `typed_data`
//! writes; it travels as JSON because a wallet takes it as it is. It is the
//! gateway's word: a client compares it with what it builds from fields it
//! verified before it signs (the web console and `boxctl --typed-data` do).

use crate::eip712_json::TransferRequestJson;
use crate::wire::HexBytes;
use box_core::ids::{FlowHash, TransferId};
use box_core::{Address, B256};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One registered asset, as the verified chain holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssetOut {
    /// `address(0)` for ETH, else the token contract.
    #[serde(with = "crate::wire::eip55")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub asset: Address,
    /// Symbol, e.g. `ETH`, `USDC`.
    pub symbol: String,
    /// Decimals: one whole unit is 10^decimals base units.
    pub decimals: u8,
}

/// The deployment's EIP-712 domain and every struct a person signs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TypedDataCatalogue {
    /// The `domain` object: `name`, `version`, `chainId` (a JSON number), `salt` (0x hex).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub domain: Value,
    /// The `types` object: `EIP712Domain`, `ApiRequest`, `TransferRequest`,
    /// `Approval`, `FlowAuthorization`, `BoxFlow` and its parts, and the
    /// governance actions.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub types: Value,
}

/// An application to be signed: the body of `POST /transfers` without the signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransferRequestIn {
    /// The request.
    pub request: TransferRequestJson,
}

/// What a person signs about one transfer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransferTypedData {
    /// The transfer id: the EIP-712 digest of `request`.
    #[serde(with = "crate::wire::hash")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub id: TransferId,
    /// `eth_signTypedData_v4` JSON of the `TransferRequest` (what the applicant signed).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub request: Value,
    /// The level that may sign now, while collecting.
    pub open_level: Option<u32>,
    /// `eth_signTypedData_v4` JSON of the `Approval` an approver of the open
    /// level signs, `below` computed from the signatures shown with the
    /// transfer. Absent once the transfer no longer collects approvals.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub approval: Option<Value>,
}

/// What a key holder signs about one flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FlowTypedData {
    /// The flow hash: the EIP-712 digest of `flow`.
    #[serde(with = "crate::wire::hash")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub hash: FlowHash,
    /// `eth_signTypedData_v4` JSON of the `BoxFlow` itself (its digest is its hash).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub flow: Value,
    /// `eth_signTypedData_v4` JSON of `FlowAuthorization { flowHash, enable }`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub authorization: Value,
}

/// Which authorization of a flow to show (the query string of
/// `GET /v1/flows/{hash}/typed-data`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthorizationQuery {
    /// `true` (default) for `enable(flowHash)`, `false` for `disable(flowHash)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable: Option<bool>,
}

/// A governance action to sign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GovernanceTypedData {
    /// The action's EIP-712 signing hash (its identity at `GET /governance/{hash}`).
    #[serde(with = "crate::wire::hash")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub hash: B256,
    /// box-core canonical bytes of the action, 0x hex: what `POST /governance` takes.
    pub action: HexBytes,
    /// `eth_signTypedData_v4` JSON of the action.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub typed_data: Value,
}

/// The governance actions a key holder drafts through typed data, by their
/// EIP-712 struct name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum GovernanceKind {
    /// Freeze or unfreeze an employee.
    FreezeEmployee,
    /// Block or unblock a destination.
    BlockDestination,
    /// Register or unregister an ERC-20 token.
    RegisterAsset,
    /// Pause (or resume) every transfer.
    PauseTransfers,
    /// List (or remove) a destination in the address book.
    AddressBookEntry,
}

/// A governance action drafted by a key holder, in the typed-data form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GovernanceDraftIn {
    /// `FreezeEmployee`, `BlockDestination`, `RegisterAsset`, `PauseTransfers` or `AddressBookEntry`.
    pub primary_type: GovernanceKind,
    /// The struct's fields, as in the typed data's `message`
    /// (e.g. `{"paused": true, "reason": "…", "nonce": 7}`).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub message: Value,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn a_draft_names_a_governance_action_or_is_refused() {
        let d: GovernanceDraftIn =
            serde_json::from_value(json!({ "primaryType": "PauseTransfers", "message": { "paused": true } })).unwrap();
        assert_eq!(d.primary_type, GovernanceKind::PauseTransfers);
        let e = serde_json::from_value::<GovernanceDraftIn>(json!({ "primaryType": "Approval", "message": {} }))
            .unwrap_err()
            .to_string();
        assert!(e.contains("PauseTransfers") && e.contains("Approval"), "{e}");
    }

    #[test]
    fn ids_and_addresses_travel_as_the_api_writes_them() {
        let a = AssetOut { asset: Address::ZERO, symbol: "ETH".into(), decimals: 18 };
        assert_eq!(
            serde_json::to_value(&a).unwrap(),
            json!({ "asset": "0x0000000000000000000000000000000000000000", "symbol": "ETH", "decimals": 18 })
        );
        let id = TransferId(B256::repeat_byte(0xAB));
        let t = TransferTypedData { id, request: json!({}), open_level: Some(1), approval: None };
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["id"], json!(id.to_string()));
        assert_eq!(serde_json::from_value::<TransferTypedData>(v).unwrap(), t);
        let bad = json!({ "id": "0x12", "request": {}, "openLevel": null, "approval": null });
        assert!(serde_json::from_value::<TransferTypedData>(bad).is_err(), "an id of the wrong length");
    }
}
