//! What a history of N finished transfers costs a follower (issue 13):
//! verifying one more block, replaying the history from the genesis
//! (`audit::HistoryVerifier`, what the signer and the gateway did at every
//! start), and starting from a persisted verified state instead
//! (box-core's `checkpoint`, what they do now).
//!
//! The history is built directly (no cluster): a genesis with 3 node
//! accounts, a flow activated by its key holders and anchored, then N
//! transfers, each submitted as a TransBox (2 levels of 1-of-2 approvals),
//! notarized by votes the nodes' own `verdict` gives, broadcast and
//! confirmed by signed signer reports, one transfer per block, every block
//! sealed by a node account: signed and valid, as the verifier checks.
//! Then `PROBE` more one-transfer blocks, whose verification is the
//! per-block cost at the tip of N.
//!
//! Each N is compared with N = 0, measured in the same run.
//!
//! `cargo bench -p box-chain --bench history` (BOX_BENCH_HISTORY_N, a comma
//! list, default `0,1000,10000`).
// A benchmark is run by hand, like a test: a failed set-up step (a port, a process, a
// file) must stop it with its cause, so it unwraps instead of carrying errors.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use box_core::audit::HistoryVerifier;
use box_core::block::{Block, LoggedEntry};
use box_core::checkpoint;
use box_core::crypto::SecretKey;
use box_core::ids::{ChainId, DeploymentId, SubjectId, Timestamp};
use box_core::notary::{Entry, NotaryState, Subject, SubjectStatus};
use box_core::transbox::TransBox;
use box_core::typed::{
    ApprovalLevel, AssetLimit, BoxFlow, Domain, FlowAuthorization, Genesis, GenesisNode, NodeVote, ReportStatus,
    Signed, SignerReport, TransferRequest,
};
use box_core::{Address, B256, U256};
use box_testkit::machine;
use std::io::Write;
use std::time::{Duration, Instant};

/// One-transfer blocks verified at the tip of each history.
const PROBE: usize = 50;
/// Times each start (resume) is measured.
const STARTS: usize = 5;
const T0: u64 = 1_800_000_000;

struct World {
    domain: Domain,
    genesis: Genesis,
    key_holders: Vec<SecretKey>,
    nodes: Vec<SecretKey>,
    signer: SecretKey,
    employee: SecretKey,
    approvers: Vec<SecretKey>,
    flow: BoxFlow,
}

impl World {
    fn new() -> Self {
        let deployment = DeploymentId(B256::repeat_byte(0xB0));
        let domain = Domain { chain_id: ChainId(31337), deployment };
        let key = |l: String| SecretKey::from_label_unchecked(&l);
        let key_holders: Vec<_> = (0..3).map(|i| key(format!("key-holder-{i}"))).collect();
        let nodes: Vec<_> = (0..3).map(|i| key(format!("node-{i}"))).collect();
        let employee = key("employee".into());
        let approvers: Vec<_> = (0..4).map(|i| key(format!("approver-{i}"))).collect();
        let flow = BoxFlow {
            name: "Payments".into(),
            employees: vec![employee.address()],
            levels: (0..2)
                .map(|l| ApprovalLevel {
                    name: format!("Level {l}"),
                    approvers: approvers[2 * l..2 * l + 2].iter().map(SecretKey::address).collect(),
                    threshold: 1,
                })
                .collect(),
            limits: vec![AssetLimit {
                asset: Address::ZERO,
                perTransfer: U256::from(1_000u64),
                perPeriod: U256::MAX >> 1,
                periodSeconds: 86_400,
                maxFee: U256::from(10u64).pow(U256::from(16u64)),
            }],
            addressBookOnly: false,
            nonce: 1,
        };
        let genesis = Genesis {
            deploymentId: deployment.0,
            chainId: 31337,
            keyHolders: key_holders.iter().map(SecretKey::address).collect(),
            nodes: nodes
                .iter()
                .enumerate()
                .map(|(i, k)| GenesisNode {
                    nodeId: i as u64 + 1,
                    endpoint: format!("127.0.0.1:{}", 7000 + i),
                    account: k.address(),
                })
                .collect(),
            signer: key("signer".into()).address(),
            assets: vec![],
            time: T0,
        };
        let signer = key("signer".into());
        Self { domain, genesis, key_holders, nodes, signer, employee, approvers, flow }
    }

    fn report(&self, subject: B256, status: ReportStatus, tx: B256) -> Subject {
        let r = SignerReport { subject, status: status as u8, txHash: tx, nonce: 0, detail: String::new() };
        Subject::SignerReport(Signed::new(&self.domain, &self.signer, r))
    }

