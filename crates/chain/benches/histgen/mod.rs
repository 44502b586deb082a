//! Building a signed, valid history of N finished transfers straight into a
//! node's stores, once per N: the history benchmark's set-up.
//!
//! A genesis with the 3 node accounts of a [`Cluster`] on fixed ports, a flow
//! activated by its key holders and anchored, then N transfers, each
//! submitted as a TransBox (2 levels of 1-of-2 approvals), notarized by two
//! node votes, broadcast and confirmed by signed signer reports; `per_block`
//! transfers to a block (what a loaded desk produces), every block sealed by
//! a node account.
//!
//! Every signature of a block is made ahead of its application by worker
//! threads (the subjects' ids and content hashes, hence the votes, do not
//! depend on the state). The entries then go through box-chain's own state
//! machine (`StateMachine::apply`: the notary rules, sealing, the leader's
//! signature checked, each block stored durably) exactly as on a node, and
//! each stored block through box-core's `HistoryVerifier` on another thread,
//! which proves the history valid and yields the checkpoint a signer or
//! gateway resumes from. The node's snapshot is then built by the node's own
//! code, from the state it put aside after the last block (as a running node
//! does before each snapshot is due), and its raft log marked as purged up to
//! it, so three copies of the store start as a cluster at the tip of the
//! history.
//!
//! The result is kept under `target/bench-history/` keyed by N, the block
//! size, the ports and box-testkit's `HISTORY_FORMAT` (`history_cache`): the
//! expensive step is paid once.

