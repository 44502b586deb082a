//! Property tests: encodings round-trip, signatures cover every field,
//! thresholds hold, replay is deterministic, and nothing is notarized without a
//! strict majority.
#![allow(clippy::unwrap_used, clippy::expect_used, non_snake_case)]

mod common;

use box_core::crypto::SecretKey;
use box_core::encoding::Canonical;
use box_core::flow::{ActiveFlow, verify_flow};
use box_core::governance::{GovernanceAction, SignedAction};
use box_core::ids::{ContentHash, SubjectId, Timestamp};
use box_core::notary::{Entry, Event, NotaryState, Subject, SubjectStatus};
use box_core::quorum::{QuorumCertificate, verify_certificate};
use box_core::transbox::{Policy, TransBox, TransferContext, verify_transbox};
use box_core::typed::{
    ApprovalLevel, AssetLimit, BoxFlow, FreezeEmployee, NodeVote, PauseTransfers, Signed, TransferRequest,
};
use box_core::{Address, Amount, B256, Refusal, U256};
use common::*;
use proptest::prelude::*;
use std::collections::BTreeSet;

fn addr() -> impl Strategy<Value = Address> {
    any::<[u8; 20]>().prop_map(Address::from)
}
fn b256() -> impl Strategy<Value = B256> {
    any::<[u8; 32]>().prop_map(B256::from)
}
fn u256() -> impl Strategy<Value = U256> {
    any::<[u64; 4]>().prop_map(U256::from_limbs)
}

fn request() -> impl Strategy<Value = TransferRequest> {
    (b256(), b256(), addr(), addr(), addr(), u256(), u256(), any::<u64>(), any::<u64>()).prop_map(
        |(requestId, flowHash, applicant, asset, to, amount, maxFee, chainId, timestamp)| TransferRequest {
            requestId,
            flowHash,
            applicant,
            asset,
            to,
            amount,
            maxFee,
            chainId,
            timestamp,
        },
    )
}

fn flow() -> impl Strategy<Value = BoxFlow> {
    let level = (".{0,12}", prop::collection::vec(addr(), 0..4), any::<u32>())
        .prop_map(|(name, approvers, threshold)| ApprovalLevel { name, approvers, threshold });
    let limit = (addr(), u256(), u256(), any::<u64>(), u256()).prop_map(
        |(asset, perTransfer, perPeriod, periodSeconds, maxFee)| AssetLimit {
            asset,
            perTransfer,
            perPeriod,
            periodSeconds,
            maxFee,
        },
    );
    (
        ".{0,16}",
        prop::collection::vec(addr(), 0..4),
        prop::collection::vec(level, 0..3),
        prop::collection::vec(limit, 0..3),
        any::<u64>(),
    )
        .prop_map(|(name, employees, levels, limits, nonce)| BoxFlow {
            name,
            employees,
            levels,
            limits,
            nonce,
            addressBookOnly: false,
        })
}

/// A transbox with real (canonical) signatures over arbitrary content.
fn transbox() -> impl Strategy<Value = TransBox> {
    (request(), prop::collection::vec(prop::collection::vec(0usize..4, 0..3), 0..3)).prop_map(|(req, levels)| {
        let f = Fixture::new(1, 1, 1, 1);
        let keys: Vec<SecretKey> = (0..4).map(|i| SecretKey::from_label_unchecked(&format!("p{i}"))).collect();
        let mut tb = TransBox::apply(&f.domain, req, &keys[0]);
        for (l, signers) in levels.iter().enumerate() {
            tb.levels.push(Vec::new());
            for s in signers {
                let approval = tb.approval_for(l + 1);
                let sig = f.domain.sign(&keys[*s], &approval);
                tb.levels[l].push(sig);
            }
        }
        tb
    })
}

