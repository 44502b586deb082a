//! Stage agreement: the gateway (`check_request`, then `verify_transfer` once
//! every level signed), a companion (`NotaryState::verdict`) and the signer
//! (`authorize`, on the same transbox notarized by a majority that checked
//! nothing) give the same verdict on the same inputs. One test per stage:
//! what an application breaks, what approvals break, and what only the
//! signer's own record decides.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_core::amount::Amount;
use box_core::ceremony::{Ceremony, SignerAnnounce, SignerState};
use box_core::crypto::SecretKey;
use box_core::decision::{
    Attempt, AuthorizedTransfer, NothingRecorded, Payment, SignerRecord, authorize, check_request, verify_transfer,
};
use box_core::governance::GovernanceAction;
use box_core::ids::{ChainId, FlowHash, SubjectId, Timestamp, TransferId};
use box_core::notary::{Entry, NotaryState, Subject, SubjectStatus};
use box_core::transbox::TransBox;
use box_core::typed::Signed;
use box_core::typed::{BlockDestination, FreezeEmployee, PauseTransfers, TransferRequest};
use box_core::{Address, U256};
use box_core::{B256, DestinationRule, Refusal};
use common::*;
use std::collections::BTreeSet;

/// The signer's record as the chain tells it (an honest chain): what the
/// signer would have recorded had it executed every counted transfer.
struct ChainAsRecord<'a> {
    state: &'a NotaryState,
    executed: BTreeSet<TransferId>,
}

impl SignerRecord for ChainAsRecord<'_> {
    fn executed(&self, id: &TransferId) -> bool {
        self.executed.contains(id)
    }
    fn counted(&self, flow: &FlowHash, asset: &Address, _: Timestamp, except: &TransferId) -> Vec<(Timestamp, Amount)> {
        self.state.history(flow, asset, Some(except))
    }
}

/// The three stages' verdicts on one transbox against one state.
#[derive(Debug)]
struct Verdicts {
    gateway_application: Result<(), Refusal>,
    gateway_complete: Result<(), Refusal>,
    companion: Result<(), Refusal>,
    signer: Result<AuthorizedTransfer, Refusal>,
}

fn verdicts(f: &Fixture, state: &NotaryState, tb: &TransBox, now: Timestamp) -> Verdicts {
    let gateway_application = check_request(state, &tb.request, &tb.applicant_signature, now);
    let gateway_complete = verify_transfer(state, tb, now).map(|_| ());
    // A companion votes on the pending subject.
    let subject = Subject::Transfer(tb.clone());
    let id: SubjectId = subject.id(&f.domain).unwrap();
    let mut pending = state.clone();
    pending.apply(&Entry::Submit(subject.clone()), now);
    let companion = pending.verdict(&id, now).map(|_| ());
    // The signer sees it notarized by every node, whatever they should have voted.
    let mut notarized = pending;
    let content = notarized.subject(&id).unwrap().content;
    for n in 0..f.nodes.len() {
        notarized.apply(&f.vote(n, id, content, true, ""), now);
    }
    assert!(matches!(notarized.subject(&id).unwrap().status, SubjectStatus::Notarized { .. }));
    let record = ChainAsRecord { state: &notarized, executed: BTreeSet::new() };
    let tid = tb.transfer_id(&f.domain);
    let signer = authorize(&notarized, &tid, ChainId(CHAIN_ID), &record, Attempt::First, now);
    Verdicts { gateway_application, gateway_complete, companion, signer }
}

/// Every stage refuses with exactly `want`.
fn all_refuse(what: &str, v: &Verdicts, want: &Refusal) {
    assert_eq!(v.gateway_application.as_ref().err(), Some(want), "{what}: gateway (application)");
    assert_eq!(v.gateway_complete.as_ref().err(), Some(want), "{what}: gateway (complete)");
    assert_eq!(v.companion.as_ref().err(), Some(want), "{what}: companion");
    assert_eq!(v.signer.as_ref().err(), Some(want), "{what}: signer");
}

