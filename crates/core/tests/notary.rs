//! Votes and governance through the notary state machine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_core::crypto::SecretKey;
use box_core::governance::GovernanceAction;
use box_core::ids::ContentHash;
use box_core::notary::{Entry, Event, Subject, TransferStatus};
use box_core::typed::{
    BlockDestination, FreezeEmployee, NodeChange, NodeVote, PauseTransfers, RegisterAsset, ReportStatus, Signed,
};
use box_core::{Address, B256};
use common::*;

fn pause(paused: bool, nonce: u64) -> GovernanceAction {
    GovernanceAction::PauseTransfers(PauseTransfers { paused, reason: "incident drill".into(), nonce })
}

#[test]
fn forged_duplicate_and_off_content_votes_change_nothing() {
    let f = Fixture::new(1, 2, 1, 3);
    let mut s = f.state();
    let subject = Subject::Flow(f.flow.clone());
    let id = subject.id(&f.domain).unwrap();
    let content = subject.content();
    s.apply(&Entry::Submit(subject), T0);

    let outsider = SecretKey::from_label_unchecked("mallory");
    let forged = Entry::Vote(Signed::new(
        &f.domain,
        &outsider,
        NodeVote { subject: id.0, contentHash: content.0, accept: true, reason: String::new() },
    ));
    let e = s.apply(&forged, T0);
    assert!(
        matches!(&e[..], [Event::VoteIgnored { reason, .. }] if reason.contains("not a registered node account")),
        "{e:?}"
    );

    let e = s.apply(&f.vote(0, id, ContentHash(B256::repeat_byte(7)), true, ""), T0);
    assert!(matches!(&e[..], [Event::VoteIgnored { reason, .. }] if reason.contains("other content")), "{e:?}");

    s.apply(&f.vote(0, id, content, true, ""), T0);
    let e = s.apply(&f.vote(0, id, content, true, ""), T0);
    assert!(matches!(&e[..], [Event::VoteIgnored { reason, .. }] if reason.contains("already voted")), "{e:?}");
    assert!(!notarized(&e));
    // The second distinct registered account makes 2 of 3: notarized.
    assert!(notarized(&s.apply(&f.vote(1, id, content, true, ""), T0)));
}

#[test]
fn a_majority_of_refusals_rejects_with_their_reasons() {
    let f = Fixture::new(1, 2, 1, 3);
    let mut s = f.state();
    let mut bad = f.flow.clone();
    bad.levels[0].threshold = 5;
    let events = f.decide(&mut s, Subject::Flow(bad), T0);
    let why = rejection(&events).unwrap();
    assert!(
        why.contains("level 1 (Team lead) requires 5 approvals but must require between 1 and its 2 approvers"),
        "{why}"
    );
}

#[test]
fn one_key_holder_pauses_but_resuming_needs_all() {
    let f = Fixture::new(1, 2, 1, 3);
    let mut s = f.state();
    f.activate_flow(&mut s);
    assert!(notarized(&f.decide(&mut s, f.action(pause(true, 1), &[&f.key_holders[2]]), T0)));
    assert_eq!(s.paused(), Some("incident drill"));
    let why = rejection(&f.decide(&mut s, Subject::Transfer(f.transbox(f.request(eth(1), 1))), T0)).unwrap();
    assert!(why.contains("transfers are paused: incident drill"), "{why}");

    let two: Vec<&SecretKey> = f.key_holders.iter().take(2).collect();
    let why = rejection(&f.decide(&mut s, f.action(pause(false, 2), &two), T0)).unwrap();
    assert!(why.contains("needs all 3 key holders; 2 signed"), "{why}");
    assert!(s.paused().is_some());
    let all: Vec<&SecretKey> = f.key_holders.iter().collect();
    assert!(notarized(&f.decide(&mut s, f.action(pause(false, 3), &all), T0)));
    assert_eq!(s.paused(), None);
    assert!(notarized(&f.decide(&mut s, Subject::Transfer(f.transbox(f.request(eth(1), 2))), T0)));
}

#[test]
fn a_dishonest_majority_cannot_apply_an_unauthorized_action() {
    let f = Fixture::new(1, 2, 1, 3);
    let mut s = f.state();
    let mallory = SecretKey::from_label_unchecked("mallory");
    let subject = f.action(pause(true, 1), &[&mallory]);
    let id = subject.id(&f.domain).unwrap();
    let content = subject.content();
    s.apply(&Entry::Submit(subject), T0);
    let mut events = Vec::new();
    for n in 0..3 {
        events.extend(s.apply(&f.vote(n, id, content, true, ""), T0));
    }
    let why = rejection(&events).unwrap();
    assert!(why.starts_with("notary: not authorized"), "{why}");
    assert_eq!(s.paused(), None);
}

