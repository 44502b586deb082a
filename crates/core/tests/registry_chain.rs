//! The node-registry chain a new follower verifies from the genesis
//! (`attestation::verify_registry_chain`): the changes the notary notarized,
//! with the certificates it recorded, verify in order and give the registry
//! the notary holds; a change out of order, listed twice, with another
//! subject's certificate or with too few votes is refused with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_core::B256;
use box_core::attestation::{RegistryChange, SignedAttestation, certify, statement_of, verify_registry_chain};
use box_core::block::BlockHeader;
use box_core::crypto::SecretKey;
use box_core::encoding::Canonical;
use box_core::governance::GovernanceAction;
use box_core::notary::Event;
use box_core::typed::NodeChange;
use common::*;

fn change(account: box_core::Address, node_id: u64, add: bool, nonce: u64) -> GovernanceAction {
    GovernanceAction::NodeChange(NodeChange {
        account,
        nodeId: node_id,
        endpoint: format!("127.0.0.1:70{node_id:02}"),
        add,
        nonce,
    })
}

/// The notarized node changes of `events`, as a node would serve them at `height`.
fn served(events: &[Event], height: u64) -> Vec<RegistryChange> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Notarized { payload, certificate, .. } => {
                Some(RegistryChange { height, subject: payload.encode(), certificate: certificate.encode() })
            }
            _ => None,
        })
        .collect()
}

#[test]
fn the_registry_chain_verifies_from_the_genesis_and_a_tampered_one_is_refused_with_the_reason() {
    let f = Fixture::new(1, 2, 1, 3);
    let mut s = f.state();
    let newcomer = SecretKey::from_label_unchecked("node-new");
    let all: Vec<&SecretKey> = f.nodes.iter().collect();
    let mut chain = served(&f.decide(&mut s, f.action(change(newcomer.address(), 9, true, 1), &all), T0), 4);
    assert_eq!(s.registry().len(), 4);
    let three: Vec<&SecretKey> = f.nodes.iter().take(3).collect();
    chain.extend(served(&f.decide(&mut s, f.action(change(f.nodes[2].address(), 3, false, 2), &three), T0), 9));
    assert_eq!(chain.len(), 2);

    let verified = verify_registry_chain(&f.genesis, &chain).unwrap();
    assert_eq!(verified.latest(), s.registry());
    assert_eq!(verified.at(3).len(), 3);
    assert_eq!(verified.at(4).len(), 4);
    assert_eq!(verified.at(8).len(), 4);
    assert_eq!(verified.at(9), s.registry());
    assert_eq!(verified.endpoint(&newcomer.address()), Some("127.0.0.1:7009"));
    assert_eq!(verify_registry_chain(&f.genesis, &[]).unwrap().latest().len(), 3);

    // Out of order: the removal's certificate (3 of 4 voters) checked against the genesis registry of 3.
    let swapped = vec![chain[1].clone(), chain[0].clone()];
    assert!(verify_registry_chain(&f.genesis, &swapped).is_err());
    let twice = vec![chain[0].clone(), chain[0].clone()];
    let why = verify_registry_chain(&f.genesis, &twice).unwrap_err();
    assert!(why.0.contains("change 2") && why.0.contains("listed twice"), "{why}");
    let mut other_cert = chain.clone();
    other_cert[1].certificate = chain[0].certificate.clone();
    let why = verify_registry_chain(&f.genesis, &other_cert).unwrap_err();
    assert!(why.0.contains("another subject"), "{why}");
    // The certificate cut to one vote: not a strict majority of the registry before it.
    let mut cert = box_core::quorum::QuorumCertificate::decode(&chain[0].certificate).unwrap();
    cert.votes.truncate(1);
    let mut thin = chain.clone();
    thin[0].certificate = cert.encode();
    let why = verify_registry_chain(&f.genesis, &thin).unwrap_err();
    assert!(why.0.contains("node-registry change 1 (block 4)") && why.0.contains("strict majority"), "{why}");
    // Heights going back.
    let mut back = chain.clone();
    back[1].height = 2;
    assert!(verify_registry_chain(&f.genesis, &back).unwrap_err().0.contains("does not follow"));

    // Attestations count against the registry of their height: after the
    // addition a majority of 4 is 3, so two of the genesis nodes no longer certify.
    let header = BlockHeader {
        height: 5,
        parent: B256::repeat_byte(1),
        entriesRoot: B256::repeat_byte(2),
        stateHash: B256::repeat_byte(3),
        time: 1,
        firstIndex: 1,
        entryCount: 1,
    };
    let st = statement_of(&f.domain, &header);
    let two: Vec<SignedAttestation> =
        f.nodes.iter().take(2).map(|k| SignedAttestation::sign(&f.domain, k, st.clone())).collect();
    assert!(certify(&f.domain, verified.at(3), &st, &two).is_ok());
    let why = certify(&f.domain, verified.at(5), &st, &two).unwrap_err();
    assert!(why.0.contains("2 of 4") && why.0.contains("needs 3"), "{why}");
    let mut three_of_four = two.clone();
    three_of_four.push(SignedAttestation::sign(&f.domain, &newcomer, st.clone()));
    assert!(certify(&f.domain, verified.at(5), &st, &three_of_four).is_ok());
}
