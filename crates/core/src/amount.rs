//! Money: base units in an unsigned 256-bit integer, decimal strings at the edges.
//!
//! There is no floating point anywhere. Amounts are written as plain
//! decimals ([`Decimal`]): ASCII digits with at most one `.`, and nothing
//! else — no sign, whitespace, exponent, digit separator or `0x`. `"1.5"` ETH
//! parses to 1 500 000 000 000 000 000 wei; more fractional digits than the
//! asset has, and overflow, are refused. One grammar for every edge: boxctl
//! reads whole units with [`Amount::parse`], the gateway's API reads base
//! units with [`Amount::parse_base_units`] (the same grammar without a point),
//! so what a person typed is exactly what is signed.

use alloy::primitives::U256;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The largest number of decimals an asset may declare (10^77 < 2^256).
pub const MAX_DECIMALS: u8 = 77;

/// The most digits a base-unit amount can have (2^256 - 1 has 78).
const MAX_DIGITS: usize = 78;

/// An amount in an asset's base units (wei for ETH).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Amount(pub U256);

/// Why a decimal string is not an amount. The messages quote the input as
/// given (with escapes), so a stray space or sign is visible.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Empty input.
    #[error("amount is empty")]
    Empty,
    /// A sign was given.
    #[error("amount {0:?} is negative or signed; amounts are unsigned")]
    Signed(String),
    /// A character that is not a digit or a single dot.
    #[error(
        "amount {0:?} is not a plain decimal number: digits with at most one '.', without spaces, signs, exponents, separators or 0x"
    )]
    Malformed(String),
    /// More fractional digits than the asset has.
    #[error("amount {input:?} has {given} decimal places but the asset has only {decimals}")]
    TooPrecise {
        /// The input.
        input: String,
        /// Fractional digits given.
        given: usize,
        /// Decimals of the asset.
        decimals: u8,
    },
    /// Base units were written with a point.
    #[error("amount {0:?} has a point; base units are whole numbers (digits only)")]
    Fraction(String),
    /// The value does not fit in 256 bits.
    #[error("amount {0:?} is too large (exceeds 2^256-1 base units)")]
    Overflow(String),
    /// The asset declares an impossible number of decimals.
    #[error("asset declares {0} decimals; at most {MAX_DECIMALS} are supported")]
    BadDecimals(u8),
}

/// A plain decimal number exactly as written (`"1.5"`, `"250"`, `".5"`),
/// checked against the grammar but not yet scaled: [`Decimal::to_amount`]
/// scales it by an asset's decimals. Parsing needs no asset, so a command
/// line refuses a malformed amount before it asks anyone anything.
/// It does not trim: `" 1"` is refused, not read as 1.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Decimal {
    input: String,
    int: String,
    /// Fractional digits without trailing zeros (they carry no precision).
    frac: String,
}

impl Decimal {
    /// Parses the grammar: digits with at most one `.`, at least one digit.
    pub fn parse(input: &str) -> Result<Self, AmountError> {
        if input.is_empty() {
            return Err(AmountError::Empty);
        }
        if input.starts_with(['-', '+']) {
            return Err(AmountError::Signed(input.to_owned()));
        }
        let (int, frac) = input.split_once('.').unwrap_or((input, ""));
        let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
            return Err(AmountError::Malformed(input.to_owned()));
        }
        Ok(Self { input: input.to_owned(), int: int.to_owned(), frac: frac.trim_end_matches('0').to_owned() })
    }

    /// The text as given.
    pub fn as_str(&self) -> &str {
        &self.input
    }

    /// The amount in base units of an asset with `decimals`: refuses more
    /// fractional digits than `decimals`, and values over 2^256 - 1.
    pub fn to_amount(&self, decimals: u8) -> Result<Amount, AmountError> {
        if decimals > MAX_DECIMALS {
            return Err(AmountError::BadDecimals(decimals));
        }
        if self.frac.len() > decimals as usize {
            return Err(AmountError::TooPrecise { input: self.input.clone(), given: self.frac.len(), decimals });
        }
        let mut digits = String::with_capacity(self.int.len() + decimals as usize);
        digits.push_str(self.int.trim_start_matches('0'));
        digits.push_str(&self.frac);
        if digits.is_empty() {
            return Ok(Amount::ZERO);
        }
        // Bound the length before padding: a huge input cannot allocate more.
        if digits.len() + (decimals as usize - self.frac.len()) > MAX_DIGITS {
            return Err(AmountError::Overflow(self.input.clone()));
        }
        digits.extend(std::iter::repeat_n('0', decimals as usize - self.frac.len()));
        let digits = digits.trim_start_matches('0');
        if digits.is_empty() {
            return Ok(Amount::ZERO);
        }
        U256::from_str_radix(digits, 10).map(Amount).map_err(|_| AmountError::Overflow(self.input.clone()))
    }
}

impl FromStr for Decimal {
    type Err = AmountError;
    fn from_str(s: &str) -> Result<Self, AmountError> {
        Self::parse(s)
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.input)
    }
}

impl Amount {
    /// Zero.
    pub const ZERO: Self = Self(U256::ZERO);

    /// Wraps base units.
    pub const fn from_base_units(v: U256) -> Self {
        Self(v)
    }

    /// The base units.
    pub const fn base_units(&self) -> U256 {
        self.0
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Self) -> Option<Self> {
        self.0.checked_add(other.0).map(Self)
    }