#[test]
fn freezing_and_blocking_refuse_transfers_until_lifted() {
    let f = Fixture::new(1, 2, 1, 3);
    let mut s = f.state();
    f.activate_flow(&mut s);
    let employee = f.employees[0].address();
    let freeze = |frozen, nonce| {
        GovernanceAction::FreezeEmployee(FreezeEmployee { employee, frozen, reason: "audit".into(), nonce })
    };
    assert!(notarized(&f.decide(&mut s, f.action(freeze(true, 1), &[&f.key_holders[0]]), T0)));
    let why = rejection(&f.decide(&mut s, Subject::Transfer(f.transbox(f.request(eth(1), 1))), T0)).unwrap();
    assert!(why.contains(&format!("applicant {employee} is frozen")), "{why}");
    let all: Vec<&SecretKey> = f.key_holders.iter().collect();
    assert!(notarized(&f.decide(&mut s, f.action(freeze(false, 2), &all), T0)));

    let to = Address::repeat_byte(0xD5);
    let block = GovernanceAction::BlockDestination(BlockDestination {
        destination: to,
        blocked: true,
        reason: "fraud".into(),
        nonce: 1,
    });
    assert!(notarized(&f.decide(&mut s, f.action(block, &[&f.key_holders[1]]), T0)));
    let why = rejection(&f.decide(&mut s, Subject::Transfer(f.transbox(f.request(eth(1), 2))), T0)).unwrap();
    assert!(why.contains(&format!("destination {to} is blocked")), "{why}");
}

#[test]
fn registering_an_asset_needs_all_key_holders_and_a_replayed_action_is_one_action() {
    let f = Fixture::new(1, 2, 1, 3);
    let mut s = f.state();
    let token = Address::repeat_byte(0x42);
    let reg = GovernanceAction::RegisterAsset(RegisterAsset {
        token,
        symbol: "USDC".into(),
        decimals: 6,
        registered: true,
        nonce: 1,
    });
    let why = rejection(&f.decide(&mut s, f.action(reg.clone(), &[&f.key_holders[0]]), T0)).unwrap();
    assert!(why.contains("needs all 3 key holders"), "{why}");
    let all: Vec<&SecretKey> = f.key_holders.iter().collect();
    // The same action (same signing hash) was already decided: resubmitting with more
    // signatures is refused, so a fresh nonce is needed.
    let again = s.apply(&Entry::Submit(f.action(reg, &all)), T0);
    assert!(matches!(&again[..], [Event::Refused { reason }] if reason.contains("already submitted")), "{again:?}");
    let reg2 = GovernanceAction::RegisterAsset(RegisterAsset {
        token,
        symbol: "USDC".into(),
        decimals: 6,
        registered: true,
        nonce: 2,
    });
    assert!(notarized(&f.decide(&mut s, f.action(reg2, &all), T0)));
    assert_eq!(s.assets().get(&token).unwrap().symbol(), "USDC");
}

#[test]
fn adding_a_node_needs_every_node_and_recomputes_the_majority() {
    let f = Fixture::new(1, 2, 1, 3);
    let mut s = f.state();
    let newcomer = SecretKey::from_label_unchecked("node-new");
    let add = |nonce| {
        GovernanceAction::NodeChange(NodeChange {
            account: newcomer.address(),
            nodeId: 9,
            endpoint: "127.0.0.1:7009".into(),
            add: true,
            nonce,
        })
    };
    let two: Vec<&SecretKey> = f.nodes.iter().take(2).collect();
    let why = rejection(&f.decide(&mut s, f.action(add(1), &two), T0)).unwrap();
    assert!(why.contains("adding a node needs every current node account"), "{why}");
    let all: Vec<&SecretKey> = f.nodes.iter().collect();
    let events = f.decide(&mut s, f.action(add(2), &all), T0);
    assert!(events.iter().any(|e| matches!(e, Event::RegistryChanged { accounts } if accounts.len() == 4)));
    assert_eq!(s.registry().majority(), 3);
    assert!(s.nodes().any(|n| n.nodeId == 9 && n.endpoint == "127.0.0.1:7009" && n.account == newcomer.address()));
    // With 4 nodes, 2 accept votes no longer notarize.
    let subject = Subject::Flow(f.flow.clone());
    let id = subject.id(&f.domain).unwrap();
    s.apply(&Entry::Submit(subject.clone()), T0);
    s.apply(&f.vote(0, id, subject.content(), true, ""), T0);
    assert!(!notarized(&s.apply(&f.vote(1, id, subject.content(), true, ""), T0)));
}

