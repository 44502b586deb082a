//! A 3-node cluster on loopback: BOX notarizations beside raw openraft
//! replication of entries of the same size, on the same machine.
//!
//! Both clusters run in this process with the same redb log, mTLS gRPC
//! transport and state machine. "BOX" submits subjects over the Notary API
//! and measures submit → notarized event (Subscribe stream): the submission,
//! the companions' votes (one batch entry per companion pass), block sealing
//! and signing. "raw" appends entries of
//! the same size whose apply does no notary work (the state machine refuses
//! them at the first byte) and measures client_write → applied on the leader.
//! Each row also gives the CPU the process (all three nodes and the load)
//! used per item, and the raft log entries per item (the leader's last log
//! index before and after), which say where the ratio comes from.
//!
//! `cargo bench -p box-chain --bench notarize` (BOX_BENCH_SUBJECTS, default
//! 2000; BOX_BENCH_ROUNDS, default 3: BOX and raw take turns, and the summary
//! is each column's median).
// A benchmark is run by hand, like a test: a failed set-up step (a port, a process, a
// file) must stop it with its cause, so it unwraps instead of carrying errors.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use box_chain::node::RunningNode;
use box_testkit::{Cluster, machine};
use common::{CONCURRENCY, Row, entry_size, leader, load_box, load_raw, start};
use std::path::Path;

async fn shutdown(nodes: Vec<RunningNode>) {
    for node in nodes {
        node.shutdown().await;
    }
}

/// The leader's last log index.
fn last_index(nodes: &[RunningNode]) -> u64 {
    leader(nodes).raft.metrics().borrow().last_log_index.unwrap_or(0)
}

/// One load's row and the raft log entries it took per item.
async fn bench_box(n: usize) -> (Row, f64) {
    let c = Cluster::prepare(Path::new("in-process"), 3, 0, 50);
    let nodes = start(&c, None).await;
    let before = last_index(&nodes);
    let row = load_box(&c, n, 0, 1).await;
    let entries = (last_index(&nodes) - before) as f64 / n as f64;
    shutdown(nodes).await;
    (row, entries)
}

async fn bench_raw(n: usize, size: usize) -> (Row, f64) {
    let c = Cluster::prepare(Path::new("in-process"), 3, 0, 50);
    let nodes = start(&c, None).await;
    let before = last_index(&nodes);
    let row = load_raw(&nodes, n, size).await;
    let entries = (last_index(&nodes) - before) as f64 / n as f64;
    shutdown(nodes).await;
    (row, entries)
}

fn main() {
    if !common::run_by_cargo_bench() {
        return;
    }
    let n: usize = std::env::var("BOX_BENCH_SUBJECTS").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let rounds: usize = std::env::var("BOX_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3).max(1);
    let size = entry_size();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    // BOX and raw take turns, the first of each round alternating, so that a
    // slower minute of this shared machine (or what one run leaves behind)
    // falls on both; each column is the median of its rounds.
    let mut runs: Vec<((Row, f64), (Row, f64))> = Vec::new();
    for round in 0..rounds {
        runs.push(rt.block_on(async {
            if round % 2 == 0 {
                let boxed = bench_box(n).await;
                (boxed, bench_raw(n, size).await)
            } else {
                let raw = bench_raw(n, size).await;
                (bench_box(n).await, raw)
            }
        }));
    }
    println!("machine: {}", machine());
    println!(
        "3 voters on 127.0.0.1, mTLS gRPC, redb with fsync; {n} subjects of {size} bytes, {CONCURRENCY} in flight; seal interval 50 ms; {rounds} rounds, BOX and raw taking turns"
    );
    println!();
    println!("| round | BOX/s | raw/s | BOX ÷ raw | BOX CPU per item | raw CPU per item |");
    println!("|---|---|---|---|---|---|");
    for (i, ((b, _), (r, _))) in runs.iter().enumerate() {
        println!(
            "| {i} | {:.0} | {:.0} | {:.2}x | {:.2} ms | {:.2} ms |",
            b.per_second,
            r.per_second,
            b.per_second / r.per_second,
            b.cpu_per_item.as_secs_f64() * 1e3,
            r.cpu_per_item.as_secs_f64() * 1e3
        );
    }
    let boxed = median_row(runs.iter().map(|r| &r.0));
    let raw = median_row(runs.iter().map(|r| &r.1));
    println!();
    println!(
        "| run (median of {rounds}) | per second | p50 | p99 | CPU per item (all 3 nodes) | log entries per item |"
    );
    println!("|---|---|---|---|---|---|");
    for (what, (r, entries)) in [("BOX: submit → notarized event", &boxed), ("raw openraft: write → applied", &raw)]
    {
        println!(
            "| {} | {:.0} | {:.1} ms | {:.1} ms | {:.2} ms | {:.2} |",
            what,
            r.per_second,
            r.p50.as_secs_f64() * 1e3,
            r.p99.as_secs_f64() * 1e3,
            r.cpu_per_item.as_secs_f64() * 1e3,
            entries
        );
    }
    let (boxed, raw) = (boxed.0, raw.0);
    let ratios: Vec<f64> = runs.iter().map(|((b, _), (r, _))| b.per_second / r.per_second).collect();
    println!();
    println!(
        "BOX / raw: CPU per item {:.1}x",
        boxed.cpu_per_item.as_secs_f64() / raw.cpu_per_item.as_secs_f64().max(1e-9)
    );
    println!(
        "BOX / raw: throughput {:.2}x (notarizations per second over raw entries per second, medians; each round's ratio {}), p50 latency {:.1}x (each notarization is its submission plus its share of each companion's vote batch and of the blocks sealing them)",
        boxed.per_second / raw.per_second,
        ratios.iter().map(|r| format!("{r:.2}x")).collect::<Vec<_>>().join(", "),
        boxed.p50.as_secs_f64() / raw.p50.as_secs_f64()
    );
}

/// Each field of `rows` (a load's row and its log entries per item) as the
/// median over the rounds.
fn median_row<'a>(rows: impl Iterator<Item = &'a (Row, f64)>) -> (Row, f64) {
    let rows: Vec<&(Row, f64)> = rows.collect();
    fn median<T: Copy + PartialOrd>(mut v: Vec<T>) -> T {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    }
    (
        Row {
            per_second: median(rows.iter().map(|r| r.0.per_second).collect()),
            p50: median(rows.iter().map(|r| r.0.p50).collect()),
            p99: median(rows.iter().map(|r| r.0.p99).collect()),
            cpu_per_item: median(rows.iter().map(|r| r.0.cpu_per_item).collect()),
        },
        median(rows.iter().map(|r| r.1).collect()),
    )
}