fn active() -> (Fixture, NotaryState) {
    let f = Fixture::new(2, 3, 2, 3);
    let mut s = f.state();
    f.activate_flow(&mut s);
    (f, s)
}

fn governed(f: &Fixture, s: &mut NotaryState, action: GovernanceAction) {
    let holders: Vec<&SecretKey> = f.key_holders.iter().collect();
    assert!(notarized(&f.decide(s, f.action(action, &holders), T0)));
}

/// The signer announces (signed by the genesis signer) that its hot wallet is `wallet`.
fn announce_wallet(f: &Fixture, s: &mut NotaryState, wallet: Address) {
    let announce = SignerAnnounce {
        boot: B256::repeat_byte(1),
        sequence: 1,
        state: SignerState::Unsealed as u8,
        ceremonyKey: Default::default(),
        wallet,
        devices: Vec::new(),
        holders: 3,
        received: 0,
        paused: false,
        detail: String::new(),
        time: T0.0,
    };
    s.apply(&Entry::Ceremony(Ceremony::Announce(Signed::new(&f.domain, &f.signer, announce))), T0);
    assert_eq!(s.hot_wallet(), Some(wallet));
}

/// A request from employee 0 with `edit` applied, signed and fully approved.
fn transbox_with(f: &Fixture, id: u8, edit: impl FnOnce(&mut TransferRequest)) -> TransBox {
    let mut r = f.request(eth(1), id);
    edit(&mut r);
    f.transbox(r)
}

