//! box-core's state attestations against `testdata/attestation.json`,
//! written by the independent Python generator (`testdata/gen/attestation.py`)
//! from the README's definition ("State attestations"): the type hash and
//! signing digest, the node keys' signatures (box-core signs the same 65
//! bytes), invalid ones (an unregistered signer, a field edited after
//! signing) and which lists certify the statement.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use alloy::sol_types::SolStruct;
use box_core::attestation::{SignedAttestation, StateAttestation, certify};
use box_core::crypto::SecretKey;
use box_core::ids::{ChainId, DeploymentId};
use box_core::quorum::NodeRegistry;
use box_core::typed::Domain;
use box_core::{Address, B256};
use serde_json::Value;
use sha2::Digest;

fn load() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/attestation.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn b256(v: &Value) -> B256 {
    v.as_str().unwrap().parse().unwrap()
}

fn main_domain() -> Domain {
    Domain { chain_id: ChainId(31337), deployment: DeploymentId(B256::repeat_byte(0xB0)) }
}

fn statement(v: &Value) -> StateAttestation {
    serde_json::from_value(v.clone()).unwrap()
}

fn signed(v: &Value) -> SignedAttestation {
    let bytes = alloy::primitives::hex::decode(v["signature"].as_str().unwrap()).unwrap();
    SignedAttestation {
        attestation: statement(&v["attestation"]),
        signature: box_core::crypto::signature_from_bytes(&bytes).unwrap(),
    }
}

fn key(label: &str) -> SecretKey {
    let d: [u8; 32] = sha2::Sha256::digest(format!("BOX test vectors/{label}")).into();
    SecretKey::from_bytes(&d).unwrap()
}

#[test]
fn a_state_attestation_hashes_and_signs_as_the_python_generator_says() {
    let v = load();
    let d = main_domain();
    let s = statement(&v["statement"]);
    assert_eq!(StateAttestation::eip712_encode_type(), v["encodeType"].as_str().unwrap());
    assert_eq!(s.eip712_type_hash(), b256(&v["typeHash"]));
    assert_eq!(s.eip712_hash_struct(), b256(&v["hashStruct"]));
    assert_eq!(d.signing_hash(&s), b256(&v["digest"]));
    for (label, item) in ["node-1", "node-2", "node-3"].iter().zip(v["valid"].as_array().unwrap()) {
        let a = signed(item);
        let who: Address = item["signer"].as_str().unwrap().parse().unwrap();
        assert_eq!(a.signer(&d).unwrap(), who);
        let ours = SignedAttestation::sign(&d, &key(label), s.clone());
        assert_eq!(ours.signature, a.signature, "box-core signs {label}'s attestation with other bytes");
    }
}

#[test]
fn an_unregistered_signer_or_an_edited_field_does_not_attest() {
    let v = load();
    let d = main_domain();
    let registry =
        NodeRegistry::new(v["registry"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().parse().unwrap()))
            .unwrap();
    let s = statement(&v["statement"]);
    let wrong = signed(&v["wrongSigner"]);
    let mallory: Address = v["wrongSigner"]["signer"].as_str().unwrap().parse().unwrap();
    assert_eq!(wrong.signer(&d).unwrap(), mallory);
    assert!(!registry.contains(&mallory));
    for e in v["edited"].as_array().unwrap() {
        let a = signed(e);
        let recovers: Address = e["recovers"].as_str().unwrap().parse().unwrap();
        assert_eq!(a.signer(&d).unwrap(), recovers, "edited {}", e["field"]);
        assert!(!registry.contains(&recovers));
        let alone = certify(&d, &registry, &a.attestation, std::slice::from_ref(&a)).unwrap_err();
        assert!(alone.0.contains("not a registered node account"), "{alone}");
    }
    assert!(certify(&d, &registry, &s, &[wrong, signed(&v["valid"][0])]).is_err());
}

#[test]
fn a_strict_majority_of_distinct_registered_signers_certifies_exactly_the_lists_the_generator_says() {
    let v = load();
    let d = main_domain();
    let registry =
        NodeRegistry::new(v["registry"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().parse().unwrap()))
            .unwrap();
    let s = statement(&v["statement"]);
    for case in v["certify"].as_array().unwrap() {
        let items: Vec<SignedAttestation> =
            case["items"].as_array().unwrap().iter().map(|n| signed(&v["items"][n.as_str().unwrap()])).collect();
        let got = certify(&d, &registry, &s, &items);
        let name = case["name"].as_str().unwrap();
        if case["certified"].as_bool().unwrap() {
            let c = got.unwrap_or_else(|e| panic!("{name}: refused: {e}"));
            assert_eq!(c.attestation(), &s);
            assert!(c.signers().len() >= 2 && c.signers().iter().all(|a| registry.contains(a)), "{name}");
        } else {
            let e = got.expect_err(name);
            assert!(e.0.contains("a strict majority needs 2"), "{name}: {e}");
        }
    }
}
