//! Requests per second and p99 latency of "approve" and "get transfer", on
//! SQLite and on PostgreSQL, over real HTTPS on loopback.
//!
//! The parent process starts a 3-node cluster, PostgreSQL and the gateway,
//! and prepares transfers under an active flow; the load generator is a
//! second process (this binary with `--loadgen`) that pre-signs every request
//! (fresh nonces, current timestamps), then fires them with a fixed
//! concurrency and reports each request's latency. Every run uses new
//! transfers; the table shows the median of the runs.
//!
//! `cargo bench -p box-gateway --bench gateway` (`BOX_BENCH_RUNS`, `BOX_BENCH_TRANSFERS`,
//! `BOX_BENCH_CONCURRENCY` change the defaults 3, 200, 16).
// A benchmark is run by hand, like a test: a failed set-up step (a port, a process, a
// file) must stop it with its cause, so it unwraps instead of carrying errors.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;

use box_api::Client;
use box_core::B256;
use box_core::ids::{ChainId, DeploymentId};
use box_core::typed::Domain;
use box_gateway::Gateway;
use box_gateway::config::GatewayConfig;
use box_testkit::{Cluster, free_port, key};
use common::*;
use serde::{Deserialize, Serialize};
use std::process::{Command, Stdio};
use std::time::Instant;

#[derive(Serialize, Deserialize)]
struct Job {
    addr: String,
    ca: String,
    chain_id: u64,
    deployment: B256,
    /// "approve" or "get".
    op: String,
    transfers: Vec<String>,
    /// Signing keys by label.
    keys: Vec<String>,
    concurrency: usize,
}

#[derive(Serialize, Deserialize)]
struct Outcome {
    requests: usize,
    errors: usize,
    seconds: f64,
    latencies_us: Vec<u64>,
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A pre-signed request: (client index, method, path, body, headers).
type Prepared = (usize, &'static str, String, Vec<u8>, Vec<(&'static str, String)>);

/// The load generator (second process): pre-sign, then fire.
async fn loadgen(job: Job) -> Outcome {
    let domain = Domain { chain_id: ChainId(job.chain_id), deployment: DeploymentId(job.deployment) };
    let clients: Vec<Client> = job
        .keys
        .iter()
        .map(|k| Client::new(&format!("https://{}", job.addr), &job.ca, key(k), domain).unwrap())
        .collect();
    let mut reqs: Vec<Prepared> = Vec::new();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let mut n = 0u64;
    let mut nonce = || {
        n += 1;
        alloy::primitives::keccak256([b"bench".as_slice(), &n.to_be_bytes(), &now.to_be_bytes()].concat())
    };
    for id in &job.transfers {
        if job.op == "approve" {
            let (_, tb, level) = clients[0].verified_transfer(&id.parse().unwrap()).await.unwrap();
            let approval = tb.approval_for(level as usize);
            for (i, k) in job.keys.iter().enumerate() {
                let sig = domain.sign(&key(k), &approval);
                let body = serde_json::to_vec(
                    &serde_json::json!({"level": level, "signature": format!("0x{}", hex::encode(sig.as_bytes()))}),
                )
                .unwrap();
                let path = format!("/v1/transfers/{id}/approvals");
                let headers = clients[i].sign_headers("POST", &path, &body, now, nonce());
                reqs.push((i, "POST", path, body, headers));
            }
        } else {
            for _ in 0..10 {
                let path = format!("/v1/transfers/{id}");
                let headers = clients[0].sign_headers("GET", &path, b"", now, nonce());
                reqs.push((0, "GET", path, Vec::new(), headers));
            }
        }
    }
    // Approvals of one transfer go in order of approver, interleaved across transfers.
    if job.op == "approve" {
        let k = job.keys.len();
        let t = job.transfers.len();
        let mut ordered = Vec::with_capacity(reqs.len());
        let mut slots: Vec<Option<_>> = reqs.into_iter().map(Some).collect();
        for a in 0..k {
            for j in 0..t {
                ordered.push(slots[j * k + a].take().unwrap());
            }
        }
        reqs = ordered;
    }
    // Warm the connection pools.
    for c in &clients {
        c.deployment().await.unwrap();
    }
    let total = reqs.len();
    let queue = std::sync::Arc::new(std::sync::Mutex::new(reqs.into_iter()));
    let clients = std::sync::Arc::new(clients);
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..job.concurrency {
        let queue = queue.clone();
        let clients = clients.clone();
        tasks.spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            loop {
                let next = queue.lock().unwrap().next();
                let Some((i, method, path, body, headers)) = next else { break };
                let t0 = Instant::now();
                let r = clients[i].send_with(method, &path, body, &headers).await;
                lat.push(t0.elapsed().as_micros() as u64);
                if !r.is_ok_and(|r| r.status == 200) {
                    errors += 1;
                }
            }
            (lat, errors)
        });
    }
    let mut latencies = Vec::with_capacity(total);
    let mut errors = 0;
    for (l, e) in tasks.join_all().await {
        latencies.extend(l);
        errors += e;
    }
    Outcome { requests: total, errors, seconds: start.elapsed().as_secs_f64(), latencies_us: latencies }
}

