//! A raft leader that seals two different headers at one height (3 real
//! `box-node` processes, the leader started with `BOX_NODE_FAULT=equivocate`),
//! `anvil` and the `box-signer` process: the signer's cross-check catches it,
//! and a notarized transfer is not signed while the equivocator is a
//! registered node; once governance removes it, execution resumes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_core::crypto::recover;
use box_core::encoding::Canonical;
use box_core::ids::{FlowHash, TransferId};
use box_core::notary::{FlowStatus, NotaryState, Subject, SubjectStatus, TransferStatus};
use box_core::quorum::accept_vote;
use box_core::{Address, U256};
use box_testkit::anvil::Anvil;
use box_testkit::{Cluster, eventually};
use common::*;
use std::time::Duration;

async fn chain_state(c: &Cluster) -> NotaryState {
    box_core::audit::verify_history(&c.genesis, &c.blocks(c.wait_leader().await).await).unwrap().state
}

async fn transfer_status(c: &Cluster, tid: &TransferId, want: fn(&TransferStatus) -> bool) -> TransferStatus {
    eventually("the transfer's status", Duration::from_secs(120), || async {
        chain_state(c).await.transfer(tid).map(|t| t.status.clone()).filter(want)
    })
    .await
}

/// Node `id` (which bootstraps the cluster and normally leads first) leads;
/// otherwise the leader is restarted until `id` wins an election.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_equivocating_leader_halts_execution_until_governance_removes_it() {
    let anvil = Anvil::start().await;
    let equivocate: &[(&str, &str)] = &[("BOX_NODE_FAULT", "equivocate")];
    let mut c = Cluster::start_with(&box_node_bin(), 3, 0, &[(1, equivocate)]).await;
    make_lead(&mut c, 1).await;
    let culprit = c.nodes[0].account.address();
    let nodes = cluster_nodes(&c);
    let mut s = SignerProc::for_cluster(&c, "signer", &anvil.endpoint(), anvil.chain_id());
    s.spawn(&[], &[]);
    let holders = Holders::new(c.domain, c.key_holders.clone(), &c.client_tls, &nodes[1]);
    let code = s.enrolment_code().await;
    let wallet = holders.genesis(&code).await;
    anvil.fund(wallet, ether(10)).await;

    // An active flow (ETH only), anchored by the signer before anything forks.
    let people = People::new();
    let flow = people.flow(Address::repeat_byte(0x70));
    let flow_hash = c.domain.flow_hash(&flow);
    c.submit(&Subject::Flow(flow).encode()).await;
    eventually("the flow notarized", Duration::from_secs(60), || async {
        chain_state(&c).await.flow(&flow_hash).filter(|f| f.status == FlowStatus::Notarized).map(|_| ())
    })
    .await;
    for a in authorizations(&c.domain, &c.key_holders, flow_hash.0) {
        c.submit(&a.encode()).await;
    }
    eventually("the flow anchored and active", Duration::from_secs(90), || async {
        chain_state(&c).await.flow(&FlowHash(flow_hash.0)).filter(|f| f.status == FlowStatus::Active).map(|_| ())
    })
    .await;
    let eth = box_eth::Eth::connect(&anvil.endpoint()).unwrap();
    assert_eq!(eth.pending_nonce(wallet).await.unwrap(), 1, "the anchor");

    // The leader seals the block carrying the transfer twice.
    let alice = Address::repeat_byte(0xA1);
    let tb = people.transfer(&c.domain, flow_hash.0, Address::ZERO, alice, ether(1), 2);
    let tid = tb.transfer_id(&c.domain);
    c.submit(&Subject::Transfer(tb).encode()).await;

    // The signer catches it, says so, and halts; the chain records it too.
    let halted = holders.wait("the signer announces the halt", |a| a.detail.contains("execution halted")).await;
    assert!(halted.detail.contains(&culprit.to_string()), "{}", halted.detail);
    // Its own cross-check's finding is logged before the halt it causes,
    // but the halt may come first from the nodes' evidence on the chain:
    // the finding is then logged once its round is handled.
    eventually("the signer logs the equivocation it found", Duration::from_secs(60), || async {
        let out = s.output();
        (out.contains("EQUIVOCATION at height") && out.contains(&culprit.to_string())).then_some(())
    })
    .await;
    transfer_status(&c, &tid, |t| *t == TransferStatus::Notarized).await;
    eventually("the evidence on the chain", Duration::from_secs(60), || async {
        chain_state(&c).await.standing_equivocation().filter(|(a, _)| *a == culprit)
    })
    .await;
    // A negative check needs a bounded wait: many 100 ms rounds of the
    // caught-up, unsealed signer with the transfer notarized.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(eth.pending_nonce(wallet).await.unwrap(), 1, "nothing signed while the equivocation stands");
    assert_eq!(anvil.balance(alice).await, U256::ZERO);
    assert_eq!(chain_state(&c).await.transfer(&tid).unwrap().status, TransferStatus::Notarized);

    // Governance removes the equivocator (a strict majority of node
    // accounts): the signer resumes. The waiting transfer is verified again
    // against the registry without node 1: if node 1's vote was one of the
    // majority that notarized it, that certificate no longer holds and it is
    // refused (reported, nothing signed); otherwise it executes, once.
    c.submit(&c.remove_node(0, &[1, 2]).encode()).await;
    eventually("node 1 removed", Duration::from_secs(90), || async {
        (!chain_state(&c).await.registry().contains(&culprit)).then_some(())
    })
    .await;
    c.kill(1);
    holders.wait("the signer announces it resumed", |a| !a.detail.contains("execution halted")).await;
    let state = chain_state(&c).await;
    let record = state.subject(&state.transfer(&tid).unwrap().subject).unwrap();
    let SubjectStatus::Notarized { certificate } = &record.status else { panic!("not notarized") };
    let vote_hash = c.domain.signing_hash(&accept_vote(certificate.subject, certificate.content));
    let culprit_voted = certificate.votes.iter().any(|v| recover(&vote_hash, v) == Ok(culprit));
    let mut executed = 1; // the anchor
    if culprit_voted {
        let done = transfer_status(&c, &tid, |t| matches!(t, TransferStatus::Refused { .. })).await;
        assert!(format!("{done:?}").contains("not a registered node account"), "{done:?}");
        assert_eq!(anvil.balance(alice).await, U256::ZERO);
    } else {
        transfer_status(&c, &tid, |t| matches!(t, TransferStatus::Confirmed { .. })).await;
        assert_eq!(anvil.balance(alice).await, ether(1));
        executed += 1;
    }
    // And what is notarized now executes.
    let bob = Address::repeat_byte(0xB0);
    let next = people.transfer(&c.domain, flow_hash.0, Address::ZERO, bob, ether(2), 2);
    let next_id = next.transfer_id(&c.domain);
    c.submit(&Subject::Transfer(next).encode()).await;
    transfer_status(&c, &next_id, |t| matches!(t, TransferStatus::Confirmed { .. })).await;
    assert_eq!(anvil.balance(bob).await, ether(2));
    assert_eq!(eth.pending_nonce(wallet).await.unwrap(), executed + 1, "each transfer at most once");
}
