//! box-core's state commitment against `testdata/state.json`, written by the
//! independent Python generator (`testdata/gen/state.py`) from the README's
//! definition: trie roots, row proofs (valid and invalid), the state root of
//! a genesis state, a transfer row's proof against a state root (and a forged
//! status refused), an entries Merkle root and a block hash, the retired row
//! (the fold of the retired ids) and wrong folds refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use alloy::primitives::keccak256;
use alloy::sol_types::SolValue;
use box_core::block::{BlockHeader, LoggedEntry, merkle_root};
use box_core::commitment::{RowProof, StateTree};
use box_core::encoding::Canonical;
use box_core::ids::{ChainId, DeploymentId, TransferId};
use box_core::notary::{Entry, NotaryState, TransferLeaf, TransferProof, TransferStatus, row_key, tag};
use box_core::typed::{Domain, Genesis};
use box_core::{Address, B256, U256};
use serde_json::Value;

fn load() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/state.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn bytes(v: &Value) -> Vec<u8> {
    alloy::primitives::hex::decode(v.as_str().unwrap()).unwrap()
}

fn b256(v: &Value) -> B256 {
    B256::from_slice(&bytes(v))
}

fn proof(v: &Value) -> RowProof {
    RowProof {
        key: b256(&v["key"]),
        value: bytes(&v["value"]),
        siblings: v["siblings"].as_array().unwrap().iter().map(b256).collect(),
    }
}

#[test]
fn tries_give_the_vector_roots() {
    let v = load();
    for case in v["tries"].as_array().unwrap() {
        let mut tree = StateTree::default();
        for row in case["rows"].as_array().unwrap() {
            tree.insert(b256(&row["key"]), keccak256(bytes(&row["value"])));
        }
        assert_eq!(tree.root(), b256(&case["root"]), "{}", case["name"]);
        for row in case["rows"].as_array().unwrap() {
            let key = b256(&row["key"]);
            let p = RowProof { key, value: bytes(&row["value"]), siblings: tree.proof(&key).unwrap() };
            assert!(p.verifies(&tree.root()), "{}: box-core's own proof of a row", case["name"]);
        }
    }
}

#[test]
fn row_proofs_verify_exactly_as_the_vectors_say() {
    let v = load();
    for case in v["proofs"].as_array().unwrap() {
        let p = proof(case);
        assert_eq!(p.verifies(&b256(&case["root"])), case["valid"].as_bool().unwrap(), "{}", case["name"]);
    }
}

#[test]
fn a_genesis_state_has_the_vector_root() {
    let v = load();
    let g = &v["genesisState"];
    let genesis: Genesis = serde_json::from_value(g["genesis"].clone()).unwrap();
    let state = NotaryState::new(genesis).unwrap();
    assert_eq!(state.state_root().0, b256(&g["root"]));
    assert_eq!(state.recomputed_state_root().0, b256(&g["root"]));
    for row in g["rows"].as_array().unwrap() {
        let t = row["tag"].as_u64().unwrap() as u8;
        assert_eq!(row_key(t, &b256(&row["id"])), b256(&row["key"]));
    }
}

#[test]
fn a_transfer_row_proves_its_status_against_a_state_root_and_a_forged_status_does_not() {
    let v = load();
    let t = &v["transfer"];
    let id = TransferId(b256(&t["transferId"]));
    assert_eq!(row_key(tag::TRANSFER, &id.0), b256(&t["key"]));
    let root = b256(&t["stateRoot"]);
    let siblings: Vec<B256> = t["siblings"].as_array().unwrap().iter().map(b256).collect();
    let good =
        TransferProof { transfer: id, row: RowProof { key: b256(&t["key"]), value: bytes(&t["value"]), siblings } };
    let leaf = good.verify(&root).expect("the vector's proof verifies");
    let f = &t["fields"];
    let expected = TransferLeaf {
        subject: b256(&f["subject"]),
        flow: b256(&f["flow"]),
        asset: f["asset"].as_str().unwrap().parse::<Address>().unwrap(),
        amount: f["amount"].as_str().unwrap().parse::<U256>().unwrap(),
        maxFee: f["maxFee"].as_str().unwrap().parse::<U256>().unwrap(),
        applicant: f["applicant"].as_str().unwrap().parse::<Address>().unwrap(),
        submittedAt: f["submittedAt"].as_u64().unwrap(),
        open: f["open"].as_u64().unwrap() as u32,
        status: 2,
        txHash: b256(&f["txHash"]),
        nonce: f["nonce"].as_u64().unwrap(),
        reason: String::new(),
    };
    assert_eq!(leaf, expected);
    assert_eq!(expected.abi_encode(), bytes(&t["value"]), "box-core's TransferLeaf layout is the spec's");
    assert_eq!(leaf.transfer_status(), Some(TransferStatus::Broadcast { tx_hash: b256(&f["txHash"]), nonce: 42 }));

    let mut forged = good.clone();
    forged.row.value = bytes(&t["forgedConfirmedValue"]);
    assert!(forged.verify(&root).is_none(), "a forged status does not verify");
    let mut other = good.clone();
    other.transfer = TransferId(B256::repeat_byte(1));
    assert!(other.verify(&root).is_none(), "a proof for another transfer id does not verify");
}

