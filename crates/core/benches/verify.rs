//! How many verifications per second one core does, next to the ECDSA
//! recovery that bounds them: a transbox of 3 levels of 2-of-3 (7 recoveries:
//! the applicant and 3 × 2 approvers), a 5-node quorum certificate (5
//! recoveries), one bare recovery, one signature checked against a known
//! signer's key (a vote after the first of a companion's batch), and one signature (what a node pays for each
//! vote and block seal it makes).
//!
//! `cargo bench -p box-core --bench verify` (about a minute).
// A benchmark is run by hand, like a test: a failed set-up step (a port, a process, a
// file) must stop it with its cause, so it unwraps instead of carrying errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use box_core::crypto::{SecretKey, recover, recover_with};
use box_core::flow::{ActiveFlow, verify_flow};
use box_core::notary::Subject;
use box_core::quorum::{NodeRegistry, QuorumCertificate, accept_vote, verify_certificate};
use box_core::transbox::{Policy, TransferContext, verify_transbox};
use box_core::{Address, B256};
use common::{Fixture, T0, eth};
use criterion::{Criterion, Throughput};
use std::collections::BTreeSet;
use std::hint::black_box;
use std::time::Duration;

/// CPU model, core count and OS, printed before the table.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or_else(|_| "?".to_owned(), |n| n.to_string());
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=")).map(|v| v.trim_matches('"').to_owned()))
        .unwrap_or_else(|| std::env::consts::OS.to_owned());
    format!("machine: {cpu}, {cores} cores available, {os} ({})", std::env::consts::ARCH)
}

fn bench_transbox(c: &mut Criterion) {
    let f = Fixture::new(3, 3, 2, 3);
    let tb = f.transbox(f.request(eth(1), 1));
    let flow =
        ActiveFlow::assume_active_unchecked(verify_flow(&f.domain, &f.flow).expect("fixture flow is well-formed"));
    let state = f.state();
    let (frozen, blocked) = (BTreeSet::new(), BTreeSet::new());
    let ctx = TransferContext {
        domain: &f.domain,
        flow: &flow,
        policy: Policy {
            assets: state.assets(),
            frozen: &frozen,
            blocked: &blocked,
            paused: None,
            hot_wallet: None,
            address_book: &box_core::address_book::AddressBook::default(),
        },
        now: T0,
        history: &[],
        eth_history: &[],
    };
    let verified = verify_transbox(&tb, &ctx).expect("fixture transbox verifies");
    assert_eq!(verified.approvers().iter().map(Vec::len).sum::<usize>(), 6);

    let mut g = c.benchmark_group("verify_transbox");
    g.throughput(Throughput::Elements(1));
    g.bench_function("3 levels of 2-of-3 (7 recoveries)", |b| {
        b.iter(|| verify_transbox(black_box(&tb), black_box(&ctx)).expect("verifies"))
    });
    g.finish();
}

fn bench_certificate(c: &mut Criterion) {
    let f = Fixture::new(1, 1, 1, 5);
    let registry = NodeRegistry::new(f.nodes.iter().map(SecretKey::address)).expect("5 distinct accounts");
    let subject = Subject::Transfer(f.transbox(f.request(eth(1), 1)));
    let (id, content) = (subject.id(&f.domain).expect("subject id"), subject.content());
    let vote = accept_vote(id, content);
    let mut voters: Vec<&SecretKey> = f.nodes.iter().collect();
    voters.sort_by_key(|k| k.address());
    let cert =
        QuorumCertificate { subject: id, content, votes: voters.iter().map(|k| f.domain.sign(k, &vote)).collect() };
    let verified = verify_certificate(&f.domain, &registry, &cert).expect("fixture certificate verifies");
    assert_eq!(verified.voters().len(), 5);

    let mut g = c.benchmark_group("verify_certificate");
    g.throughput(Throughput::Elements(1));
    g.bench_function("5 of 5 nodes (5 recoveries)", |b| {
        b.iter(|| verify_certificate(black_box(&f.domain), black_box(&registry), black_box(&cert)).expect("verifies"))
    });
    g.finish();
}

fn bench_recover(c: &mut Criterion) {
    let key = SecretKey::from_label_unchecked("bench");
    let digest = B256::repeat_byte(0x42);
    let sig = key.sign_hash(&digest);
    assert_eq!(recover(&digest, &sig).expect("recovers"), key.address());

    let mut g = c.benchmark_group("crypto");
    g.throughput(Throughput::Elements(1));
    g.bench_function("recover (1 ECDSA public-key recovery)", |b| {
        b.iter(|| -> Address { recover(black_box(&digest), black_box(&sig)).expect("recovers") })
    });
    // The next vote of a batch whose signer the batch's first vote gave:
    // checked against that key instead of recovered.
    let mut known = None;
    recover_with(&B256::repeat_byte(0x41), &key.sign_hash(&B256::repeat_byte(0x41)), &mut known).expect("recovers");
    g.bench_function("recover_with a known signer (1 verification)", |b| {
        b.iter(|| -> Address { recover_with(black_box(&digest), black_box(&sig), &mut known).expect("recovers") })
    });
    // What a node pays for each vote and block seal it signs (RFC 6979 nonce, then k·G).
    g.bench_function("sign (1 ECDSA signature)", |b| b.iter(|| key.sign_hash(black_box(&digest))));
    g.finish();
}

fn main() {
    println!("{}", machine());
    let mut c = Criterion::default()
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(2))
        .sample_size(30)
        .configure_from_args();
    bench_transbox(&mut c);
    bench_certificate(&mut c);
    bench_recover(&mut c);
    c.final_summary();
}
