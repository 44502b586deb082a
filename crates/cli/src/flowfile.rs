//! Approval flows written as TOML (see the crate README for the format):
//! addresses as EIP-55 strings, limits in whole units of the named asset as
//! decimal strings, periods as `1d`, `12h`, `30m`, `90s` or seconds.

use crate::assets::AssetBook;
use crate::error::{CliError, CliResult};
use box_core::address::parse_address;
use box_core::typed::{ApprovalLevel, AssetLimit, BoxFlow, Domain};
use box_core::{Address, U256};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FlowToml {
    name: String,
    #[serde(default = "one")]
    nonce: u64,
    employees: Vec<String>,
    #[serde(default)]
    levels: Vec<LevelToml>,
    #[serde(default)]
    limits: Vec<LimitToml>,
    /// Every destination must be in the governed address book.
    #[serde(default)]
    address_book_only: bool,
}

fn one() -> u64 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LevelToml {
    name: String,
    approvers: Vec<String>,
    threshold: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitToml {
    asset: String,
    per_transfer: Number,
    per_period: Number,
    #[serde(default)]
    period: Option<Period>,
    #[serde(default)]
    period_seconds: Option<u64>,
    /// The most one transfer of this asset may spend on fees, in ETH.
    max_fee: Number,
}

/// An amount as written: a string, or an integer (a float would lose precision and is refused).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Number {
    Text(String),
    Int(u64),
    Float(#[allow(dead_code)] f64),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Period {
    Text(String),
    Seconds(u64),
}

/// Parses `1d`, `12h`, `30m`, `90s` or a number of seconds.
pub fn parse_period(s: &str) -> CliResult<u64> {
    let s = s.trim();
    let bad = || CliError::usage(format!("period {s:?} is not a duration (e.g. \"1d\", \"12h\", \"30m\", \"3600s\")"));
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let mul = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(mul).ok_or_else(bad)
}

fn address(field: &str, s: &str) -> CliResult<Address> {
    parse_address(s).map_err(|e| CliError::usage(format!("{field}: {e}")))
}

fn amount(book: &AssetBook, asset: &crate::assets::AssetInfo, field: &str, n: &Number) -> CliResult<U256> {
    let text = match n {
        Number::Text(t) => t.clone(),
        Number::Int(i) => i.to_string(),
        Number::Float(_) => {
            return Err(CliError::usage(format!(
                "{field}: write amounts as strings (\"1.5\"), not TOML floats, which cannot hold every amount exactly"
            )));
        }
    };
    book.parse_amount(asset, &text).map_err(|e| CliError::usage(format!("{field}: {e}")))
}

/// Parses a flow file, resolving asset names and decimals with `book`.
pub fn parse(text: &str, book: &AssetBook) -> CliResult<BoxFlow> {
    let f: FlowToml = toml::from_str(text).map_err(|e| CliError::usage(format!("flow file: {e}")))?;
    let employees = f
        .employees
        .iter()
        .enumerate()
        .map(|(i, e)| address(&format!("employees[{i}]"), e))
        .collect::<CliResult<Vec<_>>>()?;
    let levels = f
        .levels
        .iter()
        .enumerate()
        .map(|(i, l)| {
            Ok(ApprovalLevel {
                name: l.name.clone(),
                approvers: l
                    .approvers
                    .iter()
                    .enumerate()
                    .map(|(j, a)| address(&format!("levels[{i}].approvers[{j}]"), a))
                    .collect::<CliResult<Vec<_>>>()?,
                threshold: l.threshold,
            })
        })
        .collect::<CliResult<Vec<_>>>()?;
    let limits = f
        .limits
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let asset = book.resolve(&l.asset).map_err(|e| CliError::usage(format!("limits[{i}].asset: {e}")))?;
            let period = match (&l.period, l.period_seconds) {
                (Some(_), Some(_)) => {
                    return Err(CliError::usage(format!("limits[{i}]: give period or period_seconds, not both")));
                }
                (Some(Period::Text(t)), None) => parse_period(t)?,
                (Some(Period::Seconds(s)), None) => *s,
                (None, Some(s)) => s,
                (None, None) => return Err(CliError::usage(format!("limits[{i}]: period is missing (e.g. \"1d\")"))),
            };
            let eth = book.resolve("ETH").map_err(|e| CliError::usage(format!("limits[{i}].max_fee: {e}")))?;
            Ok(AssetLimit {
                asset: asset.address,
                perTransfer: amount(book, &asset, &format!("limits[{i}].per_transfer"), &l.per_transfer)?,
                perPeriod: amount(book, &asset, &format!("limits[{i}].per_period"), &l.per_period)?,
                periodSeconds: period,
                maxFee: amount(book, &eth, &format!("limits[{i}].max_fee"), &l.max_fee)?,
            })
        })
        .collect::<CliResult<Vec<_>>>()?;
    Ok(BoxFlow { name: f.name, employees, levels, limits, nonce: f.nonce, addressBookOnly: f.address_book_only })
}

/// Parses and checks a flow with box-core's rules, as the chain will.
pub fn parse_checked(text: &str, book: &AssetBook, domain: &Domain) -> CliResult<BoxFlow> {
    let flow = parse(text, book)?;
    box_core::flow::verify_flow(domain, &flow)
        .map_err(|e| CliError::usage(format!("the flow would be refused: {e}")))?;
    Ok(flow)
}