    fn transfer(&self, i: u64, at: u64) -> Subject {
        let request = TransferRequest {
            requestId: B256::from(U256::from(i)),
            flowHash: self.domain.flow_hash(&self.flow).0,
            applicant: self.employee.address(),
            asset: Address::ZERO,
            to: Address::repeat_byte(0xD5),
            amount: U256::from(1u64),
            maxFee: U256::from(10u64).pow(U256::from(15u64)),
            chainId: 31337,
            timestamp: at,
        };
        let mut tb = TransBox::apply(&self.domain, request, &self.employee);
        tb.approve(&self.domain, 1, &self.approvers[0]);
        tb.approve(&self.domain, 2, &self.approvers[2]);
        Subject::Transfer(tb)
    }
}

/// Builds blocks the way a leader does: entries applied, then sealed.
struct Builder<'w> {
    w: &'w World,
    state: NotaryState,
    pending: Vec<LoggedEntry>,
    blocks: Vec<Block>,
    index: u64,
    parent: B256,
}

impl<'w> Builder<'w> {
    fn new(w: &'w World) -> Self {
        let state = NotaryState::new(w.genesis.clone()).unwrap();
        Self { w, state, pending: Vec::new(), blocks: Vec::new(), index: 0, parent: B256::ZERO }
    }

    fn log(&mut self, entry: Entry, at: u64) {
        self.index += 1;
        self.state.apply(&entry, Timestamp(at));
        self.pending.push(LoggedEntry { index: self.index, time: at, entry });
    }

    /// Submits `subject`; the nodes vote their verdict until it is decided.
    fn decide(&mut self, subject: Subject, at: u64) {
        let id: SubjectId = subject.id(&self.w.domain).unwrap();
        self.log(Entry::Submit(subject), at);
        let content = self.state.verdict(&id, Timestamp(at)).expect("a valid history");
        for node in &self.w.nodes {
            if self.state.subject(&id).unwrap().status != SubjectStatus::Pending {
                break;
            }
            let v = NodeVote { subject: id.0, contentHash: content.0, accept: true, reason: String::new() };
            self.log(Entry::Vote(Signed::new(&self.w.domain, node, v)), at);
        }
        assert!(matches!(self.state.subject(&id).unwrap().status, SubjectStatus::Notarized { .. }));
    }

    fn seal(&mut self, at: u64) {
        let height = self.blocks.len() as u64 + 1;
        let leader = &self.w.nodes[height as usize % self.w.nodes.len()];
        let entries = std::mem::take(&mut self.pending);
        let b = Block::seal(&self.w.domain, leader, height, self.parent, entries, self.state.state_root().0, at);
        self.parent = b.hash(&self.w.domain);
        self.blocks.push(b);
    }

    /// One finished transfer (notarized, broadcast, confirmed) in its own block.
    fn finished_transfer(&mut self, i: u64) {
        // 96 a day: a period limit counts at most a day of them.
        let at = T0 + 900 + i * 900;
        let tb = self.w.transfer(i, at);
        let Subject::Transfer(t) = &tb else { unreachable!() };
        let tid = t.transfer_id(&self.w.domain);
        self.decide(tb, at);
        let tx = B256::from(U256::from(i + 1));
        self.decide(self.w.report(tid.0, ReportStatus::Broadcast, tx), at);
        self.decide(self.w.report(tid.0, ReportStatus::Confirmed, tx), at);
        self.seal(at);
    }
}

