//! Money: base units in an unsigned 256-bit integer, decimal strings at the edges.
//!
//! There is no floating point anywhere. `"1.5"` ETH parses to
//! 1 500 000 000 000 000 000 wei; parsing refuses more fractional digits than
//! the asset has, signs, overflow and anything that is not a plain decimal
//! (an exponent is accepted only as an integer power of ten, `"15e17"`, whose
//! meaning cannot be misread).

use alloy::primitives::U256;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The largest number of decimals an asset may declare (10^77 < 2^256).
pub const MAX_DECIMALS: u8 = 77;

/// An amount in an asset's base units (wei for ETH).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Amount(pub U256);

/// Why a decimal string is not an amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Empty input.
    #[error("amount is empty")]
    Empty,
    /// A sign was given.
    #[error("amount {0:?} is negative or signed; amounts are unsigned")]
    Signed(String),
    /// A character that is not a digit, a single dot or an integer exponent.
    #[error("amount {0:?} is not a plain decimal number (digits with at most one '.')")]
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
    /// The value does not fit in 256 bits.
    #[error("amount {0:?} is too large (exceeds 2^256-1 base units)")]
    Overflow(String),
    /// The asset declares an impossible number of decimals.
    #[error("asset declares {0} decimals; at most {MAX_DECIMALS} are supported")]
    BadDecimals(u8),
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

    /// Parses a decimal string in whole units of an asset with `decimals`.
    pub fn parse(input: &str, decimals: u8) -> Result<Self, AmountError> {
        if decimals > MAX_DECIMALS {
            return Err(AmountError::BadDecimals(decimals));
        }
        let s = input.trim();
        if s.is_empty() {
            return Err(AmountError::Empty);
        }
        if s.starts_with('-') || s.starts_with('+') {
            return Err(AmountError::Signed(input.to_owned()));
        }
        let malformed = || AmountError::Malformed(input.to_owned());
        let has_exponent = s.contains(['e', 'E']);
        let (mantissa, exponent) = match s.find(['e', 'E']) {
            Some(i) => {
                let exp = &s[i + 1..];
                if exp.is_empty() || exp.len() > 3 || !exp.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(malformed());
                }
                let e: usize = exp.parse().map_err(|_| malformed())?;
                (&s[..i], e)
            }
            None => (s, 0),
        };
        let (int_part, frac_part) = match mantissa.split_once('.') {
            Some((i, f)) => (i, f),
            None => (mantissa, ""),
        };
        let digits_ok = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if (int_part.is_empty() && frac_part.is_empty())
            || !digits_ok(int_part)
            || !digits_ok(frac_part)
            || (has_exponent && mantissa.contains('.'))
        {
            // "1.5e3" is refused: only integer mantissas take an exponent.
            return Err(malformed());
        }
        // Trailing zeros in the fraction carry no precision.
        let frac = frac_part.trim_end_matches('0');
        if frac.len() > decimals as usize {
            return Err(AmountError::TooPrecise { input: input.to_owned(), given: frac.len(), decimals });
        }
        let overflow = || AmountError::Overflow(input.to_owned());
        let mut digits = String::with_capacity(int_part.len() + decimals as usize + exponent);
        digits.push_str(int_part);
        digits.push_str(frac);
        for _ in frac.len()..decimals as usize {
            digits.push('0');
        }
        let digits = digits.trim_start_matches('0');
        if digits.is_empty() {
            return Ok(Self::ZERO);
        }
        // Length check first: it also bounds the exponent padding below.
        if digits.len() + exponent > 78 {
            return Err(overflow());
        }
        let mut padded = digits.to_owned();
        padded.extend(std::iter::repeat_n('0', exponent));
        U256::from_str_radix(&padded, 10).map(Self).map_err(|_| overflow())
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
        assert_eq!(p("15e17", 0).unwrap(), U256::from(1_500_000_000_000_000_000u128));
        assert_eq!(p("2e3", 2).unwrap(), U256::from(200_000u64));
    }

    #[test]
    fn refuses_what_cannot_be_exact() {
        assert!(matches!(p("1.0000001", 6), Err(AmountError::TooPrecise { given: 7, decimals: 6, .. })));
        assert!(matches!(p("-1", 18), Err(AmountError::Signed(_))));
        assert!(matches!(p("+1", 18), Err(AmountError::Signed(_))));
        for bad in ["1.2.3", "1,5", "abc", "1.5e3", "0x10", "1e", "1e-3", ".", "1 000", "٣"] {
            assert!(matches!(p(bad, 18), Err(AmountError::Malformed(_))), "{bad}");
        }
        assert!(matches!(p("", 18), Err(AmountError::Empty)));
        let max = U256::MAX.to_string();
        assert_eq!(p(&max, 0).unwrap(), U256::MAX);
        assert!(matches!(p(&format!("{max}0"), 0), Err(AmountError::Overflow(_))));
        assert!(matches!(p(&max, 1), Err(AmountError::Overflow(_))));
        assert!(matches!(p("1e999", 0), Err(AmountError::Overflow(_))));
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
