//! box-core's signed structs (a flow, a transfer request) as the API writes
//! them: the EIP-712 message, field for field, the way wallets show typed
//! data (`eth_signTypedData_v4`).
//!
//! The field names and the fields themselves are box-core's own (its serde
//! of the `sol!` struct); only the value encodings are the API's, chosen by
//! each field's EIP-712 type: `uint`/`int` wider than 64 bits as decimal
//! strings (box-core's amount grammar, [`crate::wire::BaseUnits`]),
//! `address` in EIP-55 (mixed case checked), `bytesN` as `0x` + exactly 2N
//! hex digits; narrower integers stay JSON numbers. So a field box-core adds
//! to a struct (a flow limit's `maxFee`, say) travels through the API with no
//! change here. Unknown and missing fields are refused by box-core's serde
//! (`deny_unknown_fields`).
//!
//! This checks encodings only: a flow that parses is not a valid flow
//! (`box_core::flow::verify_flow` decides that).

use alloy::sol_types::SolStruct;
use box_core::Address;
use box_core::address::parse_address;
use box_core::amount::Amount;
use serde::de::{DeserializeOwned, Error as _};
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::collections::BTreeMap;

/// A box-core EIP-712 struct in the API's JSON (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eip712Json<T>(pub T);

/// An approval flow (EIP-712 `BoxFlow`) in the API's JSON:
/// `{name, employees, levels: [{name, approvers, threshold}], limits: [{asset, perTransfer, perPeriod, periodSeconds, …}], nonce}`.
pub type FlowJson = Eip712Json<box_core::typed::BoxFlow>;

/// An application (EIP-712 `TransferRequest`) in the API's JSON:
/// `{requestId, flowHash, applicant, asset, to, amount, maxFee, chainId, timestamp}`.
pub type TransferRequestJson = Eip712Json<box_core::typed::TransferRequest>;

impl<T> Eip712Json<T> {
    /// The struct.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Eip712Json<T> {
    fn from(v: T) -> Self {
        Self(v)
    }
}

/// Struct name → its fields `(name, EIP-712 type)`, from the struct's
/// EIP-712 `encodeType` (the root and every struct it references).
type Types = BTreeMap<String, Vec<(String, String)>>;

fn types<T: SolStruct>() -> Types {
    let encoded = T::eip712_encode_type();
    let mut out = Types::new();
    let mut rest: &str = &encoded;
    while let Some((name, tail)) = rest.split_once('(') {
        let Some((fields, tail)) = tail.split_once(')') else { break };
        let fields = fields
            .split(',')
            .filter_map(|f| f.rsplit_once(' '))
            .map(|(ty, name)| (name.to_owned(), ty.to_owned()))
            .collect();
        out.insert(name.to_owned(), fields);
        rest = tail;
    }
    out
}

/// What the API does with a value of one EIP-712 type.
enum Kind<'a> {
    /// `T[]` or `T[k]`: each element as `T`.
    Array(&'a str),
    /// A struct: each field by its type.
    Struct(&'a [(String, String)]),
    /// `address`.
    Address,
    /// `uintN`/`intN` with N > 64: a decimal string.
    Wide,
    /// `bytesN`: `0x` + 2N hex digits.
    Fixed(usize),
    /// `string`, `bool`, `bytes`, narrow integers: as box-core writes them.
    Plain,
}

fn kind<'a>(ty: &'a str, types: &'a Types) -> Kind<'a> {
    if let Some(elem) = ty.strip_suffix(']').and_then(|t| t.rsplit_once('[')).map(|(e, _)| e) {
        return Kind::Array(elem);
    }
    if let Some(fields) = types.get(ty) {
        return Kind::Struct(fields);
    }
    let bits = |p: &str| ty.strip_prefix(p).and_then(|n| if n.is_empty() { Some(256) } else { n.parse::<u16>().ok() });
    match ty {
        "address" => Kind::Address,
        _ if bits("uint").or_else(|| bits("int")).is_some_and(|b| b > 64) => Kind::Wide,
        _ => match ty.strip_prefix("bytes").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => Kind::Fixed(n),
            None => Kind::Plain,
        },
    }
}