#[test]
fn stage_one_what_an_application_breaks_every_stage_refuses_alike() {
    let (f, s) = active();
    let now = T0;
    let ok = verdicts(&f, &s, &f.transbox(f.request(eth(1), 1)), now);
    assert!(ok.gateway_application.is_ok() && ok.gateway_complete.is_ok() && ok.companion.is_ok(), "{ok:?}");
    let authorized = ok.signer.expect("the valid transfer is authorized");
    assert_eq!(authorized.payment(), Payment::Eth { to: Address::repeat_byte(0xD5), amount: eth(1) });

    let outsider = SecretKey::from_label_unchecked("outsider");
    let mut cases: Vec<(&str, NotaryState, TransBox, Refusal)> = vec![
        (
            "wrong chain",
            s.clone(),
            transbox_with(&f, 2, |r| r.chainId = 1),
            Refusal::WrongChain { request: 1, expected: CHAIN_ID },
        ),
        (
            "unknown asset",
            s.clone(),
            transbox_with(&f, 3, |r| r.asset = Address::repeat_byte(0x99)),
            Refusal::UnknownAsset(Address::repeat_byte(0x99)),
        ),
        (
            "zero amount",
            s.clone(),
            transbox_with(&f, 4, |r| r.amount = U256::ZERO),
            Refusal::MalformedTransfer("the amount is zero".into()),
        ),
        (
            "destination address(0)",
            s.clone(),
            transbox_with(&f, 5, |r| r.to = Address::ZERO),
            Refusal::ForbiddenDestination { rule: DestinationRule::ZeroAddress, to: Address::ZERO },
        ),
        (
            "a token to its own contract",
            s.clone(),
            transbox_with(&f, 15, |r| {
                r.asset = f.token;
                r.amount = U256::from(5u64);
                r.to = f.token;
            }),
            Refusal::ForbiddenDestination { rule: DestinationRule::TokenContract, to: f.token },
        ),
        (
            "dated in the future",
            s.clone(),
            transbox_with(&f, 6, |r| r.timestamp = now.0 + 301),
            Refusal::FutureRequest { request: now.0 + 301, now: now.0, skew: 300 },
        ),
        (
            "over the fee cap",
            s.clone(),
            transbox_with(&f, 7, |r| r.maxFee = eth(2)),
            Refusal::OverFeeCap {
                fee: box_core::Units::of(&box_core::asset::Asset::Eth, eth(2)),
                cap: box_core::Units::of(&box_core::asset::Asset::Eth, eth(1)),
                asset: "ETH".into(),
            },
        ),
    ];
    // Not in the employee group: signed and applied by an outsider.
    let mut r = f.request(eth(1), 8);
    r.applicant = outsider.address();
    let mut tb = TransBox::apply(&f.domain, r, &outsider);
    for (l, level) in f.flow.levels.iter().enumerate() {
        for key in f.approvers[l].iter().take(level.threshold as usize) {
            tb.approve(&f.domain, l + 1, key);
        }
    }
    cases.push(("not an employee", s.clone(), tb, Refusal::NotAnEmployee(outsider.address())));
    // Signed by someone other than the applicant it names.
    let mut tb = f.transbox(f.request(eth(1), 9));
    tb.applicant_signature = f.domain.sign(&f.employees[1], &tb.request);
    cases.push((
        "signed by another",
        s.clone(),
        tb,
        Refusal::ApplicantMismatch { named: f.employees[0].address(), signer: f.employees[1].address() },
    ));
    // Governance: paused, frozen, blocked.
    let mut paused = s.clone();
    governed(
        &f,
        &mut paused,
        GovernanceAction::PauseTransfers(PauseTransfers { paused: true, reason: "drill".into(), nonce: 1 }),
    );
    cases.push(("paused", paused, f.transbox(f.request(eth(1), 10)), Refusal::Paused("drill".into())));
    let mut frozen = s.clone();
    let employee = f.employees[0].address();
    governed(
        &f,
        &mut frozen,
        GovernanceAction::FreezeEmployee(FreezeEmployee { employee, frozen: true, reason: "left".into(), nonce: 1 }),
    );
    cases.push(("frozen", frozen, f.transbox(f.request(eth(1), 11)), Refusal::FrozenEmployee(employee)));
    let mut blocked = s.clone();
    let to = Address::repeat_byte(0xD5);
    governed(
        &f,
        &mut blocked,
        GovernanceAction::BlockDestination(BlockDestination {
            destination: to,
            blocked: true,
            reason: "fraud".into(),
            nonce: 1,
        }),
    );
    cases.push(("blocked", blocked, f.transbox(f.request(eth(1), 12)), Refusal::BlockedDestination(to)));
    // The hot wallet the signer announced, paid in ETH or in a token.
    let wallet = Address::repeat_byte(0x77);
    let mut announced = s.clone();
    announce_wallet(&f, &mut announced, wallet);
    for (id, asset) in [(16, Address::ZERO), (17, f.token)] {
        let tb = transbox_with(&f, id, |r| {
            r.asset = asset;
            r.amount = U256::from(5u64);
            r.to = wallet;
        });
        let want = Refusal::ForbiddenDestination { rule: DestinationRule::HotWallet, to: wallet };
        cases.push(("to the hot wallet", announced.clone(), tb, want));
    }
    // Over the per-transfer limit (10 ETH).
    let over = f.transbox(f.request(eth(11), 13));
    let units = |v| box_core::Units::of(&box_core::asset::Asset::Eth, v);
    cases.push((
        "over the per-transfer limit",
        s.clone(),
        over,
        Refusal::OverPerTransferLimit { amount: units(eth(11)), limit: units(eth(10)) },
    ));
    // Over the period limit (25 ETH a day): two notarized transfers of 10 ETH first.
    let mut spent = s.clone();
    for id in [20, 21] {
        assert!(notarized(&f.decide(&mut spent, Subject::Transfer(f.transbox(f.request(eth(10), id))), now)));
    }
    let fee = U256::from(10u64).pow(U256::from(16u64));
    cases.push((
        "over the period limit",
        spent,
        f.transbox(f.request(eth(5), 22)),
        Refusal::OverPeriodLimit {
            amount: units(eth(5) + fee),
            used: units(eth(20) + fee + fee),
            limit: units(eth(25)),
            period_seconds: 86_400,
        },
    ));
    // Over the ETH period limit by fee caps alone: two notarized ETH
    // transfers of 10 and two token transfers signed with a 1 ETH fee cap
    // each count 22.02 ETH; 3 ETH more with its cap is over 25 ETH, while
    // the ETH amounts alone (23) are not (box_core::transbox::eth_spend).
    let mut fees = s.clone();
    for id in [30, 31] {
        assert!(notarized(&f.decide(&mut fees, Subject::Transfer(f.transbox(f.request(eth(10), id))), now)));
    }
    for id in [32, 33] {
        let token = transbox_with(&f, id, |r| {
            r.asset = f.token;
            r.amount = U256::from(300u64);
            r.maxFee = eth(1);
        });
        assert!(notarized(&f.decide(&mut fees, Subject::Transfer(token), now)));
    }
    cases.push((
        "over the ETH period limit by fee caps",
        fees,
        f.transbox(f.request(eth(3), 34)),
        Refusal::OverPeriodLimit {
            amount: units(eth(3) + fee),
            used: units(eth(20) + fee + fee + eth(2)),
            limit: units(eth(25)),
            period_seconds: 86_400,
        },
    ));
    // A flow that is not active (disabled by one key holder).
    let mut disabled = s.clone();
    assert!(notarized(&f.decide(&mut disabled, f.authorization(0, false), T0)));
    let fh = f.domain.flow_hash(&f.flow);
    cases.push((
        "flow disabled",
        disabled,
        f.transbox(f.request(eth(1), 14)),
        Refusal::FlowNotActive { flow: fh.to_string(), status: "disabled".into() },
    ));

    for (what, state, tb, want) in &cases {
        all_refuse(what, &verdicts(&f, state, tb, now), want);
    }
}

