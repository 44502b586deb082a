//! Crashes, lost majorities, foreign certificates, forged votes and learners,
//! with real `box-node` processes on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use box_core::Address;
use box_core::audit::verify_history;
use box_core::block::Block;
use box_core::encoding::Canonical;
use box_core::ids::SubjectId;
use box_core::notary::{Entry, Subject};
use box_core::typed::{NodeVote, Signed};
use box_ops::certs::DevCa;
use box_ops::role::CertRole;
use box_proto::SubjectStatus;
use box_proto::TlsMaterial;
use box_proto::pb;
use box_proto::reply::ProposeReply;
use box_testkit::{Cluster, eventually, key};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_box-node");

fn flow(n: u64) -> Vec<u8> {
    box_testkit::sample_flow(n).encode()
}

/// A flow of `employees` distinct employees: about 32 bytes each in the
/// entry, 64 as hex in the raft log's JSON.
fn large_flow(n: u64, employees: u64) -> Vec<u8> {
    let mut s = box_testkit::sample_flow(n);
    if let Subject::Flow(f) = &mut s {
        f.employees = (1..=employees).map(|i| Address::left_padding_from(&(n << 32 | i).to_be_bytes())).collect();
    }
    s.encode()
}

async fn all_notarized(c: &Cluster, node: u64, ids: &[SubjectId]) {
    for id in ids {
        eventually("subject notarized", Duration::from_secs(120), || async {
            c.subject(node, id).await.filter(|s| s.status == SubjectStatus::Notarized).map(|_| ())
        })
        .await;
    }
}

/// Waits until node `id` holds at least `height` blocks.
async fn caught_up(c: &Cluster, id: u64, height: u64) {
    eventually(&format!("node {id} reaches height {height}"), Duration::from_secs(120), || async {
        (c.info(id).await?.height >= height).then_some(())
    })
    .await;
}