use box_chain::log_store::LogStore;
use box_chain::state_machine::StateMachine;
use box_chain::types::{Command, TypeConfig};
use box_core::audit::HistoryVerifier;
use box_core::block::Block;
use box_core::checkpoint;
use box_core::crypto::SecretKey;
use box_core::encoding::Canonical;
use box_core::notary::{Entry, Subject};
use box_core::transbox::TransBox;
use box_core::typed::{
    ApprovalLevel, AssetLimit, BoxFlow, Domain, FlowAuthorization, Genesis, NodeVote, ReportStatus, Signed,
    SignerReport, TransferRequest,
};
use box_core::{Address, B256, U256};
use box_proto::Outcome;
use box_testkit::{Cluster, key};
use openraft::storage::{RaftLogStorage, RaftSnapshotBuilder, RaftStateMachine};
use openraft::{BasicNode, CommittedLeaderId, EntryPayload, LogId, Membership, Vote};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The genesis time; transfers follow 15 minutes apart (96 a day: a
/// period limit counts at most a day of them).
const T0: u64 = 1_800_000_000;
const SPACING: u64 = 900;

/// The deployment's actors, keys derived once.
pub(crate) struct World {
    pub(crate) domain: Domain,
    pub(crate) genesis: Genesis,
    key_holders: Vec<SecretKey>,
    nodes: Vec<SecretKey>,
    addrs: Vec<String>,
    signer: SecretKey,
    employee: SecretKey,
    approvers: Vec<SecretKey>,
    flow: BoxFlow,
}

impl World {
    /// The actors of `c`'s deployment (its genesis, node accounts, key
    /// holders and signer), and an employee, four approvers and a flow.
    pub(crate) fn of(c: &Cluster) -> Self {
        let employee = key("employee");
        let approvers: Vec<_> = (0..4).map(|i| key(&format!("approver-{i}"))).collect();
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
        Self {
            domain: c.domain,
            genesis: c.genesis.clone(),
            key_holders: c.key_holders.clone(),
            nodes: c.nodes.iter().map(|n| n.account.clone()).collect(),
            addrs: c.nodes.iter().map(|n| n.addr.clone()).collect(),
            signer: c.signer.clone(),
            employee,
            approvers,
            flow,
        }
    }

    fn report(&self, subject: B256, status: ReportStatus, tx: B256) -> Subject {
        let r = SignerReport { subject, status: status as u8, txHash: tx, nonce: 0, detail: String::new() };
        Subject::SignerReport(Signed::new(&self.domain, &self.signer, r))
    }

    /// `subject`'s submission and the two accepting votes that notarize it.
    fn decided(&self, subject: Subject, at: u64, out: &mut Vec<(u64, Vec<u8>)>) {
        let id = subject.id(&self.domain).unwrap();
        let content = subject.content();
        out.push((at, Entry::Submit(subject).encode()));
        for node in &self.nodes[..2] {
            let v = NodeVote { subject: id.0, contentHash: content.0, accept: true, reason: String::new() };
            out.push((at, Entry::Vote(Signed::new(&self.domain, node, v)).encode()));
        }
    }

    /// The entries of transfer `i`: its TransBox, then its broadcast and
    /// confirmed reports, each decided by two votes.
    fn transfer(&self, i: u64, out: &mut Vec<(u64, Vec<u8>)>) {
        let at = T0 + SPACING + i * SPACING;
        let request = TransferRequest {
            requestId: B256::from(U256::from(i)),
            flowHash: self.domain.flow_hash(&self.flow).0,
            applicant: self.employee.address(),
            asset: Address::ZERO,
            to: Address::repeat_byte(0xD5),
            amount: U256::from(1u64),
            maxFee: U256::from(10u64).pow(U256::from(15u64)),
            chainId: self.genesis.chainId,
            timestamp: at,
        };
        let mut tb = TransBox::apply(&self.domain, request, &self.employee);
        tb.approve(&self.domain, 1, &self.approvers[0]);
        tb.approve(&self.domain, 2, &self.approvers[2]);
        let tid = tb.transfer_id(&self.domain).0;
        self.decided(Subject::Transfer(tb), at, out);
        let tx = B256::from(U256::from(i + 1));
        self.decided(self.report(tid, ReportStatus::Broadcast, tx), at, out);
        self.decided(self.report(tid, ReportStatus::Confirmed, tx), at, out);
    }

    /// The first block's entries: the flow, its three authorizations, its anchoring.
    fn setup(&self) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        self.decided(Subject::Flow(self.flow.clone()), T0, &mut out);
        let h = self.domain.flow_hash(&self.flow).0;
        for k in &self.key_holders {
            let a = FlowAuthorization { flowHash: h, enable: true };
            self.decided(Subject::FlowAuthorization(Signed::new(&self.domain, k, a)), T0, &mut out);
        }
        self.decided(self.report(h, ReportStatus::Anchored, B256::repeat_byte(0xA1)), T0, &mut out);
        out
    }

    /// Block `k`'s entries (0 is the set-up block).
    fn block(&self, k: u64, n: u64, per_block: u64) -> Vec<(u64, Vec<u8>)> {
        if k == 0 {
            return self.setup();
        }
        let mut out = Vec::new();
        for i in (k - 1) * per_block..(k * per_block).min(n) {
            self.transfer(i, &mut out);
        }
        out
    }
}

/// A history built into a node's stores, as kept in the cache.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct Built {
    /// Finished transfers.
    pub(crate) n: u64,
    /// Blocks (the set-up block included).
    pub(crate) blocks: u64,
    /// Wall time to build it (signing, applying, storing, verifying).
    pub(crate) build_s: f64,
    /// Time the verifier thread spent replaying it from the genesis.
    pub(crate) replay_s: f64,
    /// CPU time of the signing threads, summed.
    pub(crate) sign_s: f64,
    /// Time the state machine spent applying (notary rules, sealing, storing).
    pub(crate) apply_s: f64,
    /// The checkpoint's size.
    pub(crate) checkpoint_bytes: u64,
    /// Where the stores are.
    #[serde(skip)]
    pub(crate) dir: PathBuf,
}

