//! Real `box-node` processes on 127.0.0.1 notarizing by majority vote.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use box_core::audit::verify_history;
use box_core::encoding::Canonical;
use box_core::notary::Subject;
use box_core::quorum::{NodeRegistry, QuorumCertificate, verify_certificate};
use box_proto::reply::SubmitReply;
use box_proto::{SubjectStatus, pb};
use box_testkit::{Cluster, eventually};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_box-node");

fn flow(n: u64) -> Subject {
    box_testkit::sample_flow(n)
}

/// The first `count` notarized events node `node` streams from `from`.
async fn notarized_events(c: &Cluster, node: u64, from: u64, count: usize) -> Vec<box_proto::pb::NotarizedEvent> {
    let mut stream =
        c.client(node).subscribe(box_proto::pb::SubscribeRequest { from_height: from }).await.unwrap().into_inner();
    let mut out = Vec::new();
    while out.len() < count {
        let ev = tokio::time::timeout(Duration::from_secs(60), stream.message()).await;
        out.push(ev.expect("the stream stalled").unwrap().expect("the stream ended"));
    }
    out
}

fn registry(c: &Cluster) -> NodeRegistry {
    NodeRegistry::new(c.genesis.nodes.iter().map(|n| n.account)).unwrap()
}

/// Submits flows `from..from + count`, 32 at a time.
async fn submit_flows(c: &Cluster, from: u64, count: u64) -> Vec<box_core::ids::SubjectId> {
    c.submit_all((from..from + count).map(|n| flow(n).encode()).collect(), 32).await
}

fn subjects_from_env(default: u64) -> u64 {
    std::env::var("BOX_TEST_SUBJECTS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_notarize_every_subject_with_a_valid_certificate() {
    let c = Cluster::start(Path::new(BIN), 3, 0).await;
    let n = subjects_from_env(1000);
    let t0 = std::time::Instant::now();
    let ids = submit_flows(&c, 0, n).await;
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), n as usize);
    eprintln!("submitted {n} in {:?}", t0.elapsed());
    let reg = registry(&c);
    for (i, id) in ids.iter().enumerate() {
        let info = eventually(&format!("subject {i} notarized"), Duration::from_secs(120), || async {
            c.subject(1, id).await.filter(|s| s.status == SubjectStatus::Notarized)
        })
        .await;
        let cert = QuorumCertificate::decode(&info.certificate).unwrap();
        assert_eq!(cert.subject, *id);
        verify_certificate(&c.domain, &reg, &cert).unwrap();
    }
    // Every node holds the same sealed chain, and it verifies offline from the genesis.
    let leader = c.wait_leader().await;
    let height = c.info(leader).await.unwrap().height;
    for id in c.running() {
        eventually("every node has every block", Duration::from_secs(30), || async {
            (c.info(id).await?.height >= height).then_some(())
        })
        .await;
    }
    // The subscription delivers every notarized subject with its certificate, in
    // height order, and resuming from a height gives exactly the rest.
    let events = notarized_events(&c, 2, 1, n as usize).await;
    let mut last = 0;
    for ev in &events {
        assert!(ev.height >= last);
        last = ev.height;
        verify_certificate(&c.domain, &reg, &QuorumCertificate::decode(&ev.certificate).unwrap()).unwrap();
    }
    let seen: BTreeSet<Vec<u8>> = events.iter().map(|e| e.subject_id.clone()).collect();
    assert!(ids.iter().all(|id| seen.contains(&id.0.to_vec())));
    let mid = events[events.len() / 2].height;
    let tail: Vec<_> = events.iter().filter(|e| e.height >= mid).map(|e| e.subject_id.clone()).collect();
    let resumed = notarized_events(&c, 3, mid, tail.len()).await;
    assert_eq!(resumed.iter().map(|e| e.subject_id.clone()).collect::<Vec<_>>(), tail);

    let blocks = c.blocks(1).await;
    let report = verify_history(&c.genesis, &blocks).unwrap();
    eprintln!("all notarized and verified after {:?}", t0.elapsed());
    assert!(report.notarized >= n, "{} notarized in the export", report.notarized);
    assert_eq!(c.blocks(2).await[..blocks.len()], blocks[..]);
}

/// The sealer is driven by decisions, not by a timer: with a seal interval of
/// an hour, a notarized subject still reaches a sealed and signed block (the
/// notarized-event stream only carries signed blocks) as soon as its votes are
/// applied. Before, the sealer slept the whole interval before every block.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_is_sealed_and_signed_at_once_whatever_the_seal_interval() {
    let mut c = Cluster::prepare(Path::new(BIN), 3, 0, 3_600_000);
    for id in 1..=3 {
        c.spawn(id);
    }
    let leader = c.wait_leader().await;
    // Given to a follower, the subject is relayed, and the answer names the
    // leader that appended it (NodeClient asks that node first next time).
    let follower = (1..=3).find(|n| *n != leader).unwrap();
    let reply = c.client(follower).submit(pb::SubmitRequest { subject: flow(1).encode() }).await.unwrap();
    let reply = SubmitReply::from_wire(reply.into_inner()).unwrap();
    assert_eq!(reply.leader, Some(c.wait_leader().await), "node {follower} named another node than the leader");
    let id = reply.subject_id;
    for node in 1..=3 {
        let ev = notarized_events(&c, node, 1, 1).await;
        assert_eq!(ev[0].subject_id, id.0.0.to_vec(), "node {node} streamed another subject");
        let cert = QuorumCertificate::decode(&ev[0].certificate).unwrap();
        verify_certificate(&c.domain, &registry(&c), &cert).unwrap();
    }
}
