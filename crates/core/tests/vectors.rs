#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Committed test vectors from an independent implementation (Python:
//! argon2-cffi, eth-account, eth-abi; see `testdata/gen/README.md`), checked
//! against box-core: key derivation, EIP-712 hashes and signatures, and the
//! canonical encoding, each with its invalid inputs.
//!
//! Every case runs even when an earlier one fails; the test then fails
//! listing each failing file and case by name.

use alloy::primitives::{Address, B256, Signature};
use alloy::sol_types::SolStruct;
use box_core::crypto::{SecretKey, SignatureError, recover, signature_from_bytes};
use box_core::encoding::{Canonical, DecodeError, MAX_ENCODED_LEN, VERSION};
use box_core::evidence::{Equivocation, SealedHeader};
use box_core::governance::{GovernanceAction, SignedAction};
use box_core::ids::{ChainId, ContentHash, DeploymentId, SubjectId};
use box_core::keys::{
    DerivationError, Phrase, WeakPhrase, check_phrase_strength, derive_root_key, phrase_hash, root_key, wallet_key,
};
use box_core::notary::{Entry, Subject, SubjectKind, VoteBatch};
use box_core::quorum::{NodeRegistry, QuorumCertificate, accept_vote, verify_certificate};
use box_core::transbox::TransBox;
use box_core::typed::{
    AddressBookEntry, Approval, BlockDestination, BoxFlow, Domain, FlowAuthorization, FreezeEmployee, Genesis,
    NodeChange, NodeVote, PauseTransfers, RegisterAsset, Signed, SignerReport, TransferRequest,
};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt::Debug;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use zeroize::Zeroizing;

type Check = Result<(), String>;

macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err(format!($($arg)+));
        }
    };
}

macro_rules! ensure_eq {
    ($got:expr, $want:expr, $what:expr) => {
        match (&$got, &$want) {
            (got, want) => {
                if got != want {
                    return Err(format!("{}: got {:?}, expected {:?}", $what, got, want));
                }
            }
        }
    };
}

// ---------------------------------------------------------------------------
// Loading and field access
// ---------------------------------------------------------------------------

fn load(rel: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata").join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_else(|| panic!("no array {key:?}"))
}

/// Runs `check` on every case of `cases`, catching panics, and fails naming
/// every failing case.
fn run(file: &str, section: &str, cases: &[Value], check: impl Fn(&Value) -> Check) {
    assert!(!cases.is_empty(), "{file}: {section} has no cases");
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let name = case.get("name").and_then(Value::as_str).map_or_else(|| format!("#{i}"), |n| format!("{n:?}"));
        let outcome = catch_unwind(AssertUnwindSafe(|| check(case)))
            .unwrap_or_else(|p| Err(format!("panicked: {}", panic_message(&p))));
        if let Err(e) = outcome {
            failures.push(format!("{file}: {section} case {name}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{} failing vector(s):\n{}", failures.len(), failures.join("\n"));
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

fn field<'a>(v: &'a Value, key: &str) -> Result<&'a Value, String> {
    v.get(key).ok_or_else(|| format!("missing field {key:?}"))
}

fn string<'a>(v: &'a Value, key: &str) -> Result<&'a str, String> {
    field(v, key)?.as_str().ok_or_else(|| format!("field {key:?} is not a string"))
}

fn hex_bytes(s: &str) -> Result<Vec<u8>, String> {
    hex::decode(s.strip_prefix("0x").unwrap_or(s)).map_err(|e| format!("bad hex {s:?}: {e}"))
}

fn bytes(v: &Value, key: &str) -> Result<Vec<u8>, String> {
    hex_bytes(string(v, key)?)
}

fn b256(v: &Value, key: &str) -> Result<B256, String> {
    let b = bytes(v, key)?;
    ensure!(b.len() == 32, "field {key:?} is {} bytes, not 32", b.len());
    Ok(B256::from_slice(&b))
}

fn array32(v: &Value, key: &str) -> Result<[u8; 32], String> {
    Ok(b256(v, key)?.0)
}

fn address(s: &str) -> Result<Address, String> {
    s.parse().map_err(|e| format!("bad address {s:?}: {e}"))
}

fn address_field(v: &Value, key: &str) -> Result<Address, String> {
    address(string(v, key)?)
}