#[test]
fn stage_two_what_approvals_break_the_companion_the_signer_and_the_completed_gateway_refuse_alike() {
    let (f, s) = active();
    let now = T0;
    let request = |id| f.request(eth(1), id);
    let finance = |l: usize| f.flow.levels[l].name.clone();

    let mut cases: Vec<(&str, TransBox, Refusal)> = Vec::new();
    let mut missing = TransBox::apply(&f.domain, request(1), &f.employees[0]);
    for key in f.approvers[0].iter().take(2) {
        missing.approve(&f.domain, 1, key);
    }
    cases.push(("a missing level", missing, Refusal::BelowThreshold { level: 2, name: finance(1), have: 0, need: 2 }));
    let mut short = TransBox::apply(&f.domain, request(2), &f.employees[0]);
    short.approve(&f.domain, 1, &f.approvers[0][0]);
    short.approve(&f.domain, 1, &f.approvers[0][1]);
    short.approve(&f.domain, 2, &f.approvers[1][0]);
    cases.push(("below a threshold", short, Refusal::BelowThreshold { level: 2, name: finance(1), have: 1, need: 2 }));
    let mut stranger = TransBox::apply(&f.domain, request(3), &f.employees[0]);
    stranger.approve(&f.domain, 1, &f.approvers[0][0]);
    stranger.approve(&f.domain, 1, &f.approvers[1][0]);
    stranger.approve(&f.domain, 2, &f.approvers[1][1]);
    stranger.approve(&f.domain, 2, &f.approvers[1][2]);
    let wrong = f.approvers[1][0].address();
    let not_approver = Refusal::NotAnApprover { signer: wrong, level: 1, name: finance(0) };
    cases.push(("an approver of another level", stranger, not_approver));
    let mut own = TransBox::apply(&f.domain, request(4), &f.employees[0]);
    own.approve(&f.domain, 1, &f.employees[0]);
    own.approve(&f.domain, 1, &f.approvers[0][0]);
    own.approve(&f.domain, 2, &f.approvers[1][0]);
    own.approve(&f.domain, 2, &f.approvers[1][1]);
    let self_approval = Refusal::SelfApproval(f.employees[0].address());
    cases.push(("the applicant approving", own, self_approval));
    let mut unordered = f.transbox(request(5));
    unordered.levels[1].swap(0, 1);
    // Level 2's signatures were made over level 1 as it was: swap within the top level.
    cases.push(("approvals out of order", unordered, Refusal::UnorderedApprovals { level: 2 }));
    let mut extra = f.transbox(request(6));
    extra.levels.push(Vec::new());
    cases.push(("a level too many", extra, Refusal::LevelCount { have: 3, need: 2 }));

    for (what, tb, want) in &cases {
        let v = verdicts(&f, &s, tb, now);
        assert_eq!(v.gateway_application, Ok(()), "{what}: the application itself breaks no rule");
        assert_eq!(v.gateway_complete.as_ref().err(), Some(want), "{what}: gateway (complete)");
        assert_eq!(v.companion.as_ref().err(), Some(want), "{what}: companion");
        assert_eq!(v.signer.as_ref().err(), Some(want), "{what}: signer");
    }
}

