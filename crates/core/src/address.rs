//! Ethereum addresses as people type them.
//!
//! An all-lowercase or all-uppercase address carries no checksum and is
//! accepted; a mixed-case address claims an EIP-55 checksum, and a wrong one is
//! refused: it is almost certainly a typo, and money sent to a typo is gone.

use alloy::primitives::Address;

/// Why a string is not an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Wrong shape.
    #[error("{0:?} is not an Ethereum address (expected 0x followed by 40 hex digits)")]
    Malformed(String),
    /// Mixed case whose checksum does not match.
    #[error("{input:?} has a wrong EIP-55 checksum (did you mean {expected}?); check the address for typos")]
    BadChecksum {
        /// The input.
        input: String,
        /// The correctly checksummed form of the same bytes.
        expected: String,
    },
}

/// Parses an address, enforcing the EIP-55 checksum of mixed-case input.
pub fn parse_address(input: &str) -> Result<Address, AddressError> {
    let s = input.trim();
    let hex = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .ok_or_else(|| AddressError::Malformed(input.to_owned()))?;
    if hex.len() != 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AddressError::Malformed(input.to_owned()));
    }
    let addr: Address = hex.parse().map_err(|_| AddressError::Malformed(input.to_owned()))?;
    let has_lower = hex.bytes().any(|b| b.is_ascii_lowercase());
    let has_upper = hex.bytes().any(|b| b.is_ascii_uppercase());
    if has_lower && has_upper {
        let expected = addr.to_checksum(None);
        if expected[2..] != *hex {
            return Err(AddressError::BadChecksum { input: input.to_owned(), expected });
        }
    }
    Ok(addr)
}

/// The EIP-55 form of an address, for display.
pub fn checksummed(addr: &Address) -> String {
    addr.to_checksum(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_rules() {
        let good = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
        let a = parse_address(good).unwrap();
        assert_eq!(checksummed(&a), good);
        assert_eq!(parse_address(&good.to_lowercase()).unwrap(), a);
        assert_eq!(parse_address(&format!("0x{}", good[2..].to_uppercase())).unwrap(), a);
        let typo = "0xF39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
        assert!(matches!(parse_address(typo), Err(AddressError::BadChecksum { expected, .. }) if expected == good));
        for bad in [
            "",
            "0x",
            "f39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb9226",
            "0xg39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        ] {
            assert!(matches!(parse_address(bad), Err(AddressError::Malformed(_))), "{bad}");
        }
    }
}
