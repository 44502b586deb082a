//! Resume instead of replay (issue 13, item 3): the gateway persists the
//! notary state it verified and, restarted, resumes from it, verifying only
//! the blocks after it; a corrupted persisted state is discarded with the
//! reason and the stored blocks are replayed from the genesis. Real
//! processes: a box-node and the box-gateway binary, stopped and started.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_api::FlowState;
use box_gateway::config::Database;
use box_gateway::store::Store;
use box_testkit::{Cluster, eventually, free_port};
use common::*;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

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

/// Stops the gateway with SIGTERM (it persists its verified state on the
/// way out) and returns its log.
fn stop(mut gw: Proc, log: &Path) -> String {
    let exit = box_testkit::terminate(&mut gw.0);
    let text = std::fs::read_to_string(log).unwrap();
    assert_eq!(exit.code(), Some(0), "exit {exit}; log:\n{text}");
    text
}

/// The height in the last "persisted the verified state at height H" line.
fn persisted_height(log: &str) -> u64 {
    let line = log.lines().rfind(|l| l.contains("persisted the verified state at height "));
    let line = line.unwrap_or_else(|| panic!("no persisted state in the log:\n{log}"));
    let tail = line.split("persisted the verified state at height ").nth(1).unwrap();
    tail.split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_gateway_resumes_from_its_persisted_state_and_discards_a_corrupted_one() {
    let cluster = Cluster::start(&box_node(), 1, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(&cluster, dir.path(), &Db::Sqlite, port, TEST_LIMITS);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let p = People::new();
    let admin = client(&cluster, addr, &p.admin);
    let up = || async {
        eventually("the gateway serves", Duration::from_secs(60), || async { admin.deployment().await.ok() }).await;
    };

    // Run 1: a flow notarized and authorized (blocks verified from genesis); stopped.
    let log1 = dir.path().join("run1.log");
    let gw = spawn(&config, &log1);
    up().await;
    admin.register(p.employee.address(), "Erin Employee", &[box_api::Role::Employee]).await.unwrap();
    for (i, a) in p.l1.iter().enumerate() {
        admin.register(a.address(), &format!("Lead {i}"), &[box_api::Role::Approver]).await.unwrap();
    }
    admin
        .register(p.l2[0].address(), "Fay Finance", &[box_api::Role::Approver, box_api::Role::Employee])
        .await
        .unwrap();
    admin.register(p.l2[1].address(), "Gus Finance", &[box_api::Role::Approver]).await.unwrap();
    let f = flow(&p, 3);
    let hash = admin.create_flow(&f).await.unwrap().hash;
    admin.submit_flow(hash).await.unwrap();
    wait_flow(&admin, hash, FlowState::Notarized).await;
    for kh in &cluster.key_holders {
        client(&cluster, addr, kh).authorize_flow(hash, true).await.unwrap();
    }
    wait_flow(&admin, hash, FlowState::Authorized).await;
    let text = stop(gw, &log1);
    let h1 = persisted_height(&text);
    assert!(h1 > 0, "{text}");

    // While it is down the chain goes on: the flow is anchored.
    anchor(&cluster, hash).await;

    // Run 2: resumes at h1, verifies no stored block before it, and follows
    // the blocks after it from the node (the flow becomes active).
    let log2 = dir.path().join("run2.log");
    let gw = spawn(&config, &log2);
    up().await;
    wait_flow(&admin, hash, FlowState::Active).await;
    let text = stop(gw, &log2);
    assert!(
        text.contains(&format!("resumed from the verified state persisted at height {h1};")),
        "not resumed at {h1}:\n{text}"
    );
    assert!(text.contains(&format!("verified 0 stored blocks after height {h1};")), "{text}");
    assert!(!text.contains("from the genesis"), "replayed from the genesis:\n{text}");
    let h2 = persisted_height(&text);
    assert!(h2 > h1, "the blocks after {h1} were verified and persisted at {h2}:\n{text}");

    // The persisted state corrupted on disk: one flow row edited (its rows no
    // longer give the root it claims), in the JSON form earlier versions
    // stored (what a gateway upgraded in place finds: read, and checked).
    let db = Database::Sqlite(dir.path().join("data").join("gateway.sqlite3"));
    let store = Store::open(&db).await.unwrap();
    let (height, body) = store.verified_state().await.unwrap().unwrap();
    assert_eq!(height as u64, h2);
    let genesis: box_core::typed::Genesis =
        serde_json::from_slice(&std::fs::read(cluster.dir.path().join("genesis.json")).unwrap()).unwrap();
    let binary = hex::decode(&body).expect("stored as the hex of the binary checkpoint");
    let c = box_core::checkpoint::decode_indexed(&genesis, &binary).unwrap();
    let old = box_core::checkpoint::encode_json(&c.verifier, c.header.as_ref());
    assert!(binary.len() * 2 < old.len(), "binary {} bytes, JSON {}", binary.len(), old.len());
    let mut json: serde_json::Value = serde_json::from_slice(&old).unwrap();
    let flows = json["verifier"]["state"]["flows"].as_object_mut().unwrap();
    flows.values_mut().next().unwrap()["anchor_tx"] = serde_json::Value::Null;
    let root = json["stateRoot"].as_str().unwrap().to_owned();
    store.put_verified_state(height, &root, &json.to_string()).await.unwrap();
    drop(store);

    // Run 3: the corruption is detected, logged with the reason, and the
    // stored blocks are replayed from the genesis; what it serves is right.
    let log3 = dir.path().join("run3.log");
    let gw = spawn(&config, &log3);
    up().await;
    wait_flow(&admin, hash, FlowState::Active).await;
    let text = stop(gw, &log3);
    assert!(
        text.contains("the persisted verified state is discarded: the state root of its rows is")
            && text.contains("replaying the stored blocks from the genesis"),
        "corruption not reported:\n{text}"
    );
    assert!(text.contains(&format!("stored blocks after height 0; the replica is at height {h2}")), "{text}");
    assert!(!text.contains("resumed from the verified state"), "{text}");

    // Run 4: the state in the earlier JSON form, intact, at the tip (what a
    // gateway upgraded in place finds). It resumes from it and, with no new
    // block to verify, writes it again in the current form at once.
    let store = Store::open(&db).await.unwrap();
    store
        .put_verified_state(height, &c.verifier.state().state_root().0.to_string(), std::str::from_utf8(&old).unwrap())
        .await
        .unwrap();
    drop(store);
    let log4 = dir.path().join("run4.log");
    let gw = spawn(&config, &log4);
    up().await;
    let store = Store::open(&db).await.unwrap();
    let rewritten = eventually("the state written again in the current form", Duration::from_secs(30), || async {
        let (at, body) = store.verified_state().await.unwrap()?;
        let bytes = hex::decode(&body).ok()?;
        bytes.starts_with(box_core::checkpoint::MAGIC_INDEXED).then_some(at)
    })
    .await;
    drop(store);
    let text = stop(gw, &log4);
    assert!(text.contains(&format!("resumed from the verified state persisted at height {h2};")), "{text}");
    assert_eq!(rewritten as u64, h2, "written again at the height it was resumed at:\n{text}");
}
