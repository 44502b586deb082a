//! How values travel in the API's JSON, parsed once where the bytes come in.
//!
//! | value | JSON | parsed with |
//! |---|---|---|
//! | address ([`Address`]) | EIP-55 string | box-core's [`parse_address`]: mixed case must carry a correct checksum |
//! | 32-byte hash or id ([`B256`], `FlowHash`, `TransferId`, …) | `0x` + 64 hex digits | exactly that shape |
//! | amount ([`BaseUnits`]) | decimal string of base units | box-core's one amount grammar ([`Amount::parse_base_units`]): digits only |
//! | signature ([`SignatureHex`]) | `0x` + 130 hex digits | box-core's canonical form (low `s`, `v` 27 or 28); `v` 0 or 1 is read as 27 or 28 |
//! | canonical bytes ([`HexBytes`]) | `0x` + hex | hex only |
//!
//! Address and hash fields keep box-core's types and name one of the serde
//! modules below (`#[serde(with = "box_api::wire::eip55")]`); amounts,
//! signatures and bytes have a type of their own. A value that does not
//! parse fails the whole body's deserialization, with a message that quotes
//! it and says what was expected.
//!
//! These parse the shape only: an address is not checked to be registered,
//! a signature not checked to recover to anyone.

use box_core::address::parse_address;
use box_core::{Address, Amount, B256, Signature, U256};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Parses `0x` + 64 hex digits (either case), the one shape of a 32-byte
/// hash or id in the API.
pub fn parse_hex_32(s: &str) -> Option<B256> {
    let h = s.strip_prefix("0x")?;
    if h.len() != 64 {
        return None;
    }
    let bytes = hex::decode(h).ok()?;
    Some(B256::from_slice(&bytes))
}

/// `0x` + lowercase hex of `bytes`.
pub fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// Serde for an [`Address`] field: EIP-55 out; in, box-core's address
/// grammar (a mixed-case address with a wrong checksum is refused: it is
/// almost certainly a typo).
pub mod eip55 {
    use super::*;

    /// Writes the EIP-55 form.
    pub fn serialize<S: Serializer>(a: &Address, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&a.to_checksum(None))
    }

    /// Reads an address, enforcing the checksum of mixed-case input.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Address, D::Error> {
        let s = String::deserialize(d)?;
        parse_address(&s).map_err(D::Error::custom)
    }
}

/// [`eip55`] for a list of addresses.
pub mod eip55_vec {
    use super::*;

    /// Writes each in EIP-55 form.
    pub fn serialize<S: Serializer>(v: &[Address], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|a| a.to_checksum(None)))
    }

    /// Reads each with box-core's address grammar.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Address>, D::Error> {
        Vec::<String>::deserialize(d)?.iter().map(|s| parse_address(s).map_err(D::Error::custom)).collect()
    }
}

/// [`eip55`] for an optional address (`null` when absent).
pub mod eip55_opt {
    use super::*;

    /// Writes the EIP-55 form, or `null`.
    pub fn serialize<S: Serializer>(a: &Option<Address>, s: S) -> Result<S::Ok, S::Error> {
        match a {
            Some(a) => s.serialize_some(&a.to_checksum(None)),
            None => s.serialize_none(),
        }
    }

    /// Reads an address or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Address>, D::Error> {
        Option::<String>::deserialize(d)?.map(|s| parse_address(&s).map_err(D::Error::custom)).transpose()
    }
}

fn hash_from<E: serde::de::Error>(s: &str) -> Result<B256, E> {
    parse_hex_32(s)
        .ok_or_else(|| E::custom(format!("{s:?} is not a 32-byte hash: expected 0x followed by 64 hex digits")))
}

/// Serde for a 32-byte hash or id field: [`B256`] or any box-core newtype
/// over it (`FlowHash`, `TransferId`, `SubjectId`, `DeploymentId`, …).
/// Out: `0x` + 64 lowercase hex digits; in: exactly `0x` + 64 hex digits.
pub mod hash {
    use super::*;

    /// Writes `0x` + 64 hex digits.
    pub fn serialize<T: fmt::Display, S: Serializer>(h: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(h)
    }

    /// Reads `0x` + 64 hex digits.
    pub fn deserialize<'de, T: From<B256>, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        hash_from(&String::deserialize(d)?).map(T::from)
    }
}

/// [`hash`] for an optional field (`null` when absent).
pub mod hash_opt {
    use super::*;

    /// Writes `0x` + 64 hex digits, or `null`.
    pub fn serialize<T: fmt::Display, S: Serializer>(h: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
        match h {
            Some(h) => s.serialize_some(&h.to_string()),
            None => s.serialize_none(),
        }
    }

    /// Reads `0x` + 64 hex digits, or `null`.
    pub fn deserialize<'de, T: From<B256>, D: Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
        Option::<String>::deserialize(d)?.map(|s| hash_from(&s).map(T::from)).transpose()
    }
}

