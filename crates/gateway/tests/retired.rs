//! Issue 13 item 2, readers: a confirmed transfer and a decided governance
//! action keep their status in the gateway's views after they retire from
//! the live notary state (box-core README "Retirement"). Real `box-node`
//! processes and the gateway over HTTPS: the transfer is confirmed (with a
//! detail) and a pause is notarized; then every node restarts with its clock
//! two days ahead (`BOX_NODE_CLOCK_AHEAD`, a test hook), the next entry's log
//! time passes both deadlines and they retire from the replica; the gateway
//! still shows `confirmed` with the detail and the action `notarized`, from
//! the final statuses it recorded from the verified blocks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_api::{GovernanceState, TransferState};
use box_core::B256;
use box_core::encoding::Canonical;
use box_core::governance::{GovernanceAction, SignedAction};
use box_core::notary::Subject;
use box_core::typed::{PauseTransfers, ReportStatus, Signed, SignerReport};
use box_gateway::Gateway;
use box_gateway::config::GatewayConfig;
use box_testkit::{Cluster, eventually, free_port};
use common::*;
use std::time::Duration;

const ETH: u128 = 1_000_000_000_000_000_000;

async fn report(cluster: &Cluster, subject: B256, status: ReportStatus, detail: &str) {
    let r = SignerReport {
        subject,
        status: status as u8,
        txHash: B256::repeat_byte(0x7C),
        nonce: 0,
        detail: detail.into(),
    };
    cluster.submit(&Subject::SignerReport(Signed::new(&cluster.domain, &cluster.signer, r)).encode()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_transfer_and_a_decided_action_keep_their_status_after_they_retire() {
    let mut cluster = Cluster::start(&box_node(), 3, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(&cluster, &dir.path().join("gw"), &Db::Sqlite, free_port(), TEST_LIMITS);
    let gw = Gateway::start(&GatewayConfig::load(&cfg).unwrap()).await.unwrap();
    let p = People::new();
    let c = |k: &box_core::crypto::SecretKey| client(&cluster, gw.addr, k);
    let (admin, employee, kh) = (c(&p.admin), c(&p.employee), c(&cluster.key_holders[0]));

    // A transfer notarized through the gateway, then confirmed by the signer with a detail.
    let flow = active_flow(&cluster, gw.addr, &p, 1).await;
    let id = employee.apply(&request(flow, &p.employee, ETH, "retired")).await.unwrap().id;
    for k in [&p.l1[0], &p.l1[1], &p.l2[1]] {
        c(k).approve(&id).await.unwrap();
    }
    wait_transfer(&employee, &id, TransferState::Notarized).await;
    report(&cluster, id.0, ReportStatus::Broadcast, "").await;
    report(&cluster, id.0, ReportStatus::Confirmed, "gas used 21000").await;
    let before = wait_transfer(&employee, &id, TransferState::Confirmed).await;
    assert_eq!(before.status.detail.as_deref(), Some("gas used 21000"));

    // A governance action decided on the chain.
    let pause = GovernanceAction::PauseTransfers(PauseTransfers { paused: true, reason: "audit".into(), nonce: 1 });
    let hash = kh.sign_governance(&pause).await.unwrap().hash;
    eventually("the pause notarized", Duration::from_secs(90), || async {
        kh.governance_action(hash).await.ok().filter(|g| g.state == GovernanceState::Notarized)
    })
    .await;

    // Every node restarts two days ahead: the next entry's log time passes
    // both deadlines (the transfer's: a day after submission, the flow's
    // period; the action's: RETAIN after its decision).
    for node in 1..=3 {
        cluster.kill(node);
    }
    for node in 1..=3 {
        cluster.spawn_with(node, &[("BOX_NODE_CLOCK_AHEAD", "172800")]);
    }
    cluster.wait_leader().await;
    cluster.submit(&box_testkit::sample_flow(7).encode()).await;
    // They did retire: the chain refuses a replay of the action's subject as retired.
    let signed = SignedAction { action: pause.clone(), signatures: vec![cluster.key_holders[0].sign_hash(&hash)] };
    let replay = Subject::Governance(signed).encode();
    let refused = eventually("the replay refused", Duration::from_secs(90), || async {
        cluster.client(1).submit(box_proto::pb::SubmitRequest { subject: replay.clone() }).await.err()
    })
    .await;
    assert!(refused.message().contains("retired"), "{}", refused.message());
    // The gateway verified the blocks that retired them: those up to a
    // subject decided after the refusal.
    let later = cluster.submit(&box_testkit::sample_flow(8).encode()).await;
    eventually("the later flow decided", Duration::from_secs(90), || async {
        cluster.subject(1, &later).await.filter(|s| s.status.to_string() == "notarized")
    })
    .await;
    let height = cluster.blocks(1).await.len() as u64;
    eventually("the gateway verified the blocks that retired them", Duration::from_secs(90), || async {
        admin.status().await.ok().filter(|s| s.verified_height >= height)
    })
    .await;

    // The gateway still shows what was final.
    let after = employee.transfer(&id).await.unwrap();
    assert_eq!(after.status.state, TransferState::Confirmed, "{:?}", after.status);
    assert_eq!(after.status.detail.as_deref(), Some("gas used 21000"));
    assert_eq!(after.status.tx_hash, before.status.tx_hash);
    let listed = employee.transfers(&box_api::TransferQuery::default()).await.unwrap();
    let row = listed.iter().find(|t| t.id == id).expect("listed");
    assert_eq!(row.status.state, TransferState::Confirmed);
    assert_eq!(kh.governance_action(hash).await.unwrap().state, GovernanceState::Notarized);

    // A restarted gateway (replaying its stored blocks) shows the same.
    gw.stop().await;
    let gw = Gateway::start(&GatewayConfig::load(&cfg).unwrap()).await.unwrap();
    let employee = client(&cluster, gw.addr, &p.employee);
    let again = employee.transfer(&id).await.unwrap();
    assert_eq!(
        (again.status.state, again.status.detail.as_deref()),
        (TransferState::Confirmed, Some("gas used 21000"))
    );
}