async fn sealed_height(c: &Cluster) -> u64 {
    // Everything applied so far is in a signed block once the leader reports nothing unsealed.
    eventually("sealing settles", Duration::from_secs(30), || async {
        let leader = c.wait_leader().await;
        let info = c.info(leader).await?;
        (info.unsealed == 0).then_some(info.height)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_loses_nothing_and_the_node_catches_up() {
    let mut c = Cluster::start(Path::new(BIN), 3, 0).await;
    let first = c.submit_all((0..150).map(flow).collect(), 16).await;
    let leader = c.wait_leader().await;
    c.kill(leader); // kill -9 in the middle of the run
    let new_leader = c.wait_leader().await;
    assert_ne!(new_leader, leader);
    let second = c.submit_all((150..300).map(flow).collect(), 16).await;
    let ids: Vec<SubjectId> = first.into_iter().chain(second).collect();
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 300);
    all_notarized(&c, new_leader, &ids).await;

    c.spawn(leader);
    let height = sealed_height(&c).await;
    caught_up(&c, leader, height).await;
    // Its store was not closed, yet redb did not walk it: the last durable commit recorded the
    // allocator state (quick-repair). The blocks it stored without a flush since that commit were
    // rolled back and stored again from the raft log, the same bytes as the new leader's (below).
    let log = std::fs::read_to_string(&c.nodes[leader as usize - 1].log).unwrap();
    assert!(!log.contains("was not closed cleanly"), "{log}");
    let blocks = c.blocks(new_leader).await;
    let restarted = c.blocks(leader).await;
    assert_eq!(restarted[..blocks.len().min(restarted.len())], blocks[..blocks.len().min(restarted.len())]);
    // Every subject notarized exactly once in the verified history.
    let report = verify_history(&c.genesis, &blocks).unwrap();
    assert_eq!(report.notarized, 300, "each subject is notarized once");
    for id in &ids {
        assert!(matches!(
            report.state.subject(id).map(|r| &r.status),
            Some(box_core::notary::SubjectStatus::Notarized { .. })
        ));
    }
}

/// A follower that was down while large subjects were notarized (flows of
/// 1,000 employees, about 64 KB each in the raft log) catches up once it is
/// back: the leader sends it a bounded number of bytes a message. Before,
/// openraft sent up to 300 entries a message (here some 6 MB of JSON), the
/// follower could not take them within the heartbeat interval openraft
/// waits for an answer, and the same 300 went out again without end. It
/// rejoins without an election: before, the leader retried a peer down for
/// a while only every 8 s, and the node, hearing nothing, started one. And
/// it does not hang while applying what it missed: before, an entry being
/// applied (holding the chain state) and the liveness task (holding the
/// watched entries, waiting to read the state) deadlocked both runtime
/// threads in about one run of three (`liveness::Progress`, lock order).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_down_while_large_flows_were_notarized_catches_up() {
    let mut c = Cluster::start(Path::new(BIN), 3, 0).await;
    let leader = c.wait_leader().await;
    let down = (1..=3).find(|&id| id != leader).unwrap();
    c.kill(down);
    let ids = c.submit_all((0..100).map(|n| large_flow(n, 1_000)).collect(), 8).await;
    all_notarized(&c, leader, &ids).await;
    let height = sealed_height(&c).await;

    let terms = c.log(leader).matches("raft term ").count();

    c.spawn(down);
    let start = std::time::Instant::now();
    while c.info(down).await.is_none_or(|i| i.height < height) {
        if start.elapsed() > Duration::from_secs(120) {
            let logs: Vec<String> = (1..=3).map(|id| format!("--- node {id}:\n{}", c.log_tail(id))).collect();
            panic!("node {down} did not reach height {height}:\n{}", logs.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Back after an absence, it waited for the leader instead of starting
    // an election that would have deposed it (`peers::ELECTION_HOLD`).
    let log = c.log(down);
    assert!(log.contains(&format!("peers follow node {leader}: this node starts no election")), "{log}");
    assert_eq!(c.log(leader).matches("raft term ").count(), terms, "{}", c.log(leader));
    let blocks = c.blocks(leader).await;
    assert_eq!(c.blocks(down).await[..height as usize], blocks[..height as usize]);
    let report = verify_history(&c.genesis, &blocks).unwrap();
    assert_eq!(report.notarized, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_voters_survive_two_failures_and_stall_safely_with_three() {
    let mut c = Cluster::start(Path::new(BIN), 5, 0).await;
    let leader = c.wait_leader().await;
    let others: Vec<u64> = (1..=5).filter(|i| *i != leader).collect();
    c.kill(others[0]);
    c.kill(others[1]);
    let ids = c.submit_all((0..20).map(flow).collect(), 8).await;
    all_notarized(&c, leader, &ids).await;

    // A third failure: no majority. Nothing is notarized, nothing breaks.
    let height = sealed_height(&c).await;
    c.kill(others[2]);
    let mut client = c.client(leader);
    let mut req = tonic::Request::new(pb::SubmitRequest { subject: flow(1000) });
    req.set_timeout(Duration::from_secs(3));
    assert!(client.submit(req).await.is_err(), "a submission without a majority must not succeed");
    let late = Subject::decode(&flow(1000)).unwrap().id(&c.domain).unwrap();
    assert_ne!(c.subject(leader, &late).await.map(|s| s.status), Some(SubjectStatus::Notarized));
    assert_eq!(c.info(leader).await.unwrap().height, height);

    // Back to five: the cluster resumes, including the stalled submission.
    for id in &others[..3] {
        c.spawn(*id);
    }
    c.wait_leader().await;
    let more = c.submit_all((20..30).map(flow).chain([flow(1000)]).collect(), 8).await;
    let leader = c.wait_leader().await;
    all_notarized(&c, leader, &more).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_certificates_forged_votes_and_learner_votes_are_refused() {
    let c = Cluster::start(Path::new(BIN), 3, 1).await;
    let learner = 4;

    // A client with a certificate from another CA is refused at the handshake.
    let other = DevCa::new("another-ca").unwrap();
    // It even claims to be node 1.
    let (cert, key_pem) = other.issue("intruder", CertRole::Node(1), &["127.0.0.1".into()]).unwrap();
    let foreign = TlsMaterial { ca: c.ca.ca_pem().to_owned(), cert, key: key_pem };
    // (The handshake failure surfaces under different gRPC codes; what matters
    // is that nothing gets through, while a CA-issued client does.)
    let refused = c.client_with(1, &foreign).cluster(pb::ClusterQuery {}).await;
    assert!(refused.is_err(), "a certificate from another CA must be refused");
    assert!(c.client(1).cluster(pb::ClusterQuery {}).await.is_ok());

    let subject = flow(7);
    let id = c.submit(&subject).await;
    let content = Subject::decode(&subject).unwrap().content();
    let vote = |k: &box_core::crypto::SecretKey| {
        Entry::Vote(Signed::new(
            &c.domain,
            k,
            NodeVote { subject: id.0, contentHash: content.0, accept: true, reason: String::new() },
        ))
        .encode()
    };
    // A vote signed by an unregistered key, and one by the learner's account,
    // relayed by a node (only nodes may propose votes): ignored.
    let mut client = c.client_with(1, &c.node_tls(2));
    for (who, k) in [("forged", key("mallory")), ("learner", c.nodes[3].account.clone())] {
        let r = client.propose(pb::ProposeRequest { entry: vote(&k), forwarded: false }).await.unwrap().into_inner();
        let r = ProposeReply::from_wire(r).unwrap();
        let outcome = r.outcome.to_string();
        assert!(
            outcome.contains("not a registered node account") || outcome.contains("already decided"),
            "{who} vote: {outcome}"
        );
    }
    all_notarized(&c, 1, &[id]).await;

    // The learner replicates every block but never votes.
    let height = sealed_height(&c).await;
    caught_up(&c, learner, height).await;
    let info = c.info(learner).await.unwrap();
    assert!(info.learners.contains(&learner) && !info.voters.contains(&learner));
    let leader = c.wait_leader().await;
    let blocks = c.blocks(leader).await;
    assert_eq!(c.blocks(learner).await[..blocks.len()], blocks[..]);
    let report = verify_history(&c.genesis, &blocks).unwrap();
    let learner_account = c.nodes[3].account.address();
    let rec = report.state.subject(&id).unwrap();
    assert!(!rec.accepts.contains_key(&learner_account) && !rec.refusals.contains_key(&learner_account));

    // Any entry can be proven to be in its block from the proof alone.
    let b = &blocks[0];
    let p = c
        .client(learner)
        .get_proof(pb::ProofQuery { height: 1, position: (b.entries.len() - 1) as u64 })
        .await
        .unwrap()
        .into_inner();
    let proof = box_core::block::InclusionProof {
        position: p.position,
        leaves: p.leaves,
        siblings: p.siblings.iter().map(|s| (!s.is_empty()).then(|| box_core::B256::from_slice(s))).collect(),
    };
    let leaf =
        box_core::block::LoggedEntry { index: p.index, time: p.time, entry: Entry::decode(&p.entry).unwrap() }.leaf();
    assert!(box_core::block::verify_inclusion(&b.header.entriesRoot, &leaf, &proof));
    assert!(c.client(1).get_proof(pb::ProofQuery { height: 1, position: 10_000 }).await.is_err());

    // A flipped byte anywhere in the export is detected.
    let encoded: Vec<Vec<u8>> = blocks.iter().map(Canonical::encode).collect();
    let last = encoded.len() - 1;
    for pos in (2..encoded[last].len()).step_by(97) {
        let mut tampered = encoded[last].clone();
        tampered[pos] ^= 0x01;
        if let Ok(b) = Block::decode(&tampered) {
            let mut chain = blocks.clone();
            chain[last] = b;
            assert!(verify_history(&c.genesis, &chain).is_err(), "flip at byte {pos} went unnoticed");
        }
    }
}