#[test]
fn stage_three_the_signer_counts_replays_and_limits_from_its_own_record() {
    let (f, mut s) = active();
    let now = T0;
    // Two transfers of 10 ETH the signer executed; the chain forgets them
    // (here: they never reached it).
    let tb = f.transbox(f.request(eth(8), 1));
    let tid = tb.transfer_id(&f.domain);
    assert!(notarized(&f.decide(&mut s, Subject::Transfer(tb), now)));
    // On the chain's history alone (nothing else under the flow) every stage accepts it.
    assert!(authorize(&s, &tid, ChainId(CHAIN_ID), &NothingRecorded, Attempt::First, now).is_ok());

    struct Own(BTreeSet<TransferId>, Vec<(Timestamp, Amount)>);
    impl SignerRecord for Own {
        fn executed(&self, id: &TransferId) -> bool {
            self.0.contains(id)
        }
        fn counted(&self, _: &FlowHash, asset: &Address, _: Timestamp, _: &TransferId) -> Vec<(Timestamp, Amount)> {
            if asset.is_zero() { self.1.clone() } else { Vec::new() }
        }
    }
    let spent = Own(BTreeSet::new(), vec![(now, Amount(eth(20)))]);
    let refused = authorize(&s, &tid, ChainId(CHAIN_ID), &spent, Attempt::First, now).unwrap_err();
    assert!(matches!(refused, Refusal::OverPeriodLimit { .. }), "{refused}");

    // Fee caps count towards the ETH window from the signer's record as
    // they do on the chain: an ETH transfer of 15 and two token transfers
    // with a 1 ETH fee cap each are 17.01 ETH, so 8 ETH more (with its cap)
    // is over 25 ETH, while the amounts alone (23 ETH) are not.
    struct Executions(Vec<(Address, U256, U256)>);
    impl SignerRecord for Executions {
        fn executed(&self, _: &TransferId) -> bool {
            false
        }
        fn counted(&self, _: &FlowHash, window: &Address, now: Timestamp, _: &TransferId) -> Vec<(Timestamp, Amount)> {
            let count = |(asset, amount, fee): &(Address, U256, U256)| {
                box_core::transbox::counts_towards(window, asset, Amount(*amount), Amount(*fee)).map(|a| (now, a))
            };
            self.0.iter().filter_map(count).collect()
        }
    }
    let cap = f.request(eth(8), 1).maxFee;
    let token_fees = Executions(vec![
        (Address::ZERO, eth(15), cap),
        (f.token, U256::from(300u64), eth(1)),
        (f.token, U256::from(300u64), eth(1)),
    ]);
    let units = |v| box_core::Units::of(&box_core::asset::Asset::Eth, v);
    assert_eq!(
        authorize(&s, &tid, ChainId(CHAIN_ID), &token_fees, Attempt::First, now).unwrap_err(),
        Refusal::OverPeriodLimit {
            amount: units(eth(8) + cap),
            used: units(eth(17) + cap),
            limit: units(eth(25)),
            period_seconds: 86_400,
        }
    );

    // A replay of what it executed is refused; a replacement needs the record.
    let executed = Own([tid].into(), Vec::new());
    let replay = authorize(&s, &tid, ChainId(CHAIN_ID), &executed, Attempt::First, now).unwrap_err();
    assert_eq!(replay, Refusal::Replay(format!("{tid} was already executed")));
    let again = authorize(&s, &tid, ChainId(CHAIN_ID), &executed, Attempt::Replacement, now).unwrap();
    assert_eq!(
        (again.transfer_id(), again.attempt(), again.fee_cap()),
        (tid, Attempt::Replacement, Amount(f.request(eth(8), 1).maxFee))
    );
    let nothing = authorize(&s, &tid, ChainId(CHAIN_ID), &NothingRecorded, Attempt::Replacement, now).unwrap_err();
    assert!(matches!(nothing, Refusal::Replay(_)), "{nothing}");

    // Its configured chain, not the deployment's word, decides.
    let other = authorize(&s, &tid, ChainId(1), &NothingRecorded, Attempt::First, now).unwrap_err();
    assert_eq!(other, Refusal::WrongChain { request: CHAIN_ID, expected: 1 });
    // A transfer that is not notarized is not authorized.
    let pending = f.transbox(f.request(eth(1), 2));
    let pid = pending.transfer_id(&f.domain);
    s.apply(&Entry::Submit(Subject::Transfer(pending)), now);
    let why = authorize(&s, &pid, ChainId(CHAIN_ID), &NothingRecorded, Attempt::First, now).unwrap_err();
    assert_eq!(why, Refusal::Certificate(format!("{pid} is not notarized")));
}