fn addresses(v: &Value) -> Result<Vec<Address>, String> {
    v.as_array()
        .ok_or("not an array of addresses")?
        .iter()
        .map(|a| address(a.as_str().ok_or("not a string")?))
        .collect()
}

fn strings(v: &Value, key: &str) -> Result<Vec<String>, String> {
    field(v, key)?
        .as_array()
        .ok_or_else(|| format!("field {key:?} is not an array"))?
        .iter()
        .map(|s| s.as_str().map(str::to_owned).ok_or_else(|| format!("{key:?} holds a non-string")))
        .collect()
}

/// A signature the vectors say is valid: parsed by the strict parser.
fn signature(s: &str) -> Result<Signature, String> {
    signature_from_bytes(&hex_bytes(s)?).map_err(|e| format!("signature {s} refused: {e}"))
}

fn signature_field(v: &Value, key: &str) -> Result<Signature, String> {
    signature(string(v, key)?)
}

fn signatures(v: &Value) -> Result<Vec<Signature>, String> {
    v.as_array()
        .ok_or("not an array of signatures")?
        .iter()
        .map(|s| signature(s.as_str().ok_or("not a string")?))
        .collect()
}

fn from_json<T: DeserializeOwned>(v: &Value) -> Result<T, String> {
    serde_json::from_value(v.clone()).map_err(|e| format!("cannot build {} from {v}: {e}", std::any::type_name::<T>()))
}

fn domain_of(chain_id: &Value, deployment: &Value) -> Result<Domain, String> {
    let chain_id = chain_id.as_u64().ok_or("chain id is not a u64")?;
    let d = hex_bytes(deployment.as_str().ok_or("deployment id is not a string")?)?;
    ensure!(d.len() == 32, "deployment id is not 32 bytes");
    Ok(Domain { chain_id: ChainId(chain_id), deployment: DeploymentId(B256::from_slice(&d)) })
}

// ---------------------------------------------------------------------------
// 1. Key derivation
// ---------------------------------------------------------------------------

fn hashes(v: &Value) -> Result<Vec<Zeroizing<[u8; 32]>>, String> {
    strings(v, "phraseHashes")?
        .iter()
        .map(|h| {
            let b = hex_bytes(h)?;
            <[u8; 32]>::try_from(b.as_slice()).map(Zeroizing::new).map_err(|_| format!("{h} is not 32 bytes"))
        })
        .collect()
}

fn check_root_and_wallet(case: &Value, d: &[u8; 32], phrase_hashes: &[Zeroizing<[u8; 32]>]) -> Check {
    let k = root_key(d, phrase_hashes).map_err(|e| format!("root_key: {e}"))?;
    ensure_eq!(B256::from(*k), b256(case, "rootKey")?, "root_key");
    let w = wallet_key(&k).map_err(|e| format!("wallet_key: {e}"))?;
    ensure_eq!(B256::from(*w.expose_bytes()), b256(case, "walletKey")?, "wallet key");
    // Compared as text: the vectors hold the EIP-55 form.
    ensure_eq!(w.address().to_checksum(None), string(case, "walletAddress")?, "wallet address");
    Ok(())
}

#[test]
fn key_derivation_matches_the_vectors() {
    let v = load("keys.json");
    let argon = &v["argon2"];
    assert_eq!(argon["memoryKiB"], box_core::keys::ARGON2_M_KIB);
    assert_eq!(argon["passes"], box_core::keys::ARGON2_T);
    assert_eq!(argon["lanes"], box_core::keys::ARGON2_P);
    assert_eq!(v["walletPath"], box_core::keys::WALLET_PATH);

    run("keys.json", "derivations", array(&v, "derivations"), |case| {
        let d = array32(case, "d")?;
        let phrases: Vec<Phrase> = strings(case, "phrases")?.into_iter().map(Phrase::new).collect();
        let expected = hashes(case)?;
        ensure_eq!(phrases.len(), expected.len(), "phrase count");
        for ((p, want), i) in phrases.iter().zip(&expected).zip(1u32..) {
            let got = phrase_hash(p, &d, i).map_err(|e| format!("phrase_hash {i}: {e}"))?;
            ensure_eq!(B256::from(*got), B256::from(**want), format!("H(m_{i})"));
        }
        let k = derive_root_key(&d, &phrases).map_err(|e| format!("derive_root_key: {e}"))?;
        ensure_eq!(B256::from(*k), b256(case, "rootKey")?, "derive_root_key");
        check_root_and_wallet(case, &d, &expected)
    });

    run("keys.json", "rootKeys", array(&v, "rootKeys"), |case| {
        check_root_and_wallet(case, &array32(case, "d")?, &hashes(case)?)
    });

    let strong: Vec<Value> =
        array(&v, "strongPhrases").iter().map(|p| serde_json::json!({ "name": p, "phrase": p })).collect();
    run("keys.json", "strongPhrases", &strong, |case| {
        let p = string(case, "phrase")?;
        check_phrase_strength(p).map_err(|e| format!("refused: {e}"))
    });
}

