//! What a history of N finished transfers costs (issue 13): a 3-node
//! cluster started at the tip of the history, beside the same cluster at
//! N = 0 and raw openraft, and what a signer or gateway pays to start.
//!
//! The history (`histgen`: signed and valid, built through the node's own
//! state machine and verified by `HistoryVerifier`) is built once per N and
//! kept under `target/bench-history/`; each run copies its stores into three
//! fresh node data directories. Per N, in one run:
//! - node start-to-ready: the three nodes opened (`node::start`, in this
//!   process) until they agree on a leader, their stores copied and flushed
//!   to disk before; and again after the load, once every node's store was
//!   last committed by a process that died without closing it (a crash right
//!   after a commit: what redb must repair before a node can start);
//! - the BOX load of the `notarize` bench (BOX_BENCH_SUBJECTS flow
//!   subjects, 32 in flight): notarized per second, p50/p99 submit →
//!   notarized event; block seal time (the leader's Seal + SignBlock, from
//!   proposal to commit, each block of the load; printed per round with
//!   the p50 of its two raft rounds: Seal proposed → the leader holds the
//!   block sealed, then → signed and stored);
//! - raw openraft on the same cluster: entries of the same size, write → applied;
//! - the nodes' reading of their decided-subject index after the start
//!   (box-chain `state_machine::warm`, in the background: the load waits
//!   for it, so that it measures nodes whose indexes are in memory, as on a
//!   node that has run for a while): the slowest node's time;
//! - the followers' catch-up after that: the stores' raft logs are purged
//!   up to their snapshot, so the new leader streams each follower its
//!   snapshot before it replicates by the log (a running node keeps the
//!   last 500 entries); the load waits for it too;
//! - disk reads: what the process running the cluster read from the disk
//!   (`read_bytes` of /proc/self/io: pages not found in the page cache)
//!   during the start, the index reading and the BOX load;
//! - memory: VmRSS of the process running the cluster (a child of the
//!   benchmark: three nodes in one process, plus the load generator) after
//!   the start and after the load, and its peak;
//! - one snapshot on the leader after the load, timed from the trigger to
//!   raft's metrics naming it (nodes snapshot every 2000 entries by default;
//!   the bench turns that off during the load, as each one takes a core for
//!   0.6–2.8 s (BENCHMARKS.md) and would fall on the load three times at once);
//! - signer and gateway start-to-ready through their library entry point:
//!   box-core `checkpoint::decode` of the verified state at the tip (read
//!   and every check), what both do at start; median of 5. Twice: with
//!   every retired id listed in the checkpoint (version 1: a node's, or a
//!   follower's before it kept an index), and with them in the follower's
//!   own index (version 2, `checkpoint::encode_indexed`: what the signer and
//!   the gateway persist).
//!
//! `cargo bench -p box-chain --bench history`; knobs: BOX_BENCH_HISTORY_N (a
//! comma list, default `0,10000`), BOX_BENCH_HISTORY_PER_BLOCK (transfers
//! per block, default 100: a block of 160 such transfers passes
//! box-core's 1 MiB encoding limit), BOX_BENCH_HISTORY_PORT (the nodes listen on the
//! 3 ports after it, default 21700; fixed, as the genesis names them),
//! BOX_BENCH_SUBJECTS (default 2000), BOX_BENCH_HISTORY_CLUSTER=0 (only
//! build the histories and measure the start of a follower),
//! BOX_BENCH_HISTORY_CLUSTER_MAX_N (the largest N run as a cluster, default
//! 20,000: a node's store takes ~12 KB a transfer, its blocks, records and
//! transfer proofs, and each run copies it three times (3.6 GB at 100,000);
//! larger Ns get the follower's start only, and their store may be deleted
//! from the cache),
//! BOX_BENCH_HISTORY_ROUNDS (cluster runs per N, the Ns taking turns; the
//! round of median BOX throughput is printed, default 1),
//! BOX_BENCH_HISTORY_COLD=1 (each node's copied stores are dropped from the
//! page cache before the start, as after a reboot of the nodes' host; by
//! default the copies stay cached as far as the cache holds them),
//! BOX_BENCH_HISTORY_PERF=1 (`perf record` of each BOX load, a file per N
//! and round beside the cached histories: what a ratio off 1× comes from;
//! or perf's own arguments, e.g. `trace -s`).
//! Each N's cached store is also described table by table (rows, bytes,
//! leaf pages, B-tree height), what says which tables a block's commit
//! writes into at random places.
// A benchmark is run by hand, like a test: a failed set-up step (a port, a process, a
// file) must stop it with its cause, so it unwraps instead of carrying errors.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;
mod histgen;

