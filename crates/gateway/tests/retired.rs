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
use box_core::encoding::Canonical;
use box_core::governance::{GovernanceAction, SignedAction};
use box_core::notary::Subject;
use box_core::typed::{PauseTransfers, ReportStatus};
use box_gateway::Gateway;
use box_gateway::config::GatewayConfig;
use box_testkit::{Cluster, eventually, free_port};
use common::*;
use std::time::Duration;

const ETH: u128 = 1_000_000_000_000_000_000;

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
        cluster.subject(1, &later).await.filter(|s| s.status.to_string() == "notarized" && s.height > 0)
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

    // A restarted gateway (resuming the state it persisted on stop) shows the same.
    gw.stop().await;
    // Persisted with the retired ids in the store's index (box-core
    // checkpoint version 2), not in the state it resumes.
    let indexed = retired_ids(&cfg).await;
    assert!(indexed.contains(&id.0.to_string()), "{indexed:?}");
    let gw = Gateway::start(&GatewayConfig::load(&cfg).unwrap()).await.unwrap();
    let employee = client(&cluster, gw.addr, &p.employee);
    let again = employee.transfer(&id).await.unwrap();
    assert_eq!(
        (again.status.state, again.status.detail.as_deref()),
        (TransferState::Confirmed, Some("gas used 21000"))
    );
    // It goes on verifying, each new subject looked up in that index.
    let next = cluster.submit(&box_testkit::sample_flow(9).encode()).await;
    eventually("a flow decided after the restart", Duration::from_secs(90), || async {
        cluster.subject(1, &next).await.filter(|s| s.status.to_string() == "notarized" && s.height > 0)
    })
    .await;
    let height = cluster.blocks(1).await.len() as u64;
    let admin = client(&cluster, gw.addr, &p.admin);
    eventually("the resumed gateway verified the blocks after it", Duration::from_secs(90), || async {
        admin.status().await.ok().filter(|s| s.verified_height >= height)
    })
    .await;
    let indexed = gw.state.replica.read().state().retired_indexed();
    assert!(indexed > 0, "resumed with the retired ids in the store's index");

    // The index loses its last id (a partial restore of the database): the
    // persisted state that leaves that id to it is discarded at the next
    // start, and the stored blocks are verified again from the genesis (every
    // retired id in the replica's own state), to the same view.
    gw.stop().await;
    let last = forget_last_retired_id(&cfg).await;
    assert!(!retired_ids(&cfg).await.contains(&last));
    let gw = Gateway::start(&GatewayConfig::load(&cfg).unwrap()).await.unwrap();
    let (indexed, verified, retired) = {
        let r = gw.state.replica.read();
        (r.state().retired_indexed(), r.height(), r.state().is_retired(&last.parse().unwrap()))
    };
    assert_eq!(indexed, 0, "replayed from the genesis, not resumed");
    assert!(verified >= height && retired, "at {verified}, the id retired: {retired}");
    let employee = client(&cluster, gw.addr, &p.employee);
    assert_eq!(employee.transfer(&id).await.unwrap().status.state, TransferState::Confirmed);
    gw.stop().await;
}

/// Deletes the retired id at the highest position from the gateway's index
/// (the gateway stopped); returns it (0x hex).
async fn forget_last_retired_id(cfg: &std::path::Path) -> String {
    sqlx::any::install_default_drivers();
    let url = GatewayConfig::load(cfg).unwrap().database.url();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let (id,): (String,) =
        sqlx::query_as("SELECT id FROM retired_ids ORDER BY seq DESC LIMIT 1").fetch_one(&pool).await.unwrap();
    sqlx::query("DELETE FROM retired_ids WHERE id = $1").bind(&id).execute(&pool).await.unwrap();
    pool.close().await;
    id
}

/// The ids in the gateway's retired-id index (0x hex).
async fn retired_ids(cfg: &std::path::Path) -> Vec<String> {
    sqlx::any::install_default_drivers();
    let url = GatewayConfig::load(cfg).unwrap().database.url();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let rows: Vec<(String,)> = sqlx::query_as("SELECT id FROM retired_ids").fetch_all(&pool).await.unwrap();
    pool.close().await;
    rows.into_iter().map(|(id,)| id).collect()
}

/// Deletes the recorded final statuses of transfers, as a gateway built
/// before migration 5 left them (no row), while the gateway is stopped.
async fn forget_final_statuses(cfg: &std::path::Path) {
    sqlx::any::install_default_drivers();
    let url = GatewayConfig::load(cfg).unwrap().database.url();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query("DELETE FROM final_status WHERE kind = 'transfer'").execute(&pool).await.unwrap();
    pool.close().await;
}

/// How many transfers have a recorded final status.
async fn recorded_finals(cfg: &std::path::Path) -> i64 {
    let url = GatewayConfig::load(cfg).unwrap().database.url();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM final_status WHERE kind = 'transfer'").fetch_one(&pool).await.unwrap();
    pool.close().await;
    n
}

