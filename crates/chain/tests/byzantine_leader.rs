//! A Byzantine raft leader, with real `box-node` processes on 127.0.0.1: one
//! that heartbeats but withholds every proposal is deposed and what it
//! withheld is notarized; one that seals two different headers at a height
//! is caught by the other nodes' cross-checks, with the evidence logged and
//! put on the chain, until governance removes it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use box_core::audit::verify_history;
use box_core::encoding::Canonical;
use box_core::ids::SubjectId;
use box_core::notary::{Entry, Subject};
use box_core::typed::{ApprovalLevel, AssetLimit, BoxFlow, TransferRequest};
use box_core::{Address, B256, U256};
use box_proto::SubjectStatus;
use box_testkit::{Cluster, eventually, key, submit_via};
use std::path::Path;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_box-node");

fn flow(n: u64) -> Vec<u8> {
    box_testkit::sample_flow(n).encode()
}

/// Makes node `id` (started with `env`) the leader: the node that bootstraps
/// the cluster normally leads first; otherwise the leader is restarted until
/// `id` wins an election.
async fn make_lead(c: &mut Cluster, id: u64) {
    loop {
        let leader = c.wait_leader().await;
        if leader == id {
            return;
        }
        c.kill(leader);
        c.wait_leader().await;
        c.spawn(leader);
    }
}

async fn notarized_on(c: &Cluster, nodes: &[u64], ids: &[SubjectId]) {
    for id in ids {
        for n in nodes {
            // Generous: the deadline (10 s), an election and re-proposal, on a loaded machine.
            eventually("subject notarized", Duration::from_secs(180), || async {
                c.subject(*n, id).await.filter(|s| s.status == SubjectStatus::Notarized).map(|_| ())
            })
            .await;
        }
    }
}

