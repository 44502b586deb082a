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
//!
//! `cargo bench -p box-chain --bench notarize` (BOX_BENCH_SUBJECTS, default 2000).
// A benchmark is run by hand, like a test: a failed set-up step (a port, a process, a
// file) must stop it with its cause, so it unwraps instead of carrying errors.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use box_chain::config::NodeConfig;
use box_chain::node::{self, RunningNode};
use box_chain::proposer::now;
use box_chain::types::Command;
use box_core::B256;
use box_core::encoding::Canonical;
use box_core::ids::SubjectId;
use box_core::notary::Entry;
use box_proto::pb;
use box_testkit::{Cluster, machine, sample_flow, submit_via};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CONCURRENCY: usize = 32;

async fn start(c: &Cluster) -> Vec<RunningNode> {
    let mut nodes = Vec::new();
    for n in &c.nodes {
        let mut cfg = NodeConfig::load(&n.config).unwrap();
        cfg.unlock.dev = true; // the test harness writes plaintext key files
        nodes.push(node::start(&cfg).await.unwrap());
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let leaders: Vec<Option<u64>> = nodes.iter().map(|n| n.raft.metrics().borrow().current_leader).collect();
        if leaders[0].is_some() && leaders.iter().all(|l| *l == leaders[0]) {
            return nodes;
        }
        assert!(Instant::now() < deadline, "no leader");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

struct Row {
    what: &'static str,
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

async fn bench_box(n: usize) -> Row {
    let c = Cluster::prepare(Path::new("in-process"), 3, 0, 50);
    let nodes = start(&c).await;
    let domain = c.domain;
    let subjects: Vec<(SubjectId, Vec<u8>)> = (0..n as u64)
        .map(|i| {
            let s = sample_flow(i);
            (s.id(&domain).unwrap(), s.encode())
        })
        .collect();
    // Watch notarized events from the start.
    let mut stream = c.client(1).subscribe(pb::SubscribeRequest { from_height: 1 }).await.unwrap().into_inner();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(Some(ev)) = stream.message().await {
            let _ = tx.send((SubjectId(B256::from_slice(&ev.subject_id)), Instant::now()));
        }
    });
    let clients: Vec<_> = [[1, 2, 3], [2, 3, 1], [3, 1, 2]].iter().map(|ids| c.node_client(ids)).collect();
    let started = Arc::new(std::sync::Mutex::new(HashMap::new()));
    let begin = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    for (i, (id, bytes)) in subjects.iter().enumerate() {
        let permit = sem.clone().acquire_owned().await.unwrap();
        started.lock().unwrap().insert(*id, Instant::now());
        let (client, bytes) = (clients[i % clients.len()].clone(), bytes.clone());
        tokio::spawn(async move {
            submit_via(&client, bytes).await;
            drop(permit);
        });
    }
    let mut latencies = Vec::with_capacity(n);
    let mut last = begin;
    while latencies.len() < n {
        let Ok(got) = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await else {
            let info = c.info(1).await;
            let first = c.subject(1, &subjects[0].0).await;
            panic!("stalled after {} events; cluster {info:?}; first subject {first:?}", latencies.len());
        };
        let (id, at) = got.unwrap();
        if let Some(t0) = started.lock().unwrap().get(&id) {
            latencies.push(at - *t0);
            last = at;
        }
    }
    for node in nodes {
        node.shutdown().await;
    }
    latencies.sort();
    Row {
        what: "BOX: submit → notarized event",
        per_second: n as f64 / (last - begin).as_secs_f64(),
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
    }
}

async fn bench_raw(n: usize, size: usize) -> Row {
    let c = Cluster::prepare(Path::new("in-process"), 3, 0, 50);
    let nodes = start(&c).await;
    let leader = nodes[0].raft.metrics().borrow().current_leader.unwrap();
    let raft = nodes.iter().find(|x| x.raft.metrics().borrow().id == leader).unwrap().raft.clone();
    let sem = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let mut tasks = tokio::task::JoinSet::new();
    let begin = Instant::now();
    for _ in 0..n {
        let permit = sem.clone().acquire_owned().await.unwrap();
        let raft = raft.clone();
        tasks.spawn(async move {
            let t0 = Instant::now();
            // 0xFF is no encoding version: applying it does no notary work.
            raft.client_write(Command::Notary { time: now(), entry: vec![0xFF; size] }).await.unwrap();
            drop(permit);
            (t0.elapsed(), Instant::now())
        });
    }
    let results = tasks.join_all().await;
    let last = results.iter().map(|r| r.1).max().unwrap();
    let mut latencies: Vec<Duration> = results.into_iter().map(|r| r.0).collect();
    for node in nodes {
        node.shutdown().await;
    }
    latencies.sort();
    Row {
        what: "raw openraft: write → applied",
        per_second: n as f64 / (last - begin).as_secs_f64(),
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
    }
}

fn main() {
    let n: usize = std::env::var("BOX_BENCH_SUBJECTS").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let size = Entry::Submit(sample_flow(0)).encode().len();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (boxed, raw) = rt.block_on(async { (bench_box(n).await, bench_raw(n, size).await) });
    println!("machine: {}", machine());
    println!(
        "3 voters on 127.0.0.1, mTLS gRPC, redb with fsync; {n} subjects of {size} bytes, {CONCURRENCY} in flight; seal interval 50 ms"
    );
    println!();
    println!("| run | per second | p50 | p99 |");
    println!("|---|---|---|---|");
    for r in [&boxed, &raw] {
        println!(
            "| {} | {:.0} | {:.1} ms | {:.1} ms |",
            r.what,
            r.per_second,
            r.p50.as_secs_f64() * 1e3,
            r.p99.as_secs_f64() * 1e3
        );
    }
    println!();
    println!(
        "BOX / raw: throughput {:.2}x (notarizations per second over raw entries per second), p50 latency {:.1}x (each notarization is its submission plus its share of each companion's vote batch and of the blocks sealing them)",
        boxed.per_second / raw.per_second,
        boxed.p50.as_secs_f64() / raw.p50.as_secs_f64()
    );
}
