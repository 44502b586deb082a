//! Heap held per finished transfer, live and retired (issue 13 item 2): a
//! genesis and an active flow, then N complete transfers (transbox,
//! votes, broadcast and confirmed reports) applied through the notary's
//! public API, with a counting global allocator. First while every transfer
//! is still within its flow's period (live: rows, payloads, votes, trie), then
//! after log time passed every deadline (retired: only the ids and the fold).
//!
//! `cargo bench -p box-core --bench memory` (N = 2,000; `BOX_BENCH_TRANSFERS`
//! changes it). Allocation sizes do not depend on the optimisation level, so
//! `--profile dev` prints the same bytes. A benchmark is run by hand: it
//! unwraps on a failed set-up step.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use box_core::U256;
use box_core::ids::{ContentHash, SubjectId, Timestamp};
use box_core::notary::{Entry, NotaryState, SubjectStatus, TransferStatus};
use box_core::typed::ReportStatus;
use box_core::{B256, notary::Subject};
use common::{Fixture, T0};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Bytes allocated and not yet freed by the whole process.
fn heap() -> i64 {
    let s = GLOBAL.stats();
    s.bytes_allocated as i64 - s.bytes_deallocated as i64
}

/// Submits `subject` and has each node vote its verdict until it is decided.
fn decide(f: &Fixture, s: &mut NotaryState, subject: Subject, at: Timestamp) {
    let id = subject.id(&f.domain).unwrap();
    s.apply(&Entry::Submit(subject), at);
    for n in 0..f.nodes.len() {
        let Some(rec) = s.subject(&id).filter(|r| r.status == SubjectStatus::Pending) else { break };
        let content = rec.content;
        let vote = match s.verdict(&id, at) {
            Ok(c) => f.vote(n, id, c, true, ""),
            Err(r) => f.vote(n, id, content, false, &r.to_string()),
        };
        s.apply(&vote, at);
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    format!("{cpu}, {cores} cores, {} ({}), load {load}", std::env::consts::OS, std::env::consts::ARCH)
}

fn main() {
    let n: u64 = std::env::var("BOX_BENCH_TRANSFERS").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000);
    let f = Fixture::new(1, 2, 1, 3);
    let mut s = f.state();
    f.activate_flow(&mut s);
    // Let the flow's own subjects retire first, so the baseline holds only
    // what every later state holds too.
    let start = T0.0 + 2 * 86_400;
    let tick = |f: &Fixture, s: &mut NotaryState, at: u64| {
        s.apply(&f.vote(0, SubjectId(B256::repeat_byte(0xEE)), ContentHash(B256::ZERO), true, ""), Timestamp(at));
    };
    tick(&f, &mut s, start);
    let retired_before = s.retired_chain().0;
    let base = heap();
    let base_snapshot = s.snapshot().len();
    for i in 0..n {
        let at = Timestamp(start + 1 + i);
        let mut request = f.request(U256::from(1u64), 1);
        request.requestId = B256::from(U256::from(i));
        request.maxFee = U256::from(1u64);
        let tb = f.transbox(request);
        let tid = tb.transfer_id(&f.domain);
        let tx = B256::from(U256::from(i + 1));
        decide(&f, &mut s, Subject::Transfer(tb), at);
        decide(&f, &mut s, f.report(tid.0, ReportStatus::Broadcast, tx, i), at);
        decide(&f, &mut s, f.report(tid.0, ReportStatus::Confirmed, tx, i), at);
        assert_eq!(s.transfer(&tid).unwrap().status, TransferStatus::Confirmed { tx_hash: tx });
    }
    let live = heap();
    let live_snapshot = s.snapshot().len();
    assert_eq!(s.transfers().count() as u64, n);
    // Log time passes every deadline (a day after submission: the flow's period).
    tick(&f, &mut s, start + n + 2 * 86_400);
    let retired = heap();
    assert_eq!((s.transfers().count(), s.retired_chain().0), (0, retired_before + n));
    assert_eq!(s.state_root(), s.recomputed_state_root());
    let per = |bytes: i64| bytes as f64 / n as f64;
    println!("machine: {}", machine());
    println!("transfers: {n} complete (transbox, 2 of 3 votes each, broadcast and confirmed reports)");
    println!("| state | heap above the baseline | per transfer | snapshot |");
    println!("|---|---|---|---|");
    println!("| baseline (genesis, active flow) | 0 | | {base_snapshot} B |");
    println!("| {n} finished, live | {} B | {:.0} B | {live_snapshot} B |", live - base, per(live - base));
    println!(
        "| {n} finished, retired | {} B | {:.0} B | {} B |",
        retired - base,
        per(retired - base),
        s.snapshot().len()
    );
}