fn log_of(c: &Cluster, id: u64) -> String {
    std::fs::read_to_string(&c.nodes[id as usize - 1].log).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_withholds_proposals_is_deposed_and_what_it_withheld_is_notarized() {
    let withhold: &[(&str, &str)] = &[("BOX_NODE_FAULT", "withhold")];
    let mut c = Cluster::start_with(Path::new(BIN), 3, 0, &[(1, withhold)]).await;
    make_lead(&mut c, 1).await;

    // Submissions reach the followers (as the gateway's round robin does);
    // each relays to the leader, which holds them and tells nobody.
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..6u64 {
        let followers = c.node_client(if n % 2 == 0 { &[2, 3] } else { &[3, 2] });
        tasks.spawn(async move { submit_via(&followers, flow(n)).await });
    }

    // Without deposition nothing below ever happens: followers never time out
    // while the leader heartbeats. With it, the leader loses the lead.
    let deposed = eventually("the withholding leader deposed", Duration::from_secs(120), || async {
        let leader = c.wait_leader().await;
        (leader != 1).then_some(leader)
    })
    .await;
    let ids = tasks.join_all().await;
    notarized_on(&c, &[2, 3], &ids).await;
    assert_ne!(c.wait_leader().await, 1, "the suspect does not win the lead back");
    let suspected = [2, 3].iter().any(|n| log_of(&c, *n).contains("refusing its raft messages"));
    assert!(suspected, "a follower refused the withholding leader:\n{}", c.log_tail(deposed));

    // The history is whole and verifies offline.
    let blocks = c.blocks(deposed).await;
    let report = verify_history(&c.genesis, &blocks).unwrap();
    assert!(ids.iter().all(|id| report.state.subject(id).is_some()));
}

/// A notarized flow and a transfer under it that the nodes admit to the log
/// (valid signatures, thresholds met); whether it is later notarized does
/// not matter here (the flow is not active): what matters is the block that
/// carries it.
async fn transfer(c: &Cluster) -> Vec<u8> {
    let applicant = key("applicant");
    let approver = key("approver");
    let flow = BoxFlow {
        name: "Payments".into(),
        employees: vec![applicant.address()],
        levels: vec![ApprovalLevel { name: "Finance".into(), approvers: vec![approver.address()], threshold: 1 }],
        limits: vec![AssetLimit {
            asset: Address::ZERO,
            perTransfer: U256::from(10u64),
            perPeriod: U256::from(100u64),
            periodSeconds: 86_400,
            maxFee: U256::from(10u64),
        }],
        nonce: 1,
        addressBookOnly: false,
    };
    let flow_hash = c.domain.flow_hash(&flow).0;
    let id = c.submit(&Subject::Flow(flow).encode()).await;
    eventually("the flow notarized", Duration::from_secs(60), || async {
        c.subject(2, &id).await.filter(|s| s.status == SubjectStatus::Notarized).map(|_| ())
    })
    .await;
    let request = TransferRequest {
        requestId: B256::repeat_byte(0x42),
        flowHash: flow_hash,
        applicant: applicant.address(),
        asset: Address::ZERO,
        to: Address::repeat_byte(0xA1),
        amount: U256::from(1u64),
        maxFee: U256::from(1u64),
        chainId: c.genesis.chainId,
        timestamp: c.genesis.time,
    };
    let mut tb = box_core::transbox::TransBox::apply(&c.domain, request, &applicant);
    tb.approve(&c.domain, 1, &approver);
    Subject::Transfer(tb).encode()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_equivocating_leader_is_caught_with_evidence_on_the_chain_until_removed() {
    let equivocate: &[(&str, &str)] = &[("BOX_NODE_FAULT", "equivocate")];
    let mut c = Cluster::start_with(Path::new(BIN), 3, 0, &[(1, equivocate)]).await;
    make_lead(&mut c, 1).await;
    let culprit = c.nodes[0].account.address();

    // The leader seals the block with the transfer twice and serves the
    // second header to whoever cross-checks with it.
    let t = transfer(&c).await;
    c.submit(&t).await;
    let (height, log) = eventually("a follower logs the equivocation", Duration::from_secs(90), || async {
        [2u64, 3].iter().find_map(|n| {
            let log = log_of(&c, *n);
            let line = log.lines().find(|l| l.contains("ERROR") && l.contains("EQUIVOCATION at height"))?.to_owned();
            let h: u64 = line.split("EQUIVOCATION at height ").nth(1)?.split(':').next()?.parse().ok()?;
            Some((h, line))
        })
    })
    .await;
    assert!(log.contains(&culprit.to_string()) && log.contains("seal 0x"), "the log names the evidence: {log}");

    // The evidence is on the chain: the history carries it and names node 1.
    let state = eventually("the evidence in the history", Duration::from_secs(90), || async {
        let leader = c.wait_leader().await;
        let state = verify_history(&c.genesis, &c.blocks(leader).await).ok()?.state;
        state.standing_equivocation().is_some().then_some(state)
    })
    .await;
    assert_eq!(state.standing_equivocation(), Some((culprit, height)));
    let leader = c.wait_leader().await;
    let blocks = c.blocks(leader).await;
    let proof = blocks
        .iter()
        .flat_map(|b| &b.entries)
        .find_map(|e| match &e.entry {
            Entry::Evidence(p) => Some(p.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(proof.verify(&c.domain), Ok(culprit));
    let sealed = blocks.iter().find(|b| b.header.height == height).unwrap();
    assert!(proof.first.header == sealed.header || proof.second.header == sealed.header);

    // The honest nodes stop following the equivocator: it loses the lead.
    eventually("the equivocator deposed", Duration::from_secs(90), || async {
        (c.wait_leader().await != 1).then_some(())
    })
    .await;

    // Governance removes it (a strict majority of node accounts): the
    // evidence stays on record but no longer stands.
    let remove = c.submit(&c.remove_node(0, &[1, 2]).encode()).await;
    notarized_on(&c, &[2, 3], &[remove]).await;
    eventually("the evidence no longer stands", Duration::from_secs(60), || async {
        let leader = c.wait_leader().await;
        let state = verify_history(&c.genesis, &c.blocks(leader).await).ok()?.state;
        (state.standing_equivocation().is_none() && state.equivocators().count() == 1).then_some(())
    })
    .await;
}
