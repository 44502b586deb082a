//! Wallet-signable typed data: the standard `eth_signTypedData_v4` JSON of
//! every object a person signs, so that a browser wallet, a hardware wallet,
//! the web console and `boxctl` sign byte-identical EIP-712 digests.
//!
//! ```text
//!  { "types":       { "EIP712Domain": [...], "TransferRequest": [...], ... },
//!    "primaryType": "TransferRequest",
//!    "domain":      { "name": "BOX", "version": "1", "chainId": 31337, "salt": "0x…" },
//!    "message":     { "requestId": "0x…", "amount": "1500000000000000000", ... } }
//! ```
//!
//! The `types` are parsed from the very EIP-712 type string the hash is
//! computed from ([`SolStruct::eip712_encode_type`]), so the JSON cannot
//! drift from [`Domain::signing_hash`]. Values are written the way wallets
//! read them: addresses EIP-55, `bytes32` as lowercase `0x` hex, `uint256` as
//! decimal strings (never floats), smaller integers as JSON numbers while they
//! fit in 53 bits (JavaScript's exact range) and as decimal strings beyond.
//! `chainId` in the domain is a JSON number, `salt` is `0x` hex.
//!
//! This module only writes JSON; it checks nothing. A signature over the
//! JSON is checked like any other, by recovering it against the object's
//! signing hash (see [`crate::typed::Domain::recover`]).

use crate::governance::GovernanceAction;
use crate::typed::{DOMAIN_NAME, DOMAIN_VERSION, Domain};
use alloy::primitives::{Address, U256};
use alloy::sol_types::SolStruct;
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The largest integer JavaScript represents exactly (2^53 − 1).
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Why an object could not be written as typed data. Only a struct whose
/// serde form does not match its EIP-712 type can cause it: a bug, never
/// bad input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("typed data for {primary_type}: {problem}")]
pub struct TypedDataError {
    /// The struct being written.
    pub primary_type: String,
    /// What did not fit.
    pub problem: String,
}

/// One EIP-712 struct's fields, in order: `(name, type)`.
pub type Fields = Vec<(String, String)>;

/// Parses an EIP-712 type string (`A(uint256 x,B b)B(bool c)`) into each
/// struct's fields, in the order written.
pub fn parse_encode_type(encoded: &str) -> BTreeMap<String, Fields> {
    let mut out = BTreeMap::new();
    let mut rest = encoded;
    while let Some(open) = rest.find('(') {
        let name = rest[..open].to_owned();
        let Some(close) = rest[open..].find(')') else { break };
        let inner = &rest[open + 1..open + close];
        let fields = inner
            .split(',')
            .filter(|f| !f.is_empty())
            .filter_map(|f| f.rsplit_once(' ').map(|(t, n)| (n.to_owned(), t.to_owned())))
            .collect();
        out.insert(name, fields);
        rest = &rest[open + close + 1..];
    }
    out
}

/// The `EIP712Domain` fields a BOX domain uses, in the order EIP-712 fixes.
pub fn domain_fields() -> Fields {
    [("name", "string"), ("version", "string"), ("chainId", "uint256"), ("salt", "bytes32")]
        .iter()
        .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
        .collect()
}

/// The `domain` object of the typed data: `chainId` a JSON number, `salt` `0x` hex.
pub fn domain_json(domain: &Domain) -> Value {
    json!({
        "name": DOMAIN_NAME,
        "version": DOMAIN_VERSION,
        "chainId": domain.chain_id.0,
        "salt": domain.deployment.0.to_string(),
    })
}

/// The `types` object for `structs` plus `EIP712Domain`.
pub fn types_json(structs: &BTreeMap<String, Fields>) -> Value {
    let list = |fields: &Fields| -> Value {
        fields.iter().map(|(n, t)| json!({ "name": n, "type": t })).collect::<Vec<_>>().into()
    };
    let mut types = Map::new();
    types.insert("EIP712Domain".into(), list(&domain_fields()));
    for (name, fields) in structs {
        types.insert(name.clone(), list(fields));
    }
    Value::Object(types)
}