#[test]
fn the_order_within_a_level_is_cores_whatever_order_approvals_arrive_in() {
    let f = Fixture::new(2, 3, 3, 3);
    let mut s = f.state();
    f.activate_flow(&mut s);
    let reference = f.transbox(f.request(eth(1), 1));
    // Each level's signatures, collected in reverse (as a store might hand them out).
    let mut tb = TransBox::apply(&f.domain, reference.request.clone(), &f.employees[0]);
    tb.applicant_signature = reference.applicant_signature;
    for level in 1..=2 {
        for key in f.approvers[level - 1].iter().rev() {
            let sig = f.domain.sign(key, &tb.approval_for(level));
            assert_eq!(tb.add_approval(&f.domain, level, sig).unwrap(), key.address());
        }
    }
    assert_eq!(tb, reference, "the same transbox, level by level in ascending approver order");
    assert!(verify_transfer(&s, &tb, T0).is_ok());

    // A second signature by the same approver, a closed level, a level skipped: refused, unchanged.
    let again = f.domain.sign(&f.approvers[1][0], &tb.approval_for(2));
    assert!(
        matches!(tb.add_approval(&f.domain, 2, again), Err(Refusal::MalformedTransfer(m)) if m.contains("already approved"))
    );
    let late = f.domain.sign(&f.approvers[0][0], &tb.approval_for(1));
    assert!(matches!(tb.add_approval(&f.domain, 1, late), Err(Refusal::MalformedTransfer(m)) if m.contains("closed")));
    let skipped = f.domain.sign(&f.approvers[0][0], &tb.approval_for(4));
    assert!(tb.add_approval(&f.domain, 4, skipped).is_err());
    assert_eq!(tb, reference);
}