/// box-core's serde → the API's encodings.
fn to_api(ty: &str, v: &mut Value, types: &Types) -> Result<(), String> {
    match (kind(ty, types), v) {
        (Kind::Array(elem), Value::Array(items)) => items.iter_mut().try_for_each(|i| to_api(elem, i, types)),
        (Kind::Struct(fields), Value::Object(map)) => {
            for (name, fty) in fields {
                if let Some(fv) = map.get_mut(name) {
                    to_api(fty, fv, types)?;
                }
            }
            Ok(())
        }
        (Kind::Address, v @ Value::String(_)) => {
            let a: Address = v.as_str().unwrap_or_default().parse().map_err(|e| format!("address: {e}"))?;
            *v = Value::String(a.to_checksum(None));
            Ok(())
        }
        (Kind::Wide, v @ Value::String(_)) => {
            let n: box_core::U256 = v.as_str().unwrap_or_default().parse().map_err(|e| format!("integer: {e}"))?;
            *v = Value::String(n.to_string());
            Ok(())
        }
        _ => Ok(()),
    }
}

fn at(path: &str, problem: impl std::fmt::Display) -> String {
    format!("{path}: {problem}")
}

/// The API's encodings → what box-core's serde reads, checking each value's
/// shape on the way; `path` names the value in errors (`limits[0].perTransfer`).
fn from_api(ty: &str, v: &mut Value, types: &Types, path: &str) -> Result<(), String> {
    let text =
        |v: &Value, what: &str| v.as_str().map(str::to_owned).ok_or_else(|| at(path, format!("expected {what}")));
    match kind(ty, types) {
        Kind::Array(elem) => {
            let Value::Array(items) = v else { return Err(at(path, "expected an array")) };
            items.iter_mut().enumerate().try_for_each(|(i, item)| from_api(elem, item, types, &format!("{path}[{i}]")))
        }
        Kind::Struct(fields) => {
            let Value::Object(map) = v else { return Err(at(path, "expected an object")) };
            for (name, fty) in fields {
                if let Some(fv) = map.get_mut(name) {
                    let p = if path.is_empty() { name.clone() } else { format!("{path}.{name}") };
                    from_api(fty, fv, types, &p)?;
                }
            }
            Ok(())
        }
        Kind::Address => {
            let a = parse_address(&text(v, "an address string")?).map_err(|e| at(path, e))?;
            *v = Value::String(crate::wire::hex0x(a.as_slice()));
            Ok(())
        }
        Kind::Wide => {
            let s = text(v, "a decimal string of base units")?;
            let n = Amount::parse_base_units(&s).map_err(|e| at(path, crate::wire::amount_error(&e)))?;
            *v = Value::String(format!("{:#x}", n.0));
            Ok(())
        }
        Kind::Fixed(n) => {
            let s = text(v, "a 0x hex string")?;
            let ok = s.strip_prefix("0x").is_some_and(|h| h.len() == 2 * n && h.bytes().all(|b| b.is_ascii_hexdigit()));
            if !ok {
                return Err(at(path, format!("{s:?} is not {n} bytes: expected 0x followed by {} hex digits", 2 * n)));
            }
            Ok(())
        }
        Kind::Plain => Ok(()),
    }
}

impl<T: SolStruct + Serialize> Serialize for Eip712Json<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut v = serde_json::to_value(&self.0).map_err(S::Error::custom)?;
        to_api(T::NAME, &mut v, &types::<T>()).map_err(S::Error::custom)?;
        v.serialize(s)
    }
}

impl<'de, T: SolStruct + DeserializeOwned> Deserialize<'de> for Eip712Json<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut v = Value::deserialize(d)?;
        from_api(T::NAME, &mut v, &types::<T>(), "").map_err(D::Error::custom)?;
        serde_json::from_value(v).map(Self).map_err(D::Error::custom)
    }
}

#[cfg(feature = "openapi")]
mod schema {
    use super::*;
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    use utoipa::openapi::{RefOr, Schema};
    use utoipa::{PartialSchema, ToSchema};

