//! What an applicant waits for on a `boxctl dev up` deployment at light load:
//! from the last approval's HTTP response to the public transaction being on
//! anvil (issue 13, "Benchmark"). Not a test: it asserts nothing about time.
//!
//! It brings a fresh development deployment up in a temporary directory
//! (anvil, three box-node, box-gateway, box-signer, all real processes, from
//! `BOX_BIN_DIR` or the target directory this bench was built in), makes the
//! demo's two-level flow (Manager 1 of 2, then Finance 2 of 2) and runs
//! `BOX_BENCH_TRANSFERS` (default 20) transfers of 0.001 ETH one at a time:
//! apply, approve (manager-1, finance-1, finance-2), each waited for until
//! confirmed before the next starts.
//!
//! The clock starts when finance-2's approval returns (its HTTP response) and
//! stops when the hot wallet's pending nonce on anvil moves: anvil took the
//! signed transaction. The pending nonce is read, not the transaction hash,
//! because the hash is known to nobody but the signer until its broadcast
//! report is notarized (the stage this latency must not include); nothing
//! else spends from the hot wallet, so the nonce moves exactly once per
//! transfer. Polled every 2 ms (the resolution of the numbers).
//!
//! Stage breakdown: the signer logs `notarized to broadcast micros=…` (from
//! the verified block carrying the notarization to anvil's answer); the rest
//! (submit, votes, sealing, the block reaching the signer) is the difference.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed set-up step stops the run with its cause

use box_api::{FlowState, Role, TransferState};
use box_cli::dev::up::bring_up;
use box_cli::dev::{DevArgs, Programs, Stack};
use box_core::Address;
use box_core::U256;
use box_core::typed::{ApprovalLevel, AssetLimit, BoxFlow};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn eth(milli: u64) -> U256 {
    U256::from(milli) * U256::from(10u64).pow(U256::from(15u64))
}

/// The directory of box-node, box-gateway, box-signer: `BOX_BIN_DIR`, else
/// the profile directory this bench runs from (`target/<profile>/deps/..`).
fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("BOX_BIN_DIR") {
        return PathBuf::from(d);
    }
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(|d| d.parent()).unwrap().to_path_buf()
}

/// Waits until `f` gives `Ok(Some)`, polling every `every`; an error (or
/// `within` passing) ends the run, which then stops the deployment.
async fn until<T, F, Fut>(what: &str, within: Duration, every: Duration, mut f: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, String>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f().await? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}"));
        }
        tokio::time::sleep(every).await;
    }
}