/// The flow as TOML again (for `flow show`): what [`parse`] reads back to the same flow.
pub fn to_toml(flow: &BoxFlow, book: &AssetBook) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let addrs = |v: &[Address]| v.iter().map(|a| q(&a.to_checksum(None))).collect::<Vec<_>>().join(", ");
    let mut out =
        format!("name = {}\nnonce = {}\nemployees = [{}]\n", q(&flow.name), flow.nonce, addrs(&flow.employees));
    if flow.addressBookOnly {
        // Written only when set, so a flow without it reads as before.
        out.push_str("address_book_only = true\n");
    }
    for l in &flow.levels {
        out.push_str(&format!(
            "\n[[levels]]\nname = {}\napprovers = [{}]\nthreshold = {}\n",
            q(&l.name),
            addrs(&l.approvers),
            l.threshold
        ));
    }
    for l in &flow.limits {
        let (asset, fmt): (String, Box<dyn Fn(U256) -> String>) = match book.by_address(&l.asset) {
            Some(a) if a.decimals.is_some() => {
                let d = a.decimals.unwrap_or(0);
                (a.symbol.clone(), Box::new(move |v| box_core::Amount(v).format(d)))
            }
            _ => (l.asset.to_checksum(None), Box::new(|v: U256| v.to_string())),
        };
        out.push_str(&format!(
            "\n[[limits]]\nasset = {}\nper_transfer = {}\nper_period = {}\nperiod_seconds = {}\nmax_fee = {}\n",
            q(&asset),
            q(&fmt(l.perTransfer)),
            q(&fmt(l.perPeriod)),
            l.periodSeconds,
            q(&box_core::Amount(l.maxFee).format(18))
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use box_core::ids::{ChainId, DeploymentId};

    fn ether(n: u64) -> U256 {
        U256::from(n) * U256::from(10u64).pow(U256::from(18u64))
    }

    const EXAMPLE: &str = r#"
name = "Payments"
nonce = 7
employees = ["0x1111111111111111111111111111111111111111"]

[[levels]]
name = "Managers"
approvers = ["0x2222222222222222222222222222222222222222", "0x3333333333333333333333333333333333333333"]
threshold = 1

[[levels]]
name = "Finance"
approvers = ["0x4444444444444444444444444444444444444444", "0x5555555555555555555555555555555555555555"]
threshold = 2

[[limits]]
asset = "ETH"
per_transfer = "5"
per_period = "8.5"
period = "1d"
max_fee = "0.01"

[[limits]]
asset = "USDC"
per_transfer = 1000
per_period = "2000.25"
period_seconds = 3600
max_fee = "0.05"
"#;

    fn book() -> AssetBook {
        let g = box_core::typed::Genesis {
            deploymentId: box_core::B256::ZERO,
            chainId: 1,
            keyHolders: vec![],
            nodes: vec![],
            signer: Address::ZERO,
            assets: vec![box_core::typed::GenesisAsset {
                token: Address::repeat_byte(0x99),
                symbol: "USDC".into(),
                decimals: 6,
            }],
            time: 0,
        };
        AssetBook::from_genesis(&g)
    }

    #[test]
    fn the_readme_example_parses_to_the_flow_it_describes() {
        let domain = Domain { chain_id: ChainId(1), deployment: DeploymentId(box_core::B256::ZERO) };
        let f = parse_checked(EXAMPLE, &book(), &domain).unwrap();
        assert_eq!(f.name, "Payments");
        assert_eq!(f.nonce, 7);
        assert_eq!(f.levels.len(), 2);
        assert_eq!(f.levels[1].threshold, 2);
        assert_eq!(f.levels[0].approvers[1], Address::repeat_byte(0x33));
        assert_eq!(f.limits[0].asset, Address::ZERO);
        assert_eq!(f.limits[0].perTransfer, ether(5));
        assert_eq!(f.limits[0].perPeriod, ether(17) / U256::from(2u8));
        assert_eq!(f.limits[0].periodSeconds, 86_400);
        assert_eq!(f.limits[1].asset, Address::repeat_byte(0x99));
        assert_eq!(f.limits[1].perTransfer, U256::from(1_000_000_000u64));
        assert_eq!(f.limits[1].perPeriod, U256::from(2_000_250_000u64));
        assert_eq!(f.limits[1].periodSeconds, 3600);
        // Written out and read back: the same flow, so the same hash.
        assert_eq!(parse(&to_toml(&f, &book()), &book()).unwrap(), f);
        assert!(!f.addressBookOnly, "a flow file without address_book_only pays any allowed destination");
        let only = parse(&EXAMPLE.replace("nonce = 7", "nonce = 7\naddress_book_only = true"), &book()).unwrap();
        assert!(only.addressBookOnly);
        assert_eq!(parse(&to_toml(&only, &book()), &book()).unwrap(), only);
    }

    #[test]
    fn mistakes_are_named() {
        let b = book();
        let domain = Domain { chain_id: ChainId(1), deployment: DeploymentId(box_core::B256::ZERO) };
        let err = |t: &str| parse_checked(t, &b, &domain).unwrap_err().to_string();
        assert!(err(&EXAMPLE.replace("\"8.5\"", "8.5")).contains("not TOML floats"));
        assert!(err(&EXAMPLE.replace("\"ETH\"", "\"DOGE\"")).contains("limits[0].asset"));
        assert!(err(&EXAMPLE.replace("threshold = 2", "threshold = 3")).contains("would be refused"));
        assert!(err(&EXAMPLE.replace("0x1111111111111111111111111111111111111111", "0x11")).contains("employees[0]"));
        assert!(err(&EXAMPLE.replace("\"1d\"", "\"1 fortnight\"")).contains("not a duration"));
        assert!(err(&EXAMPLE.replace("\"5\"", "\"5.0000000000000000001\"")).contains("per_transfer"));
        assert!(err(&format!("{EXAMPLE}\ncolour = 1\n")).contains("unknown field"));
        assert_eq!(parse_period("12h").unwrap(), 43_200);
        assert_eq!(parse_period("90").unwrap(), 90);
        assert!(parse_period("99999999999999999999d").is_err());
    }
}