/// A flow with `addressBookOnly`: the gateway, a companion and the signer
/// (on a transbox notarized by a majority that checked nothing) refuse a
/// destination the address book does not list for the flow, by the rule's
/// name with the address in EIP-55; listing it takes every key holder, and
/// one key holder's removal makes every stage refuse it again.
#[test]
fn a_destination_outside_the_address_book_is_refused_by_name_at_every_stage() {
    use box_core::typed::AddressBookEntry;
    let mut f = Fixture::new(2, 3, 2, 3);
    f.flow.addressBookOnly = true;
    let mut s = f.state();
    f.activate_flow(&mut s);
    let flow = f.domain.flow_hash(&f.flow);
    let to = Address::repeat_byte(0xD5);
    let want = Refusal::ForbiddenDestination { rule: DestinationRule::NotInAddressBook, to };
    let message = want.to_string();
    assert!(
        message.contains("destination_not_in_address_book") && message.contains(&to.to_checksum(None)),
        "{message}"
    );
    let entry = |flow_hash: B256, listed: bool, nonce: u64| {
        GovernanceAction::AddressBookEntry(AddressBookEntry {
            destination: to,
            label: "Supplier GmbH".into(),
            flowHash: flow_hash,
            listed,
            nonce,
        })
    };

    all_refuse("not listed", &verdicts(&f, &s, &f.transbox(f.request(eth(1), 1)), T0), &want);

    // Two of three key holders cannot list it.
    let two: Vec<&SecretKey> = f.key_holders.iter().take(2).collect();
    let events = f.decide(&mut s, f.action(entry(flow.0, true, 1), &two), T0);
    assert!(!notarized(&events), "listing needs every key holder");
    assert!(rejection(&events).unwrap().contains("needs all 3 key holders"), "{events:?}");
    all_refuse("listed by two of three", &verdicts(&f, &s, &f.transbox(f.request(eth(1), 2)), T0), &want);

    // Listed for another flow only: still refused.
    let mut other = s.clone();
    governed(&f, &mut other, entry(B256::repeat_byte(0x99), true, 2));
    all_refuse("listed for another flow", &verdicts(&f, &other, &f.transbox(f.request(eth(1), 3)), T0), &want);

    // Listed for this flow, or for every flow: every stage accepts.
    for (n, scope) in [(4u8, flow.0), (5, B256::ZERO)] {
        let mut listed = s.clone();
        governed(&f, &mut listed, entry(scope, true, u64::from(n)));
        assert_eq!(listed.address_book().get(&to).unwrap().label, "Supplier GmbH");
        let v = verdicts(&f, &listed, &f.transbox(f.request(eth(1), n)), T0);
        assert!(v.gateway_application.is_ok() && v.gateway_complete.is_ok() && v.companion.is_ok(), "{v:?}");
        assert_eq!(v.signer.unwrap().payment(), Payment::Eth { to, amount: eth(1) });
        // One key holder removes it: refused again everywhere.
        let one = vec![&f.key_holders[2]];
        assert!(notarized(&f.decide(&mut listed, f.action(entry(B256::ZERO, false, 9), &one), T0)));
        assert!(listed.address_book().get(&to).is_none());
        all_refuse("removed", &verdicts(&f, &listed, &f.transbox(f.request(eth(1), n + 10)), T0), &want);
    }

    // A flow without addressBookOnly never reads the book.
    let plain = Fixture::new(2, 3, 2, 3);
    let mut p = plain.state();
    plain.activate_flow(&mut p);
    let v = verdicts(&plain, &p, &plain.transbox(plain.request(eth(1), 1)), T0);
    assert!(v.signer.is_ok(), "{v:?}");
}