/// An amount in an asset's base units (wei for ETH), written as a decimal
/// string (`"1500000000000000000"`): never a float, never hex. Read with
/// box-core's one amount grammar ([`Amount::parse_base_units`]), the grammar
/// boxctl reads whole units with; `"1e18"`, `" 1"`, `"0x10"`, `"1.0"` are
/// refused. It says nothing about which asset the units are of.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct BaseUnits(pub Amount);

impl BaseUnits {
    /// The base units as a number.
    pub const fn units(self) -> U256 {
        self.0.0
    }
    /// box-core's amount.
    pub const fn amount(self) -> Amount {
        self.0
    }
}

impl From<U256> for BaseUnits {
    fn from(v: U256) -> Self {
        Self(Amount(v))
    }
}

impl From<Amount> for BaseUnits {
    fn from(a: Amount) -> Self {
        Self(a)
    }
}

impl fmt::Debug for BaseUnits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BaseUnits({})", self.0.0)
    }
}

impl fmt::Display for BaseUnits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.0, f)
    }
}

/// Why an amount's text was refused, with the grammar to use.
pub fn amount_error(e: &box_core::amount::AmountError) -> String {
    format!("{e}; amounts are decimal base units (digits only, e.g. \"1500000000000000000\")")
}

impl FromStr for BaseUnits {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Amount::parse_base_units(s).map(Self).map_err(|e| amount_error(&e))
    }
}

impl Serialize for BaseUnits {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BaseUnits {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(D::Error::custom)
    }
}

/// Reads a 65-byte `r ‖ s ‖ v` signature as wallets return it: `v` 27 or 28,
/// or 0 or 1 (the bare recovery id, as Ledger devices and some libraries
/// return it), into box-core's one canonical form (`v` 27 or 28, low `s`).
///
/// Guarantees: the two spellings of one signature give one value, so the
/// API stores, shows and relays only the 27/28 form and a signature can never
/// count as a second, different approval by being re-spelled. box-core's
/// canonical encoding ([`box_core::crypto::signature_from_bytes`], what the
/// chain and the stores read) still refuses 0/1: normalising is the API's
/// job, at the edge. Any other `v`, and high-`s` or out-of-range scalars, are
/// refused as before.
pub fn signature_from_wallet(raw: &[u8]) -> Result<Signature, box_core::crypto::SignatureError> {
    match raw {
        [rs @ .., v @ (0 | 1)] if rs.len() == 64 => {
            let mut canonical = [0u8; 65];
            canonical[..64].copy_from_slice(rs);
            canonical[64] = 27 + v;
            box_core::crypto::signature_from_bytes(&canonical)
        }
        [.., v] if raw.len() == 65 && *v != 27 && *v != 28 => {
            Err(box_core::crypto::SignatureError::Malformed(format!("v must be 27 or 28 (or 0 or 1), got {v}")))
        }
        _ => box_core::crypto::signature_from_bytes(raw),
    }
}

/// A 65-byte signature `r ‖ s ‖ v`, written `0x` + 130 hex digits; read by
/// [`signature_from_wallet`] (`v` 0/1 taken as 27/28) into box-core's one
/// canonical form (`v` 27 or 28, low `s`), and always written with `v` 27 or
/// 28. Whose signature it is, and over what, is for the reader to check.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignatureHex(pub Signature);

impl From<Signature> for SignatureHex {
    fn from(s: Signature) -> Self {
        Self(s)
    }
}

impl fmt::Debug for SignatureHex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignatureHex({self})")
    }
}

impl fmt::Display for SignatureHex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex0x(&self.0.as_bytes()))
    }
}

impl FromStr for SignatureHex {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let raw = s
            .strip_prefix("0x")
            .and_then(|h| hex::decode(h).ok())
            .ok_or_else(|| format!("{s:?} is not a signature: expected 0x followed by 130 hex digits"))?;
        signature_from_wallet(&raw).map(Self).map_err(|e| format!("not a usable signature: {e}"))
    }
}

impl Serialize for SignatureHex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SignatureHex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(D::Error::custom)
    }
}

/// Bytes written `0x` + hex: box-core canonical encodings (a governance
/// action, a ceremony entry, a block) and keys. Whether they decode as what
/// the field says is for the reader to check.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct HexBytes(pub Vec<u8>);

impl From<Vec<u8>> for HexBytes {
    fn from(v: Vec<u8>) -> Self {
        Self(v)
    }
}

impl fmt::Debug for HexBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HexBytes({self})")
    }
}

impl fmt::Display for HexBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex0x(&self.0))
    }
}