#[test]
fn invalid_key_inputs_are_refused() {
    let v = load("invalid/keys.json");
    let weak: Vec<Value> = array(&v, "weakPhrases")
        .iter()
        .map(|c| {
            let mut c = c.clone();
            c["name"] = c["phrase"].clone();
            c
        })
        .collect();
    run("invalid/keys.json", "weakPhrases", &weak, |case| {
        let n = || case["value"].as_u64().map(|n| n as usize).ok_or("missing count");
        let want = match string(case, "error")? {
            "TooShort" => WeakPhrase::TooShort(n()?),
            "TooRepetitive" => WeakPhrase::TooRepetitive(n()?),
            "EdgeWhitespace" => WeakPhrase::EdgeWhitespace,
            "Sequence" => WeakPhrase::Sequence,
            other => return Err(format!("unknown WeakPhrase variant {other}")),
        };
        ensure_eq!(check_phrase_strength(string(case, "phrase")?), Err(want), "check_phrase_strength");
        Ok(())
    });

    run("invalid/keys.json", "tooFewPhrases", array(&v, "tooFewPhrases"), |case| {
        let phrases: Vec<Phrase> = strings(case, "phrases")?.into_iter().map(Phrase::new).collect();
        let got = derive_root_key(&array32(case, "d")?, &phrases).map(|_| ());
        ensure_eq!(got, Err(DerivationError::TooFewPhrases(phrases.len())), "derive_root_key");
        Ok(())
    });

    run("invalid/keys.json", "tooFewPhraseHashes", array(&v, "tooFewPhraseHashes"), |case| {
        let h = hashes(case)?;
        let got = root_key(&array32(case, "d")?, &h).map(|_| ());
        ensure_eq!(got, Err(DerivationError::TooFewPhrases(h.len())), "root_key");
        Ok(())
    });
}

// ---------------------------------------------------------------------------
// 2. EIP-712
// ---------------------------------------------------------------------------

fn domains(v: &Value) -> Vec<(String, Domain)> {
    array(v, "domains")
        .iter()
        .map(|d| (d["name"].as_str().unwrap().to_owned(), domain_of(&d["chainId"], &d["deploymentId"]).unwrap()))
        .collect()
}

fn find_domain<'a>(domains: &'a [(String, Domain)], name: &str) -> Result<&'a Domain, String> {
    domains.iter().find(|(n, _)| n == name).map(|(_, d)| d).ok_or_else(|| format!("unknown domain {name:?}"))
}

fn eip712_case<T: SolStruct + DeserializeOwned>(domain: &Domain, case: &Value) -> Check {
    let value: T = from_json(field(case, "message")?)?;
    ensure_eq!(T::eip712_encode_type().as_ref(), string(case, "encodeType")?, "encodeType");
    ensure_eq!(value.eip712_type_hash(), b256(case, "typeHash")?, "typeHash");
    ensure_eq!(value.eip712_hash_struct(), b256(case, "hashStruct")?, "hashStruct");
    let digest = b256(case, "digest")?;
    ensure_eq!(domain.signing_hash(&value), digest, "signing hash");

    let signer = address_field(case, "signer")?;
    let sig_bytes = bytes(case, "signature")?;
    let sig = signature_from_bytes(&sig_bytes).map_err(|e| format!("signature_from_bytes: {e}"))?;
    ensure_eq!(recover(&digest, &sig), Ok(signer), "recover");
    ensure_eq!(domain.recover(&value, &sig), Ok(signer), "Domain::recover");

    let key = SecretKey::from_bytes(&array32(case, "signerKey")?).map_err(|e| e.to_string())?;
    ensure_eq!(key.address(), signer, "address of the signer key");
    // RFC 6979 is deterministic and both sides use low-s: the same 65 bytes.
    ensure_eq!(hex::encode(key.sign_hash(&digest).as_bytes()), hex::encode(&sig_bytes), "sign_hash");
    let signed = Signed::new(domain, &key, value);
    ensure_eq!(signed.signature, sig, "Signed::new");
    ensure_eq!(signed.signer(domain), Ok(signer), "Signed::signer");
    Ok(())
}