/// The history of `n` transfers for `c`'s deployment: from the cache, or
/// built (and cached) now.
pub(crate) fn history(c: &Cluster, n: u64, per_block: u64, ports: &[u16]) -> Built {
    let dir = box_testkit::history_cache(n, per_block, ports);
    if let Ok(meta) = std::fs::read(dir.join("built.json")) {
        let mut b: Built = serde_json::from_slice(&meta).unwrap();
        b.dir = dir;
        return b;
    }
    let partial = dir.with_extension("partial");
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial).unwrap();
    let mut b = build(&World::of(c), n, per_block, &partial);
    std::fs::write(partial.join("built.json"), serde_json::to_vec_pretty(&b).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::rename(&partial, &dir).unwrap();
    b.dir = dir;
    b
}

fn log_id(index: u64) -> LogId<u64> {
    LogId::new(CommittedLeaderId::new(1, 1), index)
}

fn entry(index: u64, cmd: Command) -> openraft::Entry<TypeConfig> {
    openraft::Entry { log_id: log_id(index), payload: EntryPayload::Normal(cmd) }
}

/// Builds the history into `dir` (`state.redb`, `raft-log.redb`, `checkpoint.bin`).
fn build(w: &World, n: u64, per_block: u64, dir: &Path) -> Built {
    let started = Instant::now();
    let blocks = 1 + n.div_ceil(per_block);
    let workers = std::thread::available_parallelism().map_or(2, |p| p.get()) as u64;
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut sm = StateMachine::open(&dir.join("state.redb"), w.genesis.clone()).unwrap();
    let shared = sm.shared();
    let mut index = 1;
    let voters: BTreeMap<u64, BasicNode> =
        (1..=w.addrs.len() as u64).map(|id| (id, BasicNode::new(&w.addrs[id as usize - 1]))).collect();
    let membership = Membership::new(vec![voters.keys().copied().collect::<BTreeSet<_>>()], voters);
    rt.block_on(sm.apply([openraft::Entry { log_id: log_id(index), payload: EntryPayload::Membership(membership) }]))
        .unwrap();
    let mut sign_s = 0.0;
    let mut apply = Duration::ZERO;
    let (replay, checkpoint_bytes) = std::thread::scope(|s| {
        // Signers: block k is made by worker k % workers, at most 2 ahead each.
        let mut from_workers = Vec::new();
        let mut handles = Vec::new();
        for wk in 0..workers {
            let (tx, rx) = mpsc::sync_channel::<Vec<(u64, Vec<u8>)>>(2);
            from_workers.push(rx);
            handles.push(s.spawn(move || {
                let t = cpu_time();
                for k in (wk..blocks).step_by(workers as usize) {
                    if tx.send(w.block(k, n, per_block)).is_err() {
                        break;
                    }
                }
                cpu_time() - t
            }));
        }
        // The verifier: every stored block, from the genesis.
        let (to_verifier, blocks_rx) = mpsc::sync_channel::<Block>(4);
        let genesis = w.genesis.clone();
        let verifier = s.spawn(move || {
            let mut v = HistoryVerifier::new(&genesis).unwrap();
            let mut busy = Duration::ZERO;
            let mut last = None;
            for b in blocks_rx {
                let t = Instant::now();
                v.push(&b).unwrap_or_else(|e| panic!("the built history does not verify at {}: {e}", b.header.height));
                busy += t.elapsed();
                last = Some(b.sealed_header());
            }
            let bytes = checkpoint::encode(&v, last.as_ref());
            (v, bytes, busy)
        });
        for k in 0..blocks {
            let entries = from_workers[(k % workers) as usize].recv().unwrap();
            let t = Instant::now();
            let last_time = entries.last().map_or(T0, |e| e.0);
            let mut batch = Vec::with_capacity(entries.len());
            for (time, bytes) in entries {
                index += 1;
                batch.push(entry(index, Command::Notary { time, entry: bytes }));
            }
            for a in rt.block_on(sm.apply(batch)).unwrap() {
                if let Outcome::Refused(why) | Outcome::Ignored(why) = a.outcome {
                    panic!("block {k} of the history: an entry was refused: {why}");
                }
            }
            let height = k + 1;
            if height == blocks {
                // The node's snapshot is due right after the last block (its Seal and SignBlock
                // follow): the node puts that block's state aside, as a running node does before
                // each snapshot, and the snapshot below starts from it instead of replaying every
                // block from the genesis (about 11 of the 28.5 minutes of the build at 300,000).
                shared.keeper.snapshots_every(index + 2);
            }
            index += 1;
            rt.block_on(sm.apply([entry(index, Command::Seal { height, time: last_time })])).unwrap();
            let sig = {
                let s = shared.read();
                let header = &s.pending.as_ref().expect("a sealed header").header;
                s.notary.domain().sign(&w.nodes[height as usize % w.nodes.len()], header)
            };
            index += 1;
            let sign = Command::SignBlock { height, signature: sig.as_bytes().to_vec() };
            let applied = rt.block_on(sm.apply([entry(index, sign)])).unwrap();
            assert!(matches!(applied[0].outcome, Outcome::Signed), "block {height} not signed");
            apply += t.elapsed();
            let block = Block::decode(&shared.block(height).unwrap().unwrap()).unwrap();
            to_verifier.send(block).unwrap();
        }
        drop(to_verifier);
        for h in handles {
            sign_s += h.join().unwrap().as_secs_f64();
        }
        let (v, bytes, busy) = verifier.join().unwrap();
        assert_eq!(v.height(), blocks);
        std::fs::write(dir.join("checkpoint.bin"), &bytes).unwrap();
        (busy, bytes.len() as u64)
    });
    // The node's own snapshot at the tip, and a raft log purged up to it.
    assert_eq!(shared.snapshot_base_height(), Some(blocks), "the tip's state was not put aside for the snapshot");
    let mut builder = rt.block_on(sm.get_snapshot_builder());
    rt.block_on(builder.build_snapshot()).unwrap();
    drop(builder);
    drop(sm);
    drop(shared);
    // Copy-on-write pages freed while building: not copied three times per run.
    let mut db = redb::Database::open(dir.join("state.redb")).unwrap();
    while db.compact().unwrap() {}
    let mut log = LogStore::open(&dir.join("raft-log.redb")).unwrap();
    rt.block_on(async {
        log.save_vote(&Vote::new_committed(1, 1)).await.unwrap();
        log.save_committed(Some(log_id(index))).await.unwrap();
        log.purge(log_id(index)).await.unwrap();
    });
    Built {
        n,
        blocks,
        build_s: started.elapsed().as_secs_f64(),
        replay_s: replay.as_secs_f64(),
        sign_s,
        apply_s: apply.as_secs_f64(),
        checkpoint_bytes,
        dir: dir.to_owned(),
    }
}

