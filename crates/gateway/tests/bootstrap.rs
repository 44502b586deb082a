//! Issue 13 item 3 at the gateway: a fresh gateway with `[chain] bootstrap =
//! true` starts from the latest state a strict majority of the node registry
//! attests instead of replaying from block 1 (SQLite and PostgreSQL), serves
//! a transfer submitted afterwards through its HTTPS API to its final
//! status, refuses an audit export of the blocks it does not hold, and
//! resumes from its own persisted state after a restart; when that state is
//! lost, it bootstraps again keeping its applications (refused, saying
//! what to do, without the option); with only a
//! minority of nodes up to attest, the state is refused, the reason logged,
//! and a fresh gateway (the box-gateway binary) replays from the genesis. Real processes: 3 `box-node`s keeping their
//! state every 2 blocks, PostgreSQL; the gateways over HTTPS on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_api::TransferState;
use box_core::B256;
use box_core::encoding::Canonical;
use box_core::ids::FlowHash;
use box_core::notary::TransferStatus;
use box_core::typed::ReportStatus;
use box_gateway::Gateway;
use box_gateway::config::{Database, GatewayConfig};
use box_gateway::store::Store;
use box_testkit::{Cluster, eventually, free_port};
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const ETH: u128 = 1_000_000_000_000_000_000;

/// A gateway config in `dir` with `[chain] bootstrap = true`.
fn bootstrap_config(cluster: &Cluster, dir: &Path, db: &Db) -> PathBuf {
    let path = write_config(cluster, dir, db, free_port(), TEST_LIMITS);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("key = \"client.key\"\n"));
    std::fs::write(&path, text.replace("key = \"client.key\"\n", "key = \"client.key\"\nbootstrap = true\n")).unwrap();
    path
}

/// The latest height a node keeps a state at.
async fn kept(cluster: &Cluster) -> Option<u64> {
    box_proto::bootstrap::fetch_state(&cluster.node_client(&[1, 2, 3])).await.ok().map(|(_, h, _)| h)
}

/// Has every node of `cluster` (not yet spawned) keep its state every `every` sealed blocks.
fn keep_states_every(cluster: &Cluster, every: u64) {
    for n in &cluster.nodes {
        let toml = std::fs::read_to_string(&n.config).unwrap();
        let toml = toml.replace(
            "seal_interval_ms = 250\n",
            &format!("seal_interval_ms = 250\nstate_checkpoint_every = {every}\n"),
        );
        std::fs::write(&n.config, toml).unwrap();
    }
}

/// Submits flows until a node keeps a state at `height` or above; that height.
async fn kept_from(cluster: &Cluster, height: u64, seed: u64) -> u64 {
    let mut n = seed;
    eventually("a kept state at the height asked", Duration::from_secs(120), || {
        n += 1;
        let extra = box_testkit::sample_flow(n).encode();
        async move {
            match kept(cluster).await {
                Some(h) if h >= height => Some(h),
                _ => {
                    cluster.submit(&extra).await;
                    None
                }
            }
        }
    })
    .await
}

