//! `Entry::Votes`: a companion's votes on several subjects in one log entry
//! (issue 13, item 5). A batch is applied as its votes one by one; a bad vote
//! inside it is ignored alone; batches are bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alloy::primitives::Bytes;
use alloy::sol_types::SolValue;
use box_core::B256;
use box_core::crypto::SecretKey;
use box_core::encoding::{Canonical, DecodeError, VERSION};
use box_core::ids::{ContentHash, SubjectId};
use box_core::notary::{BatchSize, Entry, Event, MAX_BATCH_VOTES, NotaryState, Subject, VoteBatch};
use box_core::typed::{NodeVote, Signed};
use common::*;
use proptest::prelude::*;

/// `n` distinct flows submitted to a fresh state; their ids and content hashes.
fn subjects(f: &Fixture, n: u64) -> (NotaryState, Vec<(SubjectId, ContentHash)>) {
    let mut s = f.state();
    let mut ids = Vec::new();
    for i in 0..n {
        let mut flow = f.flow.clone();
        flow.nonce = 1000 + i;
        let subject = Subject::Flow(flow);
        ids.push((subject.id(&f.domain).unwrap(), subject.content()));
        s.apply(&Entry::Submit(subject), T0);
    }
    (s, ids)
}

fn signed_vote(
    f: &Fixture,
    key: &SecretKey,
    subject: SubjectId,
    content: ContentHash,
    accept: bool,
) -> Signed<NodeVote> {
    let reason = if accept { String::new() } else { "not for me".into() };
    Signed::new(&f.domain, key, NodeVote { subject: subject.0, contentHash: content.0, accept, reason })
}

fn unpack(e: Entry) -> Signed<NodeVote> {
    match e {
        Entry::Vote(v) => v,
        other => panic!("not a vote: {other:?}"),
    }
}

/// One vote of a generated run: who signs (a node, or an outsider when past
/// the nodes), on which subject, for its content or another, accept or
/// refuse, its signature's y-parity flipped or not (it then recovers to
/// another key, never the node's: a batch checks a vote against the key of
/// the vote before it first, and must not take it for that node's).
fn vote_step() -> impl Strategy<Value = (usize, usize, bool, bool, bool)> {
    (0usize..4, 0usize..4, any::<bool>(), prop::bool::weighted(0.85), prop::bool::weighted(0.15))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever the votes (forged, repeated, off-content, after a decision),
    /// one batch gives the same events and the same subject records as its
    /// votes applied one entry each, in order.
    #[test]
    fn a_batch_is_its_votes_applied_one_by_one(steps in prop::collection::vec(vote_step(), 1..40)) {
        let f = Fixture::new(1, 2, 1, 3);
        let outsider = SecretKey::from_label_unchecked("mallory");
        let (mut single, ids) = subjects(&f, 4);
        let mut batched = single.clone();
        let votes: Vec<Signed<NodeVote>> = steps
            .iter()
            .map(|&(who, which, accept, right_content, flipped)| {
                let key = f.nodes.get(who).unwrap_or(&outsider);
                let (id, content) = ids[which];
                let content = if right_content { content } else { ContentHash(B256::repeat_byte(9)) };
                let mut vote = signed_vote(&f, key, id, content, accept);
                if flipped {
                    let sig = vote.signature;
                    vote.signature = box_core::Signature::new(sig.r(), sig.s(), !sig.v());
                }
                vote
            })
            .collect();
        let one_by_one: Vec<Event> = votes.iter().flat_map(|v| single.apply(&Entry::Vote(v.clone()), T0)).collect();
        let entry = Entry::Votes(VoteBatch::new(votes).unwrap());
        let together = batched.apply(&Entry::decode(&entry.encode()).unwrap(), T0);
        prop_assert_eq!(&together, &one_by_one);
        for (id, _) in &ids {
            prop_assert_eq!(batched.subject(id), single.subject(id));
        }
        prop_assert_eq!(batched.pending().count(), single.pending().count());
    }
}

