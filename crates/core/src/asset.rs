//! Assets: ETH and the ERC-20 tokens in the governed registry.

use crate::amount::MAX_DECIMALS;
use alloy::primitives::Address;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An asset BOX can move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Asset {
    /// Ether, 18 decimals; `address(0)` in signed objects.
    Eth,
    /// A registered ERC-20 token.
    Erc20 {
        /// The token contract.
        contract: Address,
        /// Ticker, for display only; never used to identify the asset.
        symbol: String,
        /// Decimals of the token's base unit.
        decimals: u8,
    },
}

impl Asset {
    /// The address that stands for this asset in signed objects.
    pub fn address(&self) -> Address {
        match self {
            Self::Eth => Address::ZERO,
            Self::Erc20 { contract, .. } => *contract,
        }
    }

    /// Display symbol.
    pub fn symbol(&self) -> &str {
        match self {
            Self::Eth => "ETH",
            Self::Erc20 { symbol, .. } => symbol,
        }
    }

    /// Decimals.
    pub fn decimals(&self) -> u8 {
        match self {
            Self::Eth => 18,
            Self::Erc20 { decimals, .. } => *decimals,
        }
    }
}

/// Why an asset cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssetError {
    /// `address(0)` is ETH.
    #[error("address(0) stands for ETH and cannot be registered as a token")]
    ZeroAddress,
    /// Bad symbol.
    #[error("token symbol {0:?} must be 1 to 16 printable ASCII characters")]
    BadSymbol(String),
    /// Bad decimals.
    #[error("token declares {0} decimals; at most {MAX_DECIMALS} are supported")]
    BadDecimals(u8),
}

/// The governed set of assets; ETH is always in it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AssetRegistry {
    tokens: BTreeMap<Address, Asset>,
}

impl AssetRegistry {
    /// Looks up an asset by its signed-object address.
    pub fn get(&self, address: &Address) -> Option<Asset> {
        if address.is_zero() { Some(Asset::Eth) } else { self.tokens.get(address).cloned() }
    }

    /// Validates and builds an ERC-20 entry.
    pub fn erc20(contract: Address, symbol: &str, decimals: u8) -> Result<Asset, AssetError> {
        if contract.is_zero() {
            return Err(AssetError::ZeroAddress);
        }
        if symbol.is_empty() || symbol.len() > 16 || !symbol.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(AssetError::BadSymbol(symbol.to_owned()));
        }
        if decimals > MAX_DECIMALS {
            return Err(AssetError::BadDecimals(decimals));
        }
        Ok(Asset::Erc20 { contract, symbol: symbol.to_owned(), decimals })
    }

    /// Adds or replaces a token.
    pub fn insert(&mut self, asset: Asset) {
        if let Asset::Erc20 { contract, .. } = &asset {
            self.tokens.insert(*contract, asset);
        }
    }

    /// Removes a token; ETH cannot be removed.
    pub fn remove(&mut self, contract: &Address) -> bool {
        self.tokens.remove(contract).is_some()
    }

    /// All assets, ETH first.
    pub fn all(&self) -> Vec<Asset> {
        std::iter::once(Asset::Eth).chain(self.tokens.values().cloned()).collect()
    }
}
