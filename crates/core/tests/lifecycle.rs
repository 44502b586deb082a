//! The notary's flow and transfer lifecycles, end to end through `apply`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_core::notary::{Event, FlowStatus, Subject, TransferStatus};
use box_core::typed::ReportStatus;
use box_core::{B256, U256};
use common::*;

#[test]
fn a_transfer_goes_from_submission_to_confirmation() {
    let f = Fixture::new(2, 3, 2, 3);
    let mut s = f.state();
    f.activate_flow(&mut s);
    let fh = f.domain.flow_hash(&f.flow);
    assert_eq!(s.flow(&fh).unwrap().status, FlowStatus::Active);

    let tb = f.transbox(f.request(eth(1), 1));
    let tid = tb.transfer_id(&f.domain);
    let events = f.decide(&mut s, Subject::Transfer(tb), T0);
    assert!(notarized(&events), "{events:#?}");
    assert_eq!(s.transfer(&tid).unwrap().status, TransferStatus::Notarized);

    let tx = B256::repeat_byte(0x11);
    f.decide(&mut s, f.report(tid.0, ReportStatus::Broadcast, tx, 0), T0);
    assert_eq!(s.transfer(&tid).unwrap().status, TransferStatus::Broadcast { tx_hash: tx, nonce: 0 });
    f.decide(&mut s, f.report(tid.0, ReportStatus::Confirmed, tx, 0), T0);
    assert_eq!(s.transfer(&tid).unwrap().status, TransferStatus::Confirmed { tx_hash: tx });
}

#[test]
fn a_transfer_under_an_unauthorized_flow_is_rejected_with_the_reason() {
    let f = Fixture::new(1, 2, 1, 3);
    let mut s = f.state();
    f.decide(&mut s, Subject::Flow(f.flow.clone()), T0);
    // Only two of three key holders enable it.
    f.decide(&mut s, f.authorization(0, true), T0);
    f.decide(&mut s, f.authorization(1, true), T0);
    assert_eq!(s.flow(&f.domain.flow_hash(&f.flow)).unwrap().status, FlowStatus::Notarized);
    let events = f.decide(&mut s, Subject::Transfer(f.transbox(f.request(eth(1), 1))), T0);
    let why = rejection(&events).expect("rejected");
    assert!(why.contains("is not active (it is notarized)"), "{why}");
}

#[test]
fn the_period_limit_counts_earlier_transfers() {
    let f = Fixture::new(1, 2, 1, 3);
    let mut s = f.state();
    f.activate_flow(&mut s);
    for id in 1..=2 {
        assert!(notarized(&f.decide(&mut s, Subject::Transfer(f.transbox(f.request(eth(10), id))), T0)));
    }
    let events = f.decide(&mut s, Subject::Transfer(f.transbox(f.request(eth(10), 3))), T0);
    let why = rejection(&events).expect("third transfer exceeds 25 ETH/day");
    assert!(why.contains("exceeds the period limit"), "{why}");
    // A day later the window has moved on.
    let later = box_core::ids::Timestamp(T0.0 + 86_400 + 1);
    let mut req = f.request(eth(10), 4);
    req.timestamp = later.0;
    assert!(notarized(&f.decide(&mut s, Subject::Transfer(f.transbox(req)), later)));
}

#[test]
fn a_submission_is_idempotent_and_a_conflicting_one_is_refused() {
    let f = Fixture::new(1, 3, 2, 3);
    let mut s = f.state();
    f.activate_flow(&mut s);
    let req = f.request(eth(1), 9);
    let tb = f.transbox(req.clone());
    f.decide(&mut s, Subject::Transfer(tb.clone()), T0);
    let again = s.apply(&box_core::notary::Entry::Submit(Subject::Transfer(tb)), T0);
    assert!(matches!(again[..], [Event::Duplicate { .. }]));
    // Same request, another approval set: same transfer id, different content.
    let mut other = box_core::transbox::TransBox::apply(&f.domain, req, &f.employees[0]);
    other.approve(&f.domain, 1, &f.approvers[0][1]);
    other.approve(&f.domain, 1, &f.approvers[0][2]);
    let refused = s.apply(&box_core::notary::Entry::Submit(Subject::Transfer(other)), T0);
    assert!(matches!(&refused[..], [Event::Refused { reason }] if reason.contains("already submitted")), "{refused:?}");
}