/// The types of `T` (the struct and every struct it nests).
pub fn struct_types<T: SolStruct>() -> BTreeMap<String, Fields> {
    parse_encode_type(&T::eip712_encode_type())
}

/// The `eth_signTypedData_v4` JSON of `value` under `domain`: what a wallet
/// is asked to sign. Its EIP-712 digest is `domain.signing_hash(value)`.
pub fn typed_data<T: SolStruct + Serialize>(domain: &Domain, value: &T) -> Result<Value, TypedDataError> {
    let structs = struct_types::<T>();
    let primary = T::NAME.to_owned();
    let err = |problem: String| TypedDataError { primary_type: primary.clone(), problem };
    let raw = serde_json::to_value(value).map_err(|e| err(e.to_string()))?;
    let message = normalise(&structs, &primary, &raw).map_err(err)?;
    Ok(json!({
        "types": types_json(&structs),
        "primaryType": primary,
        "domain": domain_json(domain),
        "message": message,
    }))
}

/// The typed data of a governance action (the struct of its kind).
pub fn governance_typed_data(domain: &Domain, action: &GovernanceAction) -> Result<Value, TypedDataError> {
    match action {
        GovernanceAction::FreezeEmployee(a) => typed_data(domain, a),
        GovernanceAction::BlockDestination(a) => typed_data(domain, a),
        GovernanceAction::RegisterAsset(a) => typed_data(domain, a),
        GovernanceAction::NodeChange(a) => typed_data(domain, a),
        GovernanceAction::PauseTransfers(a) => typed_data(domain, a),
        GovernanceAction::AddressBookEntry(a) => typed_data(domain, a),
    }
}

/// Rewrites serde's form of a struct value into the typed-data form of `ty`.
fn normalise(structs: &BTreeMap<String, Fields>, ty: &str, v: &Value) -> Result<Value, String> {
    if let Some(elem) = ty.strip_suffix("[]") {
        let items = v.as_array().ok_or_else(|| format!("expected an array for {ty}, got {v}"))?;
        return items.iter().map(|i| normalise(structs, elem, i)).collect::<Result<Vec<_>, _>>().map(Value::Array);
    }
    if let Some(fields) = structs.get(ty) {
        let obj = v.as_object().ok_or_else(|| format!("expected an object for {ty}, got {v}"))?;
        let mut out = Map::new();
        for (name, field_ty) in fields {
            let value = obj.get(name).ok_or_else(|| format!("{ty}.{name} is missing"))?;
            out.insert(name.clone(), normalise(structs, field_ty, value).map_err(|e| format!("{ty}.{name}: {e}"))?);
        }
        return Ok(Value::Object(out));
    }
    if ty == "address" {
        let s = v.as_str().ok_or_else(|| format!("expected an address string, got {v}"))?;
        let a: Address = s.parse().map_err(|_| format!("{s} is not an address"))?;
        return Ok(Value::String(a.to_checksum(None)));
    }
    if let Some(bits) = ty.strip_prefix("uint") {
        let n = integer(v)?;
        let small = bits.parse::<u32>().is_ok_and(|b| b <= 64);
        return Ok(match u64::try_from(n) {
            Ok(x) if small && x <= MAX_SAFE_INTEGER => Value::from(x),
            _ => Value::String(n.to_string()),
        });
    }
    if ty.starts_with("bytes") {
        let s = v.as_str().ok_or_else(|| format!("expected 0x hex, got {v}"))?;
        return Ok(Value::String(s.to_ascii_lowercase()));
    }
    match (ty, v) {
        ("bool", Value::Bool(_)) | ("string", Value::String(_)) => Ok(v.clone()),
        _ => Err(format!("{v} does not fit the type {ty}")),
    }
}

