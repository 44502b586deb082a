//! The signer's two numbers (issue 4):
//!
//! 1. Verified-and-signed transfers per second on one core, next to the bare
//!    ECDSA work those checks need (the crypto-bound limit), as a ratio. A
//!    transfer of the two-level test flow needs 6 recoveries (3 node votes in
//!    the certificate, the applicant, 1 manager, 2 finance approvers; the
//!    second-level approvals are recovered once each) and 1 signature.
//! 2. Time from a notarized transfer reaching the signer to its raw
//!    transaction being accepted by the Ethereum node (p50/p99), with real
//!    `box-node` processes, `anvil` and the `box-signer` process, read from
//!    the signer's own log line for each transfer.
//!
//! `cargo bench -p box-signer --bench signer` (a few minutes). Medians of 3 runs.
// A benchmark is run by hand, like a test: a failed set-up step (a port, a process, a
// file) must stop it with its cause, so it unwraps instead of carrying errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::needless_range_loop, missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;

use box_core::crypto::{SecretKey, recover};
use box_core::decision::{Attempt, NothingRecorded, authorize};
use box_core::encoding::Canonical;
use box_core::ids::ChainId;
use box_core::ids::{Timestamp, TransferId};
use box_core::notary::FlowStatus;
use box_core::notary::{Entry, NotaryState, Subject};
use box_core::quorum::accept_vote;
use box_core::typed::{Genesis, GenesisNode, ReportStatus, Signed, SignerReport};
use box_core::{Address, B256, U256};
use box_eth::Fees;
use box_signer::locked::LockedKey;
use box_signer::tx::{Payload, sign};
use box_testkit::anvil::Anvil;
use box_testkit::{Cluster, eventually, key, machine};
use common::*;
use std::hint::black_box;
use std::time::{Duration, Instant};