    /// What each field of box-core's API structs means, for the OpenAPI
    /// document; its encoding's description follows. A field not listed
    /// (one box-core adds later) is still in the schema, with its encoding's
    /// description only.
    const FIELDS: &[(&str, &str, &str)] = &[
        ("BoxFlow", "name", "Flow name"),
        ("BoxFlow", "employees", "Who may apply"),
        ("BoxFlow", "levels", "Approval levels, level 1 first"),
        ("BoxFlow", "limits", "Per-asset limits"),
        ("BoxFlow", "nonce", "Distinguishes otherwise equal flows"),
        ("ApprovalLevel", "name", "Level name"),
        ("ApprovalLevel", "approvers", "Approver addresses"),
        ("ApprovalLevel", "threshold", "How many of them must approve"),
        ("AssetLimit", "asset", "Asset address; 0x0000000000000000000000000000000000000000 is ETH"),
        ("AssetLimit", "perTransfer", "Largest single transfer, base units"),
        ("AssetLimit", "perPeriod", "Largest total per rolling period, base units"),
        ("AssetLimit", "periodSeconds", "The rolling period, seconds"),
        (
            "AssetLimit",
            "maxFee",
            "The most a transfer of this asset may spend on fees (its signed fee cap), wei. Fees also count towards the flow's ETH period limit",
        ),
        ("TransferRequest", "requestId", "The applicant's unique id for this request"),
        ("TransferRequest", "flowHash", "The flow it applies under"),
        ("TransferRequest", "applicant", "The applicant"),
        ("TransferRequest", "asset", "Asset address (address(0) = ETH)"),
        ("TransferRequest", "to", "Destination"),
        ("TransferRequest", "amount", "Amount, base units"),
        ("TransferRequest", "maxFee", "Most fee the transfer may spend, base units (wei)"),
        ("TransferRequest", "chainId", "Public chain id"),
        ("TransferRequest", "timestamp", "When the applicant signed, Unix seconds"),
    ];

    /// Puts the field's meaning before its encoding's description.
    fn describe(schema: &mut RefOr<Schema>, meaning: &str) {
        let description = match schema {
            RefOr::T(Schema::Object(o)) => &mut o.description,
            RefOr::T(Schema::Array(a)) => &mut a.description,
            _ => return,
        };
        *description = Some(match description.take() {
            Some(encoding) => format!("{meaning}. {encoding}"),
            None => format!("{meaning}."),
        });
    }

    fn pattern(p: &str, description: &str) -> RefOr<Schema> {
        ObjectBuilder::new().schema_type(Type::String).pattern(Some(p)).description(Some(description)).into()
    }