/// A confirmed transfer's row carries the confirmed report's detail (a
/// token's shortfall) in `reason`; the proof holds for that row only.
#[test]
fn a_confirmed_transfer_row_carries_its_detail_and_proves_it() {
    let v = load();
    let t = &v["confirmedTransfer"];
    let id = TransferId(b256(&t["transferId"]));
    let root = b256(&t["stateRoot"]);
    let siblings: Vec<B256> = t["siblings"].as_array().unwrap().iter().map(b256).collect();
    let good =
        TransferProof { transfer: id, row: RowProof { key: b256(&t["key"]), value: bytes(&t["value"]), siblings } };
    let leaf = good.verify(&root).expect("the vector's proof verifies");
    let f = &t["fields"];
    assert_eq!(leaf.transfer_status(), Some(TransferStatus::Confirmed { tx_hash: b256(&f["txHash"]) }));
    assert_eq!(leaf.reason, f["reason"].as_str().unwrap());
    assert!(leaf.reason.starts_with("shortfall: delivered 247.5 of 250 FEE"));
    let mut bare = good.clone();
    bare.row.value = bytes(&t["withoutDetailValue"]);
    assert!(bare.verify(&root).is_none(), "the detail is part of the committed row");
}

#[test]
fn entries_root_and_block_hash_are_the_vectors() {
    let v = load();
    let b = &v["block"];
    let entries: Vec<LoggedEntry> = b["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| LoggedEntry {
            index: e["index"].as_u64().unwrap(),
            time: e["time"].as_u64().unwrap(),
            entry: Entry::decode(&bytes(&e["entry"])).unwrap(),
        })
        .collect();
    let leaves: Vec<B256> = entries.iter().map(LoggedEntry::leaf).collect();
    let expected: Vec<B256> = b["leaves"].as_array().unwrap().iter().map(b256).collect();
    assert_eq!(leaves, expected);
    let header: BlockHeader = serde_json::from_value(b["header"].clone()).unwrap();
    assert_eq!(merkle_root(&leaves), header.entriesRoot);
    let domain = Domain { chain_id: ChainId(31337), deployment: DeploymentId(B256::repeat_byte(0xB0)) };
    assert_eq!(domain.signing_hash(&header), b256(&b["hash"]));
}

#[path = "common/mod.rs"]
mod common;

#[test]
fn address_book_rows_are_the_vectors_and_prove_against_the_state_root() {
    use box_core::governance::GovernanceAction;
    use box_core::typed::AddressBookEntry;
    let v = load();
    let f = common::Fixture::new(1, 1, 1, 3);
    let mut state = f.state();
    let holders: Vec<_> = f.key_holders.iter().collect();
    for (i, row) in v["addressBook"].as_array().unwrap().iter().enumerate() {
        let destination: Address = row["destination"].as_str().unwrap().parse().unwrap();
        let action = GovernanceAction::AddressBookEntry(AddressBookEntry {
            destination,
            label: row["label"].as_str().unwrap().into(),
            flowHash: b256(&row["flowHash"]),
            listed: true,
            nonce: i as u64,
        });
        assert!(common::notarized(&f.decide(&mut state, f.action(action, &holders), common::T0)));
        let proof = state.address_book_proof(&destination).expect("listed");
        assert_eq!(row_key(tag::ADDRESS_BOOK, &b256(&row["id"])), b256(&row["key"]));
        assert_eq!(proof.key, b256(&row["key"]), "row key");
        assert_eq!(proof.value, bytes(&row["value"]), "row value");
        assert!(proof.verifies(&state.state_root().0));
    }
    assert_eq!(state.state_root(), state.recomputed_state_root());
}

/// The genesis state with `retired` (its snapshot's field) set to `value`.
fn with_retired(v: &Value, retired: Value) -> Result<NotaryState, box_core::notary::StateError> {
    let genesis: Genesis = serde_json::from_value(v["genesisState"]["genesis"].clone()).unwrap();
    let mut snapshot: Value = serde_json::from_slice(&NotaryState::new(genesis).unwrap().snapshot()).unwrap();
    snapshot["retired"] = retired;
    NotaryState::restore(&serde_json::to_vec(&snapshot).unwrap())
}

fn ids(v: &Value) -> Vec<(u8, B256)> {
    v.as_array().unwrap().iter().map(|p| (p[0].as_u64().unwrap() as u8, b256(&p[1]))).collect()
}

#[test]
fn the_retired_row_is_the_fold_of_the_ids_and_a_wrong_fold_is_refused() {
    use box_core::notary::{RetiredLeaf, retired_fold};
    let v = load();
    let r = &v["retired"];
    let chain = b256(&r["chain"]);
    assert_eq!(retired_fold(&ids(&r["ids"])), chain);
    let count = r["count"].as_u64().unwrap();
    assert_eq!(RetiredLeaf { count, chain }.abi_encode(), bytes(&r["value"]));
    assert_eq!(row_key(tag::RETIRED, &B256::ZERO), b256(&r["key"]));
    // A state whose retired list is these ids has the vector's root (the
    // genesis rows plus row 0x08), and proves nothing else changed.
    let retired = serde_json::json!({ "count": count, "chain": r["chain"], "ids": r["ids"] });
    let state = with_retired(&v, retired).unwrap();
    assert_eq!(state.retired_chain(), (count, chain));
    assert_eq!(state.state_root().0, b256(&r["stateRoot"]));
    assert_eq!(state.recomputed_state_root().0, b256(&r["stateRoot"]));
    // A list that does not fold to the chain it comes with is refused.
    for w in r["wrongFolds"].as_array().unwrap() {
        let wrong = ids(&w["ids"]);
        assert_eq!(retired_fold(&wrong), b256(&w["fold"]), "{}", w["name"]);
        assert_ne!(retired_fold(&wrong), chain, "{}", w["name"]);
        let forged = serde_json::json!({ "count": wrong.len(), "chain": r["chain"], "ids": w["ids"] });
        let err = with_retired(&v, forged).unwrap_err().to_string();
        assert!(err.contains("do not fold"), "{}: {err}", w["name"]);
    }
}