const RUNS: usize = 3;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn percentile(v: &mut [u64], p: f64) -> u64 {
    v.sort_unstable();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// A verified state with an active flow and `n` notarized transfers.
fn state_with_transfers(n: usize) -> (NotaryState, Vec<TransferId>, box_core::typed::Domain) {
    let nodes: Vec<SecretKey> = (0..3).map(|i| key(&format!("bench-node-{i}"))).collect();
    let holders: Vec<SecretKey> = (0..3).map(|i| key(&format!("key-holder-{i}"))).collect();
    let genesis = Genesis {
        deploymentId: B256::repeat_byte(0xBE),
        chainId: 31337,
        keyHolders: holders.iter().map(SecretKey::address).collect(),
        nodes: nodes
            .iter()
            .zip(1u64..)
            .map(|(k, id)| GenesisNode { nodeId: id, endpoint: format!("127.0.0.1:{id}"), account: k.address() })
            .collect(),
        signer: key("signer").address(),
        assets: vec![],
        time: 1_800_000_000,
    };
    let domain = genesis.domain();
    let mut state = NotaryState::new(genesis).unwrap();
    let t = Timestamp(1_900_000_000);
    let notarize = |state: &mut NotaryState, s: Subject| {
        let id = s.id(&domain).unwrap();
        state.apply(&Entry::Submit(s.clone()), t);
        for k in &nodes {
            state.apply(&Entry::Vote(Signed::new(&domain, k, accept_vote(id, s.content()))), t);
        }
    };
    let people = People::new();
    let flow = people.flow(Address::repeat_byte(0x70));
    let fh = domain.flow_hash(&flow).0;
    notarize(&mut state, Subject::Flow(flow));
    for a in authorizations(&domain, &holders, fh) {
        notarize(&mut state, a);
    }
    let anchored = SignerReport {
        subject: fh,
        status: ReportStatus::Anchored as u8,
        txHash: B256::repeat_byte(1),
        nonce: 0,
        detail: String::new(),
    };
    notarize(&mut state, Subject::SignerReport(Signed::new(&domain, &key("signer"), anchored)));
    let mut ids = Vec::new();
    for _ in 0..n {
        let mut r = people.request(&domain, fh, Address::ZERO, Address::repeat_byte(0xA1), ether(1));
        r.timestamp = t.0;
        let tb = people.sign(&domain, r, 2);
        ids.push(tb.transfer_id(&domain));
        notarize(&mut state, Subject::Transfer(tb));
    }
    (state, ids, domain)
}

fn one_core() -> (f64, f64) {
    let n = 300;
    let (state, ids, _) = state_with_transfers(n);
    let (mut root, mut wallet) = ([7u8; 32], *key("bench-wallet").expose_bytes());
    let locked = LockedKey::new(&mut root, &mut wallet).unwrap();
    let fees = Fees { max_fee_per_gas: 2_000_000_000, priority_fee_per_gas: 1_000_000_000 };
    let now = Timestamp(1_900_000_000);
    let full = || {
        let t0 = Instant::now();
        for (i, tid) in ids.iter().enumerate() {
            let a = authorize(&state, tid, ChainId(31337), &NothingRecorded, Attempt::First, now).unwrap();
            black_box(sign(&locked, i as u64, 21_000, fees, &Payload::Transfer(Box::new(a))).unwrap());
        }
        n as f64 / t0.elapsed().as_secs_f64()
    };
    // The bare crypto: 6 recoveries and 1 signature per transfer.
    let k = key("bench-bare");
    let digest = B256::repeat_byte(3);
    let sig = k.sign_hash(&digest);
    let bare = || {
        let t0 = Instant::now();
        for _ in 0..n {
            for _ in 0..6 {
                black_box(recover(black_box(&digest), &sig).unwrap());
            }
            black_box(k.sign_hash(black_box(&digest)));
        }
        n as f64 / t0.elapsed().as_secs_f64()
    };
    full();
    let f = median((0..RUNS).map(|_| full()).collect());
    let b = median((0..RUNS).map(|_| bare()).collect());
    (f, b)
}

async fn flow_status(c: &Cluster, flow: B256, want: FlowStatus) {
    eventually(&format!("the flow {want:?}"), Duration::from_secs(90), || async {
        let blocks = c.blocks(c.wait_leader().await).await;
        let state = box_core::audit::verify_history(&c.genesis, &blocks).ok()?.state;
        state.flow(&box_core::ids::FlowHash(flow)).filter(|f| f.status == want).map(|_| ())
    })
    .await;
}

async fn latency_run(transfers: usize) -> Vec<u64> {
    let anvil = Anvil::start().await;
    let c = Cluster::start(&box_node_bin(), 3, 0).await;
    let mut s = SignerProc::for_cluster(&c, "signer", &anvil.endpoint(), anvil.chain_id());
    s.spawn(&[], &[]);
    let holders = Holders::new(c.domain, c.key_holders.clone(), &c.client_tls, &cluster_nodes(&c)[0]);
    let wallet = holders.genesis(&s.enrolment_code().await).await;
    anvil.fund(wallet, ether(100)).await;
    let people = People::new();
    let flow = people.flow(Address::repeat_byte(0x70));
    let fh = c.domain.flow_hash(&flow).0;
    c.submit(&Subject::Flow(flow).encode()).await;
    flow_status(&c, fh, FlowStatus::Notarized).await;
    for a in authorizations(&c.domain, &c.key_holders, fh) {
        c.submit(&a.encode()).await;
    }
    flow_status(&c, fh, FlowStatus::Active).await;
    // Spaced submissions: the latency of one transfer, not of a queue.
    for _ in 0..transfers {
        let tb =
            people.transfer(&c.domain, fh, Address::ZERO, Address::repeat_byte(0xA1), ether(1) / U256::from(100), 2);
        c.submit(&Subject::Transfer(tb).encode()).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    eventually("every transfer broadcast", Duration::from_secs(120), || async {
        (s.output().matches("notarized to broadcast").count() >= transfers).then_some(())
    })
    .await;
    s.output()
        .lines()
        .filter(|l| l.contains("notarized to broadcast"))
        .filter_map(|l| l.split("micros=").nth(1)?.split_whitespace().next()?.parse().ok())
        .collect()
}

fn main() {
    println!("machine: {}", machine());
    let (full, bare) = one_core();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut p50s = Vec::new();
    let mut p99s = Vec::new();
    for _ in 0..RUNS {
        let mut micros = rt.block_on(latency_run(50));
        p50s.push(percentile(&mut micros, 0.50) as f64 / 1000.0);
        p99s.push(percentile(&mut micros, 0.99) as f64 / 1000.0);
    }
    println!();
    println!("| measure (median of {RUNS} runs) | value |");
    println!("|---|---|");
    println!("| verified and signed transfers per second, one core | {full:.0} |");
    println!("| bare ECDSA (6 recoveries + 1 signature) per second | {bare:.0} |");
    println!("| ratio to the crypto-bound limit | {:.2} |", full / bare);
    println!("| notarized → broadcast p50 | {:.1} ms |", median(p50s));
    println!("| notarized → broadcast p99 | {:.1} ms |", median(p99s));
}
