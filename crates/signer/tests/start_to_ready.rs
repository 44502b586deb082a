//! Start-to-ready of the signer (issue 13, item 3): process start until it
//! has caught up with the nodes (log `caught up at height`), on a chain
//! with one block, then on a chain with a history of flows, from an empty
//! store (the whole history verified) and resuming from the state it
//! persisted when stopped. A measurement, not a timed test: ignored by
//! default, it asserts nothing about time and prints one table. Real
//! processes (box-node, anvil, box-signer).
//!
//! `cargo nextest run -p box-signer --test start_to_ready --run-ignored only --no-capture`
//! (`BOX_START_HISTORY`: flows in the history, default 300; a debug build
//! measures the debug binaries).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_testkit::anvil::Anvil;
use box_testkit::{Cluster, eventually, time_to_line};
use common::*;
use std::time::{Duration, Instant};

/// Starts the signer and measures until it has caught up; returns that
/// time and the height it caught up at.
async fn start(s: &mut SignerProc) -> (Duration, u64) {
    let from = s.output().len();
    let started = Instant::now();
    s.spawn(&[], &[]);
    let ready =
        time_to_line(started, || s.output()[from..].to_owned(), "caught up at height ", Duration::from_secs(600))
            .await
            .expect("the signer caught up");
    let out = s.output()[from..].to_owned();
    let height = out.lines().find_map(|l| l.split("caught up at height ").nth(1)).unwrap();
    (ready, height.split(':').next().unwrap().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run by hand (see the module docs)"]
async fn signer_start_to_ready_empty_and_with_history() {
    let flows: u64 = std::env::var("BOX_START_HISTORY").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let anvil = Anvil::start().await;
    let c = Cluster::start(&box_node_bin(), 1, 0).await;
    let decided = |ids: Vec<box_core::ids::SubjectId>| {
        let c = &c;
        async move {
            for id in ids {
                eventually("the flow decided", Duration::from_secs(300), || async {
                    c.subject(1, &id).await.filter(|v| v.height > 0)
                })
                .await;
            }
        }
    };
    let first = c.submit(&box_core::encoding::Canonical::encode(&box_testkit::sample_flow(0))).await;
    decided(vec![first]).await;

    let mut rows = Vec::new();
    let mut empty = SignerProc::for_cluster(&c, "signer-empty", &anvil.endpoint(), anvil.chain_id());
    let (t, h) = start(&mut empty).await;
    rows.push(("a chain of one flow, empty store", h, t));
    empty.terminate();

    let subjects =
        (1..=flows).map(|i| box_core::encoding::Canonical::encode(&box_testkit::sample_flow(i))).collect::<Vec<_>>();
    decided(c.submit_all(subjects, 8).await).await;

    let mut s = SignerProc::for_cluster(&c, "signer", &anvil.endpoint(), anvil.chain_id());
    let (t, h) = start(&mut s).await;
    rows.push(("the history, empty store (verified from the genesis)", h, t));
    s.terminate();
    let (t, h) = start(&mut s).await;
    rows.push(("the history, resumed from the state saved on stop", h, t));
    s.terminate();

    println!("{}; {flows} flows of history", box_testkit::machine());
    println!("| signer start-to-ready | height | time |\n|---|---|---|");
    for (what, h, t) in rows {
        println!("| {what} | {h} | {:.0} ms |", t.as_secs_f64() * 1e3);
    }
}

/// Restarts measured per N, with the retired ids in the index.
const RESTARTS: usize = 5;

/// Start-to-ready of a signer whose store already holds the verified state
/// at the tip of a history of N finished transfers (issue 13 item 3: "within
/// 2× of an empty one"), for each N of `BOX_START_HISTORY_N` (default
/// `0,20000`; the first is the anchor). The history is the one the
/// `history` benchmark builds and caches (signed and valid, every transfer
/// retired at the tip); three `box-node` processes run on copies of its
/// stores, with anvil. The signer's store is given the benchmark's verified
/// state (box-core's checkpoint, every retired id listed); the first start
/// resumes from it and, once a later block is verified, persists it with
/// the retired ids moved to its index; each later start (median of [`RESTARTS`])
/// resumes from that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run by hand (see the docs)"]
async fn signer_start_to_ready_at_the_tip_of_a_history_of_finished_transfers() {
    let anvil = Anvil::start().await;
    let mut rows = Vec::new();
    for n in box_testkit::history_ns() {
        let cache = box_testkit::cached_history(n);
        let mut c = Cluster::prepare_on(&box_node_bin(), 3, 0, 50, &box_testkit::HISTORY_PORTS);
        c.seed_stores(&cache);
        for id in 1..=3 {
            c.spawn(id);
        }
        c.wait_leader().await;
        let bytes = std::fs::read(cache.join("checkpoint.bin")).unwrap();
        let cp = box_core::checkpoint::decode(&c.genesis, &bytes).unwrap();
        let tip = cp.verifier.height();
        let retired = cp.verifier.state().retired_chain().0;

        let mut s = SignerProc::for_cluster(&c, "signer", &anvil.endpoint(), anvil.chain_id());
        let data = c.dir.path().join("signer").join("data");
        std::fs::create_dir_all(&data).unwrap();
        let store = box_signer::store::Store::open(&data.join("signer.redb")).unwrap();
        store.put_verified_state_indexed(&bytes, 0, &[]).unwrap();
        drop(store);
        let from = s.output().len();
        let (first, h) = start(&mut s).await;
        assert!(h >= tip, "caught up at {h}, before the seeded tip {tip}");
        // The signer persists the first state after the seeded one, with the
        // retired ids moved to its index: a block after it if the nodes
        // sealed none at their start.
        if !s.output()[from..].contains("persisted the verified state") {
            c.submit(&box_core::encoding::Canonical::encode(&box_testkit::sample_flow(1))).await;
        }
        eventually("the later state persisted", Duration::from_secs(120), || async {
            s.output()[from..].contains("persisted the verified state").then_some(())
        })
        .await;
        s.terminate();
        let mut later = Vec::new();
        for _ in 0..RESTARTS {
            let from = s.output().len();
            let (t, h) = start(&mut s).await;
            s.terminate();
            let out = s.output()[from..].to_owned();
            assert!(h >= tip, "caught up at {h}, before the seeded tip {tip}");
            let indexed = box_testkit::resumed_indexed(&out);
            assert!(retired == 0 || indexed > 0, "not resumed from its index:\n{out}");
            later.push(t);
        }
        rows.push(box_testkit::HistoryStart { n, height: tip, retired, first, restarts: later });
        for id in 1..=3 {
            c.kill(id);
        }
    }
    box_testkit::print_history_starts("signer", &mut rows);
}