/// A gateway upgraded in place from a build before migration 5 has no final
/// status for transfers that became final under it, and resumes past the
/// blocks that made them final. Its start-up backfill records them: from the
/// verified replica while they are live, and from a node's proof (checked
/// against the block the gateway verified) once they retired, retrying while
/// no node answers and serving meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_upgraded_in_place_backfills_the_final_statuses_it_never_recorded() {
    let mut cluster = Cluster::start(&box_node(), 3, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(&cluster, &dir.path().join("gw"), &Db::Sqlite, free_port(), TEST_LIMITS);
    let gw = Gateway::start(&GatewayConfig::load(&cfg).unwrap()).await.unwrap();
    let p = People::new();
    let c = |k: &box_core::crypto::SecretKey| client(&cluster, gw.addr, k);
    let employee = c(&p.employee);
    let flow = active_flow(&cluster, gw.addr, &p, 1).await;
    let original = request(flow, &p.employee, ETH, "upgraded");
    let id = employee.apply(&original).await.unwrap().id;
    for k in [&p.l1[0], &p.l1[1], &p.l2[1]] {
        c(k).approve(&id).await.unwrap();
    }
    wait_transfer(&employee, &id, TransferState::Notarized).await;
    report(&cluster, id.0, ReportStatus::Broadcast, "").await;
    report(&cluster, id.0, ReportStatus::Confirmed, "gas used 21000").await;
    let before = wait_transfer(&employee, &id, TransferState::Confirmed).await;

    // The old build: no row. Restarted, the gateway resumes at its tip (no
    // block replayed) and records the live final status from its replica.
    gw.stop().await;
    forget_final_statuses(&cfg).await;
    let gw = Gateway::start(&GatewayConfig::load(&cfg).unwrap()).await.unwrap();
    eventually("the live final status backfilled", Duration::from_secs(60), || async {
        (recorded_finals(&cfg).await == 1).then_some(())
    })
    .await;

    // It retires: every node restarts two days ahead.
    two_days_on(&mut cluster, 7).await;
    let height = cluster.blocks(1).await.len() as u64;
    let admin = client(&cluster, gw.addr, &p.admin);
    eventually("the gateway verified the blocks that retired it", Duration::from_secs(90), || async {
        admin.status().await.ok().filter(|s| s.verified_height >= height)
    })
    .await;
    let employee = client(&cluster, gw.addr, &p.employee);
    let after = employee.transfer(&id).await.unwrap();
    assert_eq!(
        (after.status.state, after.status.detail.as_deref(), after.status.tx_hash),
        (TransferState::Confirmed, Some("gas used 21000"), before.status.tx_hash)
    );

    // The old build again, now after it retired, and no node reachable: the
    // gateway serves at once (showing what it knows: submitted) and backfills
    // from a node's proof once the nodes are back. The state it resumes
    // leaves the transfer's id to the store's index: the backfill asks it.
    gw.stop().await;
    assert!(retired_ids(&cfg).await.contains(&id.0.to_string()));
    forget_final_statuses(&cfg).await;
    for node in 1..=3 {
        cluster.kill(node);
    }
    let gw = Gateway::start(&GatewayConfig::load(&cfg).unwrap()).await.unwrap();
    let employee = client(&cluster, gw.addr, &p.employee);
    assert_eq!(employee.transfer(&id).await.unwrap().status.state, TransferState::Submitted);
    for node in 1..=3 {
        cluster.spawn_with(node, &[("BOX_NODE_CLOCK_AHEAD", "172800")]);
    }
    let proven = eventually("the retired final status backfilled from a proof", Duration::from_secs(120), || async {
        employee.transfer(&id).await.ok().filter(|t| t.status.state == TransferState::Confirmed)
    })
    .await;
    assert_eq!(
        (proven.status.detail.as_deref(), proven.status.tx_hash),
        (Some("gas used 21000"), before.status.tx_hash)
    );
    // Resumed with the retired ids in the store's index: the retired
    // transfer applied again is refused from that index, with the reason;
    // a new one is applied, approved and notarized (its block verified
    // with the index's answers, its notarization included).
    let again = employee.apply(&original).await.unwrap_err();
    assert!(format!("{again:?}").contains("already_applied") && format!("{again:?}").contains("retired"), "{again:?}");
    let c = |k: &box_core::crypto::SecretKey| client(&cluster, gw.addr, k);
    let later = employee.apply(&request(flow, &p.employee, ETH, "after it retired")).await.unwrap().id;
    for k in [&p.l1[0], &p.l1[1], &p.l2[1]] {
        c(k).approve(&later).await.unwrap();
    }
    wait_transfer(&employee, &later, TransferState::Notarized).await;
    gw.stop().await;

    // What the backfill takes from a node: a proof that verifies against a
    // header, and that header byte-for-byte the block the gateway verified.
    let proof = cluster.node_client(&[1]).transfer_proof(&id).await.unwrap().expect("a proof");
    let chain = cluster.blocks(1).await;
    let held = &chain[proof.height as usize - 1];
    let taken = box_gateway::backfill::check(&proof, held).unwrap();
    assert_eq!(taken.detail.as_deref(), Some("gas used 21000"));
    let mut forged = proof.clone();
    forged.proof.row.value[31 + 32 * 8] ^= 1; // the status
    let refused = box_gateway::backfill::check(&forged, held).unwrap_err();
    assert!(refused.contains("does not verify"), "{refused}");
    let mut other = proof.clone();
    other.header.header.time += 1; // the same state hash under another header
    let refused = box_gateway::backfill::check(&other, held).unwrap_err();
    assert!(refused.contains("is not the block"), "{refused}");
    assert!(box_gateway::backfill::check(&proof, &chain[proof.height as usize - 2]).is_err(), "another height's block");
}