    /// The schema of one EIP-712 type, from the same table the encodings use.
    fn of(ty: &str, types: &Types) -> RefOr<Schema> {
        match kind(ty, types) {
            Kind::Array(elem) => ArrayBuilder::new().items(of(elem, types)).into(),
            Kind::Struct(fields) => {
                let mut o = ObjectBuilder::new().schema_type(Type::Object).title(Some(ty));
                for (name, fty) in fields {
                    let mut field = of(fty, types);
                    if let Some((_, _, meaning)) = FIELDS.iter().find(|(s, f, _)| *s == ty && f == name) {
                        describe(&mut field, meaning);
                    }
                    o = o.property(name, field).required(name);
                }
                o.additional_properties(Some(utoipa::openapi::schema::AdditionalProperties::FreeForm(false))).into()
            }
            Kind::Address => pattern("^0x[0-9a-fA-F]{40}$", "An address, EIP-55 (a mixed-case checksum is checked)"),
            Kind::Wide => pattern("^[0-9]+$", "A whole number (base units for amounts), decimal digits"),
            Kind::Fixed(n) => pattern(&format!("^0x[0-9a-fA-F]{{{}}}$", 2 * n), "Fixed bytes, 0x hex"),
            Kind::Plain => match ty {
                "string" => ObjectBuilder::new().schema_type(Type::String).into(),
                "bool" => ObjectBuilder::new().schema_type(Type::Boolean).into(),
                "bytes" => pattern("^0x([0-9a-fA-F]{2})*$", "Bytes, 0x hex"),
                _ => ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)).into(),
            },
        }
    }

    impl<T: SolStruct> PartialSchema for Eip712Json<T> {
        fn schema() -> RefOr<Schema> {
            of(T::NAME, &types::<T>())
        }
    }

    impl<T: SolStruct> ToSchema for Eip712Json<T> {
        fn name() -> std::borrow::Cow<'static, str> {
            std::borrow::Cow::Borrowed(T::NAME)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use box_core::typed::{ApprovalLevel, AssetLimit, BoxFlow, TransferRequest};
    use box_core::{B256, U256};

    fn flow() -> BoxFlow {
        BoxFlow {
            name: "Payments".into(),
            employees: vec![Address::repeat_byte(0x11)],
            levels: vec![ApprovalLevel {
                name: "Leads".into(),
                approvers: vec![Address::repeat_byte(0xab)],
                threshold: 1,
            }],
            limits: vec![AssetLimit {
                asset: Address::ZERO,
                perTransfer: U256::from(5u64) * U256::from(10u64).pow(U256::from(18u64)),
                perPeriod: U256::MAX,
                periodSeconds: 86_400,
                maxFee: U256::from(10u64).pow(U256::from(17u64)),
            }],
            nonce: 1,
            addressBookOnly: false,
        }
    }

    #[test]
    fn a_flow_is_box_cores_struct_with_the_apis_encodings() {
        let json = serde_json::to_value(FlowJson::from(flow())).unwrap();
        assert_eq!(json["limits"][0]["perTransfer"], "5000000000000000000");
        assert_eq!(json["limits"][0]["perPeriod"], U256::MAX.to_string());
        assert_eq!(json["limits"][0]["periodSeconds"], 86_400);
        assert_eq!(json["limits"][0]["maxFee"], "100000000000000000");
        assert_eq!(json["levels"][0]["approvers"][0], Address::repeat_byte(0xab).to_checksum(None));
        assert_eq!(serde_json::from_value::<FlowJson>(json).unwrap().0, flow());
    }

    /// Every value wider than 64 bits leaves as decimal, whatever box-core
    /// names it: a field added to a struct (issue 11's `maxFee` on a flow
    /// limit) needs nothing here.
    #[test]
    fn no_wide_integer_leaves_as_hex() {
        fn strings(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::String(s) => out.push(s.clone()),
                Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
                Value::Object(m) => m.values().for_each(|x| strings(x, out)),
                _ => {}
            }
        }
        let r = TransferRequest {
            requestId: B256::repeat_byte(1),
            flowHash: B256::repeat_byte(2),
            applicant: Address::repeat_byte(3),
            asset: Address::ZERO,
            to: Address::repeat_byte(4),
            amount: U256::from(10u64),
            maxFee: U256::from(255u64),
            chainId: 31337,
            timestamp: 1,
        };
        for json in [
            serde_json::to_value(FlowJson::from(flow())).unwrap(),
            serde_json::to_value(TransferRequestJson::from(r)).unwrap(),
        ] {
            let mut all = Vec::new();
            strings(&json, &mut all);
            for s in all.iter().filter(|s| s.starts_with("0x")) {
                assert!(s.len() == 42 || s.len() == 66, "{s} is hex but neither an address nor a 32-byte hash");
            }
        }
    }

    #[test]
    fn each_refusal_names_the_field_and_the_grammar() {
        let ok = serde_json::to_value(FlowJson::from(flow())).unwrap();
        for (edit, want) in [
            (
                ("limits", 0, "perTransfer", Value::from("1e18")),
                "limits[0].perTransfer: amount \"1e18\" is not a plain decimal",
            ),
            (("limits", 0, "perTransfer", Value::from(5)), "limits[0].perTransfer: expected a decimal string"),
            (("limits", 0, "perPeriod", Value::from("0x10")), "limits[0].perPeriod: amount \"0x10\""),
            (
                ("levels", 0, "approvers", Value::from(vec!["0xAbababababababababababababababababababab"])),
                "levels[0].approvers[0]:",
            ),
            (("limits", 0, "extra", Value::from(1)), "unknown field `extra`"),
        ] {
            let (list, i, field, value) = edit;
            let mut v = ok.clone();
            v[list][i][field] = value;
            let e = serde_json::from_value::<FlowJson>(v).unwrap_err().to_string();
            assert!(e.contains(want), "{want}: {e}");
        }
        let mut v = serde_json::to_value(TransferRequestJson::from(TransferRequest {
            requestId: B256::ZERO,
            flowHash: B256::ZERO,
            applicant: Address::ZERO,
            asset: Address::ZERO,
            to: Address::ZERO,
            amount: U256::ZERO,
            maxFee: U256::ZERO,
            chainId: 1,
            timestamp: 1,
        }))
        .unwrap();
        v["requestId"] = "0x12".into();
        let e = serde_json::from_value::<TransferRequestJson>(v).unwrap_err().to_string();
        assert!(e.contains("requestId: \"0x12\" is not 32 bytes"), "{e}");
    }
}