/// This thread's CPU time (Linux), for the signers' share of the work.
fn cpu_time() -> Duration {
    // /proc/thread-self/stat fields 14 and 15: user and system time in clock ticks (100 Hz).
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: u64 = fields.get(11..13).map_or(0, |f| f.iter().filter_map(|x| x.parse::<u64>().ok()).sum());
    Duration::from_millis(ticks * 10)
}

/// Copies the stores of `b` into each node's data directory of `c`, flushed
/// to disk. With `cold`, each copy is then dropped from the page cache
/// (`posix_fadvise(POSIX_FADV_DONTNEED)` on the flushed file), so that the
/// nodes read every page they touch from the disk, as after a reboot of
/// their host; otherwise what the copies left in the page cache stays (all
/// of it while three stores fit the cache, the last-copied part when not).
pub(crate) fn seed(c: &Cluster, b: &Built, cold: bool) {
    c.seed_stores(&b.dir);
    if !cold {
        return;
    }
    for node in &c.nodes {
        let data = node.config.parent().unwrap().join("data");
        for f in ["state.redb", "raft-log.redb"] {
            let file = std::fs::File::open(data.join(f)).unwrap();
            file.sync_all().unwrap();
            rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed)
                .unwrap_or_else(|e| panic!("posix_fadvise on {} failed: {e}", data.join(f).display()));
        }
    }
}