/// Issue 11, fault 4: the real request and applicant signature without the
/// approvals, sent first, must not keep the approved transbox out.
#[test]
fn a_transbox_without_its_approvals_is_not_admitted_and_never_blocks_the_approved_one() {
    use box_core::notary::{Entry, Inadmissible, SubjectStatus};
    use box_core::transbox::TransBox;
    let f = Fixture::new(2, 3, 2, 3);
    let mut s = f.state();
    f.activate_flow(&mut s);
    let req = f.request(eth(1), 7);
    let squat = Subject::Transfer(TransBox::apply(&f.domain, req.clone(), &f.employees[0]));
    let real = f.transbox(req);
    let tid = real.transfer_id(&f.domain);

    // A node refuses it before the log, with the rule it breaks.
    match s.admission(&squat) {
        Err(Inadmissible::Refused(why)) => assert!(why.contains("level 1 (Team lead) has 0 of 2"), "{why}"),
        other => panic!("a transbox without approvals was admitted: {other:?}"),
    }
    assert_eq!(s.admission(&Subject::Transfer(real.clone())), Ok(()));

    // Even if a dishonest leader logs it, the nodes reject it, and the approved
    // transbox for the same request is still taken and notarized.
    let squat_id = squat.id(&f.domain).unwrap();
    let events = f.decide(&mut s, squat, T0);
    assert!(rejection(&events).is_some_and(|why| why.contains("0 of 2")), "{events:#?}");
    assert!(matches!(s.transfer(&tid).unwrap().status, TransferStatus::Rejected { .. }));
    let real_id = Subject::Transfer(real.clone()).id(&f.domain).unwrap();
    assert_ne!(real_id, squat_id, "a transfer's subject is its transbox, not its request");
    let events = f.decide(&mut s, Subject::Transfer(real), T0);
    assert!(notarized(&events), "{events:#?}");
    let rec = s.transfer(&tid).unwrap();
    assert_eq!((rec.status.clone(), rec.subject), (TransferStatus::Notarized, real_id));
    assert!(matches!(s.subject(&squat_id).unwrap().status, SubjectStatus::Rejected { .. }));

    // An unknown flow cannot be judged here yet: not refused for good.
    let mut elsewhere = f.request(eth(1), 8);
    elsewhere.flowHash = B256::repeat_byte(0xEE);
    let other = Subject::Transfer(f.transbox(elsewhere));
    assert!(matches!(s.admission(&other), Err(Inadmissible::NotYet(_))), "{:?}", s.admission(&other));
    let _ = Entry::Submit(other);
}

