//! What the cluster benchmarks share (`notarize` and `history`): starting a
//! 3-node cluster in this process, the BOX load (subjects submitted over the
//! Notary API, submit → notarized event) and the raw openraft load (entries
//! of the same size whose apply does no notary work), percentiles, and the
//! machine's load average and this process's memory.

use box_chain::config::NodeConfig;
use box_chain::node::{self, RunningNode};
use box_chain::proposer::now;
use box_chain::types::Command;
use box_core::B256;
use box_core::encoding::Canonical;
use box_core::ids::SubjectId;
use box_proto::pb;
use box_testkit::{Cluster, sample_flow, submit_via};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Whether `cargo bench` started this binary (it passes `--bench`):
/// `cargo test --all-targets` (or `--benches`) runs a `harness = false`
/// bench's `main` without it, and then the bench only says how to run it.
pub(crate) fn run_by_cargo_bench() -> bool {
    let yes = std::env::args().any(|a| a == "--bench");
    if !yes {
        eprintln!("a benchmark: run it with `cargo bench` (skipped under `cargo test`)");
    }
    yes
}

/// Submissions (or raw writes) in flight at once.
pub(crate) const CONCURRENCY: usize = 32;

/// Starts every node of `c` in this process and waits until they agree on
/// a leader; with `snapshot_every`, the nodes snapshot that often instead
/// of the configured default.
pub(crate) async fn start(c: &Cluster, snapshot_every: Option<u64>) -> Vec<RunningNode> {
    let mut nodes = Vec::new();
    for n in &c.nodes {
        let mut cfg = NodeConfig::load(&n.config).unwrap();
        cfg.unlock.dev = true; // the test harness writes plaintext key files
        if let Some(every) = snapshot_every {
            cfg.raft.snapshot_every = every;
        }
        nodes.push(node::start(&cfg).await.unwrap());
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let leaders: Vec<Option<u64>> = nodes.iter().map(|n| n.raft.metrics().borrow().current_leader).collect();
        if leaders[0].is_some() && leaders.iter().all(|l| *l == leaders[0]) {
            return nodes;
        }
        assert!(Instant::now() < deadline, "no leader");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The node that leads now.
pub(crate) fn leader(nodes: &[RunningNode]) -> &RunningNode {
    let id = nodes[0].raft.metrics().borrow().current_leader.unwrap();
    nodes.iter().find(|x| x.raft.metrics().borrow().id == id).unwrap()
}

/// The `p` quantile of `sorted`.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// One load's result.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct Row {
    pub(crate) per_second: f64,
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
    /// CPU this process used during the load (every in-process node and
    /// the load itself), divided by the items loaded.
    #[serde(default)]
    pub(crate) cpu_per_item: Duration,
}

/// CPU time (user and system) this process has used so far, from
/// `/proc/self/stat` (clock ticks of 10 ms: meaningful over a load of
/// seconds).
pub(crate) fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (in parentheses, which may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let field = |i: usize| rest.split_whitespace().nth(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    Duration::from_millis((field(11) + field(12)) * 10)
}

/// The canonical size of one load subject's `Submit` entry.
pub(crate) fn entry_size() -> usize {
    box_core::notary::Entry::Submit(sample_flow(0)).encode().len()
}

/// Submits `n` flow subjects (`sample_flow(first..first + n)`), `CONCURRENCY`
/// in flight spread over the nodes, and times each from its submission to
/// its notarized event on node 1's Subscribe stream (from `from_height`).
pub(crate) async fn load_box(c: &Cluster, n: usize, first: u64, from_height: u64) -> Row {
    let domain = c.domain;
    let subjects: Vec<(SubjectId, Vec<u8>)> = (first..first + n as u64)
        .map(|i| {
            let s = sample_flow(i);
            (s.id(&domain).unwrap(), s.encode())
        })
        .collect();
    let mut stream = c.client(1).subscribe(pb::SubscribeRequest { from_height }).await.unwrap().into_inner();
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
    let cpu = process_cpu();
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
        let Ok(got) = tokio::time::timeout(Duration::from_secs(60), rx.recv()).await else {
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
    let cpu = process_cpu().saturating_sub(cpu);
    latencies.sort();
    Row {
        per_second: n as f64 / (last - begin).as_secs_f64(),
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        cpu_per_item: cpu / n as u32,
    }
}

/// Appends `n` entries of `size` bytes through the leader's raft,
/// `CONCURRENCY` in flight, and times each write until applied on the leader.
pub(crate) async fn load_raw(nodes: &[RunningNode], n: usize, size: usize) -> Row {
    let raft = leader(nodes).raft.clone();
    let sem = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let mut tasks = tokio::task::JoinSet::new();
    let cpu = process_cpu();
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
    let cpu = process_cpu().saturating_sub(cpu);
    let last = results.iter().map(|r| r.1).max().unwrap();
    let mut latencies: Vec<Duration> = results.into_iter().map(|r| r.0).collect();
    latencies.sort();
    Row {
        per_second: n as f64 / (last - begin).as_secs_f64(),
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        cpu_per_item: cpu / n as u32,
    }
}

/// The 1, 5 and 15 minute load averages.
#[allow(dead_code)] // the notarize bench prints the machine line only
pub(crate) fn load_average() -> String {
    let l = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// This process's resident memory (`VmRSS`) and its peak (`VmHWM`), in MiB.
#[allow(dead_code)]
pub(crate) fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
