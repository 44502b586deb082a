//! The key-ceremony relay, the signer's announcement and the hot wallet.

use crate::status::RelayOutcome;
use crate::wire::{BaseUnits, HexBytes, SignatureHex};
use box_core::ceremony::SignerState;
use box_core::{Address, B256};
use serde::{Deserialize, Serialize};

/// A key holder device's ceremony message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CeremonyIn {
    /// box-core canonical bytes of the entry (a signed `CeremonyMessage`
    /// whose payload is HPKE-sealed to the signer's ceremony key), 0x hex.
    pub entry: HexBytes,
}

/// The chain's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CeremonyOut {
    /// What the log said when it took the entry.
    pub outcome: RelayOutcome,
}

/// The signer's signed announcement, as the verified chain holds it. Every
/// signed field is here, so a client can check the signature against the
/// signer of its own genesis (the gateway's word is not enough).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignerOut {
    /// This boot's id: the challenge ceremony messages answer.
    #[serde(with = "crate::wire::hash")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub boot: B256,
    /// Only grows.
    pub sequence: u64,
    /// `awaiting_enrolment`, `awaiting_genesis`, `sealed`, `unsealed` or
    /// `locked`; `null` for a state this gateway does not know.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub state: Option<SignerState>,
    /// The per-boot X25519 ceremony public key, 0x hex.
    pub ceremony_key: HexBytes,
    /// The hot wallet (address(0) until derived).
    #[serde(with = "crate::wire::eip55")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub wallet: Address,
    /// Enrolled key-holder devices.
    #[serde(with = "crate::wire::eip55_vec")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub devices: Vec<Address>,
    /// Key holders.
    pub holders: u8,
    /// Phrases received in this ceremony.
    pub received: u8,
    /// Whether transfers are paused.
    pub paused: bool,
    /// The signer's note.
    pub detail: String,
    /// When it announced (Unix seconds, its clock).
    pub time: u64,
    /// The signer's signature over the announcement.
    pub signature: SignatureHex,
    /// The gateway's verified height that holds it.
    pub verified_height: u64,
}

/// One balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BalanceOut {
    /// Asset address (address(0) = ETH).
    #[serde(with = "crate::wire::eip55")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub asset: Address,
    /// Symbol.
    pub symbol: String,
    /// Decimals.
    pub decimals: u8,
    /// Base units, decimal.
    pub balance: BaseUnits,
    /// Whole units with the symbol, e.g. `1.5 ETH`.
    pub display: String,
}

/// The hot wallet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WalletOut {
    /// Its address, from the signer's announcement.
    #[serde(with = "crate::wire::eip55")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub wallet: Address,
    /// The signer's announced state (`null` for a state this gateway does not know).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub signer_state: Option<SignerState>,
    /// ETH first, then every registered ERC-20.
    pub balances: Vec<BalanceOut>,
}
