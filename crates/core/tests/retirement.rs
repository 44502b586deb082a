//! Bounded hot state: finished transfers and decided subjects retire from the
//! live state by log time (crate README, "State commitment", "Retirement");
//! their ids stay for replay protection, folded into the retired row.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_core::ids::{SubjectId, Timestamp, TransferId};
use box_core::notary::{Entry, Event, NotaryState, RETAIN_SECONDS, Subject, TransferStatus, retired_fold, tag};
use box_core::typed::ReportStatus;
use box_core::{Address, B256, U256};
use common::*;

const DAY: u64 = 86_400;

/// An entry that changes nothing but lets log time move on: a vote for a
/// subject nobody submitted.
fn tick(f: &Fixture, s: &mut NotaryState, at: u64) -> Vec<Event> {
    let e = f.vote(0, SubjectId(B256::repeat_byte(0xEE)), box_core::ids::ContentHash(B256::ZERO), true, "");
    let events = s.apply(&e, Timestamp(at));
    assert_eq!(s.state_root(), s.recomputed_state_root(), "incremental state root drifted at {at}");
    events
}

/// One transfer through its whole life at `at`: notarized, broadcast,
/// confirmed. Returns its transfer id and its subjects.
fn complete(f: &Fixture, s: &mut NotaryState, amount: U256, id: u8, at: u64) -> (TransferId, Vec<Subject>) {
    let tb = f.transbox(f.request(amount, id));
    let tid = tb.transfer_id(&f.domain);
    let tx = B256::repeat_byte(id);
    let subjects = vec![
        Subject::Transfer(tb),
        f.report(tid.0, ReportStatus::Broadcast, tx, u64::from(id)),
        f.report(tid.0, ReportStatus::Confirmed, tx, u64::from(id)),
    ];
    for subject in &subjects {
        let events = f.decide(s, subject.clone(), Timestamp(at));
        assert!(notarized(&events), "transfer {id}: {events:?}");
    }
    assert_eq!(s.transfer(&tid).unwrap().status, TransferStatus::Confirmed { tx_hash: tx });
    (tid, subjects)
}