#[test]
fn a_forged_vote_inside_a_batch_is_ignored_and_the_others_count() {
    let f = Fixture::new(1, 2, 1, 3);
    let (mut s, ids) = subjects(&f, 2);
    let ((a, a_content), (b, b_content)) = (ids[0], ids[1]);
    let outsider = SecretKey::from_label_unchecked("mallory");
    // A vote whose signature was made by node 2 over another vote: it
    // recovers to some other key, not a registered one.
    let mut tampered = signed_vote(&f, &f.nodes[2], b, b_content, true);
    tampered.value.subject = a.0;
    let batch = VoteBatch::new(vec![
        signed_vote(&f, &outsider, a, a_content, true),
        tampered,
        signed_vote(&f, &f.nodes[0], a, a_content, true),
        signed_vote(&f, &f.nodes[1], a, a_content, true),
        signed_vote(&f, &f.nodes[0], b, ContentHash(B256::repeat_byte(7)), true),
        signed_vote(&f, &f.nodes[1], b, b_content, true),
    ])
    .unwrap();
    let events = s.apply(&Entry::Votes(batch), T0);
    let ignored: Vec<(SubjectId, &str)> = events
        .iter()
        .filter_map(|e| match e {
            Event::VoteIgnored { subject, reason } => Some((*subject, reason.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(ignored.len(), 3, "{events:?}");
    assert!(ignored[0].0 == a && ignored[0].1.contains("not a registered node account"), "{ignored:?}");
    assert!(ignored[1].0 == a && ignored[1].1.contains("not a registered node account"), "{ignored:?}");
    assert!(ignored[2].0 == b && ignored[2].1.contains("other content"), "{ignored:?}");
    // Subject a: notarized by nodes 0 and 1 (2 of 3), with exactly their signatures.
    let cert = events.iter().find_map(|e| match e {
        Event::Notarized { subject, certificate, .. } if *subject == a => Some(certificate.clone()),
        _ => None,
    });
    let cert = cert.expect("subject a notarized");
    assert_eq!(cert.votes.len(), 2);
    // Subject b: node 1's vote counted, node 0's off-content one did not.
    let rec = s.subject(&b).unwrap();
    assert_eq!(rec.accepts.len(), 1);
    assert!(rec.accepts.contains_key(&f.nodes[1].address()));
    // Node 0 may still vote on b in a later entry (its off-content vote was nothing).
    let e = s.apply(&Entry::Votes(VoteBatch::new(vec![signed_vote(&f, &f.nodes[0], b, b_content, true)]).unwrap()), T0);
    assert!(notarized(&e), "{e:?}");
}

#[test]
fn batches_are_bounded_when_built_and_when_decoded() {
    let f = Fixture::new(1, 2, 1, 3);
    let vote = unpack(f.vote(0, SubjectId(B256::repeat_byte(1)), ContentHash(B256::repeat_byte(2)), true, ""));
    assert_eq!(VoteBatch::new(Vec::new()), Err(BatchSize(0)));
    assert_eq!(VoteBatch::new(vec![vote.clone(); MAX_BATCH_VOTES + 1]), Err(BatchSize(MAX_BATCH_VOTES + 1)));
    let full = Entry::Votes(VoteBatch::new(vec![vote.clone(); MAX_BATCH_VOTES]).unwrap());
    assert_eq!(Entry::decode(&full.encode()).unwrap(), full);

    // The same wire form with one vote more, and with none: refused with the bound named.
    let wire = |n: usize| {
        let votes: Vec<Bytes> = vec![Bytes::from(vote.encode()); n];
        let mut out = vec![VERSION, 22];
        out.extend((votes,).abi_encode());
        out
    };
    assert_eq!(wire(MAX_BATCH_VOTES), full.encode(), "the wire form this test builds is the canonical one");
    for n in [0, MAX_BATCH_VOTES + 1] {
        match Entry::decode(&wire(n)) {
            Err(DecodeError::Invalid(why)) => assert!(why.contains("1 to 256 votes"), "{why}"),
            other => panic!("{n} votes: {other:?}"),
        }
    }
    // A batch element that is not a signed vote is refused as a whole.
    let mut bad = vec![VERSION, 22];
    bad.extend((vec![Bytes::from(Entry::Submit(Subject::Flow(f.flow.clone())).encode())],).abi_encode());
    assert!(Entry::decode(&bad).is_err());
    // Old logs: a single vote entry still decodes and applies as before.
    let single = Entry::Vote(vote);
    assert_eq!(Entry::decode(&single.encode()).unwrap(), single);
}

/// Deciding a flow takes its hash from its submission (a cache of the
/// pending flows' hashes that is not in the snapshot): a state restored from
/// a snapshot in between hashes the flow again, and both decide alike, to
/// the same events, the same state and the same state root, whether the
/// nodes accept or refuse.
#[test]
fn a_flow_decided_after_a_restore_is_decided_as_on_the_live_state() {
    let f = Fixture::new(1, 2, 1, 3);
    for accept in [true, false] {
        let (mut live, ids) = subjects(&f, 2);
        let mut restored = NotaryState::restore(&live.snapshot()).unwrap();
        let mut events = Vec::new();
        for key in &f.nodes {
            for &(id, content) in &ids {
                let vote = Entry::Vote(signed_vote(&f, key, id, content, accept));
                let on_live = live.apply(&vote, T0);
                assert_eq!(on_live, restored.apply(&vote, T0));
                events.extend(on_live);
            }
        }
        let decided = events
            .iter()
            .filter(|e| if accept { matches!(e, Event::Notarized { .. }) } else { matches!(e, Event::Rejected { .. }) })
            .count();
        assert_eq!(decided, ids.len(), "each flow decided once: {events:?}");
        let flow_status = events.iter().filter(|e| matches!(e, Event::FlowStatus { .. })).count();
        assert_eq!(flow_status, ids.len(), "each decision moves its flow's record: {events:?}");
        assert_eq!(live.state_root(), restored.state_root());
        assert_eq!(live.snapshot(), restored.snapshot());
    }
}
