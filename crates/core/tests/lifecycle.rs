//! The notary's flow and transfer lifecycles, end to end through `apply`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_core::B256;
use box_core::notary::{Event, FlowStatus, Subject, TransferStatus};
use box_core::typed::ReportStatus;
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