#[test]
fn eip712_matches_the_vectors() {
    let v = load("eip712.json");
    let doms = domains(&v);
    run("eip712.json", "domains", array(&v, "domains"), |d| {
        let domain = find_domain(&doms, string(d, "name")?)?;
        ensure_eq!(domain.separator(), b256(d, "separator")?, "separator");
        ensure_eq!(domain.eip712().encode_type(), string(d, "encodeType")?, "domain encodeType");
        Ok(())
    });
    run("eip712.json", "cases", array(&v, "cases"), |case| {
        let domain = find_domain(&doms, string(case, "domain")?)?;
        match string(case, "struct")? {
            "BoxFlow" => eip712_case::<BoxFlow>(domain, case),
            "FlowAuthorization" => eip712_case::<FlowAuthorization>(domain, case),
            "TransferRequest" => eip712_case::<TransferRequest>(domain, case),
            "Approval" => eip712_case::<Approval>(domain, case),
            "NodeVote" => eip712_case::<NodeVote>(domain, case),
            "SignerReport" => eip712_case::<SignerReport>(domain, case),
            "FreezeEmployee" => eip712_case::<FreezeEmployee>(domain, case),
            "BlockDestination" => eip712_case::<BlockDestination>(domain, case),
            "RegisterAsset" => eip712_case::<RegisterAsset>(domain, case),
            "NodeChange" => eip712_case::<NodeChange>(domain, case),
            "PauseTransfers" => eip712_case::<PauseTransfers>(domain, case),
            "AddressBookEntry" => eip712_case::<AddressBookEntry>(domain, case),
            "Genesis" => eip712_case::<Genesis>(domain, case),
            other => Err(format!("unknown struct {other}")),
        }
    });
    // Every signed struct of typed.rs has a vector.
    for s in [
        "BoxFlow",
        "FlowAuthorization",
        "TransferRequest",
        "Approval",
        "NodeVote",
        "SignerReport",
        "FreezeEmployee",
        "BlockDestination",
        "RegisterAsset",
        "NodeChange",
        "PauseTransfers",
        "AddressBookEntry",
        "Genesis",
    ] {
        assert!(array(&v, "cases").iter().any(|c| c["struct"] == s), "eip712.json has no {s} case");
    }
}

fn signature_error_name(e: &SignatureError) -> &'static str {
    match e {
        SignatureError::Malformed(_) => "Malformed",
        SignatureError::NonCanonical => "NonCanonical",
        SignatureError::Unrecoverable => "Unrecoverable",
    }
}

