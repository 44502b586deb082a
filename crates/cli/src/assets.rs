//! Assets as people name them (`ETH`, a token symbol, or a contract address)
//! and amounts as people write them (`1.5`), turned into what is signed
//! (an asset address and base units), and back for display.
//!
//! Where the decimals come from: ETH has 18; tokens registered at genesis
//! carry theirs in the pinned genesis; tokens registered later are listed by
//! the gateway (symbol and contract), with their decimals in the wallet view
//! for the roles that may read it (key holders, admins, auditors). A token
//! whose decimals are unknown is shown in base units, never guessed.

use crate::error::{CliError, CliResult};
use box_core::address::parse_address;
use box_core::amount::Decimal;
use box_core::typed::Genesis;
use box_core::{Address, Amount, U256};
use serde::Serialize;

/// One asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssetInfo {
    /// Display symbol.
    pub symbol: String,
    /// The address that stands for it in signed objects (`address(0)` for ETH).
    pub address: Address,
    /// Decimals of its base unit, when known.
    pub decimals: Option<u8>,
}

/// The assets boxctl knows of.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AssetBook {
    assets: Vec<AssetInfo>,
}

impl AssetBook {
    /// ETH and the genesis's tokens.
    pub fn from_genesis(g: &Genesis) -> Self {
        let mut assets = vec![AssetInfo { symbol: "ETH".into(), address: Address::ZERO, decimals: Some(18) }];
        for a in &g.assets {
            assets.push(AssetInfo { symbol: a.symbol.clone(), address: a.token, decimals: Some(a.decimals) });
        }
        Self { assets }
    }

    /// Adds the gateway's list (`"ETH"`, `"SYM (0xContract)"`); entries already known are kept as they are.
    pub fn add_listed(&mut self, listed: &[String]) {
        for s in listed {
            let Some((symbol, rest)) = s.split_once(" (") else { continue };
            let Ok(address) = parse_address(rest.trim_end_matches(')')) else { continue };
            if self.by_address(&address).is_none() {
                self.assets.push(AssetInfo { symbol: symbol.trim().to_owned(), address, decimals: None });
            }
        }
    }

    /// Sets the decimals of `address` (read from its contract).
    pub fn set_decimals(&mut self, address: &Address, decimals: u8) {
        if let Some(a) = self.assets.iter_mut().find(|a| a.address == *address) {
            a.decimals = Some(decimals);
        }
    }

    /// Every known asset.
    pub fn all(&self) -> &[AssetInfo] {
        &self.assets
    }

    /// The asset at `address`.
    pub fn by_address(&self, address: &Address) -> Option<&AssetInfo> {
        self.assets.iter().find(|a| a.address == *address)
    }