    /// Parses a plain decimal in whole units of an asset with `decimals`
    /// ([`Decimal::parse`], then [`Decimal::to_amount`]).
    pub fn parse(input: &str, decimals: u8) -> Result<Self, AmountError> {
        if decimals > MAX_DECIMALS {
            return Err(AmountError::BadDecimals(decimals));
        }
        Decimal::parse(input)?.to_amount(decimals)
    }

    /// Parses base units as the API carries them: the same grammar as
    /// [`Amount::parse`] with no point at all (`"1500000000000000000"`;
    /// `"1.0"` is refused, since base units have no fraction to write).
    pub fn parse_base_units(input: &str) -> Result<Self, AmountError> {
        let d = Decimal::parse(input)?;
        if input.contains('.') {
            return Err(AmountError::Fraction(input.to_owned()));
        }
        d.to_amount(0)
    }

    /// Formats in whole units with `decimals`, without trailing zeros
    /// (`1500000000000000000` with 18 decimals is `"1.5"`).
    pub fn format(&self, decimals: u8) -> String {
        let s = self.0.to_string();
        let d = decimals as usize;
        if d == 0 {
            return s;
        }
        let (int, frac) = if s.len() > d {
            (s[..s.len() - d].to_owned(), s[s.len() - d..].to_owned())
        } else {
            ("0".to_owned(), format!("{}{}", "0".repeat(d - s.len()), s))
        };
        let frac = frac.trim_end_matches('0');
        if frac.is_empty() { int } else { format!("{int}.{frac}") }
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Amount({})", self.0)
    }
}

impl fmt::Display for Amount {
    /// Base units; use [`Amount::format`] for whole units.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str, d: u8) -> Result<U256, AmountError> {
        Amount::parse(s, d).map(|a| a.0)
    }

    #[test]
    fn parses_whole_and_fractional_units() {
        assert_eq!(p("1.5", 18).unwrap(), U256::from(1_500_000_000_000_000_000u128));
        assert_eq!(p("250", 6).unwrap(), U256::from(250_000_000u64));
        assert_eq!(p("0.000001", 6).unwrap(), U256::from(1u64));
        assert_eq!(p(".5", 1).unwrap(), U256::from(5u64));
        assert_eq!(p("1.50000", 2).unwrap(), U256::from(150u64));
        assert_eq!(p("0", 18).unwrap(), U256::ZERO);
        assert_eq!(p("1.", 2).unwrap(), U256::from(100u64));
        assert_eq!(p("000.000", 18).unwrap(), U256::ZERO);
        assert_eq!(p("0001.5", 1).unwrap(), U256::from(15u64));
    }

    #[test]
    fn base_units_are_the_same_grammar_without_a_point() {
        let b = |s: &str| Amount::parse_base_units(s).map(|a| a.0);
        assert_eq!(b("1500000000000000000").unwrap(), U256::from(1_500_000_000_000_000_000u128));
        assert_eq!(b(&U256::MAX.to_string()).unwrap(), U256::MAX);
        assert!(matches!(b("1.0"), Err(AmountError::Fraction(_))));
        assert!(matches!(b("1.5"), Err(AmountError::Fraction(_))));
        for bad in ["1e18", " 1", "0x10", "1_000", ""] {
            assert!(b(bad).is_err(), "{bad}");
        }
        assert!(matches!(b("-1"), Err(AmountError::Signed(_))));
    }

    #[test]
    fn refuses_what_cannot_be_exact() {
        assert!(matches!(p("1.0000001", 6), Err(AmountError::TooPrecise { given: 7, decimals: 6, .. })));
        assert!(matches!(p("-1", 18), Err(AmountError::Signed(_))));
        assert!(matches!(p("+1", 18), Err(AmountError::Signed(_))));
        // Exponents, whitespace (even around the number), separators and hex
        // are refused, never guessed at: "1e18" ETH is not 10^36 wei.
        for bad in [
            "1.2.3", "1,5", "abc", "1.5e3", "0x10", "1e", "1e-3", ".", "1 000", "٣", "1e18", "15e17", " 1", "1 ",
            "1\n", "\t1", "1_000", "0X10", "1.5.", "..5", "½", "1e0", "Infinity", "NaN",
        ] {
            assert!(matches!(p(bad, 18), Err(AmountError::Malformed(_))), "{bad}");
        }
        assert!(matches!(p("", 18), Err(AmountError::Empty)));
        let max = U256::MAX.to_string();
        assert_eq!(p(&max, 0).unwrap(), U256::MAX);
        assert!(matches!(p(&format!("{max}0"), 0), Err(AmountError::Overflow(_))));
        assert!(matches!(p(&max, 1), Err(AmountError::Overflow(_))));
        assert!(matches!(p(&format!("1{}", "0".repeat(5000)), 0), Err(AmountError::Overflow(_))));
        assert_eq!(p(&format!("{}1", "0".repeat(5000)), 0).unwrap(), U256::from(1u8));
        assert!(matches!(p("1", 78), Err(AmountError::BadDecimals(78))));
    }

    #[test]
    fn formats_without_trailing_zeros() {
        let a = Amount(U256::from(1_500_000_000_000_000_000u128));
        assert_eq!(a.format(18), "1.5");
        assert_eq!(Amount(U256::from(1u8)).format(18), "0.000000000000000001");
        assert_eq!(Amount(U256::from(250_000_000u64)).format(6), "250");
        assert_eq!(Amount(U256::from(7u8)).format(0), "7");
        assert_eq!(Amount::ZERO.format(18), "0");
    }
}