#[test]
fn invalid_signatures_are_refused() {
    let v = load("invalid/signatures.json");
    let digest = b256(&v, "digest").unwrap();
    let expected_signer = address_field(&v, "expectedSigner").unwrap();
    let ev = load("eip712.json");
    let doms = domains(&ev);
    let domain = find_domain(&doms, v["domain"].as_str().unwrap()).unwrap();
    assert_eq!(v["struct"], "FlowAuthorization");
    let message: FlowAuthorization = from_json(&v["message"]).unwrap();
    assert_eq!(domain.signing_hash(&message), digest, "invalid/signatures.json: digest");
    let good = signature_field(&v, "validSignature").unwrap();
    assert_eq!(recover(&digest, &good), Ok(expected_signer), "invalid/signatures.json: the valid signature");

    run("invalid/signatures.json", "cases", array(&v, "cases"), |case| {
        let raw = bytes(case, "signature")?;
        let parsed = signature_from_bytes(&raw);
        let want = string(case, "fromBytes")?;
        ensure_eq!(parsed.as_ref().map_or_else(signature_error_name, |_| "ok"), want, "signature_from_bytes");
        let Some(want) = case.get("recover").and_then(Value::as_str) else {
            return Ok(());
        };
        // Bypass the strict parser so recover's own checks are exercised too.
        let sig = Signature::from_raw(&raw).map_err(|e| format!("Signature::from_raw: {e}"))?;
        let got = recover(&digest, &sig);
        ensure_eq!(got.as_ref().map_or_else(signature_error_name, |_| "ok"), want, "recover");
        if let Ok(a) = got {
            ensure!(a != expected_signer, "recovered the expected signer {a}");
            ensure_eq!(a, address_field(case, "recovers")?, "recovered address");
            ensure!(
                domain.recover(&message, &sig) != Ok(expected_signer),
                "Domain::recover accepted it as the expected signer"
            );
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------
// 3. Canonical encoding
// ---------------------------------------------------------------------------

fn subject_kind(name: &str) -> Result<SubjectKind, String> {
    Ok(match name {
        "flow" => SubjectKind::Flow,
        "flow_authorization" => SubjectKind::FlowAuthorization,
        "transfer" => SubjectKind::Transfer,
        "governance" => SubjectKind::Governance,
        "signer_report" => SubjectKind::SignerReport,
        other => return Err(format!("unknown subject kind {other}")),
    })
}

/// Decodes the vector as `T`, compares with `expected` (built from the JSON
/// value), re-encodes both ways, and checks the Subject/Entry view.
fn encoding_case<T: Canonical + PartialEq + Debug>(domain: &Domain, case: &Value, expected: T) -> Result<T, String> {
    let encoded = bytes(case, "encoded")?;
    ensure_eq!(encoded.first(), Some(&VERSION), "version byte");
    ensure_eq!(hex::encode(expected.encode()), hex::encode(&encoded), "box-core's encoding of the JSON value");
    let decoded = T::decode(&encoded).map_err(|e| format!("decode: {e}"))?;
    ensure_eq!(decoded, expected, "decoded value");
    ensure!(decoded.encode() == encoded, "re-encoding differs");
    let content = b256(case, "contentHash")?;
    ensure_eq!(decoded.content_hash(), ContentHash(content), "content hash");

    match case.get("subject").filter(|s| !s.is_null()) {
        Some(s) => {
            let subject = Subject::decode(&encoded).map_err(|e| format!("Subject::decode: {e}"))?;
            ensure_eq!(subject.kind(), subject_kind(string(s, "kind")?)?, "subject kind");
            ensure_eq!(subject.id(domain).map_err(|e| e.to_string())?, SubjectId(b256(s, "id")?), "subject id");
            ensure_eq!(subject.content(), ContentHash(content), "subject content");
            ensure!(subject.encode() == encoded, "subject re-encoding differs");
        }
        None => ensure!(Subject::decode(&encoded).is_err(), "decodes as a subject but is not one"),
    }
    match case.get("entry").and_then(Value::as_str) {
        Some(kind) => {
            let entry = Entry::decode(&encoded).map_err(|e| format!("Entry::decode: {e}"))?;
            let ok = matches!(
                (&entry, kind),
                (Entry::Submit(_), "submit")
                    | (Entry::Vote(_), "vote")
                    | (Entry::Votes(_), "votes")
                    | (Entry::Evidence(_), "evidence")
            );
            ensure!(ok, "Entry::decode gave {entry:?}, expected a {kind} entry");
            ensure!(entry.encode() == encoded, "entry re-encoding differs");
        }
        None => ensure!(Entry::decode(&encoded).is_err(), "decodes as an entry but is not one"),
    }

    // Every strict prefix must be refused, and no single-byte change may panic
    // or be accepted in a form that does not re-encode to itself.
    for len in 0..encoded.len() {
        ensure!(T::decode(&encoded[..len]).is_err(), "the {len}-byte prefix decodes");
    }
    let mut mutated = encoded.clone();
    for i in 0..mutated.len() {
        let original = mutated[i];
        for flip in [0x01, 0x80] {
            mutated[i] = original ^ flip;
            if let Ok(v) = T::decode(&mutated) {
                ensure!(v.encode() == mutated, "byte {i} ^ {flip:#x} decodes to a value that re-encodes differently");
            }
        }
        mutated[i] = original;
    }
    Ok(decoded)
}

fn signed_case<T>(domain: &Domain, case: &Value) -> Check
where
    T: SolStruct + DeserializeOwned + PartialEq + Debug,
    Signed<T>: Canonical,
{
    let v = field(case, "value")?;
    let expected = Signed { value: from_json::<T>(field(v, "value")?)?, signature: signature_field(v, "signature")? };
    let decoded = encoding_case(domain, case, expected)?;
    ensure_eq!(decoded.signer(domain), Ok(address_field(v, "signer")?), "signer");
    Ok(())
}

fn transbox_case(domain: &Domain, case: &Value) -> Check {
    let v = field(case, "value")?;
    let levels = field(v, "levels")?
        .as_array()
        .ok_or("levels is not an array")?
        .iter()
        .map(signatures)
        .collect::<Result<Vec<_>, _>>()?;
    let expected = TransBox {
        request: from_json(field(v, "request")?)?,
        applicant_signature: signature_field(v, "applicantSignature")?,
        levels,
    };
    let tb = encoding_case(domain, case, expected)?;
    ensure_eq!(tb.hash().0, b256(case, "contentHash")?, "TransBox::hash");
    ensure_eq!(domain.recover(&tb.request, &tb.applicant_signature), Ok(tb.request.applicant), "applicant signature");
    if let Some(approvers) = v.get("approvers").filter(|a| !a.is_null()) {
        let approvers = approvers.as_array().ok_or("approvers is not an array")?;
        ensure_eq!(approvers.len(), tb.levels.len(), "approver levels");
        for (l, (sigs, who)) in tb.levels.iter().zip(approvers).enumerate() {
            // Python computed `below` and signed; box-core must agree on the nesting.
            let hash = domain.signing_hash(&tb.approval_for(l + 1));
            let who = addresses(who)?;
            let got =
                sigs.iter().map(|s| recover(&hash, s)).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
            ensure_eq!(got, who, format!("approvers of level {}", l + 1));
        }
    }
    Ok(())
}

fn certificate_case(domain: &Domain, case: &Value) -> Check {
    let v = field(case, "value")?;
    let expected = QuorumCertificate {
        subject: SubjectId(b256(v, "subject")?),
        content: ContentHash(b256(v, "contentHash")?),
        votes: signatures(field(v, "votes")?)?,
    };
    let cert = encoding_case(domain, case, expected)?;
    let voters = addresses(field(v, "voters")?)?;
    let hash = domain.signing_hash(&accept_vote(cert.subject, cert.content));
    let got = cert.votes.iter().map(|s| recover(&hash, s)).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
    ensure_eq!(got, voters, "voters");
    if !voters.is_empty() {
        let registry = NodeRegistry::new(voters.iter().copied()).map_err(|e| e.to_string())?;
        let verified = verify_certificate(domain, &registry, &cert).map_err(|e| format!("verify_certificate: {e}"))?;
        ensure_eq!(verified.voters().len(), voters.len(), "verified voters");
    }
    Ok(())
}

fn action_case(domain: &Domain, case: &Value) -> Check {
    let v = field(case, "value")?;
    let expected = SignedAction {
        action: from_json::<GovernanceAction>(field(v, "action")?)?,
        signatures: signatures(field(v, "signatures")?)?,
    };
    let action = encoding_case(domain, case, expected)?;
    let hash = action.action.signing_hash(domain);
    let got = action
        .signatures
        .iter()
        .map(|s| recover(&hash, s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    ensure_eq!(got, addresses(field(v, "signers")?)?, "signers");
    Ok(())
}

fn equivocation_case(domain: &Domain, case: &Value) -> Check {
    let v = field(case, "value")?;
    let sealed = |key: &str| -> Result<SealedHeader, String> {
        let s = field(v, key)?;
        Ok(SealedHeader { header: from_json(field(s, "header")?)?, signature: signature_field(s, "signature")? })
    };
    let expected = Equivocation { first: sealed("first")?, second: sealed("second")? };
    let decoded = encoding_case(domain, case, expected)?;
    ensure_eq!(decoded.verify(domain).map_err(|e| e.to_string())?, address_field(v, "sealer")?, "equivocator");
    Ok(())
}

/// A vote batch: its value is the list of signed votes, each with the signer it recovers to.
fn vote_batch_case(domain: &Domain, case: &Value) -> Check {
    let items = field(case, "value")?.as_array().ok_or("a vote batch's value is not an array")?;
    let mut votes = Vec::new();
    for v in items {
        votes.push(Signed::<NodeVote> {
            value: from_json::<NodeVote>(field(v, "value")?)?,
            signature: signature_field(v, "signature")?,
        });
    }
    let expected = VoteBatch::new(votes).map_err(|e| e.to_string())?;
    let decoded = encoding_case(domain, case, expected)?;
    for (vote, item) in decoded.votes().iter().zip(items) {
        ensure_eq!(vote.signer(domain), Ok(address_field(item, "signer")?), "signer");
    }
    Ok(())
}

fn plain_case<T: Canonical + DeserializeOwned + PartialEq + Debug>(domain: &Domain, case: &Value) -> Check {
    encoding_case(domain, case, from_json::<T>(field(case, "value")?)?).map(|_| ())
}

#[test]
fn canonical_encoding_matches_the_vectors() {
    let v = load("encoding.json");
    let domain = domain_of(&v["domainChainId"], &v["domainDeploymentId"]).unwrap();
    let cases = array(&v, "cases");
    run("encoding.json", "cases", cases, |case| match string(case, "type")? {
        "BoxFlow" => plain_case::<BoxFlow>(&domain, case),
        "TransferRequest" => plain_case::<TransferRequest>(&domain, case),
        "Approval" => plain_case::<Approval>(&domain, case),
        "NodeVote" => plain_case::<NodeVote>(&domain, case),
        "Genesis" => plain_case::<Genesis>(&domain, case),
        "FreezeEmployee" => plain_case::<FreezeEmployee>(&domain, case),
        "BlockDestination" => plain_case::<BlockDestination>(&domain, case),
        "RegisterAsset" => plain_case::<RegisterAsset>(&domain, case),
        "NodeChange" => plain_case::<NodeChange>(&domain, case),
        "PauseTransfers" => plain_case::<PauseTransfers>(&domain, case),
        "AddressBookEntry" => plain_case::<AddressBookEntry>(&domain, case),
        "Signed<FlowAuthorization>" => signed_case::<FlowAuthorization>(&domain, case),
        "Signed<NodeVote>" => signed_case::<NodeVote>(&domain, case),
        "Signed<SignerReport>" => signed_case::<SignerReport>(&domain, case),
        "TransBox" => transbox_case(&domain, case),
        "QuorumCertificate" => certificate_case(&domain, case),
        "SignedAction" => action_case(&domain, case),
        "Equivocation" => equivocation_case(&domain, case),
        "VoteBatch" => vote_batch_case(&domain, case),
        other => Err(format!("unknown type {other}")),
    });
    for t in [
        "BoxFlow",
        "TransferRequest",
        "Approval",
        "NodeVote",
        "Genesis",
        "FreezeEmployee",
        "BlockDestination",
        "RegisterAsset",
        "NodeChange",
        "PauseTransfers",
        "AddressBookEntry",
        "Signed<FlowAuthorization>",
        "Signed<NodeVote>",
        "Signed<SignerReport>",
        "TransBox",
        "QuorumCertificate",
        "SignedAction",
        "Equivocation",
        "VoteBatch",
    ] {
        assert!(cases.iter().any(|c| c["type"] == t), "encoding.json has no {t} case");
    }
    for k in ["flow", "flow_authorization", "transfer", "governance", "signer_report"] {
        assert!(cases.iter().any(|c| c["subject"]["kind"] == k), "encoding.json has no {k} subject");
    }
}

fn decode_error_name(e: &DecodeError) -> &'static str {
    match e {
        DecodeError::TooShort(_) => "TooShort",
        DecodeError::TooLarge(_) => "TooLarge",
        DecodeError::UnknownVersion(_) => "UnknownVersion",
        DecodeError::UnknownKind(_) => "UnknownKind",
        DecodeError::WrongKind { .. } => "WrongKind",
        DecodeError::Malformed(_) => "Malformed",
        DecodeError::NonCanonical => "NonCanonical",
        DecodeError::Invalid(_) => "Invalid",
    }
}

fn decode_as(type_name: &str, bytes: &[u8]) -> Result<Result<(), DecodeError>, String> {
    fn d<T: Canonical>(b: &[u8]) -> Result<(), DecodeError> {
        T::decode(b).map(|_| ())
    }
    Ok(match type_name {
        "BoxFlow" => d::<BoxFlow>(bytes),
        "TransferRequest" => d::<TransferRequest>(bytes),
        "Approval" => d::<Approval>(bytes),
        "NodeVote" => d::<NodeVote>(bytes),
        "Genesis" => d::<Genesis>(bytes),
        "FreezeEmployee" => d::<FreezeEmployee>(bytes),
        "BlockDestination" => d::<BlockDestination>(bytes),
        "RegisterAsset" => d::<RegisterAsset>(bytes),
        "NodeChange" => d::<NodeChange>(bytes),
        "PauseTransfers" => d::<PauseTransfers>(bytes),
        "AddressBookEntry" => d::<AddressBookEntry>(bytes),
        "Signed<FlowAuthorization>" => d::<Signed<FlowAuthorization>>(bytes),
        "Signed<NodeVote>" => d::<Signed<NodeVote>>(bytes),
        "Signed<SignerReport>" => d::<Signed<SignerReport>>(bytes),
        "TransBox" => d::<TransBox>(bytes),
        "QuorumCertificate" => d::<QuorumCertificate>(bytes),
        "SignedAction" => d::<SignedAction>(bytes),
        "Equivocation" => d::<Equivocation>(bytes),
        "VoteBatch" => d::<VoteBatch>(bytes),
        "Subject" => d::<Subject>(bytes),
        "Entry" => d::<Entry>(bytes),
        other => return Err(format!("unknown type {other}")),
    })
}

const ALL_TYPES: [&str; 21] = [
    "BoxFlow",
    "TransferRequest",
    "Approval",
    "NodeVote",
    "Genesis",
    "FreezeEmployee",
    "BlockDestination",
    "RegisterAsset",
    "NodeChange",
    "PauseTransfers",
    "AddressBookEntry",
    "Signed<FlowAuthorization>",
    "Signed<NodeVote>",
    "Signed<SignerReport>",
    "TransBox",
    "QuorumCertificate",
    "SignedAction",
    "Equivocation",
    "VoteBatch",
    "Subject",
    "Entry",
];

#[test]
fn invalid_encodings_are_refused() {
    let v = load("invalid/encoding.json");
    run("invalid/encoding.json", "cases", array(&v, "cases"), |case| {
        let encoded = bytes(case, "encoded")?;
        let allowed = strings(case, "errors")?;
        let err = match decode_as(string(case, "decodeAs")?, &encoded)? {
            Ok(()) => return Err(format!("decoded; expected one of {allowed:?}")),
            Err(e) => e,
        };
        ensure!(
            allowed.iter().any(|a| a == decode_error_name(&err)),
            "got {err:?} ({err}), expected one of {allowed:?}"
        );
        if let Some(text) = case.get("messageContains").and_then(Value::as_str) {
            ensure!(err.to_string().contains(text), "error {err:?} does not mention {text:?}");
        }
        Ok(())
    });
}

#[test]
fn inputs_over_the_size_limit_are_refused_by_every_decoder() {
    // Generated here rather than committed: a valid header followed by zeros.
    let cases: Vec<Value> = ALL_TYPES.iter().map(|t| serde_json::json!({ "name": t })).collect();
    run("(generated)", "over MAX_ENCODED_LEN", &cases, |case| {
        let t = string(case, "name")?;
        let kind = match t {
            "Subject" | "Entry" | "BoxFlow" => 1,
            _ => 3,
        };
        let mut big = vec![0u8; MAX_ENCODED_LEN + 1];
        big[0] = VERSION;
        big[1] = kind;
        match decode_as(t, &big)? {
            Err(DecodeError::TooLarge(n)) => ensure_eq!(n, MAX_ENCODED_LEN + 1, "reported size"),
            other => return Err(format!("{} bytes: got {other:?}, expected TooLarge", big.len())),
        }
        // Exactly at the limit the size is not the complaint.
        big.truncate(MAX_ENCODED_LEN);
        match decode_as(t, &big)? {
            Err(DecodeError::TooLarge(_)) => Err(format!("{MAX_ENCODED_LEN} bytes refused as too large")),
            Ok(()) => Err(format!("{MAX_ENCODED_LEN} bytes of zeros decoded")),
            Err(_) => Ok(()),
        }
    });
}