    /// `ETH`, a symbol (case-insensitive, must be unambiguous) or a contract address.
    pub fn resolve(&self, name: &str) -> CliResult<AssetInfo> {
        let name = name.trim();
        if name.starts_with("0x") || name.starts_with("0X") {
            let address = parse_address(name).map_err(|e| CliError::usage(format!("asset: {e}")))?;
            return self
                .by_address(&address)
                .cloned()
                .ok_or_else(|| CliError::usage(format!("asset {name} is not registered ({})", self.known())));
        }
        let found: Vec<&AssetInfo> = self.assets.iter().filter(|a| a.symbol.eq_ignore_ascii_case(name)).collect();
        match found.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(CliError::usage(format!("asset {name:?} is not registered ({})", self.known()))),
            _ => Err(CliError::usage(format!(
                "asset symbol {name:?} is ambiguous ({}); name the contract address instead",
                found.iter().map(|a| a.address.to_checksum(None)).collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    fn known(&self) -> String {
        format!("known: {}", self.assets.iter().map(|a| a.symbol.as_str()).collect::<Vec<_>>().join(", "))
    }

    /// Parses `amount` in whole units of `asset` into base units, with
    /// box-core's one amount grammar (plain decimals; see [`Decimal`]).
    pub fn parse_amount(&self, asset: &AssetInfo, amount: &str) -> CliResult<U256> {
        let d = Decimal::parse(amount).map_err(|e| CliError::usage(format!("amount: {e}")))?;
        self.to_base_units(asset, &d)
    }

    /// Scales a parsed amount by `asset`'s decimals (more fractional digits
    /// than it has are refused).
    pub fn to_base_units(&self, asset: &AssetInfo, amount: &Decimal) -> CliResult<U256> {
        let decimals = asset.decimals.ok_or_else(|| {
            CliError::usage(format!(
                "the decimals of {} ({}) are unknown to this identity (the gateway shows them to key holders, admins and auditors)",
                asset.symbol,
                asset.address.to_checksum(None)
            ))
        })?;
        amount.to_amount(decimals).map(|a| a.0).map_err(|e| CliError::usage(format!("amount: {e}")))
    }

    /// `1.5 ETH`, or `N base units of 0x…` when the asset or its decimals are unknown.
    pub fn format(&self, asset: &Address, amount: U256) -> String {
        match self.by_address(asset) {
            Some(AssetInfo { symbol, decimals: Some(d), .. }) => format!("{} {symbol}", Amount(amount).format(*d)),
            Some(AssetInfo { symbol, decimals: None, .. }) => format!("{amount} base units of {symbol}"),
            None => format!("{amount} base units of {}", asset.to_checksum(None)),
        }
    }
}

/// The assets of the session's deployment: ETH, the genesis's tokens and the
/// gateway's list, with the decimals of tokens registered after the genesis
/// from the chain's registry (`/v1/assets`).
pub async fn load(s: &crate::session::Session) -> CliResult<AssetBook> {
    let mut book = AssetBook::from_genesis(s.genesis());
    let client = s.client().await?;
    let status = client.status().await?;
    book.add_listed(&status.assets);
    if book.all().iter().any(|a| a.decimals.is_none()) {
        // Decimals from the chain's registry, readable by everyone registered.
        for a in client.assets().await? {
            book.set_decimals(&a.asset, a.decimals);
        }
    }
    Ok(book)
}

#[cfg(test)]
mod tests {
    use super::*;
    use box_core::typed::GenesisAsset;

    fn book() -> AssetBook {
        let g = Genesis {
            deploymentId: box_core::B256::ZERO,
            chainId: 1,
            keyHolders: vec![],
            nodes: vec![],
            signer: Address::ZERO,
            assets: vec![GenesisAsset { token: Address::repeat_byte(0x11), symbol: "USDC".into(), decimals: 6 }],
            time: 0,
        };
        let mut b = AssetBook::from_genesis(&g);
        let late = Address::repeat_byte(0x22).to_checksum(None);
        b.add_listed(&["ETH".into(), format!("USDC ({})", Address::repeat_byte(0x11)), format!("BOXT ({late})")]);
        b
    }

    #[test]
    fn symbols_addresses_and_decimals() {
        let b = book();
        let eth = b.resolve("eth").unwrap();
        assert_eq!(b.parse_amount(&eth, "1.5").unwrap(), U256::from(1_500_000_000_000_000_000u128));
        let usdc = b.resolve("USDC").unwrap();
        assert_eq!(usdc.address, Address::repeat_byte(0x11));
        assert_eq!(b.parse_amount(&usdc, "250").unwrap(), U256::from(250_000_000u64));
        assert!(b.parse_amount(&usdc, "0.0000001").unwrap_err().to_string().contains("decimal places"));
        assert!(b.parse_amount(&eth, "-1").is_err());
        assert!(b.parse_amount(&eth, "1,5").is_err());
        for bad in ["1e18", " 1", "1 ", "0x10", "+1"] {
            assert!(b.parse_amount(&eth, bad).is_err(), "{bad}");
        }
        assert_eq!(b.format(&Address::ZERO, U256::from(1_500_000_000_000_000_000u128)), "1.5 ETH");
        assert_eq!(b.format(&usdc.address, U256::from(250_000_000u64)), "250 USDC");
        // A token listed by the gateway: known by symbol, decimals unknown until the wallet view gives them.
        let mut b2 = b.clone();
        let t = b2.resolve("boxt").unwrap();
        assert!(b2.parse_amount(&t, "1").unwrap_err().to_string().contains("decimals of BOXT"));
        assert_eq!(b2.format(&t.address, U256::from(7u8)), "7 base units of BOXT");
        b2.set_decimals(&t.address, 18);
        assert_eq!(
            b2.parse_amount(&b2.resolve("BOXT").unwrap(), "250").unwrap(),
            U256::from(250u64) * U256::from(10u64).pow(U256::from(18u64))
        );
        assert!(b.resolve("DOGE").unwrap_err().to_string().contains("known: ETH, USDC, BOXT"));
        assert_eq!(b.resolve(&Address::repeat_byte(0x11).to_checksum(None)).unwrap().symbol, "USDC");
        assert!(b.resolve("0x1234").is_err());
    }
}