use box_core::checkpoint;
use box_testkit::{Cluster, machine};
use common::{Row, entry_size, leader, load_average, load_box, load_raw, percentile, rss_mib, start};
use std::path::Path;
use std::time::{Duration, Instant};

/// Times a follower's start is measured.
const STARTS: usize = 5;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("{name}: a number")))
}

/// The size of the cached node store in `dir`, in MB (10^6 bytes).
fn store_mb(dir: &Path) -> f64 {
    std::fs::metadata(dir.join("state.redb")).map_or(0.0, |m| m.len() as f64 / 1e6)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ClusterRow {
    start: Duration,
    /// MB read from the disk during the start and during the BOX load.
    start_read_mb: f64,
    load_read_mb: f64,
    /// The slowest node's reading of its decided-subject index after the
    /// start, in the background, and the MB read from the disk meanwhile.
    warm: Duration,
    warm_read_mb: f64,
    /// From the index reading's end until both followers held the leader's
    /// log (the leader streams each its snapshot first: see [`cluster`]).
    caught_up: Duration,
    /// The start after every node crashed (`CRASH`).
    crash_start: Duration,
    boxed: Row,
    seal_p50: Duration,
    seal_p99: Duration,
    seals: usize,
    /// Of the seal time, p50: Seal proposed → the leader holds the block
    /// sealed; then → signed and stored.
    seal_phase_p50: Duration,
    sign_phase_p50: Duration,
    raw: Row,
    rss_started: f64,
    rss_loaded: f64,
    rss_peak: f64,
    snapshot: Duration,
}

struct Measured {
    built: histgen::Built,
    resume: Duration,
    /// The follower's start with the retired ids in its index, and the checkpoint's size.
    resume_indexed: (Duration, usize),
    cluster: Option<ClusterRow>,
    rounds: Vec<ClusterRow>,
}

async fn cluster(c: &Cluster, b: &histgen::Built, subjects: usize) -> ClusterRow {
    histgen::seed(c, b, cold());
    let t = Instant::now();
    let read = disk_read_mb();
    // No snapshot during the load (each takes a core for up to seconds, timed as `snapshot` below).
    let nodes = start(c, Some(1 << 40)).await;
    let start_time = t.elapsed();
    let start_read_mb = disk_read_mb() - read;
    // The load begins once every node has read its decided-subject index
    // into memory (in the background after the start: box-chain
    // `state_machine::warm`), as on a node that has run for a while.
    let read = disk_read_mb();
    let mut warm = Duration::ZERO;
    for node in &nodes {
        let mut warmed = node.shared.warmed.subscribe();
        let got = tokio::time::timeout(Duration::from_secs(1800), warmed.wait_for(Option::is_some)).await;
        warm = warm.max(got.expect("a node's index read within 30 minutes").unwrap().unwrap_or_default().1);
    }
    let warm_read_mb = disk_read_mb() - read;
    // The stores start with a raft log purged up to their snapshot (what
    // `histgen` can give them), so the new leader has no entry to probe a
    // follower's log with and streams each its snapshot (openraft 0.9's
    // `next_send`). A running node keeps the last 500 entries, and a restart
    // replicates by the log. The load begins once both followers hold the
    // leader's log, so that it does not carry this start's snapshots, whose
    // size grows with N.
    let t = Instant::now();
    let raft = leader(&nodes).raft.clone();
    let (me, last) = {
        let m = raft.metrics().borrow().clone();
        (m.id, m.last_log_index)
    };
    let mut metrics = raft.metrics();
    let caught_up = |m: &openraft::RaftMetrics<u64, openraft::BasicNode>| {
        m.replication.as_ref().is_some_and(|r| {
            let followers: Vec<_> = r.iter().filter(|(id, _)| **id != me).collect();
            followers.len() == nodes.len() - 1 && followers.iter().all(|(_, l)| l.map(|l| l.index) >= last)
        })
    };
    let got = tokio::time::timeout(Duration::from_secs(1800), metrics.wait_for(caught_up)).await;
    got.expect("both followers caught up within 30 minutes").unwrap();
    let caught_up = t.elapsed();
    let (rss_started, _) = rss_mib();
    // Every block the leader seals during the load: its seal time, and
    // when the leader was seen holding it sealed and then stored (`phases`).
    let mut seals_rx = leader(&nodes).shared.seal_time.subscribe();
    seals_rx.mark_unchanged();
    let seals = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let into = seals.clone();
    let collector = tokio::spawn(async move {
        while seals_rx.changed().await.is_ok() {
            let (height, took) = *seals_rx.borrow_and_update();
            into.lock().unwrap().push((height, took, Instant::now()));
        }
    });
    let seen = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
    let watcher = tokio::spawn(phases(leader(&nodes).shared.clone(), seen.clone()));
    let read = disk_read_mb();
    let perf = perf_record(b);
    let boxed = load_box(c, subjects, 1_000_000_000, b.blocks + 1).await;
    perf_stop(perf);
    let load_read_mb = disk_read_mb() - read;
    let raw = load_raw(&nodes, subjects, entry_size()).await;
    let (rss_loaded, rss_peak) = rss_mib();
    collector.abort();
    watcher.abort();
    // One snapshot on the leader, as raft takes one every 2000 entries by default.
    let t = Instant::now();
    let raft = leader(&nodes).raft.clone();
    let before = raft.metrics().borrow().snapshot;
    raft.trigger().snapshot().await.unwrap();
    let mut metrics = raft.metrics();
    let deadline = Duration::from_secs(1800);
    tokio::time::timeout(deadline, metrics.wait_for(|m| m.snapshot != before)).await.unwrap().unwrap();
    let snapshot = t.elapsed();
    for node in nodes {
        node.shutdown().await;
    }
    let sealed = std::mem::take(&mut *seals.lock().unwrap());
    assert!(!sealed.is_empty(), "no block sealed during the load");
    // Seal proposed → seen sealed on the leader, and seen sealed → signed
    // and stored: the two raft rounds of a block, each with the apply
    // queue ahead of it on the leader.
    let seen = seen.lock().unwrap();
    let (mut seal_phase, mut sign_phase) = (Vec::new(), Vec::new());
    for (height, took, done) in &sealed {
        if let Some(at) = seen.get(height) {
            let proposed = *done - *took;
            seal_phase.push(at.saturating_duration_since(proposed));
            sign_phase.push(done.saturating_duration_since(*at));
        }
    }
    seal_phase.sort();
    sign_phase.sort();
    // A block sealed and signed within one applied batch is never seen sealed.
    let p50 = |v: &[Duration]| if v.is_empty() { Duration::ZERO } else { percentile(v, 0.5) };
    let mut seals: Vec<Duration> = sealed.iter().map(|s| s.1).collect();
    seals.sort();
    ClusterRow {
        start: start_time,
        start_read_mb,
        load_read_mb,
        warm,
        warm_read_mb,
        caught_up,
        crash_start: Duration::ZERO, // measured in its own child: `crash_start_in_child`
        boxed,
        seal_p50: percentile(&seals, 0.5),
        seal_p99: percentile(&seals, 0.99),
        seals: seals.len(),
        seal_phase_p50: p50(&seal_phase),
        sign_phase_p50: p50(&sign_phase),
        raw,
        rss_started,
        rss_loaded,
        rss_peak,
        snapshot,
    }
}

/// When the leader (`shared`) is first seen, after an applied batch,
/// holding each block sealed (a pending block at that height), until aborted.
async fn phases(shared: std::sync::Arc<box_chain::state_machine::Shared>, seen: Seen) {
    loop {
        let applied = shared.applied.notified();
        tokio::pin!(applied);
        applied.as_mut().enable();
        if let Some(p) = &shared.read().pending {
            seen.lock().unwrap().entry(p.header.height).or_insert_with(Instant::now);
        }
        applied.await;
    }
}

/// Heights and when [`phases`] first saw each sealed.
type Seen = std::sync::Arc<std::sync::Mutex<std::collections::HashMap<u64, Instant>>>;

/// The nodes' start-to-ready from the history of `b` after a crash: each
/// node's stores are copied, then last committed by a process that dies
/// without closing them (as under `kill -9` or a power loss), then opened.
async fn crash_start(c: &Cluster, b: &histgen::Built) -> Duration {
    histgen::seed(c, b, cold());
    for n in &c.nodes {
        let crashed =
            std::process::Command::new(std::env::current_exe().unwrap()).env(CRASH, &n.config).status().unwrap();
        assert!(crashed.success(), "the crash child failed");
    }
    let t = Instant::now();
    let nodes = start(c, Some(1 << 40)).await;
    let took = t.elapsed();
    for node in nodes {
        node.shutdown().await;
    }
    took
}

/// With BOX_BENCH_HISTORY_PERF set: `perf` attached to this process (the
/// cluster's child) for the BOX load of `b`'s N, writing
/// `target/bench-history/perf-n<N>-<pid>.data`. `1` means `record -F 999`
/// (samples of every thread: `perf report -i <file> --sort dso,sym`); any
/// other value is perf's own arguments, e.g. `trace -s` (every system call
/// the nodes make, with its time: what fsync costs). `None` without the knob;
/// a `perf` that cannot start stops the benchmark with its cause.
fn perf_record(b: &histgen::Built) -> Option<std::process::Child> {
    let knob = std::env::var("BOX_BENCH_HISTORY_PERF").ok().filter(|v| !v.is_empty() && v != "0")?;
    let args = if knob == "1" { "record -F 999".to_owned() } else { knob };
    let (n, pid) = (b.n, std::process::id());
    let out = b.dir.with_file_name(format!("perf-n{n}-{pid}.data"));
    let child = std::process::Command::new("perf")
        .args(args.split_whitespace())
        .args(["-p", &pid.to_string(), "-o"])
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("BOX_BENCH_HISTORY_PERF needs `perf` on the PATH");
    // perf attaches within a few milliseconds; the load's seconds dwarf it.
    std::thread::sleep(Duration::from_millis(200));
    eprintln!("N = {n}: `perf {args}` of the BOX load into {}", out.display());
    Some(child)
}

/// Stops a [`perf_record`] (SIGINT, as perf expects) and waits for it to write its file.
fn perf_stop(perf: Option<std::process::Child>) {
    if let Some(mut child) = perf {
        let pid = rustix::process::Pid::from_child(&child);
        rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
        child.wait().unwrap();
    }
}

/// Whether the nodes start from stores dropped from the page cache
/// (BOX_BENCH_HISTORY_COLD=1).
fn cold() -> bool {
    std::env::var("BOX_BENCH_HISTORY_COLD").is_ok_and(|v| v == "1")
}

/// MB (10^6 bytes) this process has read from the disk so far: `read_bytes`
/// of /proc/self/io, the pages fetched from storage rather than found in the
/// page cache (0 where the kernel does not count it).
fn disk_read_mb() -> f64 {
    let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    io.lines()
        .find_map(|l| l.strip_prefix("read_bytes:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0.0, |b| b / 1e6)
}

/// One line per table of the node store in `dir`: rows, the bytes of its
/// keys and values, leaf pages and B-tree height, largest first.
fn table_sizes(dir: &Path) -> Vec<String> {
    use redb::{ReadableDatabase, ReadableTableMetadata, TableHandle};
    let db = redb::ReadOnlyDatabase::open(dir.join("state.redb")).unwrap();
    let tx = db.begin_read().unwrap();
    let mut rows: Vec<(u64, String)> = tx
        .list_tables()
        .unwrap()
        .map(|handle| {
            let name = handle.name().to_owned();
            let table = tx.open_untyped_table(handle).unwrap();
            let stats = table.stats().unwrap();
            let line = format!(
                "{name}: {} rows, {:.1} MB stored, {} leaf pages, height {}",
                table.len().unwrap(),
                stats.stored_bytes() as f64 / 1e6,
                stats.leaf_pages(),
                stats.tree_height()
            );
            (stats.stored_bytes(), line)
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    rows.into_iter().map(|(_, line)| line).collect()
}

/// The cluster columns for `n`, measured in a child process of this
/// benchmark, so that its memory is the nodes' and the load's alone (not
/// what building the history or decoding checkpoints left in this one).
fn in_child(n: u64) -> ClusterRow {
    let mut row: ClusterRow = child(n, false);
    row.crash_start = child(n, true);
    row
}

/// Runs the child for `n` (`crashed`: [`crash_start`], else [`cluster`]) and
/// reads its result.
fn child<T: serde::de::DeserializeOwned>(n: u64, crashed: bool) -> T {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(std::env::args().skip(1))
        .env(CHILD, n.to_string())
        .env(CHILD_CRASHED, if crashed { "1" } else { "0" })
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "the cluster run for N = {n} failed");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find_map(|l| l.strip_prefix(RESULT)).expect("the child's result line");
    serde_json::from_str(line).unwrap()
}

/// Set (to N) in the child that runs one cluster.
const CHILD: &str = "BOX_BENCH_HISTORY_CHILD";
/// `1` in the child that measures the start after a crash instead.
const CHILD_CRASHED: &str = "BOX_BENCH_HISTORY_CHILD_CRASHED";
/// Set (to a node's configuration file) in a child that opens that node's
/// stores as `node::start` does (each open commits) and exits without
/// closing them: a crash right after a commit.
const CRASH: &str = "BOX_BENCH_HISTORY_CRASH";

/// The `CRASH` child's work.
fn crash(config: &Path) -> ! {
    let cfg = box_chain::config::NodeConfig::load(config).unwrap();
    let genesis = serde_json::from_slice(&std::fs::read(&cfg.genesis).unwrap()).unwrap();
    let log = box_chain::log_store::LogStore::open(&cfg.data_dir.join("raft-log.redb")).unwrap();
    let sm = box_chain::state_machine::StateMachine::open(&cfg.data_dir.join("state.redb"), genesis).unwrap();
    std::mem::forget((log, sm));
    std::process::exit(0)
}
const RESULT: &str = "cluster result: ";

fn main() {
    if let Some(config) = std::env::var_os(CRASH) {
        crash(Path::new(&config));
    }
    if !common::run_by_cargo_bench() {
        return;
    }
    let per_block = env_u64("BOX_BENCH_HISTORY_PER_BLOCK", 100).max(1);
    let base = env_u64("BOX_BENCH_HISTORY_PORT", 21700) as u16;
    let ports: Vec<u16> = (1..=3).map(|i| base + i).collect();
    let subjects = env_u64("BOX_BENCH_SUBJECTS", 2000) as usize;
    if let Ok(n) = std::env::var(CHILD) {
        // RUST_LOG=… shows the nodes' logs (on the benchmark's stderr).
        if std::env::var_os("RUST_LOG").is_some() {
            box_ops::logging::init("warn");
        }
        let n: u64 = n.parse().unwrap();
        let c = Cluster::prepare_on(Path::new("in-process"), 3, 0, 50, &ports);
        let built = histgen::history(&c, n, per_block, &ports);
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        let result = if std::env::var(CHILD_CRASHED).is_ok_and(|v| v == "1") {
            serde_json::to_string(&rt.block_on(crash_start(&c, &built)))
        } else {
            serde_json::to_string(&rt.block_on(cluster(&c, &built, subjects)))
        };
        println!("{RESULT}{}", result.unwrap());
        return;
    }
    let ns: Vec<u64> = std::env::var("BOX_BENCH_HISTORY_N")
        .unwrap_or_else(|_| "0,10000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("BOX_BENCH_HISTORY_N: a comma list of numbers"))
        .collect();
    let with_cluster = std::env::var("BOX_BENCH_HISTORY_CLUSTER").map_or(true, |v| v != "0");
    let cluster_max = env_u64("BOX_BENCH_HISTORY_CLUSTER_MAX_N", 20_000);
    let rounds = env_u64("BOX_BENCH_HISTORY_ROUNDS", 1);
    let at_start = load_average();
    let mut rows: Vec<Measured> = Vec::new();
    for &n in std::iter::once(&0).chain(ns.iter().filter(|&&n| n != 0)) {
        let c = Cluster::prepare_on(Path::new("in-process"), 3, 0, 50, &ports);
        let built = histgen::history(&c, n, per_block, &ports);
        eprintln!(
            "N = {n}: {} blocks, built in {:.1} s (signing {:.1} s CPU on worker threads, applying {:.1} s, \
             verifying {:.1} s), a node's state.redb {:.0} MB ({:.1} KB a transfer), at {}",
            built.blocks,
            built.build_s,
            built.sign_s,
            built.apply_s,
            built.replay_s,
            store_mb(&built.dir),
            store_mb(&built.dir) * 1e3 / n.max(1) as f64,
            built.dir.display()
        );
        for line in table_sizes(&built.dir) {
            eprintln!("  N = {n}, a node's table {line}");
        }
        let bytes = std::fs::read(built.dir.join("checkpoint.bin")).unwrap();
        let resume = median(
            (0..STARTS)
                .map(|_| {
                    let t = Instant::now();
                    let bytes = std::fs::read(built.dir.join("checkpoint.bin")).unwrap();
                    let cp = checkpoint::decode(&c.genesis, &bytes).unwrap();
                    assert_eq!(cp.verifier.height(), built.blocks);
                    t.elapsed()
                })
                .collect(),
        );
        // The same state for a follower that keeps the retired ids in its
        // own index (box-core checkpoint version 2, what the signer and the
        // gateway persist): none of them listed.
        let full = checkpoint::decode(&c.genesis, &bytes).unwrap();
        let (count, _) = full.verifier.state().retired_chain();
        let indexed_path = built.dir.join("checkpoint-indexed.bin");
        let indexed = checkpoint::encode_indexed(&full.verifier, full.header.as_ref(), count).unwrap();
        std::fs::write(&indexed_path, &indexed).unwrap();
        drop(full);
        let resume_indexed = median(
            (0..STARTS)
                .map(|_| {
                    let t = Instant::now();
                    let bytes = std::fs::read(&indexed_path).unwrap();
                    let cp = checkpoint::decode_indexed(&c.genesis, &bytes).unwrap();
                    assert_eq!(cp.verifier.state().retired_indexed(), count);
                    t.elapsed()
                })
                .collect(),
        );
        drop(bytes);
        drop(c);
        rows.push(Measured {
            built,
            resume,
            resume_indexed: (resume_indexed, indexed.len()),
            cluster: None,
            rounds: Vec::new(),
        });
    }
    // The cluster runs, the Ns taking turns round by round, so that a change
    // in the machine's load falls on all of them alike.
    for round in 0..rounds {
        for m in rows.iter_mut().filter(|m| with_cluster && m.built.n <= cluster_max) {
            let n = m.built.n;
            let r = in_child(n);
            eprintln!(
                "round {round}, N = {n}: started in {:.2} s ({:.0} MB read from the disk), indexes read in {:.2} s \
                 ({:.0} MB), followers caught up {:.2} s later, after kill -9 in {:.2} s; BOX {:.0}/s ({:.0} MB read from the disk during the load), \
                 raw {:.0}/s; seal p50 {:.1} ms (proposed → sealed {:.1} ms, → signed and stored {:.1} ms), p99 {:.1} ms",
                r.start.as_secs_f64(),
                r.start_read_mb,
                r.warm.as_secs_f64(),
                r.warm_read_mb,
                r.caught_up.as_secs_f64(),
                r.crash_start.as_secs_f64(),
                r.boxed.per_second,
                r.load_read_mb,
                r.raw.per_second,
                ms(r.seal_p50),
                ms(r.seal_phase_p50),
                ms(r.sign_phase_p50),
                ms(r.seal_p99)
            );
            m.rounds.push(r);
        }
    }
    for m in &mut rows {
        // The round of median BOX throughput stands for the N.
        m.rounds.sort_by(|a, b| a.boxed.per_second.total_cmp(&b.boxed.per_second));
        let mid = m.rounds.len() / 2;
        let all: Vec<String> = m.rounds.iter().map(|r| format!("{:.0}", r.boxed.per_second)).collect();
        if !all.is_empty() {
            eprintln!("N = {}: BOX notarized/s over the rounds {}", m.built.n, all.join(", "));
        }
        m.cluster = (!m.rounds.is_empty()).then(|| m.rounds.swap_remove(mid));
    }
    println!("machine: {}; load average at start {at_start}, at end {}", machine(), load_average());
    println!(
        "history: {per_block} transfers a block (TransBox, broadcast and confirmed reports, each with 2 votes); \
         cluster: 3 voters in this process on 127.0.0.1, mTLS gRPC, redb with fsync, seal interval 50 ms; \
         load: {subjects} flow subjects of {} bytes, 32 in flight; raw openraft on the same cluster, same entry size; cluster columns: the round of median BOX throughput of {rounds}; \
         page cache at the start: {}",
        entry_size(),
        if cold() { "dropped (BOX_BENCH_HISTORY_COLD=1)" } else { "as the copies left it" }
    );
    println!();
    println!(
        "| finished transfers | blocks | build once (cached) | node start-to-ready (read from disk) | × N=0 | index read after it, background (read from disk) | after kill -9 | × N=0 | signer/gateway start (checkpoint decode), ids listed | × N=0 | ids in the follower's index | × N=0 | \
         BOX notarized/s | × N=0 | read from disk during the load | p50 | p99 | block seal p50 | p99 | × N=0 (p50) | raw openraft/s | BOX ÷ raw | RSS started → loaded (peak) | one snapshot (leader) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let anchor = &rows[0];
    for r in &rows {
        let b = &r.built;
        let resume = format!(
            "{:.1} ms ({:.1} MB) | {:.1}×",
            ms(r.resume),
            b.checkpoint_bytes as f64 / 1e6,
            r.resume.as_secs_f64() / anchor.resume.as_secs_f64()
        );
        let resume = format!(
            "{resume} | {:.1} ms ({:.1} MB) | {:.1}×",
            ms(r.resume_indexed.0),
            r.resume_indexed.1 as f64 / 1e6,
            r.resume_indexed.0.as_secs_f64() / anchor.resume_indexed.0.as_secs_f64()
        );
        let cluster = match (&r.cluster, &anchor.cluster) {
            (Some(x), Some(a)) => format!(
                "{:.2} s ({:.0} MB) | {:.1}× | {:.2} s ({:.0} MB) | {:.2} s | {:.1}× | {resume} | {:.0} | {:.2}× | {:.0} MB | {:.0} ms | {:.0} ms | {:.1} ms | {:.1} ms | {:.2}× | {:.0} | {:.2}× | {:.0} → {:.0} MiB ({:.0}) | {:.1} s",
                x.start.as_secs_f64(),
                x.start_read_mb,
                x.start.as_secs_f64() / a.start.as_secs_f64(),
                x.warm.as_secs_f64(),
                x.warm_read_mb,
                x.crash_start.as_secs_f64(),
                x.crash_start.as_secs_f64() / a.crash_start.as_secs_f64(),
                x.boxed.per_second,
                x.boxed.per_second / a.boxed.per_second,
                x.load_read_mb,
                ms(x.boxed.p50),
                ms(x.boxed.p99),
                ms(x.seal_p50),
                ms(x.seal_p99),
                x.seal_p50.as_secs_f64() / a.seal_p50.as_secs_f64(),
                x.raw.per_second,
                x.boxed.per_second / x.raw.per_second,
                x.rss_started,
                x.rss_loaded,
                x.rss_peak,
                x.snapshot.as_secs_f64(),
            ),
            _ => format!("— | — | — | — | — | {resume} | — | — | — | — | — | — | — | — | — | — | — | —"),
        };
        println!(
            "| {} | {} | {:.1} s ({:.2} ms a transfer) | {cluster} |",
            b.n,
            b.blocks,
            b.build_s,
            if b.n == 0 { 0.0 } else { b.build_s * 1e3 / b.n as f64 },
        );
    }
    if let Some(seals) = rows.iter().map(|r| r.cluster.as_ref().map(|c| c.seals)).collect::<Option<Vec<_>>>() {
        println!();
        println!(
            "blocks sealed during each load: {seals:?}; build = signing (worker threads) + applying through the node's state machine + verifying (HistoryVerifier, another thread), paid once per N"
        );
    }
}