/// The signer's `notarized to broadcast` figures (µs), in log order.
fn signer_segments(s: &Stack) -> Vec<u64> {
    let log = std::fs::read_to_string(s.log("signer")).unwrap_or_default();
    log.lines()
        .filter(|l| l.contains("notarized to broadcast"))
        .filter_map(|l| l.split("micros=").nth(1)?.split_whitespace().next()?.parse().ok())
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(name: &str, mut ms: Vec<f64>) -> String {
    if ms.is_empty() {
        return format!("| {name} | – | – | – | – |");
    }
    ms.sort_by(f64::total_cmp);
    format!(
        "| {name} | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} ms |",
        percentile(&ms, 0.5),
        percentile(&ms, 0.99),
        ms[ms.len() - 1],
        ms[0]
    )
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("BOX_BENCH_TRANSFERS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("box-dev");
    let args = DevArgs { dir, programs: Programs { bin_dir: Some(bin_dir()), anvil: None }, json: true };
    let mut s = bring_up(&args).await.unwrap();
    let result = run(&s, n).await;
    s.stop_started().await;
    if std::env::var_os("BOX_BENCH_KEEP").is_some() {
        println!("deployment directory kept (logs): {}", tmp.keep().display());
    }
    result.unwrap();
}

async fn run(s: &Stack, n: usize) -> Result<(), String> {
    let wallet = s.state.wallet.ok_or("the deployment has no wallet")?;
    let eth_rpc = box_eth::Eth::connect(&s.anvil_url()).map_err(|e| e.to_string())?;
    let admin = s.client("admin").map_err(|e| e.to_string())?;
    for who in ["manager-1", "manager-2", "finance-1", "finance-2"] {
        admin.register(s.key(who).unwrap().address(), who, &[Role::Approver]).await.map_err(|e| e.to_string())?;
    }
    let profile = s.profile().unwrap();
    let admin_session = s.session("admin").unwrap();
    let issued = box_cli::admin::issue_key(&admin_session, "Bench Employee", &[Role::Employee])
        .await
        .map_err(|e| e.to_string())?;
    let keystore = s.dir.join("identities").join("bench-employee.json");
    let employee_key = box_cli::employee::fetch_key(&profile, issued.address, &issued.password, &keystore)
        .await
        .map_err(|e| e.to_string())?;
    let employee_session = box_cli::Session::new(profile, employee_key.clone()).map_err(|e| e.to_string())?;
    let employee = s.client_with(employee_key).unwrap();

    let addr = |who: &str| s.key(who).unwrap().address();
    let flow = BoxFlow {
        name: "latency bench".into(),
        employees: vec![employee.address()],
        levels: vec![
            ApprovalLevel {
                name: "Manager".into(),
                approvers: vec![addr("manager-1"), addr("manager-2")],
                threshold: 1,
            },
            ApprovalLevel {
                name: "Finance".into(),
                approvers: vec![addr("finance-1"), addr("finance-2")],
                threshold: 2,
            },
        ],
        limits: vec![AssetLimit {
            asset: Address::ZERO,
            perTransfer: eth(1000),
            perPeriod: eth(1_000_000),
            periodSeconds: 86_400,
            maxFee: eth(100),
        }],
        nonce: 7,
        addressBookOnly: false,
    };
    let hash = admin.create_flow(&flow).await.map_err(|e| e.to_string())?.hash;
    admin.submit_flow(hash).await.map_err(|e| e.to_string())?;
    let status = |want: FlowState| {
        let admin = &admin;
        async move {
            until("the flow", Duration::from_secs(120), Duration::from_millis(100), || async {
                Ok(admin.flow(hash).await.ok().filter(|f| f.status == want).map(|_| ()))
            })
            .await
        }
    };
    status(FlowState::Notarized).await?;
    for holder in box_cli::dev::stack::KEY_HOLDERS {
        box_cli::keyholder::authorize(&s.session(holder).unwrap(), hash, true).await.map_err(|e| e.to_string())?;
    }
    status(FlowState::Active).await?;

    let mut totals = Vec::new();
    let mut signer = Vec::new();
    for i in 0..n {
        // Plain accounts (not the precompiles at 0x01…0x0a).
        let to = Address::from_word(alloy::primitives::keccak256(format!("latency bench recipient {i}")));
        let apply = box_cli::employee::ApplyArgs {
            asset: "ETH".into(),
            to: to.to_checksum(None),
            amount: box_core::amount::Decimal::parse("0.001").unwrap(),
            flow: Some(hash),
            max_fee: box_core::amount::Decimal::parse(box_cli::employee::DEFAULT_MAX_FEE).unwrap(),
        };
        let t = box_cli::employee::apply(&employee_session, &apply).await.map_err(|e| e.to_string())?;
        for who in ["manager-1", "finance-1"] {
            box_cli::approver::approve(&s.session(who).unwrap(), &t.id).await.map_err(|e| e.to_string())?;
        }
        let nonce = eth_rpc.pending_nonce(wallet).await.map_err(|e| e.to_string())?;
        let segments = signer_segments(s).len();
        let last = s.client("finance-2").unwrap();
        last.approve(&t.id).await.map_err(|e| e.to_string())?;
        let start = Instant::now();
        until("the public transaction", Duration::from_secs(60), Duration::from_millis(2), || async {
            Ok(eth_rpc.pending_nonce(wallet).await.ok().filter(|n| *n > nonce).map(|_| ()))
        })
        .await?;
        let took = start.elapsed();
        totals.push(took.as_secs_f64() * 1000.0);
        until("the transfer to be confirmed", Duration::from_secs(120), Duration::from_millis(100), || async {
            let Ok(t) = employee.transfer(&t.id).await else { return Ok(None) };
            let st = t.status.state;
            if st.is_final() && st != TransferState::Confirmed {
                return Err(format!("transfer {} ended {st}: {}", t.id, t.status.reason.unwrap_or_default()));
            }
            Ok((st == TransferState::Confirmed).then_some(()))
        })
        .await?;
        let seg = signer_segments(s);
        if seg.len() > segments {
            signer.push(seg[seg.len() - 1] as f64 / 1000.0);
        }
        println!("transfer {:>2}: last approval → on anvil {:>6.1} ms", i + 1, took.as_secs_f64() * 1000.0);
    }
    let chain: Vec<f64> = if signer.len() == totals.len() {
        totals.iter().zip(&signer).map(|(t, s)| t - s).collect()
    } else {
        Vec::new()
    };
    println!();
    println!("machine: {}", box_testkit::machine());
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average: {}", load.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    }
    println!("{n} transfers, one at a time, binaries from {}", bin_dir().display());
    println!("| stage | p50 | p99 | max | min |");
    println!("|---|---|---|---|---|");
    println!("{}", summary("last approval → on anvil (pending nonce moved)", totals));
    println!("{}", summary("… of which: to the notarizing block verified at the signer", chain));
    println!("{}", summary("… of which: signer, verified block → broadcast accepted", signer));
    Ok(())
}