/// While one transbox for a transfer is pending, another is taken too; each is
/// decided on its own and at most one is ever notarized.
#[test]
fn a_pending_transbox_does_not_block_another_and_only_one_is_notarized() {
    use box_core::notary::{Entry, SubjectStatus};
    let f = Fixture::new(1, 3, 2, 3);
    let mut s = f.state();
    f.activate_flow(&mut s);
    let req = f.request(eth(1), 5);
    let first = Subject::Transfer(f.transbox(req.clone()));
    let mut alt = box_core::transbox::TransBox::apply(&f.domain, req, &f.employees[0]);
    alt.approve(&f.domain, 1, &f.approvers[0][1]);
    alt.approve(&f.domain, 1, &f.approvers[0][2]);
    let second = Subject::Transfer(alt);
    let tid = match &first {
        Subject::Transfer(t) => t.transfer_id(&f.domain),
        _ => unreachable!(),
    };
    let (a, b) = (first.id(&f.domain).unwrap(), second.id(&f.domain).unwrap());
    assert!(matches!(s.apply(&Entry::Submit(first.clone()), T0)[..], [Event::Submitted { .. }, ..]));
    let taken = s.apply(&Entry::Submit(second.clone()), T0);
    assert!(matches!(taken[..], [Event::Submitted { .. }]), "{taken:?}");
    // Both pass every rule; the first to reach a majority wins.
    for n in 0..2 {
        let content = s.verdict(&b, T0).unwrap();
        s.apply(&f.vote(n, b, content, true, ""), T0);
    }
    assert_eq!(s.transfer(&tid).unwrap().status, TransferStatus::Notarized);
    assert_eq!(s.transfer(&tid).unwrap().subject, b);
    // The other can no longer be notarized: companions refuse it, and even a
    // dishonest majority's accepts reject it.
    let why = s.verdict(&a, T0).unwrap_err().to_string();
    assert!(why.contains("already submitted"), "{why}");
    let content = s.subject(&a).unwrap().content;
    for n in 0..2 {
        s.apply(&f.vote(n, a, content, true, ""), T0);
    }
    assert!(matches!(s.subject(&a).unwrap().status, SubjectStatus::Rejected { .. }));
    assert_eq!(s.transfer(&tid).unwrap().status, TransferStatus::Notarized, "the notarized transfer stays so");
    // A third transbox for a notarized transfer is refused at once.
    let mut third = box_core::transbox::TransBox::apply(&f.domain, f.request(eth(1), 5), &f.employees[0]);
    third.approve(&f.domain, 1, &f.approvers[0][0]);
    third.approve(&f.domain, 1, &f.approvers[0][2]);
    let refused = s.apply(&Entry::Submit(Subject::Transfer(third)), T0);
    assert!(matches!(&refused[..], [Event::Refused { reason }] if reason.contains("already submitted")), "{refused:?}");
}

/// A transfer is rejected only when no transbox for it is left pending.
#[test]
fn a_transfer_is_rejected_only_when_every_transbox_for_it_is() {
    use box_core::notary::Entry;
    let f = Fixture::new(1, 3, 2, 3);
    let mut s = f.state();
    f.activate_flow(&mut s);
    let req = f.request(eth(1), 6);
    let squat = Subject::Transfer(box_core::transbox::TransBox::apply(&f.domain, req.clone(), &f.employees[0]));
    let real = Subject::Transfer(f.transbox(req));
    let tid = match &real {
        Subject::Transfer(t) => t.transfer_id(&f.domain),
        _ => unreachable!(),
    };
    let (q, r) = (squat.id(&f.domain).unwrap(), real.id(&f.domain).unwrap());
    s.apply(&Entry::Submit(squat), T0);
    s.apply(&Entry::Submit(real), T0);
    let content = s.subject(&q).unwrap().content;
    for n in 0..2 {
        s.apply(&f.vote(n, q, content, false, "level 1 has 0 of 2 required approvals"), T0);
    }
    assert_eq!(s.transfer(&tid).unwrap().status, TransferStatus::Submitted, "the real transbox is still pending");
    for n in 0..2 {
        let content = s.verdict(&r, T0).unwrap();
        s.apply(&f.vote(n, r, content, true, ""), T0);
    }
    assert_eq!(s.transfer(&tid).unwrap().status, TransferStatus::Notarized);
}

#[test]
fn a_fee_cap_above_the_flows_is_refused_by_rule_before_the_log() {
    // Issue 11, fault 5: a 1-wei transfer signing a fee cap of 10^24 wei.
    let f = Fixture::new(1, 2, 1, 3);
    let mut s = f.state();
    f.activate_flow(&mut s);
    let mut req = f.request(U256::from(1u64), 1);
    req.maxFee = U256::from(10u64).pow(U256::from(24u64));
    let greedy = Subject::Transfer(f.transbox(req));
    let want = "the fee cap of 1000000 ETH exceeds the flow's fee cap of 1 ETH for transfers of ETH";
    match s.admission(&greedy) {
        Err(box_core::notary::Inadmissible::Refused(why)) => assert!(why.contains(want), "{why}"),
        other => panic!("admitted: {other:?}"),
    }
    let why = rejection(&f.decide(&mut s, greedy, T0)).expect("refused");
    assert!(why.contains(want), "{why}");
    // At the cap it passes.
    let mut req = f.request(U256::from(1u64), 2);
    req.maxFee = eth(1);
    assert!(notarized(&f.decide(&mut s, Subject::Transfer(f.transbox(req)), T0)));
}