#[test]
fn removing_a_node_by_majority_decides_what_was_waiting_for_it() {
    let f = Fixture::new(1, 2, 1, 4);
    let mut s = f.state();
    // A flow with 2 of 4 accepts waits (majority is 3).
    let subject = Subject::Flow(f.flow.clone());
    let id = subject.id(&f.domain).unwrap();
    s.apply(&Entry::Submit(subject.clone()), T0);
    s.apply(&f.vote(0, id, subject.content(), true, ""), T0);
    s.apply(&f.vote(1, id, subject.content(), true, ""), T0);
    let remove = GovernanceAction::NodeChange(NodeChange {
        account: f.nodes[3].address(),
        nodeId: 4,
        endpoint: String::new(),
        add: false,
        nonce: 1,
    });
    let three: Vec<&SecretKey> = f.nodes.iter().take(3).collect();
    let events = f.decide(&mut s, f.action(remove, &three), T0);
    // 3 nodes now, majority 2: the waiting flow is notarized by the re-tally.
    assert!(events.iter().any(|e| matches!(e, Event::Notarized { subject, .. } if *subject == id)), "{events:#?}");
    assert_eq!(s.registry().len(), 3);
    assert!(s.nodes().all(|n| n.account != f.nodes[3].address()));
}

#[test]
fn only_the_signer_reports_and_only_in_lifecycle_order() {
    let f = Fixture::new(1, 2, 1, 3);
    let mut s = f.state();
    f.activate_flow(&mut s);
    let tb = f.transbox(f.request(eth(1), 1));
    let tid = tb.transfer_id(&f.domain);
    f.decide(&mut s, Subject::Transfer(tb), T0);
    // Confirmed before broadcast is not a valid transition.
    let why =
        rejection(&f.decide(&mut s, f.report(tid.0, ReportStatus::Confirmed, B256::repeat_byte(1), 0), T0)).unwrap();
    assert!(why.contains("cannot follow transfer state Notarized"), "{why}");
    // A report signed by anyone else never gets in.
    let mut forged = f.report(tid.0, ReportStatus::Broadcast, B256::repeat_byte(1), 0);
    if let Subject::SignerReport(r) = &mut forged {
        *r = Signed::new(&f.domain, &SecretKey::from_label_unchecked("mallory"), r.value.clone());
    }
    let e = s.apply(&Entry::Submit(forged), T0);
    assert!(matches!(&e[..], [Event::Refused { reason }] if reason.contains("not the signer")), "{e:?}");
    assert_eq!(s.transfer(&tid).unwrap().status, TransferStatus::Notarized);
    // Refused by the signer: final, and no longer counts towards the limits.
    let mut refused = f.report(tid.0, ReportStatus::Refused, B256::ZERO, 0);
    if let Subject::SignerReport(r) = &mut refused {
        r.value.detail = "over the period limit".into();
        *r = Signed::new(&f.domain, &f.signer, r.value.clone());
    }
    f.decide(&mut s, refused, T0);
    assert_eq!(s.transfer(&tid).unwrap().status, TransferStatus::Refused { reason: "over the period limit".into() });
}

fn sealed(f: &Fixture, node: &SecretKey, height: u64, time: u64) -> box_core::evidence::SealedHeader {
    let header = box_core::block::BlockHeader {
        height,
        parent: B256::repeat_byte(1),
        entriesRoot: B256::repeat_byte(2),
        stateHash: B256::repeat_byte(3),
        time,
        firstIndex: 1,
        entryCount: 1,
    };
    box_core::evidence::SealedHeader { signature: f.domain.sign(node, &header), header }
}