/// The setup blocks, N transfer blocks, then `PROBE` probe blocks.
fn history(w: &World, n: u64) -> (Vec<Block>, usize) {
    let mut b = Builder::new(w);
    b.decide(Subject::Flow(w.flow.clone()), T0);
    for k in &w.key_holders {
        let a = FlowAuthorization { flowHash: w.domain.flow_hash(&w.flow).0, enable: true };
        b.decide(Subject::FlowAuthorization(Signed::new(&w.domain, k, a)), T0);
    }
    b.decide(w.report(w.domain.flow_hash(&w.flow).0, ReportStatus::Anchored, B256::repeat_byte(0xA1)), T0);
    b.seal(T0);
    for i in 0..n + PROBE as u64 {
        b.finished_transfer(i);
    }
    let tip = b.blocks.len() - PROBE;
    (b.blocks, tip)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Row {
    n: u64,
    blocks: usize,
    build: Duration,
    replay: Duration,
    per_block: Duration,
    state_copy: Duration,
    checkpoint_bytes: usize,
    persist: Duration,
    resume: Duration,
}

fn measure(w: &World, n: u64, dir: &std::path::Path) -> (Row, HistoryVerifier, Vec<Block>) {
    let started = Instant::now();
    let (blocks, tip) = history(w, n);
    let build = started.elapsed();

    // Replay from the genesis to the tip of N: what every start cost before.
    let started = Instant::now();
    let mut v = HistoryVerifier::new(&w.genesis).unwrap();
    for b in &blocks[..tip] {
        v.push(b).unwrap();
    }
    let replay = started.elapsed();

    // The whole state copied once: what each block cost on top of its own
    // work before blocks were applied in place.
    let state_copy = median(
        (0..3)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(v.state().clone());
                t.elapsed()
            })
            .collect(),
    );

    // Persisting the verified state at the tip (encode, write, fsync).
    let path = dir.join(format!("checkpoint-{n}.json"));
    let t = Instant::now();
    let header = blocks[tip - 1].sealed_header();
    let bytes = checkpoint::encode(&v, Some(&header));
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(&bytes).unwrap();
    f.sync_all().unwrap();
    let persist = t.elapsed();

    // Start-to-ready by resuming: read the persisted state and take it back
    // (every check of `checkpoint::decode`).
    let resume = median(
        (0..STARTS)
            .map(|_| {
                let t = Instant::now();
                let bytes = std::fs::read(&path).unwrap();
                let c = checkpoint::decode(&w.genesis, &bytes).unwrap();
                assert_eq!(c.verifier.height(), v.height());
                t.elapsed()
            })
            .collect(),
    );

    let _ = std::fs::remove_file(&path);
    let probes = blocks[tip..].to_vec();
    let row = Row {
        n,
        blocks: tip,
        build,
        replay,
        per_block: Duration::ZERO,
        state_copy,
        checkpoint_bytes: bytes.len(),
        persist,
        resume,
    };
    (row, v, probes)
}

/// Verifying one more block at the tip of each N, the Ns taking turns
/// block by block, so that a change in the machine's load falls on all of
/// them alike.
fn per_block(tips: &mut [(HistoryVerifier, Vec<Block>)]) -> Vec<Duration> {
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); tips.len()];
    for i in 0..PROBE {
        for (k, (v, probes)) in tips.iter_mut().enumerate() {
            let t = Instant::now();
            v.push(&probes[i]).unwrap();
            times[k].push(t.elapsed());
        }
    }
    times.into_iter().map(median).collect()
}

fn main() {
    let ns: Vec<u64> = std::env::var("BOX_BENCH_HISTORY_N")
        .unwrap_or_else(|_| "0,1000,10000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("BOX_BENCH_HISTORY_N: a comma list of numbers"))
        .collect();
    let load = |when: &str| {
        let l = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        format!("load average {when}: {}", l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
    };
    println!("machine: {}; {}", machine(), load("at start"));
    let dir = tempfile::tempdir().unwrap();
    let w = World::new();
    let mut rows: Vec<Row> = Vec::new();
    let mut tips = Vec::new();
    for &n in std::iter::once(&0).chain(ns.iter().filter(|&&n| n != 0)) {
        let (row, v, probes) = measure(&w, n, dir.path());
        eprintln!(
            "N = {n}: built {} blocks in {:.1} s, replayed in {:.1} s",
            row.blocks,
            row.build.as_secs_f64(),
            row.replay.as_secs_f64()
        );
        rows.push(row);
        tips.push((v, probes));
    }
    for (row, t) in rows.iter_mut().zip(per_block(&mut tips)) {
        row.per_block = t;
    }
    let anchor = &rows[0];
    println!("{}", load("at end"));
    println!(
        "one-transfer blocks (submission, 2 votes, broadcast and confirmed reports, 2 votes each); \
         verify = median of {PROBE} blocks at the tip, the Ns taking turns; resume = median of {STARTS}; replay: one run"
    );
    println!(
        "| finished transfers | blocks | verify one block at the tip | × N=0 | full state copy (per block before) | \
         replay from genesis (start before) | × N=0 | persist verified state | size | resume (start now) | × N=0 | replay ÷ resume |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {:.2} ms | {:.2}× | {:.2} ms | {:.2} s | {:.1}× | {:.1} ms | {:.1} MB | {:.1} ms | {:.1}× | {:.0}× |",
            r.n,
            r.blocks,
            ms(r.per_block),
            r.per_block.as_secs_f64() / anchor.per_block.as_secs_f64(),
            ms(r.state_copy),
            r.replay.as_secs_f64(),
            r.replay.as_secs_f64() / anchor.replay.as_secs_f64(),
            ms(r.persist),
            r.checkpoint_bytes as f64 / 1e6,
            ms(r.resume),
            r.resume.as_secs_f64() / anchor.resume.as_secs_f64(),
            r.replay.as_secs_f64() / r.resume.as_secs_f64(),
        );
    }
}