fn round_trips<T: Canonical + PartialEq + std::fmt::Debug>(v: &T) -> Result<(), TestCaseError> {
    let bytes = v.encode();
    let back = T::decode(&bytes).map_err(|e| TestCaseError::fail(format!("decode failed: {e}")))?;
    prop_assert_eq!(&back, v);
    prop_assert_eq!(back.encode(), bytes);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn encodings_round_trip(req in request(), fl in flow(), tb in transbox(), subject in b256(), content in b256(),
                            accept in any::<bool>(), reason in ".{0,40}", frozen in any::<bool>()) {
        round_trips(&req)?;
        round_trips(&fl)?;
        round_trips(&tb)?;
        let f = Fixture::new(1, 1, 1, 3);
        let vote = Signed::new(&f.domain, &f.nodes[0], NodeVote { subject, contentHash: content, accept, reason });
        round_trips(&vote)?;
        round_trips(&Entry::Vote(vote.clone()))?;
        round_trips(&Entry::Submit(Subject::Transfer(tb.clone())))?;
        round_trips(&Subject::Flow(fl.clone()))?;
        let cert = QuorumCertificate { subject: SubjectId(subject), content: ContentHash(content), votes: vec![vote.signature; 2] };
        round_trips(&cert)?;
        let action = GovernanceAction::FreezeEmployee(FreezeEmployee { employee: req.applicant, frozen, reason: String::new(), nonce: req.timestamp });
        let signed = SignedAction { action: action.clone(), signatures: vec![f.domain.sign(&f.key_holders[0], &FreezeEmployee { employee: req.applicant, frozen, reason: String::new(), nonce: req.timestamp })] };
        round_trips(&signed)?;
        round_trips(&Subject::Governance(signed))?;
        // The API's JSON form round-trips too.
        let json = serde_json::to_string(&Subject::Transfer(tb.clone())).unwrap();
        prop_assert_eq!(serde_json::from_str::<Subject>(&json).unwrap(), Subject::Transfer(tb));
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = Entry::decode(&bytes);
        let _ = TransBox::decode(&bytes);
        let _ = QuorumCertificate::decode(&bytes);
        let _ = SignedAction::decode(&bytes);
        let _ = BoxFlow::decode(&bytes);
    }

    #[test]
    fn changing_any_signed_field_breaks_verification(field in 0usize..9, value in b256(), sig_flip in any::<(u8, u8, u8)>()) {
        let f = Fixture::new(3, 3, 2, 3);
        let s = f.state();
        let vf = ActiveFlow::assume_active_unchecked(verify_flow(&f.domain, &f.flow).unwrap());
        let none = BTreeSet::new();
        let ctx = TransferContext {
            domain: &f.domain, flow: &vf,
            policy: Policy { assets: s.assets(), frozen: &none, blocked: &none, paused: None, hot_wallet: None, address_book: &box_core::address_book::AddressBook::default() },
            now: T0, history: &[], eth_history: &[],
        };
        let tb = f.transbox(f.request(eth(1), 1));
        prop_assert!(verify_transbox(&tb, &ctx).is_ok());

        let mut bad = tb.clone();
        let r = &mut bad.request;
        let a = Address::from_slice(&value[..20]);
        let n = u64::from_be_bytes(value[..8].try_into().unwrap());
        let changed = match field {
            0 => { let o = r.requestId; r.requestId = value; o != value }
            1 => { let o = r.flowHash; r.flowHash = value; o != value }
            2 => { let o = r.applicant; r.applicant = a; o != a }
            3 => { let o = r.asset; r.asset = a; o != a }
            4 => { let o = r.to; r.to = a; o != a }
            5 => { let o = r.amount; r.amount = U256::from_be_bytes(value.0); o != r.amount }
            6 => { let o = r.maxFee; r.maxFee = U256::from_be_bytes(value.0); o != r.maxFee }
            7 => { let o = r.chainId; r.chainId = n; o != n }
            _ => { let o = r.timestamp; r.timestamp = n; o != n }
        };
        prop_assume!(changed);
        prop_assert!(verify_transbox(&bad, &ctx).is_err(), "field {} changed but verification passed", field);

        // Flipping any byte of any signature also breaks it (or makes it undecodable).
        let mut bad = tb.clone();
        let (level, idx, byte) = sig_flip;
        let level = level as usize % 4;
        let mut sigs: Vec<&mut box_core::Signature> = if level == 0 {
            vec![&mut bad.applicant_signature]
        } else {
            bad.levels[level - 1].iter_mut().collect()
        };
        let i = idx as usize % sigs.len();
        let mut raw = sigs[i].as_bytes();
        raw[byte as usize % 64] ^= 0x01;
        // A flip that yields a non-canonical signature is refused at decoding already.
        if let Ok(sig) = box_core::crypto::signature_from_bytes(&raw) {
            *sigs[i] = sig;
            prop_assert!(verify_transbox(&bad, &ctx).is_err());
        }
    }

    #[test]
    fn any_level_below_its_threshold_fails(counts in prop::collection::vec(0usize..=3, 3)) {
        let f = Fixture::new(3, 3, 2, 3);
        let s = f.state();
        let vf = ActiveFlow::assume_active_unchecked(verify_flow(&f.domain, &f.flow).unwrap());
        let none = BTreeSet::new();
        let ctx = TransferContext {
            domain: &f.domain, flow: &vf,
            policy: Policy { assets: s.assets(), frozen: &none, blocked: &none, paused: None, hot_wallet: None, address_book: &box_core::address_book::AddressBook::default() },
            now: T0, history: &[], eth_history: &[],
        };
        let mut tb = TransBox::apply(&f.domain, f.request(eth(1), 1), &f.employees[0]);
        for (l, c) in counts.iter().enumerate() {
            tb.levels.push(Vec::new());
            for key in f.approvers[l].iter().take(*c) {
                tb.approve(&f.domain, l + 1, key);
            }
        }
        let result = verify_transbox(&tb, &ctx);
        match counts.iter().position(|c| *c < 2) {
            Some(first_short) => match result {
                Err(Refusal::BelowThreshold { level, have, need, .. }) => {
                    prop_assert_eq!(level, first_short + 1);
                    prop_assert_eq!(have, counts[first_short]);
                    prop_assert_eq!(need, 2);
                }
                other => prop_assert!(false, "expected BelowThreshold, got {:?}", other),
            },
            None => prop_assert!(result.is_ok(), "{:?}", result),
        }
    }
}