/// An unsigned integer from serde's form: a JSON number, or a decimal or `0x` hex string.
fn integer(v: &Value) -> Result<U256, String> {
    match v {
        Value::Number(n) => n.as_u64().map(U256::from).ok_or_else(|| format!("{n} is not an unsigned integer")),
        Value::String(s) => match s.strip_prefix("0x") {
            Some(h) => U256::from_str_radix(h, 16).map_err(|e| format!("{s}: {e}")),
            None => U256::from_str_radix(s, 10).map_err(|e| format!("{s}: {e}")),
        },
        _ => Err(format!("{v} is not an integer")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::crypto::SecretKey;
    use crate::ids::{ChainId, DeploymentId};
    use crate::transbox::TransBox;
    use crate::typed::{FlowAuthorization, PauseTransfers, TransferRequest};
    use alloy::primitives::{B256, keccak256};

    fn domain() -> Domain {
        Domain { chain_id: ChainId(31337), deployment: DeploymentId(B256::repeat_byte(0xab)) }
    }

    /// An EIP-712 hasher over the JSON alone, written from the EIP-712
    /// specification (types sorted by name after the primary one), so the
    /// JSON is checked independently of alloy's `sol!` implementation.
    fn json_digest(td: &Value) -> B256 {
        let types = td["types"].as_object().unwrap();
        let fields = |t: &str| -> Vec<(String, String)> {
            types[t]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| (f["name"].as_str().unwrap().to_owned(), f["type"].as_str().unwrap().to_owned()))
                .collect()
        };
        fn deps(t: &str, types: &Map<String, Value>, out: &mut std::collections::BTreeSet<String>) {
            for f in types[t].as_array().unwrap() {
                let ft = f["type"].as_str().unwrap().trim_end_matches("[]");
                if types.contains_key(ft) && out.insert(ft.to_owned()) {
                    deps(ft, types, out);
                }
            }
        }
        let encode_type = |t: &str| -> String {
            let mut set = std::collections::BTreeSet::new();
            deps(t, types, &mut set);
            set.remove(t);
            std::iter::once(t.to_owned())
                .chain(set)
                .map(|s| {
                    let fs: Vec<String> = fields(&s).iter().map(|(n, ty)| format!("{ty} {n}")).collect();
                    format!("{s}({})", fs.join(","))
                })
                .collect()
        };
        fn word(ty: &str, v: &Value, hs: &dyn Fn(&str, &Value) -> B256, types: &Map<String, Value>) -> [u8; 32] {
            if let Some(e) = ty.strip_suffix("[]") {
                let cat: Vec<u8> = v.as_array().unwrap().iter().flat_map(|i| word(e, i, hs, types)).collect();
                return keccak256(cat).0;
            }
            if types.contains_key(ty) {
                return hs(ty, v).0;
            }
            match ty {
                "string" => keccak256(v.as_str().unwrap().as_bytes()).0,
                "bool" => U256::from(u8::from(v.as_bool().unwrap())).to_be_bytes(),
                "address" => {
                    let a: Address = v.as_str().unwrap().parse().unwrap();
                    let mut w = [0u8; 32];
                    w[12..].copy_from_slice(a.as_slice());
                    w
                }
                "bytes32" => B256::from_slice(&hex::decode(&v.as_str().unwrap()[2..]).unwrap()).0,
                _ => integer(v).unwrap().to_be_bytes(),
            }
        }
        fn hash_struct(t: &str, v: &Value, types: &Map<String, Value>, encode_type: &dyn Fn(&str) -> String) -> B256 {
            let mut buf = keccak256(encode_type(t).as_bytes()).to_vec();
            let hs = |tt: &str, vv: &Value| hash_struct(tt, vv, types, encode_type);
            for f in types[t].as_array().unwrap() {
                let (n, ty) = (f["name"].as_str().unwrap(), f["type"].as_str().unwrap());
                buf.extend_from_slice(&word(ty, &v[n], &hs, types));
            }
            keccak256(buf)
        }
        let sep = hash_struct("EIP712Domain", &td["domain"], types, &encode_type);
        let msg = hash_struct(td["primaryType"].as_str().unwrap(), &td["message"], types, &encode_type);
        keccak256([&[0x19u8, 0x01][..], sep.as_slice(), msg.as_slice()].concat())
    }

    fn request() -> TransferRequest {
        TransferRequest {
            requestId: B256::repeat_byte(1),
            flowHash: B256::repeat_byte(2),
            applicant: SecretKey::from_label_unchecked("employee").address(),
            asset: Address::ZERO,
            to: "0x52908400098527886E0F7030069857D2E4169EE7".parse().unwrap(),
            amount: U256::from(10u64).pow(U256::from(24u64)),
            maxFee: U256::from(21_000u64 * 30_000_000_000),
            chainId: 31337,
            timestamp: 1_700_000_000,
        }
    }

    #[test]
    fn the_json_hashes_to_the_signing_hash_of_every_signed_object() {
        let d = domain();
        let req = request();
        let tb = TransBox::apply(&d, req.clone(), &SecretKey::from_label_unchecked("employee"));
        let approval = tb.approval_for(1);
        let auth = FlowAuthorization { flowHash: B256::repeat_byte(3), enable: true };
        let pause = PauseTransfers { paused: true, reason: "incident 7".into(), nonce: u64::MAX };
        assert_eq!(json_digest(&typed_data(&d, &req).unwrap()), d.signing_hash(&req));
        assert_eq!(json_digest(&typed_data(&d, &approval).unwrap()), d.signing_hash(&approval));
        assert_eq!(json_digest(&typed_data(&d, &auth).unwrap()), d.signing_hash(&auth));
        let action = GovernanceAction::PauseTransfers(pause);
        assert_eq!(json_digest(&governance_typed_data(&d, &action).unwrap()), action.signing_hash(&d));
    }

    #[test]
    fn the_json_is_what_wallets_read() {
        let td = typed_data(&domain(), &request()).unwrap();
        assert_eq!(td["primaryType"], "TransferRequest");
        assert_eq!(td["domain"]["chainId"], json!(31337), "chainId is a JSON number");
        assert_eq!(td["domain"]["salt"], json!(format!("0x{}", "ab".repeat(32))));
        assert_eq!(td["types"]["EIP712Domain"][3], json!({"name": "salt", "type": "bytes32"}));
        let m = &td["message"];
        assert_eq!(m["to"], "0x52908400098527886E0F7030069857D2E4169EE7", "EIP-55");
        assert_eq!(m["amount"], "1000000000000000000000000", "uint256 as a decimal string");
        assert_eq!(m["chainId"], json!(31337));
        assert_eq!(m["timestamp"], json!(1_700_000_000u64));
        let pause = PauseTransfers { paused: true, reason: "r".into(), nonce: u64::MAX };
        let td = typed_data(&domain(), &pause).unwrap();
        assert_eq!(td["message"]["nonce"], json!(u64::MAX.to_string()), "beyond 2^53: a string");
        let approval = TransBox::apply(&domain(), request(), &SecretKey::from_label_unchecked("e")).approval_for(1);
        let td = typed_data(&domain(), &approval).unwrap();
        assert_eq!(td["message"]["request"]["amount"], "1000000000000000000000000");
        assert!(td["types"]["TransferRequest"].is_array(), "nested struct types are listed");
    }

    #[test]
    fn encode_types_parse_into_fields() {
        let t = parse_encode_type("A(uint256 x,B b)B(bool c,address[] d)");
        assert_eq!(t["A"], vec![("x".to_owned(), "uint256".to_owned()), ("b".to_owned(), "B".to_owned())]);
        assert_eq!(t["B"][1], ("d".to_owned(), "address[]".to_owned()));
    }
}