/// Issue 15 item 3: a node added or removed between a transfer's
/// notarization and the signer's turn does not undo the notarization: the
/// certificate was a majority of the registry in force when the notary
/// counted it (an added node raises the majority; a removed one was a voter).
#[test]
fn a_node_change_after_the_notarization_does_not_undo_it_at_the_signer() {
    use box_core::typed::NodeChange;
    let (f, mut s) = active();
    let now = T0;
    let (first, second) = (f.transbox(f.request(eth(1), 1)), f.transbox(f.request(eth(1), 2)));
    let (t1, t2) = (first.transfer_id(&f.domain), second.transfer_id(&f.domain));
    assert!(notarized(&f.decide(&mut s, Subject::Transfer(first), now)));
    // Node 4 joins: the majority is 3 of 4; the first certificate holds 2 votes.
    let newcomer = SecretKey::from_bytes(&[0x44; 32]).unwrap();
    let add =
        NodeChange { account: newcomer.address(), nodeId: 4, endpoint: "127.0.0.1:7004".into(), add: true, nonce: 1 };
    let all: Vec<&SecretKey> = f.nodes.iter().collect();
    assert!(notarized(&f.decide(&mut s, f.action(GovernanceAction::NodeChange(add), &all), now)));
    assert_eq!((s.registry().len(), s.registry().majority()), (4, 3));
    let a = authorize(&s, &t1, ChainId(CHAIN_ID), &NothingRecorded, Attempt::First, now);
    assert!(a.is_ok(), "{a:?}");
    // The second is notarized by nodes 1 to 3; then node 1 leaves (3 of 4 sign).
    assert!(notarized(&f.decide(&mut s, Subject::Transfer(second), now)));
    let leaver = f.nodes[0].address();
    let remove = NodeChange { account: leaver, nodeId: 1, endpoint: "127.0.0.1:7001".into(), add: false, nonce: 2 };
    let signers = [&f.nodes[1], &f.nodes[2], &newcomer];
    assert!(notarized(&f.decide(&mut s, f.action(GovernanceAction::NodeChange(remove), &signers), now)));
    assert!(!s.registry().contains(&leaver));
    let a = authorize(&s, &t2, ChainId(CHAIN_ID), &NothingRecorded, Attempt::First, now);
    assert!(a.is_ok(), "{a:?}");
}

/// The binary state (crate README, "Binary state") holds every kind of row:
/// a state with frozen, blocked, an added asset, an address-book entry, a
/// pause, a signer announcement, a ceremony message and a transfer comes
/// back from its rows field for field, with the same root.
#[test]
fn a_state_with_every_kind_of_row_comes_back_from_its_binary_form() {
    use box_core::ceremony::{CeremonyMessage, Purpose};
    use box_core::typed::{AddressBookEntry, RegisterAsset};
    let f = Fixture::new(1, 2, 1, 3);
    let mut s = f.state();
    f.activate_flow(&mut s);
    announce_wallet(&f, &mut s, Address::repeat_byte(0x77));
    let employee = f.employees[0].address();
    governed(
        &f,
        &mut s,
        GovernanceAction::FreezeEmployee(FreezeEmployee { employee, frozen: true, reason: "r".into(), nonce: 1 }),
    );
    let destination = Address::repeat_byte(0x55);
    let blocked = BlockDestination { destination, blocked: true, reason: "b".into(), nonce: 2 };
    governed(&f, &mut s, GovernanceAction::BlockDestination(blocked));
    let asset = RegisterAsset {
        token: Address::repeat_byte(0x42),
        symbol: "USDC".into(),
        decimals: 6,
        registered: true,
        nonce: 3,
    };
    governed(&f, &mut s, GovernanceAction::RegisterAsset(asset));
    let listed = AddressBookEntry {
        destination: Address::repeat_byte(0x66),
        label: "l".into(),
        flowHash: B256::ZERO,
        listed: true,
        nonce: 4,
    };
    governed(&f, &mut s, GovernanceAction::AddressBookEntry(listed));
    governed(
        &f,
        &mut s,
        GovernanceAction::PauseTransfers(PauseTransfers { paused: true, reason: "audit".into(), nonce: 5 }),
    );
    let m = CeremonyMessage {
        boot: B256::repeat_byte(1),
        purpose: Purpose::Panic as u8,
        holder: 0,
        deviceId: "phone".into(),
        sealed: vec![7u8; 64].into(),
        time: T0.0,
        endorsement: Default::default(),
    };
    s.apply(&Entry::Ceremony(Ceremony::Message(Signed::new(&f.domain, &f.key_holders[0], m))), T0);
    assert!(s.paused().is_some() && s.is_frozen(&employee) && s.is_blocked(&destination));
    assert!(s.address_book().len() == 1 && s.signer_status().is_some());
    let back = NotaryState::from_binary(&s.to_binary()).unwrap();
    assert_eq!(back.snapshot(), s.snapshot());
    assert_eq!(back.state_root(), s.state_root());
    assert_eq!(back.state_root(), back.recomputed_state_root());
}