#[test]
fn every_fee_cap_counts_towards_the_eth_period_limit() {
    // ETH: 10 per transfer, 25 per day; each fee cap 1 ETH.
    let f = Fixture::new(1, 2, 1, 3);
    let mut s = f.state();
    f.activate_flow(&mut s);
    let capped = |amount, id| {
        let mut r = f.request(amount, id);
        r.maxFee = eth(1);
        r
    };
    // 10 + 1, 10 + 1, then 2 + 1: exactly 25 ETH committed.
    for (amount, id) in [(eth(10), 1), (eth(10), 2), (eth(2), 3)] {
        assert!(notarized(&f.decide(&mut s, Subject::Transfer(f.transbox(capped(amount, id))), T0)));
    }
    // A token transfer within the token's own limits: its fee would come out
    // of ETH, over the day's 25.
    let mut token = capped(U256::from(1_000u64), 4);
    token.asset = f.token;
    let why = rejection(&f.decide(&mut s, Subject::Transfer(f.transbox(token.clone())), T0)).expect("refused");
    assert!(
        why.contains(
            "1 ETH plus 25 ETH already moved or committed to fees in the last 24 h exceeds the period limit of 25 ETH"
        ),
        "{why}"
    );
    // A day later the window has moved on.
    let later = box_core::ids::Timestamp(T0.0 + 86_400 + 1);
    token.requestId = B256::repeat_byte(5);
    token.timestamp = later.0;
    assert!(notarized(&f.decide(&mut s, Subject::Transfer(f.transbox(token)), later)));
}

/// A confirmed report's detail (a token's shortfall) is the chain's
/// confirmed status's detail: in the record and in the transfer's row (its
/// `reason`, proved against the state root). A `Reorged` report takes the
/// transfer back to broadcast and clears it.
#[test]
fn a_confirmed_reports_detail_is_kept_in_the_status_and_its_row() {
    let f = Fixture::new(2, 3, 2, 3);
    let mut s = f.state();
    f.activate_flow(&mut s);
    let tb = f.transbox(f.request(eth(1), 1));
    let tid = tb.transfer_id(&f.domain);
    assert!(notarized(&f.decide(&mut s, Subject::Transfer(tb), T0)));
    let tx = B256::repeat_byte(0x11);
    f.decide(&mut s, f.report(tid.0, ReportStatus::Broadcast, tx, 0), T0);
    assert_eq!(s.transfer(&tid).unwrap().confirmed_detail(), None);

    let detail = "shortfall: delivered 247.5 of 250 FEE; 2.5 FEE did not arrive (the token takes a fee on transfer)";
    let mut report = f.report(tid.0, ReportStatus::Confirmed, tx, 0);
    if let Subject::SignerReport(r) = &mut report {
        r.value.detail = detail.into();
        *r = box_core::typed::Signed::new(&f.domain, &f.signer, r.value.clone());
    }
    f.decide(&mut s, report, T0);
    let rec = s.transfer(&tid).unwrap();
    assert_eq!(rec.status, TransferStatus::Confirmed { tx_hash: tx });
    assert_eq!(rec.confirmed_detail(), Some(detail));
    let proof = s.transfer_proof(&tid).unwrap();
    let leaf = proof.verify(&s.state_root().0).expect("the row proves");
    assert_eq!((leaf.status, leaf.reason.as_str()), (3, detail), "the row carries the detail");

    f.decide(&mut s, f.report(tid.0, ReportStatus::Reorged, tx, 0), T0);
    let rec = s.transfer(&tid).unwrap();
    assert_eq!(rec.status, TransferStatus::Broadcast { tx_hash: tx, nonce: 0 });
    assert_eq!((rec.confirmed_detail(), rec.detail.as_str()), (None, ""));
}