fn refusal(events: &[Event]) -> String {
    events
        .iter()
        .find_map(|e| match e {
            Event::Refused { reason } => Some(reason.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("not refused: {events:?}"))
}

#[test]
fn a_history_run_past_its_deadlines_leaves_only_live_items_and_commits_every_retired_id() {
    let f = Fixture::new(1, 2, 1, 3);
    let mut s = f.state();
    f.activate_flow(&mut s);
    let small = s.snapshot().len();
    // 60 transfers over five days, 0.1 ETH each (well inside 25 per day).
    let mut done = Vec::new();
    for i in 0..60u8 {
        let at = T0.0 + u64::from(i) * 2 * 3600;
        let (tid, subjects) = complete(&f, &mut s, eth(1) / U256::from(10), i + 1, at);
        done.push((tid, subjects, at));
        tick(&f, &mut s, at + 1);
        // Live: exactly the transfers whose deadline (a day after submission:
        // the flow's period outlasts RETAIN) has not passed.
        for (tid, subjects, when) in &done {
            let live = at + 1 < when + DAY;
            assert_eq!(s.transfer(tid).is_some(), live, "transfer at {when}, now {}", at + 1);
            assert_eq!(s.is_retired(&tid.0), !live);
            for subject in subjects {
                assert_eq!(s.subject(&subject.id(&f.domain).unwrap()).is_some(), live);
            }
        }
    }
    let end = T0.0 + 60 * 2 * 3600 + DAY;
    tick(&f, &mut s, end);
    assert_eq!(s.transfers().count(), 0, "every transfer retired");
    assert_eq!(s.pending().count(), 0);
    // The flow stays; its subjects (flow, authorizations, anchoring) retired.
    assert!(s.flow(&f.domain.flow_hash(&f.flow)).is_some());
    assert!(s.subject(&Subject::Flow(f.flow.clone()).id(&f.domain).unwrap()).is_none());
    // What is left: the small state plus the retired ids.
    assert!(s.snapshot().len() < small + 60 * 160, "{} bytes left of {small}", s.snapshot().len());
    // The retired row is the fold of the ids in retirement order: the five
    // flow subjects first (due RETAIN after T0), then the transfers.
    let (count, chain) = s.retired_chain();
    assert_eq!(count, 5 + 60);
    let snapshot: serde_json::Value = serde_json::from_slice(&s.snapshot()).unwrap();
    let ids: Vec<(u8, B256)> = serde_json::from_value(snapshot["retired"]["ids"].clone()).unwrap();
    assert_eq!(retired_fold(&ids), chain);
    let transfers: Vec<B256> = ids.iter().filter(|(t, _)| *t == tag::TRANSFER).map(|(_, id)| *id).collect();
    assert_eq!(transfers, done.iter().map(|(t, _, _)| t.0).collect::<Vec<_>>(), "retired in deadline order");
    // A snapshot restores to the same root, and its retired row is proven.
    let restored = NotaryState::restore(&s.snapshot()).unwrap();
    assert_eq!(restored.state_root(), s.state_root());
    assert_eq!(restored.state_root(), restored.recomputed_state_root());
}

#[test]
fn a_replayed_transbox_report_or_vote_for_a_retired_transfer_is_refused_with_its_reason() {
    let f = Fixture::new(1, 2, 1, 3);
    let mut s = f.state();
    f.activate_flow(&mut s);
    let (tid, subjects) = complete(&f, &mut s, eth(1), 1, T0.0);
    // Within RETAIN (and the period) a replay is what it always was.
    let events = s.apply(&Entry::Submit(subjects[0].clone()), T0);
    assert!(matches!(events[..], [Event::Duplicate { .. }]), "{events:?}");
    tick(&f, &mut s, T0.0 + DAY);
    assert!(s.transfer(&tid).is_none() && s.is_retired(&tid.0));
    let root = s.state_root();
    let at = Timestamp(T0.0 + DAY + 1);

    let reason = refusal(&s.apply(&Entry::Submit(subjects[0].clone()), at));
    assert!(reason.contains(&tid.to_string()) && reason.contains("retired"), "{reason}");
    // Another transbox for the same transfer (a second approver): refused too.
    let mut other = f.transbox(f.request(eth(1), 1));
    other.approve(&f.domain, 1, &f.approvers[0][1]);
    let reason = refusal(&s.apply(&Entry::Submit(Subject::Transfer(other)), at));
    assert!(reason.contains("executes at most once") && reason.contains("retired"), "{reason}");
    for report in [
        subjects[2].clone(),
        f.report(tid.0, ReportStatus::Reorged, B256::repeat_byte(1), 1),
        f.report(tid.0, ReportStatus::Failed, B256::repeat_byte(1), 1),
    ] {
        let reason = refusal(&s.apply(&Entry::Submit(report), at));
        assert!(reason.contains(&tid.0.to_string()) && reason.contains("retired"), "{reason}");
    }
    let subject = subjects[0].id(&f.domain).unwrap();
    let vote = f.vote(2, subject, subjects[0].content(), true, "");
    match &s.apply(&vote, at)[..] {
        [Event::VoteIgnored { reason, .. }] => assert!(reason.contains("retired"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // A retired flow subject (its authorization) replayed: refused.
    let reason = refusal(&s.apply(&Entry::Submit(f.authorization(0, true)), at));
    assert!(reason.contains("retired") && reason.contains("decided once"), "{reason}");
    // Nothing of that changed a row but the meta row (entries applied).
    assert_ne!(s.state_root(), root);
    assert!(s.transfer(&tid).is_none() && s.pending().count() == 0);
    assert_eq!(s.state_root(), s.recomputed_state_root());
}

#[test]
fn a_reorg_report_within_retain_still_works_and_the_reconfirmed_transfer_retires_later() {
    let f = Fixture::new(1, 2, 1, 3);
    let mut s = f.state();
    f.activate_flow(&mut s);
    // A flow whose longest period is a day: confirmed a day after submission,
    // it is due RETAIN after its confirmation.
    let tb = f.transbox(f.request(eth(1), 1));
    let tid = tb.transfer_id(&f.domain);
    let tx = B256::repeat_byte(0x11);
    assert!(notarized(&f.decide(&mut s, Subject::Transfer(tb), T0)));
    f.decide(&mut s, f.report(tid.0, ReportStatus::Broadcast, tx, 0), T0);
    let confirmed = T0.0 + DAY;
    f.decide(&mut s, f.report(tid.0, ReportStatus::Confirmed, tx, 0), Timestamp(confirmed));
    assert_eq!(s.retires_at(&tid.0), Some(Timestamp(confirmed + RETAIN_SECONDS)));

    // The reorg is reported just before RETAIN ends: back to broadcast, not due.
    let reorg = confirmed + RETAIN_SECONDS - 1;
    let events = f.decide(&mut s, f.report(tid.0, ReportStatus::Reorged, tx, 0), Timestamp(reorg));
    assert!(notarized(&events), "{events:?}");
    assert_eq!(s.transfer(&tid).unwrap().status, TransferStatus::Broadcast { tx_hash: tx, nonce: 0 });
    assert_eq!(s.retires_at(&tid.0), None);
    tick(&f, &mut s, confirmed + 3 * RETAIN_SECONDS);
    assert!(s.transfer(&tid).is_some(), "a broadcast transfer never retires");

    // Confirmed again (another transaction): due RETAIN after that.
    let again = confirmed + 3 * RETAIN_SECONDS + 5;
    let tx2 = B256::repeat_byte(0x22);
    f.decide(&mut s, f.report(tid.0, ReportStatus::Confirmed, tx2, 0), Timestamp(again));
    assert_eq!(s.retires_at(&tid.0), Some(Timestamp(again + RETAIN_SECONDS)));
    tick(&f, &mut s, again + RETAIN_SECONDS - 1);
    assert!(s.transfer(&tid).is_some());
    tick(&f, &mut s, again + RETAIN_SECONDS);
    assert!(s.transfer(&tid).is_none() && s.is_retired(&tid.0));
}

#[test]
fn the_period_limit_counts_exactly_the_windows_transfers_across_retirements() {
    // ETH: 10 per transfer, 25 per day (fees count: 0.01 each).
    let f = Fixture::new(1, 2, 1, 3);
    let mut s = f.state();
    f.activate_flow(&mut s);
    let flow = f.domain.flow_hash(&f.flow);
    let mut all: Vec<(u64, U256)> = Vec::new();
    let fee = U256::from(10u64).pow(U256::from(16u64));
    let mut id = 0u8;
    // A transfer of 8 ETH every 7 hours for four days: at most three fit a day.
    let mut at = T0.0;
    while at < T0.0 + 4 * DAY {
        id += 1;
        let tb = f.transbox(f.request(eth(8), id));
        let events = f.decide(&mut s, Subject::Transfer(tb.clone()), Timestamp(at));
        let used: U256 = all.iter().filter(|(t, _)| *t > at - DAY && *t <= at).map(|(_, a)| *a).sum();
        let fits = used + eth(8) + fee <= eth(25);
        assert_eq!(notarized(&events), fits, "transfer {id} at +{}s with {used} used", at - T0.0);
        if fits {
            let tid = tb.transfer_id(&f.domain);
            let tx = B256::repeat_byte(id);
            f.decide(&mut s, f.report(tid.0, ReportStatus::Broadcast, tx, 0), Timestamp(at));
            f.decide(&mut s, f.report(tid.0, ReportStatus::Confirmed, tx, 0), Timestamp(at));
            all.push((at, eth(8) + fee));
        }
        // The window the chain counts is exactly the model's.
        let since = Timestamp(at - DAY + 1);
        let mut counted: Vec<(u64, U256)> =
            s.history_since(&flow, &Address::ZERO, None, since).into_iter().map(|(t, a)| (t.0, a.0)).collect();
        counted.sort();
        let model: Vec<(u64, U256)> = all.iter().filter(|(t, _)| *t > at - DAY).copied().collect();
        assert_eq!(counted, model, "window at +{}s", at - T0.0);
        at += 7 * 3600;
    }
    assert!(s.retired_chain().0 > 5, "transfers retired on the way");
}
