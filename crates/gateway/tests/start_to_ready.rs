//! Start-to-ready of the gateway (issue 13, item 3): process start until
//! it serves and its verified height is the chain's tip (`/v1/status`), on
//! a chain with one block, then on a chain with a history of flows, from
//! an empty store (the history fetched from the node and verified) and
//! restarted (resumed from the state it persisted when stopped). A
//! measurement, not a timed test: ignored by default, it asserts nothing
//! about time and prints one table. Real processes (box-node, box-gateway).
//!
//! `cargo nextest run -p box-gateway --test start_to_ready --run-ignored only --no-capture`
//! (`BOX_START_HISTORY`: flows in the history, default 300; a debug build
//! measures the debug binaries). A second measurement starts the gateway at
//! the tip of the `history` benchmark's histories of finished transfers
//! (`BOX_START_HISTORY_N`; see its docs).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_core::encoding::Canonical;
use box_testkit::{Cluster, eventually, free_port};
use common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The gateway process, killed if the measurement stops half way.
struct Proc(std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the gateway and measures until it has verified `tip`; returns
/// that time and the child.
async fn start(
    config: &std::path::Path,
    log: &std::path::Path,
    admin: &box_api::client::Client,
    tip: u64,
) -> (Duration, Proc) {
    let file = std::fs::File::create(log).unwrap();
    let started = Instant::now();
    let child = Proc(
        Command::new(GATEWAY_BIN)
            .args(["run", "--config"])
            .arg(config)
            .env("RUST_LOG", "info,sqlx=warn")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap(),
    );
    loop {
        if admin.status().await.is_ok_and(|s| s.verified_height >= tip) {
            return (started.elapsed(), child);
        }
        assert!(started.elapsed() < Duration::from_secs(600), "not ready:\n{}", std::fs::read_to_string(log).unwrap());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run by hand (see the module docs)"]
async fn gateway_start_to_ready_empty_and_with_history() {
    let flows: u64 = std::env::var("BOX_START_HISTORY").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let cluster = Cluster::start(&box_node(), 1, 0).await;
    let p = People::new();
    let decided = |ids: Vec<box_core::ids::SubjectId>| {
        let c = &cluster;
        async move {
            for id in ids {
                eventually("the flow decided", Duration::from_secs(300), || async {
                    c.subject(1, &id).await.filter(|v| v.height > 0)
                })
                .await;
            }
        }
    };
    let tip = || async { cluster.info(1).await.unwrap().height };
    decided(vec![cluster.submit(&box_testkit::sample_flow(0).encode()).await]).await;

    let mut rows = Vec::new();
    let gateway = |name: &str| {
        let dir = cluster.dir.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        let config = write_config(&cluster, &dir, &Db::Sqlite, port, TEST_LIMITS);
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        (dir, config, client(&cluster, addr, &p.admin))
    };
    let (dir, config, admin) = gateway("gateway-empty");
    let h = tip().await;
    let (t, mut gw) = start(&config, &dir.join("run.log"), &admin, h).await;
    rows.push(("a chain of one flow, empty store", h, t));
    box_testkit::terminate(&mut gw.0);

    let subjects = (1..=flows).map(|i| box_testkit::sample_flow(i).encode()).collect::<Vec<_>>();
    decided(cluster.submit_all(subjects, 8).await).await;
    let h = tip().await;

    let (dir, config, admin) = gateway("gateway");
    let (t, mut gw) = start(&config, &dir.join("run1.log"), &admin, h).await;
    rows.push(("the history, empty store (fetched and verified from the genesis)", h, t));
    box_testkit::terminate(&mut gw.0);
    let (t, mut gw) = start(&config, &dir.join("run2.log"), &admin, h).await;
    rows.push(("the history, restarted (resumed from the state saved on stop)", h, t));
    box_testkit::terminate(&mut gw.0);

    println!("{}; {flows} flows of history", box_testkit::machine());
    println!("| gateway start-to-ready | height | time |\n|---|---|---|");
    for (what, h, t) in rows {
        println!("| {what} | {h} | {:.0} ms |", t.as_secs_f64() * 1e3);
    }
}

/// Restarts measured per N, with the retired ids in the index.
const RESTARTS: usize = 5;

/// Start-to-ready of a gateway whose store already holds the verified state
/// at the tip of a history of N finished transfers (issue 13 item 3: "within
/// 2× of an empty one"), for each N of `BOX_START_HISTORY_N` (default
/// `0,20000`; the first is the anchor). The history is the one the
/// `history` benchmark builds and caches (signed and valid, every transfer
/// retired at the tip); three `box-node` processes run on copies of its
/// stores. The gateway's store is given the tip block and the benchmark's
/// verified state (box-core's checkpoint, every retired id listed) as a
/// bootstrap would write them; the first start resumes from it and, on
/// SIGTERM, persists the state with the retired ids moved to its index; each
/// later start (median of [`RESTARTS`]) resumes from that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run by hand (see the docs)"]
async fn gateway_start_to_ready_at_the_tip_of_a_history_of_finished_transfers() {
    use box_core::block::Block;
    let p = People::new();
    let mut rows = Vec::new();
    for n in box_testkit::history_ns() {
        let cache = box_testkit::cached_history(n);
        let mut cluster = Cluster::prepare_on(&box_node(), 3, 0, 50, &box_testkit::HISTORY_PORTS);
        cluster.seed_stores(&cache);
        for id in 1..=3 {
            cluster.spawn(id);
        }
        cluster.wait_leader().await;
        let bytes = std::fs::read(cache.join("checkpoint.bin")).unwrap();
        let cp = box_core::checkpoint::decode(&cluster.genesis, &bytes).unwrap();
        let tip = cp.verifier.height();
        let retired = cp.verifier.state().retired_chain().0;
        let (body, _) = cluster.node_client(&[1, 2, 3]).block(tip).await.unwrap().expect("the tip block");
        assert_eq!(Block::decode(&body).unwrap().sealed_header(), cp.header.unwrap(), "the cache's tip");

        let dir = cluster.dir.path().join("gateway");
        let port = free_port();
        let config = write_config(&cluster, &dir, &Db::Sqlite, port, TEST_LIMITS);
        let store = box_gateway::store::Store::open(&box_gateway::config::Database::Sqlite(
            dir.join("data").join("gateway.sqlite3"),
        ))
        .await
        .unwrap();
        let root = cp.verifier.state().state_root().0.to_string();
        let block = format!("0x{}", hex::encode(&body));
        store.put_bootstrap(tip as i64, &block, &root, &hex::encode(&bytes), false).await.unwrap();
        drop(store);
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let admin = client(&cluster, addr, &p.admin);
        let (first, mut gw) = start(&config, &dir.join("run0.log"), &admin, tip).await;
        // A block after the seeded state, so that the stop persists a newer
        // one (with the retired ids moved to the index).
        cluster.submit(&box_testkit::sample_flow(1).encode()).await;
        let tip = eventually("a block after the seeded tip verified", Duration::from_secs(120), || async {
            admin.status().await.ok().map(|s| s.verified_height).filter(|h| *h > tip)
        })
        .await;
        box_testkit::terminate(&mut gw.0);
        let mut later = Vec::new();
        for run in 1..=RESTARTS {
            let log = dir.join(format!("run{run}.log"));
            let (t, mut gw) = start(&config, &log, &admin, tip).await;
            box_testkit::terminate(&mut gw.0);
            let text = std::fs::read_to_string(&log).unwrap();
            let indexed = box_testkit::resumed_indexed(&text);
            assert!(retired == 0 || indexed > 0, "not resumed from its index:\n{text}");
            later.push(t);
        }
        rows.push(box_testkit::HistoryStart { n, height: tip, retired, first, restarts: later });
        for id in 1..=3 {
            cluster.kill(id);
        }
    }
    box_testkit::print_history_starts("gateway", &mut rows);
}