impl FromStr for HexBytes {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        s.strip_prefix("0x")
            .and_then(|h| hex::decode(h).ok())
            .map(Self)
            .ok_or_else(|| "expected 0x-prefixed hex bytes".to_owned())
    }
}

impl Serialize for HexBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HexBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(D::Error::custom)
    }
}

#[cfg(feature = "openapi")]
mod schema {
    use super::*;
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    use utoipa::openapi::{RefOr, Schema};
    use utoipa::{PartialSchema, ToSchema};

    fn string(pattern: &str, description: &str, example: &str) -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(pattern))
            .description(Some(description))
            .examples([example])
            .into()
    }

    impl PartialSchema for BaseUnits {
        fn schema() -> RefOr<Schema> {
            string("^[0-9]+$", "An amount in base units (wei for ETH), decimal digits only", "1500000000000000000")
        }
    }
    impl ToSchema for BaseUnits {}

    impl PartialSchema for SignatureHex {
        fn schema() -> RefOr<Schema> {
            string(
                "^0x[0-9a-fA-F]{130}$",
                "A 65-byte signature r ‖ s ‖ v (v 27 or 28, low s; v 0 or 1 is read as 27 or 28), 0x hex",
                "0x…",
            )
        }
    }
    impl ToSchema for SignatureHex {}

    impl PartialSchema for HexBytes {
        fn schema() -> RefOr<Schema> {
            string("^0x([0-9a-fA-F]{2})*$", "Bytes, 0x hex (box-core canonical encoding where named)", "0x01")
        }
    }
    impl ToSchema for HexBytes {}
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Probe {
        #[serde(with = "eip55")]
        who: Address,
        #[serde(with = "hash")]
        id: box_core::ids::TransferId,
        amount: BaseUnits,
    }

    #[test]
    fn values_round_trip_in_their_documented_shapes() {
        let p = Probe {
            who: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266".parse().unwrap(),
            id: B256::repeat_byte(0xab).into(),
            amount: U256::from(1_500_000_000_000_000_000u128).into(),
        };
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["who"], "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
        assert_eq!(json["id"], format!("0x{}", "ab".repeat(32)));
        assert_eq!(json["amount"], "1500000000000000000");
        assert_eq!(serde_json::from_value::<Probe>(json).unwrap(), p);
    }

    #[test]
    fn malformed_values_are_refused_with_the_reason() {
        let ok = serde_json::json!({"who": "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
            "id": format!("0x{}", "ab".repeat(32)), "amount": "1"});
        assert!(serde_json::from_value::<Probe>(ok.clone()).is_ok());
        for (field, bad, why) in [
            ("who", "0xF39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "checksum"),
            ("who", "0x12", "not an Ethereum address"),
            ("id", "ab", "expected 0x followed by 64 hex digits"),
            ("amount", "1e18", "not a plain decimal number"),
            ("amount", "0x10", "not a plain decimal number"),
            ("amount", "1.0", "base units are whole numbers"),
        ] {
            let mut v = ok.clone();
            v[field] = bad.into();
            let e = serde_json::from_value::<Probe>(v).unwrap_err().to_string();
            assert!(e.contains(why), "{field} {bad}: {e}");
        }
        let mut v = ok;
        v["amount"] = 1.into();
        assert!(serde_json::from_value::<Probe>(v).is_err(), "an amount is a string, never a JSON number");
        assert!("0x00".parse::<SignatureHex>().unwrap_err().contains("not a usable signature"));
        assert!("12".parse::<HexBytes>().is_err());
    }

    #[test]
    fn a_signature_with_v_0_or_1_reads_as_the_same_signature_with_v_27_or_28() {
        let k = box_core::crypto::SecretKey::from_label_unchecked("ledger");
        for msg in [&b"one"[..], b"two", b"three", b"four"] {
            let sig = k.sign_hash(&alloy::primitives::keccak256(msg));
            let canonical = sig.as_bytes();
            let mut device = canonical;
            device[64] -= 27;
            let from_device: SignatureHex = format!("0x{}", hex::encode(device)).parse().unwrap();
            let from_wallet: SignatureHex = format!("0x{}", hex::encode(canonical)).parse().unwrap();
            assert_eq!(from_device, from_wallet, "one signature, one value");
            assert_eq!(from_device.to_string(), format!("0x{}", hex::encode(canonical)), "written with v 27/28");
            // The canonical encoding (chain, stores) keeps refusing 0/1.
            assert!(box_core::crypto::signature_from_bytes(&device).is_err());
        }
        let mut bad = k.sign_hash(&alloy::primitives::keccak256(b"x")).as_bytes();
        for v in [2u8, 26, 29, 255] {
            bad[64] = v;
            let e = format!("0x{}", hex::encode(bad)).parse::<SignatureHex>().unwrap_err();
            assert!(e.contains(&format!("got {v}")), "{e}");
        }
    }
}