#[test]
fn equivocation_evidence_stands_until_governance_removes_the_node() {
    use box_core::evidence::Equivocation;
    let f = Fixture::new(1, 2, 1, 3);
    let mut s = f.state();
    let refused = |events: Vec<Event>| events.iter().any(|e| matches!(e, Event::Refused { .. }));
    let culprit = &f.nodes[2];
    let proof = Equivocation::new(sealed(&f, culprit, 7, 100), sealed(&f, culprit, 7, 101)).unwrap();

    // Not proofs: two sealers, two heights, an unregistered key.
    let two = Equivocation::new(sealed(&f, &f.nodes[0], 7, 100), sealed(&f, culprit, 7, 101)).unwrap();
    let heights = Equivocation::new(sealed(&f, culprit, 7, 100), sealed(&f, culprit, 8, 100)).unwrap();
    let stranger = SecretKey::from_label_unchecked("stranger");
    let outsider = Equivocation::new(sealed(&f, &stranger, 7, 100), sealed(&f, &stranger, 7, 101)).unwrap();
    for e in [two, heights, outsider] {
        assert!(refused(s.apply(&Entry::Evidence(e), T0)));
    }
    assert_eq!(s.standing_equivocation(), None);

    let events = s.apply(&Entry::Evidence(proof.clone()), T0);
    assert_eq!(events, vec![Event::Equivocation { node: culprit.address(), height: 7 }]);
    assert_eq!(s.standing_equivocation(), Some((culprit.address(), 7)));
    // On record once: the same proof again changes nothing.
    assert!(refused(s.apply(&Entry::Evidence(proof), T0)));
    assert_eq!(s.equivocators().collect::<Vec<_>>(), vec![(&culprit.address(), &7)]);

    // Removing the equivocator (a strict majority of node accounts) ends it.
    let remove = GovernanceAction::NodeChange(NodeChange {
        account: culprit.address(),
        nodeId: 3,
        endpoint: String::new(),
        add: false,
        nonce: 1,
    });
    let two_nodes: Vec<&SecretKey> = f.nodes.iter().take(2).collect();
    f.decide(&mut s, f.action(remove, &two_nodes), T0);
    assert_eq!(s.standing_equivocation(), None);
    assert_eq!(s.equivocators().count(), 1, "the evidence stays on record");
}

#[test]
fn a_ceremony_message_is_recorded_once_per_boot() {
    use box_core::ceremony::{CeremonyMessage, Purpose};
    use box_core::typed::Signed;
    // A replayed panic (a late witness re-proposed by a node, or a node
    // replaying it on purpose) must never reach the signer a second time.
    let f = Fixture::new(1, 2, 1, 3);
    let mut s = f.state();
    let message = |boot: B256| {
        let m = CeremonyMessage {
            boot,
            purpose: Purpose::Panic as u8,
            holder: 0,
            deviceId: "phone".into(),
            sealed: vec![7u8; 64].into(),
            time: T0.0,
            endorsement: Default::default(),
        };
        Entry::Ceremony(box_core::ceremony::Ceremony::Message(Signed::new(&f.domain, &f.key_holders[0], m)))
    };
    let first = message(B256::repeat_byte(1));
    assert!(matches!(s.apply(&first, T0)[..], [Event::CeremonyMessage { .. }]));
    let again = s.apply(&first, T0);
    assert!(matches!(&again[..], [Event::Refused { reason }] if reason.contains("a replay")), "{again:?}");
    // The next boot's messages are new; the old boot's set is dropped.
    let next = message(B256::repeat_byte(2));
    assert!(matches!(s.apply(&next, T0)[..], [Event::CeremonyMessage { .. }]));
    let Entry::Ceremony(c) = &next else { unreachable!() };
    assert!(s.ceremony_recorded(c));
}

/// A flow is checked before each transfer under the hash its record is filed
/// under, without hashing the flow again; so a restored state must file every
/// flow under its own hash.
#[test]
fn a_restored_state_with_a_flow_under_another_hash_is_refused() {
    let f = Fixture::new(1, 2, 1, 3);
    let mut s = f.state();
    f.activate_flow(&mut s);
    let mut snapshot: serde_json::Value = serde_json::from_slice(&s.snapshot()).unwrap();
    assert!(box_core::notary::NotaryState::restore(&serde_json::to_vec(&snapshot).unwrap()).is_ok());
    let flows = snapshot["flows"].as_object_mut().expect("flows by hash");
    let (hash, record) = flows.iter().next().map(|(k, v)| (k.clone(), v.clone())).unwrap();
    assert_eq!(hash, f.domain.flow_hash(&f.flow).to_string());
    flows.remove(&hash);
    flows.insert(B256::repeat_byte(0x77).to_string(), record);
    let err = box_core::notary::NotaryState::restore(&serde_json::to_vec(&snapshot).unwrap()).unwrap_err();
    assert!(err.to_string().contains("filed under another flow's hash"), "{err}");
}