/// A random log step: submit a transfer, vote (possibly as an outsider, for
/// wrong content, twice), or govern.
#[derive(Debug, Clone)]
enum Step {
    Submit {
        id: u8,
    },
    Vote {
        subject: u8,
        voter: u8,
        accept: bool,
        wrong_content: bool,
    },
    Pause {
        paused: bool,
    },
    /// Log time moves on by this many hours (an entry that changes nothing).
    Wait {
        hours: u8,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        1 => (0u8..6).prop_map(|id| Step::Submit { id }),
        1 => (1u8..30).prop_map(|hours| Step::Wait { hours }),
        4 => (0u8..6, 0u8..7, any::<bool>(), prop::bool::weighted(0.1))
            .prop_map(|(subject, voter, accept, wrong_content)| Step::Vote { subject, voter, accept, wrong_content }),
        1 => (any::<bool>()).prop_map(|paused| Step::Pause { paused }),
    ]
}

/// Voters 0..5 are the registered nodes; 5 and 6 are outsiders.
fn to_entries(f: &Fixture, steps: &[Step]) -> Vec<Entry> {
    let outsiders = [SecretKey::from_label_unchecked("outsider-0"), SecretKey::from_label_unchecked("outsider-1")];
    let subjects: Vec<Subject> =
        (0..6).map(|i| Subject::Transfer(f.transbox(f.request(eth(1 + i), i as u8 + 1)))).collect();
    steps
        .iter()
        .map(|s| match s {
            Step::Submit { id } => Entry::Submit(subjects[*id as usize].clone()),
            Step::Vote { subject, voter, accept, wrong_content } => {
                let subj = &subjects[*subject as usize];
                let id = subj.id(&f.domain).unwrap();
                let content = if *wrong_content { ContentHash(B256::repeat_byte(9)) } else { subj.content() };
                let key = if (*voter as usize) < f.nodes.len() {
                    &f.nodes[*voter as usize]
                } else {
                    &outsiders[*voter as usize - 5]
                };
                let reason = if *accept { String::new() } else { "no".into() };
                Entry::Vote(Signed::new(
                    &f.domain,
                    key,
                    NodeVote { subject: id.0, contentHash: content.0, accept: *accept, reason },
                ))
            }
            Step::Wait { .. } => {
                let nobody = NodeVote {
                    subject: B256::repeat_byte(0xEE),
                    contentHash: B256::ZERO,
                    accept: true,
                    reason: String::new(),
                };
                Entry::Vote(Signed::new(&f.domain, &f.nodes[0], nobody))
            }
            Step::Pause { paused } => {
                let action = GovernanceAction::PauseTransfers(PauseTransfers {
                    paused: *paused,
                    reason: "drill".into(),
                    nonce: 1,
                });
                let signers: Vec<&SecretKey> =
                    if *paused { vec![&f.key_holders[0]] } else { f.key_holders.iter().collect() };
                let Subject::Governance(g) = f.action(action, &signers) else { unreachable!() };
                Entry::Submit(Subject::Governance(g))
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn no_sequence_notarizes_without_a_strict_majority(steps in prop::collection::vec(step(), 1..60)) {
        let f = Fixture::new(1, 2, 1, 5);
        let mut s = f.state();
        f.activate_flow(&mut s);
        let registry = s.registry().clone();
        for (i, entry) in to_entries(&f, &steps).iter().enumerate() {
            for e in s.apply(entry, Timestamp(T0.0 + i as u64)) {
                if let Event::Notarized { subject, certificate, .. } = e {
                    let v = verify_certificate(&f.domain, &registry, &certificate);
                    prop_assert!(v.is_ok(), "notarized {} with an invalid certificate: {:?}", subject, v);
                    let rec = s.subject(&subject).unwrap();
                    let registered = rec.accepts.keys().filter(|a| registry.contains(a)).count();
                    prop_assert!(registered >= registry.majority());
                    prop_assert_eq!(certificate.content, rec.content);
                }
            }
        }
    }

    /// The state root is updated row by row (O(log n) per entry); after
    /// every entry it equals the root computed from scratch over every row.
    #[test]
    fn the_state_root_kept_entry_by_entry_is_the_one_defined_over_every_row(
        steps in prop::collection::vec(step(), 1..40)
    ) {
        let f = Fixture::new(1, 2, 1, 5);
        let mut s = f.state();
        f.activate_flow(&mut s);
        prop_assert_eq!(s.state_root(), s.recomputed_state_root());
        let flow = f.domain.flow_hash(&f.flow);
        let all_subjects: Vec<SubjectId> = to_entries(&f, &steps)
            .iter()
            .filter_map(|e| if let Entry::Submit(s) = e { s.id(&f.domain).ok() } else { None })
            .collect();
        // Log time moves on with the steps, so finished transfers and
        // decided subjects retire on the way (RETAIN is 6 hours).
        let mut now = T0.0;
        for (i, entry) in to_entries(&f, &steps).iter().enumerate() {
            now += 1 + match steps[i] { Step::Wait { hours } => u64::from(hours) * 3600, _ => 0 };
            s.apply(entry, Timestamp(now));
            prop_assert_eq!(s.state_root(), s.recomputed_state_root(), "after entry {}", i);
            // No retired id is live; a snapshot restores to the same root.
            prop_assert!(s.transfers().all(|(t, _)| !s.is_retired(&t.0)));
            prop_assert!(all_subjects.iter().all(|id| !(s.is_retired(&id.0) && s.subject(id).is_some())));
            prop_assert_eq!(NotaryState::restore(&s.snapshot()).unwrap().state_root(), s.state_root());
            // The indexes read what a scan of the state would.
            let pending: BTreeSet<SubjectId> = s.pending().map(|(id, _)| *id).collect();
            let scanned: BTreeSet<SubjectId> = all_subjects
                .iter()
                .filter(|id| s.subject(id).is_some_and(|r| r.status == SubjectStatus::Pending))
                .copied()
                .collect();
            prop_assert_eq!(pending, scanned, "pending after entry {}", i);
            let since = Timestamp(T0.0 + (i as u64) / 2);
            let mut windowed = s.history_since(&flow, &ETH, None, since);
            let mut by_scan: Vec<_> = s
                .transfers()
                .filter(|(_, t)| t.flow == flow && t.status.counts_towards_limits() && t.submitted_at >= since)
                .map(|(_, t)| (t.submitted_at, Amount(t.amount.0 + t.max_fee.0)))
                .collect();
            windowed.sort();
            by_scan.sort();
            prop_assert_eq!(windowed, by_scan, "window after entry {}", i);
        }
    }

    /// The binary state (crate README, "Binary state") is lossless: the
    /// state taken back from its rows, its retired list and its retirement
    /// queue is the state written, after any log, with log time moving past
    /// `RETAIN_SECONDS` so items retire and others wait with deadlines; the
    /// state taken back and the one written then retire alike.
    #[test]
    fn a_state_taken_back_from_its_binary_rows_is_the_state_written(steps in prop::collection::vec(step(), 1..40)) {
        let f = Fixture::new(1, 2, 1, 5);
        let mut s = f.state();
        f.activate_flow(&mut s);
        let mut now = T0.0;
        for (i, e) in to_entries(&f, &steps).iter().enumerate() {
            now += 1 + match steps[i] { Step::Wait { hours } => u64::from(hours) * 3600, _ => 0 };
            s.apply(e, Timestamp(now));
            let mut back = NotaryState::from_binary(&s.to_binary()).unwrap();
            prop_assert_eq!(back.snapshot(), s.snapshot(), "after entry {}", i);
            prop_assert_eq!(back.state_root(), s.state_root());
            prop_assert_eq!(back.next_retirement(), s.next_retirement());
            // Both run past every deadline: the same ids retire, in the same order.
            let (mut a, tick) = (s.clone(), to_entries(&f, &[Step::Wait { hours: 0 }]));
            let late = Timestamp(now + box_core::notary::RETAIN_SECONDS + 400 * 86_400);
            a.apply(&tick[0], late);
            back.apply(&tick[0], late);
            prop_assert_eq!(back.state_root(), a.state_root());
            prop_assert_eq!(back.retired_chain(), a.retired_chain());
        }
    }

    #[test]
    fn replaying_the_same_log_yields_the_same_state(steps in prop::collection::vec(step(), 1..40), cut in 0usize..40) {
        let f = Fixture::new(1, 2, 1, 5);
        let entries = to_entries(&f, &steps);
        let run = |from: NotaryState, es: &[Entry], offset: usize| {
            let mut s = from;
            for (i, e) in es.iter().enumerate() {
                s.apply(e, Timestamp(T0.0 + (offset + i) as u64));
            }
            s
        };
        let mut base = f.state();
        f.activate_flow(&mut base);
        let a = run(base.clone(), &entries, 0);
        let b = run(base.clone(), &entries, 0);
        prop_assert_eq!(a.state_root(), b.state_root());
        // Snapshot part way, restore, and finish: the same state again.
        let cut = cut.min(entries.len());
        let half = run(base, &entries[..cut], 0);
        let restored = NotaryState::restore(&half.snapshot()).unwrap();
        let c = run(restored, &entries[cut..], cut);
        prop_assert_eq!(a.state_root(), c.state_root());
        prop_assert_eq!(a, c);
    }
}

/// One step against four transboxes of the same request: without approvals,
/// and three different valid approval pairs.
#[derive(Debug, Clone)]
enum TransferStep {
    Submit(usize),
    Vote { node: usize, transbox: usize, accept: bool },
}

fn transfer_step() -> impl Strategy<Value = TransferStep> {
    prop_oneof![
        (0usize..4).prop_map(TransferStep::Submit),
        (0usize..3, 0usize..4, any::<bool>()).prop_map(|(node, transbox, accept)| TransferStep::Vote {
            node,
            transbox,
            accept
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Issue 11, fault 4: whatever is submitted first and however the nodes
    /// vote (a dishonest majority included), at most one transbox of a
    /// transfer is notarized, and the transfer's record follows that one.
    #[test]
    fn at_most_one_transbox_of_a_transfer_is_ever_notarized(steps in prop::collection::vec(transfer_step(), 1..30)) {
        let f = Fixture::new(1, 3, 2, 3);
        let mut s = f.state();
        f.activate_flow(&mut s);
        let req = f.request(eth(1), 42);
        let tid = f.domain.transfer_id(&req);
        let mut boxes = vec![TransBox::apply(&f.domain, req.clone(), &f.employees[0])];
        for pair in [[0, 1], [1, 2], [0, 2]] {
            let mut tb = TransBox::apply(&f.domain, req.clone(), &f.employees[0]);
            for i in pair {
                tb.approve(&f.domain, 1, &f.approvers[0][i]);
            }
            boxes.push(tb);
        }
        let subjects: Vec<Subject> = boxes.into_iter().map(Subject::Transfer).collect();
        let ids: Vec<SubjectId> = subjects.iter().map(|x| x.id(&f.domain).unwrap()).collect();
        let mut notarized: BTreeSet<SubjectId> = BTreeSet::new();
        for step in steps {
            let entry = match step {
                TransferStep::Submit(i) => Entry::Submit(subjects[i].clone()),
                TransferStep::Vote { node, transbox, accept } => {
                    let reason = if accept { "" } else { "refused" };
                    f.vote(node, ids[transbox], subjects[transbox].content(), accept, reason)
                }
            };
            for e in s.apply(&entry, T0) {
                if let Event::Notarized { subject, .. } = e {
                    notarized.insert(subject);
                }
            }
            prop_assert!(notarized.len() <= 1, "two transboxes of one transfer notarized: {:?}", notarized);
            if let Some(won) = notarized.iter().next() {
                let rec = s.transfer(&tid).unwrap();
                prop_assert_eq!(rec.subject, *won);
                prop_assert_eq!(&rec.status, &box_core::notary::TransferStatus::Notarized);
            }
        }
    }
}