fn run_loadgen(job: &Job) -> Outcome {
    let out = Command::new(std::env::current_exe().unwrap())
        .arg("--loadgen")
        .env("BOX_BENCH_JOB", serde_json::to_string(job).unwrap())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "the load generator failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn p99(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[((v.len() as f64 * 0.99).ceil() as usize).saturating_sub(1).min(v.len() - 1)]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn measure(label: &str, db: Db, runs: usize, transfers: usize, concurrency: usize) -> Vec<String> {
    let cluster = Cluster::start(&box_node(), 3, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let limits = "per_key_per_minute = 100000000\nper_ip_per_minute = 100000000\nburst = 1000000";
    let cfg = write_config(&cluster, dir.path(), &db, free_port(), limits);
    let gw = Gateway::start(&GatewayConfig::load(&cfg).unwrap()).await.unwrap();
    let p = People::new();
    let flow = active_flow_with(&cluster, gw.addr, &p, flow_with(&p, 1, 3)).await;
    let employee = client(&cluster, gw.addr, &p.employee);
    let mut rows = Vec::new();
    for op in ["approve", "get"] {
        let (mut rps, mut p99s, mut errors) = (Vec::new(), Vec::new(), 0);
        for run in 0..runs {
            let mut ids = Vec::new();
            for i in 0..transfers {
                let r = request(flow, &p.employee, 1_000_000_000, &format!("{label}-{op}-{run}-{i}"));
                ids.push(employee.apply(&r).await.unwrap().id);
            }
            let job = Job {
                addr: gw.addr.to_string(),
                ca: cluster.ca.ca_pem().to_owned(),
                chain_id: cluster.domain.chain_id.0,
                deployment: cluster.domain.deployment.0,
                op: op.into(),
                transfers: ids.iter().map(ToString::to_string).collect(),
                keys: if op == "approve" {
                    (1..=3).map(|i| format!("approver-{i}")).collect()
                } else {
                    vec!["auditor".into()]
                },
                concurrency,
            };
            let o = run_loadgen(&job);
            errors += o.errors;
            rps.push(o.requests as f64 / o.seconds);
            p99s.push(p99(o.latencies_us) as f64 / 1000.0);
        }
        rows.push(format!(
            "| {label} | {} | {} | {:.0} | {:.1} | {} |",
            if op == "approve" {
                "approve (POST /v1/transfers/{id}/approvals)"
            } else {
                "get transfer (GET /v1/transfers/{id})"
            },
            runs,
            median(rps.clone()),
            median(p99s.clone()),
            errors
        ));
        eprintln!("{label} {op}: rps per run {rps:.0?}, p99 ms per run {p99s:.1?}");
    }
    gw.stop().await;
    rows
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    if std::env::args().any(|a| a == "--loadgen") {
        let job: Job = serde_json::from_str(&std::env::var("BOX_BENCH_JOB").unwrap()).unwrap();
        let out = rt.block_on(loadgen(job));
        println!("{}", serde_json::to_string(&out).unwrap());
        return;
    }
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` / nextest probing: nothing to run quickly
    }
    let runs = env("BOX_BENCH_RUNS", 3);
    let transfers = env("BOX_BENCH_TRANSFERS", 200);
    let concurrency = env("BOX_BENCH_CONCURRENCY", 16);
    box_gateway::server::install_crypto_provider();
    let rows = rt.block_on(async {
        let mut rows = measure("SQLite", Db::Sqlite, runs, transfers, concurrency).await;
        let pg = Postgres::start();
        let url = pg.database("bench").await;
        rows.extend(measure("PostgreSQL", Db::Postgres(url), runs, transfers, concurrency).await);
        rows
    });
    println!("\nbox-gateway over HTTPS on loopback; load generator in a second process, {concurrency} in flight;");
    println!(
        "{transfers} transfers per run (approve: 3 approvals each; get: 10 reads each); machine: {}\n",
        box_testkit::machine()
    );
    println!("| store | operation | runs | requests/s (median) | p99 ms (median) | errors |");
    println!("|---|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
}