/// Three nodes keeping their state every 2 blocks; a gateway that verified
/// from the genesis (in `dir/a`, then stopped) activated a flow; a node
/// keeps a state with it active. The cluster, `dir`, the people, the flow
/// and the kept height.
async fn with_a_kept_active_flow() -> (Cluster, tempfile::TempDir, People, FlowHash, u64) {
    let mut cluster = Cluster::prepare(&box_node(), 3, 0, 250);
    keep_states_every(&cluster, 2);
    for id in 1..=3 {
        cluster.spawn(id);
    }
    cluster.wait_leader().await;
    let dir = tempfile::tempdir().unwrap();
    let p = People::new();
    let cfg_a = write_config(&cluster, &dir.path().join("a"), &Db::Sqlite, free_port(), TEST_LIMITS);
    let gw_a = Gateway::start(&GatewayConfig::load(&cfg_a).unwrap()).await.unwrap();
    let flow = active_flow(&cluster, gw_a.addr, &p, 1).await;
    let active_at = client(&cluster, gw_a.addr, &p.admin).status().await.unwrap().verified_height;
    gw_a.stop().await;
    let at = kept_from(&cluster, active_at, 100).await;
    (cluster, dir, p, flow, at)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_gateway_starts_from_the_attested_state_and_a_minority_falls_back_to_the_genesis() {
    let (mut cluster, dir, p, flow, at) = with_a_kept_active_flow().await;

    // B: a fresh SQLite gateway bootstraps at a certified height, not block 1.
    let cfg_b = bootstrap_config(&cluster, &dir.path().join("b"), &Db::Sqlite);
    let gw_b = Gateway::start(&GatewayConfig::load(&cfg_b).unwrap()).await.unwrap();
    let first = gw_b.state.store.first_block().await.unwrap().expect("the attested block is stored");
    assert!(first >= at as i64 && first > 1, "bootstrapped at {first}, kept at {at}");
    assert_eq!(gw_b.state.store.block(1).await.unwrap(), None, "block 1 was not replayed");
    assert!(gw_b.state.store.verified_state().await.unwrap().is_some_and(|(h, _)| h == first));
    // From here on the nodes keep no new state (one every 1,000 blocks), so
    // the later bootstrap again lands below every block that follows.
    for n in &cluster.nodes {
        let toml = std::fs::read_to_string(&n.config).unwrap();
        std::fs::write(&n.config, toml.replace("state_checkpoint_every = 2\n", "state_checkpoint_every = 1000\n"))
            .unwrap();
    }
    for id in 1..=3 {
        assert_eq!(cluster.terminate(id).code(), Some(0));
        cluster.spawn(id);
    }
    cluster.wait_leader().await;

    // A transfer submitted afterwards through its HTTPS API reaches its final status.
    register_people(&cluster, gw_b.addr, &p).await;
    let c = |k: &box_core::crypto::SecretKey| client(&cluster, gw_b.addr, k);
    let employee = c(&p.employee);
    let id = employee.apply(&request(flow, &p.employee, ETH, "after bootstrap")).await.unwrap().id;
    for k in [&p.l1[0], &p.l1[1], &p.l2[1]] {
        c(k).approve(&id).await.unwrap();
    }
    wait_transfer(&employee, &id, TransferState::Notarized).await;
    report(&cluster, id.0, ReportStatus::Broadcast, "").await;
    report(&cluster, id.0, ReportStatus::Confirmed, "").await;
    wait_transfer(&employee, &id, TransferState::Confirmed).await;

    // The audit export does not pass off the blocks it holds as the history.
    let auditor = c(&p.auditor);
    let refused = auditor.audit_export().await.expect_err("blocks before the bootstrap are not held");
    assert_eq!((refused.status(), refused.code()), (Some(409), Some("history_not_held")), "{refused}");
    assert!(
        refused.to_string().contains(&format!("bootstrapped at height {first}"))
            && refused.to_string().contains("export the history from an auditor's replica or a node"),
        "{refused}"
    );
    let page = auditor.audit_page(first as u64, 10).await.unwrap();
    assert_eq!(page.from, first as u64);
    assert!(!page.blocks.is_empty());

    // Restarted, it resumes from its own persisted state (no new bootstrap,
    // no replay), and shows the same.
    let before = client(&cluster, gw_b.addr, &p.admin).status().await.unwrap().verified_height;
    gw_b.stop().await;
    let gw_b = Gateway::start(&GatewayConfig::load(&cfg_b).unwrap()).await.unwrap();
    assert_eq!(gw_b.state.store.first_block().await.unwrap(), Some(first), "bootstrapped once");
    let resumed = gw_b.state.store.verified_state().await.unwrap().unwrap().0;
    assert!(resumed >= first && gw_b.state.replica.read().height() >= resumed as u64, "resumed at {resumed}");
    eventually("the restarted gateway follows on", Duration::from_secs(90), || async {
        (gw_b.state.replica.read().height() >= before).then_some(())
    })
    .await;
    let employee = client(&cluster, gw_b.addr, &p.employee);
    assert_eq!(employee.transfer(&id).await.unwrap().status.state, TransferState::Confirmed);
    gw_b.stop().await;
    // Its persisted state unusable (edited), it cannot replay blocks it never
    // held. Without `[chain] bootstrap` the start is refused saying so and
    // what to do, not served from a wrong state, and nothing is written.
    let store =
        Store::open(&Database::Sqlite(dir.path().join("b").join("data").join("gateway.sqlite3"))).await.unwrap();
    let (h, _) = store.verified_state().await.unwrap().unwrap();
    store.put_verified_state(h, "0x00", "not a checkpoint").await.unwrap();
    let tip = store.blocks(first, 100_000).await.unwrap().last().map(|(h, _)| *h).unwrap();
    drop(store);
    let text = std::fs::read_to_string(&cfg_b).unwrap();
    let cfg_off = dir.path().join("b").join("gateway-off.toml");
    std::fs::write(&cfg_off, text.replace("bootstrap = true\n", "")).unwrap();
    let e =
        Gateway::start(&GatewayConfig::load(&cfg_off).unwrap()).await.expect_err("no state to resume from").to_string();
    assert!(
        e.contains(&format!("this gateway bootstrapped at height {first} and does not hold blocks 1 to {}", first - 1))
            && e.contains("set `bootstrap = true` under `[chain]`"),
        "{e}"
    );
    // With it, the gateway bootstraps again from the latest attested state:
    // its chain data replaced in one transaction, its people, applications
    // and transfers kept.
    let gw_b = Gateway::start(&GatewayConfig::load(&cfg_b).unwrap()).await.unwrap();
    // The nodes stopped at once: the replica stays near the attested height
    // while the views below are read.
    for id in 1..=3 {
        cluster.kill(id);
    }
    let again = gw_b.state.store.first_block().await.unwrap().expect("the attested block is stored");
    assert!(again >= first, "bootstrapped again at {again} (first at {first}, held to {tip})");
    assert_eq!(gw_b.state.store.verified_state().await.unwrap().map(|(h, _)| h), Some(again));
    assert!(gw_b.state.replica.read().height() >= again as u64);
    // The attested state is below the block that confirmed the transfer:
    // the live state there does not hold it confirmed, yet the view shows
    // it confirmed, from the final status this store recorded at that
    // block (the newer of the two), until the replica reaches it again.
    let (confirmed_at, _) = gw_b.state.store.final_transfer(&id.0).await.unwrap().expect("recorded when confirmed");
    assert!((again as u64) < confirmed_at, "bootstrapped again at {again}, confirmed at {confirmed_at}");
    let employee = client(&cluster, gw_b.addr, &p.employee);
    let behind = gw_b.state.replica.read().behind_records();
    assert_eq!(employee.transfer(&id).await.unwrap().status.state, TransferState::Confirmed);
    if !behind {
        eprintln!("the replica reached the confirming block {confirmed_at} before the nodes stopped");
    }
    let page = client(&cluster, gw_b.addr, &p.auditor).audit_page(again as u64, 10).await.unwrap();
    assert_eq!(page.from, again as u64);
    for id in 1..=3 {
        cluster.spawn(id);
    }
    cluster.wait_leader().await;
    // It goes on verifying what follows.
    let next = cluster.submit(&box_testkit::sample_flow(900).encode()).await;
    eventually("a flow decided after the new bootstrap", Duration::from_secs(90), || async {
        cluster.subject(1, &next).await.filter(|s| s.status.to_string() == "notarized" && s.height > 0)
    })
    .await;
    let height = cluster.blocks(1).await.len() as u64;
    eventually("the gateway bootstrapped again verifies on", Duration::from_secs(90), || async {
        (gw_b.state.replica.read().height() >= height).then_some(())
    })
    .await;
    // The confirmation reorged out: the transfer leaves its final status,
    // and its recorded row is forgotten, so it is never shown over the live
    // status again. (The replica applies the block, which the view shows at
    // once, before the follower writes the block's rows.)
    report(&cluster, id.0, ReportStatus::Reorged, "").await;
    wait_transfer(&employee, &id, TransferState::Broadcast).await;
    eventually("the confirmed row forgotten", Duration::from_secs(30), || async {
        gw_b.state.store.final_transfer(&id.0).await.unwrap().is_none().then_some(())
    })
    .await;
    assert_eq!(employee.transfer(&id).await.unwrap().status.state, TransferState::Broadcast);
    gw_b.stop().await;

    // C: the same on PostgreSQL.
    let pg = Postgres::start();
    let url = pg.database("boot").await;
    let cfg_c = bootstrap_config(&cluster, &dir.path().join("c"), &Db::Postgres(url));
    let gw_c = Gateway::start(&GatewayConfig::load(&cfg_c).unwrap()).await.unwrap();
    let first_c = gw_c.state.store.first_block().await.unwrap().expect("the attested block is stored");
    assert!(first_c >= first, "bootstrapped at {first_c}");
    assert_eq!(gw_c.state.store.block(1).await.unwrap(), None, "block 1 was not replayed");
    gw_c.stop().await;

    // D: only node 1 up to attest (one of three is no majority): the state is
    // refused and the fresh gateway replays from the genesis.
    let tip = cluster.blocks(1).await.len() as u64;
    cluster.kill(2);
    cluster.kill(3);
    let dir_d = dir.path().join("d");
    let cfg_d = bootstrap_config(&cluster, &dir_d, &Db::Sqlite);
    let addr_d = GatewayConfig::load(&cfg_d).unwrap().listen;
    let log = dir_d.join("gateway.log");
    let mut gw_d = spawn(&cfg_d, &log);
    let admin = client(&cluster, addr_d, &p.admin);
    eventually("the fallback gateway verified from the genesis", Duration::from_secs(120), || async {
        admin.status().await.ok().filter(|s| s.verified_height >= tip)
    })
    .await;
    let exit = box_testkit::terminate(&mut gw_d.0);
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(exit.code(), Some(0), "exit {exit}; log:\n{text}");
    assert!(
        text.contains("the certified state is refused") && text.contains("1 of 3"),
        "no refusal with its reason in the log:\n{text}"
    );
    assert!(text.contains("replaying from the genesis (block 1) instead"), "{text}");
    assert!(!text.contains("bootstrapped at height"), "{text}");
    let store = Store::open(&Database::Sqlite(dir_d.join("data").join("gateway.sqlite3"))).await.unwrap();
    assert_eq!(store.first_block().await.unwrap(), Some(1), "replayed from block 1");
}

/// Left open before: a transfer of a bootstrapped gateway's own that
/// finished and retired while the gateway was down longer than the
/// retention window, the gateway then bootstrapping again above it. The
/// block its proof is at was never held here; the backfill records the row
/// once a strict majority of the registry attests the proof's header.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_that_finished_and_retired_while_a_bootstrapped_gateway_was_down_gets_its_final_row() {
    let (mut cluster, dir, p, flow, _) = with_a_kept_active_flow().await;

    // A bootstrapped gateway takes a transfer to notarized, then goes down.
    let cfg = bootstrap_config(&cluster, &dir.path().join("b"), &Db::Sqlite);
    let gw = Gateway::start(&GatewayConfig::load(&cfg).unwrap()).await.unwrap();
    let first = gw.state.store.first_block().await.unwrap().expect("bootstrapped");
    register_people(&cluster, gw.addr, &p).await;
    let c = |k: &box_core::crypto::SecretKey| client(&cluster, gw.addr, k);
    let employee = c(&p.employee);
    let id = employee.apply(&request(flow, &p.employee, ETH, "while down")).await.unwrap().id;
    for k in [&p.l1[0], &p.l1[1], &p.l2[1]] {
        c(k).approve(&id).await.unwrap();
    }
    wait_transfer(&employee, &id, TransferState::Notarized).await;
    gw.stop().await;

    // Meanwhile the signer broadcasts and confirms it, and two days pass on
    // the nodes' clocks: it retires. The nodes keep a state above that.
    report(&cluster, id.0, ReportStatus::Broadcast, "").await;
    report(&cluster, id.0, ReportStatus::Confirmed, "").await;
    two_days_on(&mut cluster, 150).await;
    // Every node proves the confirmed row once it sealed the block that
    // changed it (the first node to answer may not have yet).
    let proof = eventually("a proof of the confirmed row", Duration::from_secs(90), || async {
        let p = cluster.node_client(&[1, 2, 3]).transfer_proof(&id).await.ok().flatten()?;
        matches!(p.leaf()?.transfer_status()?, TransferStatus::Confirmed { .. }).then_some(p)
    })
    .await;
    let tip = cluster.blocks(1).await.len() as u64;
    kept_from(&cluster, tip, 200).await;

    // Its persisted state lost, the gateway bootstraps again above the
    // block its transfer's proof is at, which it never held.
    let store =
        Store::open(&Database::Sqlite(dir.path().join("b").join("data").join("gateway.sqlite3"))).await.unwrap();
    let (h, _) = store.verified_state().await.unwrap().unwrap();
    store.put_verified_state(h, "0x00", "not a checkpoint").await.unwrap();
    assert_eq!(store.final_transfer(&id.0).await.unwrap(), None, "nothing recorded while it was down");
    drop(store);
    let gw = Gateway::start(&GatewayConfig::load(&cfg).unwrap()).await.unwrap();
    let again = gw.state.store.first_block().await.unwrap().expect("bootstrapped again");
    assert!(
        again > first && proof.height < again as u64,
        "proof at {}, bootstrapped at {first} then {again}",
        proof.height
    );
    assert_eq!(gw.state.store.block(proof.height as i64).await.unwrap(), None, "the proof's block is not held");

    // The backfill records the final row from the attested header's proof.
    let (at, row) = eventually("the final row recorded", Duration::from_secs(90), || async {
        gw.state.store.final_transfer(&id.0).await.unwrap()
    })
    .await;
    assert_eq!(at, proof.height);
    assert!(matches!(row.status, TransferStatus::Confirmed { .. }), "{row:?}");
    let employee = client(&cluster, gw.addr, &p.employee);
    let shown = employee.transfer(&id).await.unwrap();
    assert_eq!(shown.status.state, TransferState::Confirmed, "{:?}", shown.status);

    // What it relied on: the nodes attest the proof's header, and no
    // majority attests a header with another state root.
    let nodes = cluster.node_client(&[1, 2, 3]);
    let chain = box_proto::bootstrap::registry_chain(&nodes, &cluster.genesis).await.unwrap();
    let domain = cluster.genesis.domain();
    box_proto::bootstrap::certify_header(&nodes, &domain, &chain, &proof.header.header).await.unwrap();
    let mut forged = proof.header.header.clone();
    forged.stateHash = B256::repeat_byte(0x42);
    let refused = box_proto::bootstrap::certify_header(&nodes, &domain, &chain, &forged).await.unwrap_err();
    assert!(refused.starts_with("0 of 3 registered node accounts attest block"), "{refused}");
    gw.stop().await;
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(config: &Path, log: &Path) -> Proc {
    let log = std::fs::File::create(log).unwrap();
    Proc(
        Command::new(GATEWAY_BIN)
            .args(["run", "--config"])
            .arg(config)
            .env("RUST_LOG", "info,sqlx=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}
