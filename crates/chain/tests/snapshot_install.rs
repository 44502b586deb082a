//! Installing a snapshot verifies it (issue 13 item 4): through the raft
//! storage API a follower uses (`RaftStateMachine::install_snapshot`), an
//! honest snapshot built by another node installs (the state at its tip, the
//! blocks below fetched afterwards and checked by hash chain), and forged or
//! corrupted ones are refused and change nothing: bytes that do not parse, a
//! log position other than the metadata's, a tip state whose rows are not the
//! tip header's state root, a tip sealed by a key outside the registry, a
//! pending block its entries do not produce, a fork of blocks the node
//! holds, and a validly sealed tip its peers attest another block than. A
//! snapshot's tip installs only once a strict majority of the node registry
//! attests it (it waits while too few do). A snapshot's size follows the live state, not the number of blocks,
//! and an earlier version's JSON snapshot saved on disk still opens. A
//! snapshot taken between `Seal` and `SignBlock` of a height whose state is
//! kept for new followers leaves that state kept, after a restart from it or
//! an install of it. A snapshot built from a state put aside shortly before
//! it was due is the one a full replay builds. What installing cannot see
//! (an entry after the tip left out) leaves a node that says it cannot follow.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use box_chain::state_machine::tip::{MAGIC, TipSnapshot};
use box_chain::state_machine::{BLOCK_ENTRY_BUDGET, Gap, Shared, StateMachine, TipAttesters};
use box_chain::types::{Applied, Command, TypeConfig};
use box_core::B256;
use box_core::attestation::{RegistryChain, SignedAttestation, verify_registry_chain};
use box_core::block::Block;
use box_core::checkpoint::{self, Checkpoint};
use box_core::crypto::SecretKey;
use box_core::encoding::Canonical;
use box_core::ids::Timestamp;
use box_core::notary::Entry as NotaryEntry;
use box_core::typed::{Genesis, GenesisNode, NodeVote, Signed};
use box_proto::Outcome;
use box_testkit::{key, sample_flow};
use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, SnapshotMeta};
use serde_json::Value;
use std::io::Cursor;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn node_key() -> SecretKey {
    key("snapshot-node")
}

fn genesis() -> Genesis {
    Genesis {
        deploymentId: B256::repeat_byte(0x5A),
        chainId: 31337,
        keyHolders: (0..3).map(|i| key(&format!("snapshot-holder-{i}")).address()).collect(),
        nodes: vec![GenesisNode { nodeId: 1, endpoint: "127.0.0.1:1".into(), account: node_key().address() }],
        signer: key("snapshot-signer").address(),
        assets: vec![],
        time: 1_800_000_000,
    }
}

/// The peers a replica asks to attest a snapshot's tip: other replicas,
/// each attesting what it holds with its own account key, as they serve
/// `Notary.Attest` and `Notary.RegistryChain` (the production attesters ask
/// the same over mutual TLS: `snapshot_catchup`).
#[derive(Default)]
struct LocalPeers(Mutex<Vec<Arc<Shared>>>);

#[tonic::async_trait]
impl TipAttesters for LocalPeers {
    async fn registry_chain(&self, genesis: &Genesis) -> Result<RegistryChain, String> {
        let first = self.0.lock().unwrap().first().cloned().ok_or("no peer")?;
        verify_registry_chain(genesis, &first.registry_chain().unwrap()).map_err(|e| e.0)
    }

    async fn attestations(&self, _: &RegistryChain, height: u64) -> (Vec<SignedAttestation>, Vec<String>) {
        let (mut got, mut failed) = (Vec::new(), Vec::new());
        for peer in self.0.lock().unwrap().iter() {
            match peer.attest(height) {
                Ok(a) => got.push(a),
                Err(e) => failed.push(e.to_string()),
            }
        }
        (got, failed)
    }

    fn stopping(&self) -> bool {
        false
    }
}

/// One replica's storage, driven as raft drives it.
struct Replica {
    _dir: tempfile::TempDir,
    sm: StateMachine,
    index: u64,
    peers: Arc<LocalPeers>,
}

impl Replica {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let sm = StateMachine::open(&dir.path().join("state.redb"), genesis()).unwrap();
        Self::around(sm, dir)
    }

    /// A replica over `sm`, attesting with the node key, with no peer yet.
    fn around(sm: StateMachine, dir: tempfile::TempDir) -> Self {
        Self::keeping(sm, dir, 1_000)
    }

    /// [`Replica::around`], keeping the state of every `every`-th block.
    fn keeping(sm: StateMachine, dir: tempfile::TempDir, every: u64) -> Self {
        sm.shared().keeper.configure(node_key(), every);
        let peers = Arc::new(LocalPeers::default());
        sm.shared().attest_tips_with(peers.clone());
        Self { _dir: dir, sm, index: 0, peers }
    }

    /// Asks `other` (too) to attest the tips of the snapshots it installs.
    fn peer_with(&self, other: &Replica) {
        self.peers.0.lock().unwrap().push(other.sm.shared());
    }

    async fn apply(&mut self, cmd: Command) -> Applied {
        self.index += 1;
        let entry: Entry<TypeConfig> =
            Entry { log_id: LogId::new(CommittedLeaderId::new(1, 1), self.index), payload: EntryPayload::Normal(cmd) };
        self.sm.apply(vec![entry]).await.unwrap().remove(0)
    }

    async fn notary(&mut self, entry: NotaryEntry) -> Applied {
        let time = genesis().time + self.index;
        self.apply(Command::Notary { time, entry: entry.encode() }).await
    }

    /// Submits flow `n` and has the (only) node vote its verdict on it.
    async fn notarize(&mut self, n: u64) {
        self.notary(NotaryEntry::Submit(sample_flow(n))).await;
        let votes: Vec<NodeVote> = {
            let shared = self.sm.shared();
            let s = shared.read();
            let now = Timestamp(s.last_time);
            s.notary
                .pending()
                .map(|(id, rec)| match s.notary.verdict(id, now) {
                    Ok(c) => NodeVote { subject: id.0, contentHash: c.0, accept: true, reason: String::new() },
                    Err(r) => {
                        NodeVote { subject: id.0, contentHash: rec.content.0, accept: false, reason: r.to_string() }
                    }
                })
                .collect()
        };
        let domain = genesis().domain();
        for v in votes {
            self.notary(NotaryEntry::Vote(Signed::new(&domain, &node_key(), v))).await;
        }
    }

    /// Seals the unsealed entries and signs the block with `sealer`.
    async fn seal(&mut self, sealer: &SecretKey) {
        let height = self.sm.shared().read().next_height;
        self.apply(Command::Seal { height, time: genesis().time + self.index }).await;
        let signature = {
            let shared = self.sm.shared();
            let s = shared.read();
            let p = s.pending.as_ref().expect("a pending block");
            s.notary.domain().sign(sealer, &p.header).as_bytes().to_vec()
        };
        self.apply(Command::SignBlock { height, signature }).await;
    }

    async fn snapshot(&mut self) -> (SnapshotMeta<u64, openraft::BasicNode>, Vec<u8>) {
        let mut builder = self.sm.get_snapshot_builder().await;
        let snap = builder.build_snapshot().await.unwrap();
        (snap.meta, snap.snapshot.into_inner())
    }

    async fn snapshot_bytes(&mut self) -> Vec<u8> {
        self.snapshot().await.1
    }

    async fn install(&mut self, meta: &SnapshotMeta<u64, openraft::BasicNode>, bytes: Vec<u8>) -> Result<(), String> {
        self.sm.install_snapshot(meta, Box::new(Cursor::new(bytes))).await.map_err(|e| format!("{e:?}"))
    }

    fn height(&self) -> u64 {
        self.sm.shared().read().height()
    }

    fn notary_bytes(&self) -> Vec<u8> {
        self.sm.shared().read().notary.snapshot()
    }
}

/// A history of two signed blocks (flows 1 and 2 notarized) and flow 3
/// submitted but unsealed; or another history of flows `first..`.
async fn history(first: u64) -> Replica {
    let mut r = Replica::new();
    r.notarize(first).await;
    r.seal(&node_key()).await;
    r.notarize(first + 1).await;
    r.seal(&node_key()).await;
    r.notary(NotaryEntry::Submit(sample_flow(first + 2))).await;
    assert_eq!(r.height(), 2);
    r
}

fn parts(bytes: &[u8]) -> TipSnapshot {
    TipSnapshot::decode(bytes).unwrap()
}

/// `bytes` with its tip checkpoint replaced by `f`'s (given the decoded one).
fn with_checkpoint(bytes: &[u8], f: impl FnOnce(Checkpoint) -> Vec<u8>) -> Vec<u8> {
    let mut p = parts(bytes);
    p.checkpoint = f(checkpoint::decode(&genesis(), &p.checkpoint).unwrap());
    p.encode()
}

/// Installs `bytes` into a fresh replica: it must be refused with `why` in
/// the reason, leaving the replica at the genesis with no block and nothing
/// to fetch.
async fn refused(meta: &SnapshotMeta<u64, openraft::BasicNode>, bytes: Vec<u8>, why: &str) {
    let mut fresh = Replica::new();
    let before = fresh.notary_bytes();
    let err = fresh.install(meta, bytes).await.expect_err(why);
    assert!(err.contains(why), "refused for the wrong reason: expected {why:?} in {err}");
    assert_eq!(fresh.height(), 0, "{why}: nothing installed");
    assert!(fresh.sm.shared().block(1).unwrap().is_none(), "{why}: no block stored");
    assert!(fresh.sm.shared().gaps().unwrap().is_empty(), "{why}: nothing to fetch");
    assert_eq!(fresh.notary_bytes(), before, "{why}: the state is untouched");
    assert!(fresh.sm.get_current_snapshot().await.unwrap().is_none(), "{why}: no snapshot saved");
}

/// Fetches the blocks `follower` lacks from `from`, as the backfill task
/// does from a peer: each checked against its gap before it is stored.
fn backfill(follower: &Replica, from: &Replica) {
    let shared = follower.sm.shared();
    while let Some(gap) = shared.gaps().unwrap().first().copied() {
        let raw = from.sm.shared().block(gap.top).unwrap().expect("the peer holds it");
        shared.store_backfilled(gap, &Block::decode(&raw).unwrap()).unwrap();
    }
}

#[tokio::test]
async fn an_honest_snapshot_installs_and_forged_ones_are_refused() {
    let mut leader = history(1).await;
    let (meta, bytes) = leader.snapshot().await;
    assert!(bytes.starts_with(MAGIC), "a snapshot is written in the binary form");
    let domain = genesis().domain();
    let tip = Block::decode(&leader.sm.shared().block(2).unwrap().unwrap()).unwrap();

    // Honest: a fresh follower installs it and holds the same state, and
    // lacks blocks 1..=2, to fetch from the tip down.
    let mut follower = Replica::new();
    follower.peer_with(&leader);
    follower.install(&meta, bytes.clone()).await.unwrap();
    assert_eq!(follower.height(), 2);
    assert_eq!(follower.notary_bytes(), leader.notary_bytes());
    assert_eq!(follower.sm.shared().gaps().unwrap(), vec![Gap { top: 2, hash: tip.hash(&domain), bottom: 1, tip: 2 }]);
    assert!(follower.sm.shared().block(2).unwrap().is_none(), "a snapshot carries no block");
    assert_eq!(follower.sm.shared().records_missing().unwrap(), Some(2), "blocks 1..=2 come without their records");
    assert_eq!(leader.sm.shared().records_missing().unwrap(), None);
    assert_eq!(follower.sm.get_current_snapshot().await.unwrap().unwrap().meta, meta);
    // A block that is not the certified chain's is not stored: another
    // history's block 2, or the tip's content with its entries changed.
    let gap = follower.sm.shared().gaps().unwrap()[0];
    let mut other = history(10).await;
    let stranger = Block::decode(&other.sm.shared().block(2).unwrap().unwrap()).unwrap();
    let err = follower.sm.shared().store_backfilled(gap, &stranger).unwrap_err();
    assert!(err.contains("not the block 2 the certified chain names"), "{err}");
    let mut edited = tip.clone();
    edited.entries[0].time += 1;
    let err = follower.sm.shared().store_backfilled(gap, &edited).unwrap_err();
    assert!(err.contains("Merkle root"), "{err}");
    assert!(follower.sm.shared().block(2).unwrap().is_none());
    backfill(&follower, &leader);
    for h in 1..=2 {
        assert_eq!(follower.sm.shared().block(h).unwrap(), leader.sm.shared().block(h).unwrap());
    }
    assert!(follower.sm.shared().gaps().unwrap().is_empty());

    refused(&meta, bytes[..bytes.len() / 2].to_vec(), "do not parse").await;
    // Another log position than its metadata names.
    let mut moved = parts(&bytes);
    moved.raft.last_applied = None;
    refused(&meta, moved.encode(), "not at the log position").await;

    // Tip state whose rows are not the tip header's state root: another
    // history's state under this tip's sealed header.
    let other_cp = parts(&other.snapshot_bytes().await).checkpoint;
    let other_cp = checkpoint::decode(&genesis(), &other_cp).unwrap();
    let forged = with_checkpoint(&bytes, |cp| checkpoint::encode(&other_cp.verifier, cp.header.as_ref()));
    refused(&meta, forged, "its tip state is refused").await;

    // The tip re-sealed by a key outside the registry (a block's hash covers
    // its header, not its seal, so only the seal check can tell).
    let resealed = with_checkpoint(&bytes, |cp| {
        let mut h = cp.header.clone().unwrap();
        h.signature = domain.sign(&key("stranger"), &h.header);
        checkpoint::encode(&cp.verifier, Some(&h))
    });
    refused(&meta, resealed, "not a registered node account").await;

    // A pending block whose header its entries do not produce after this
    // tip (another history's pending block, in place of the unsealed entry).
    let mut unpended = parts(&bytes);
    unpended.unsealed.clear();
    let mut sealer = history(30).await;
    sealer.apply(Command::Seal { height: 3, time: genesis().time + 1_000 }).await;
    let pending = sealer.sm.shared().read().pending.clone().unwrap();
    unpended.pending = Some((pending.header, pending.entries));
    refused(&meta, unpended.encode(), "pending block header").await;

    // A fork validly sealed by the registered node (an equivocating leader):
    // it verifies on its own, but the follower already holds blocks 1 and 2.
    let mut fork = Replica::new();
    fork.notarize(20).await;
    fork.seal(&node_key()).await;
    fork.notarize(21).await;
    fork.seal(&node_key()).await;
    fork.notarize(22).await;
    fork.seal(&node_key()).await;
    let (fork_meta, fork_bytes) = fork.snapshot().await;
    let err = follower.install(&fork_meta, fork_bytes.clone()).await.expect_err("a fork of held blocks");
    assert!(err.contains("does not extend the block 2 this node holds"), "{err}");
    assert_eq!(follower.notary_bytes(), leader.notary_bytes(), "the follower keeps its verified chain");
    assert_eq!(follower.sm.shared().block(2).unwrap(), leader.sm.shared().block(2).unwrap());
    // The same fork installs where the registry attests it (here the fork's
    // own replica: in this one-node deployment its account is the majority).
    let mut fresh = Replica::new();
    fresh.peer_with(&fork);
    fresh.install(&fork_meta, fork_bytes.clone()).await.unwrap();

    // The leader's own later snapshot (a longer history) installs on the
    // follower, which then lacks only block 3.
    leader.notarize(4).await;
    leader.seal(&node_key()).await;
    let (meta, bytes) = leader.snapshot().await;
    follower.install(&meta, bytes.clone()).await.unwrap();

    // Where nothing held contradicts the fork, the attestations do: the
    // registry attests the leader's block 3, not the fork's.
    let mut fresh = Replica::new();
    fresh.peer_with(&leader);
    let err = fresh.install(&fork_meta, fork_bytes).await.expect_err("a fork the registry does not attest");
    assert!(err.contains("attest another block 3"), "{err}");
    assert_eq!((fresh.height(), fresh.sm.shared().gaps().unwrap().len()), (0, 0), "nothing installed");
    assert!(fresh.sm.get_current_snapshot().await.unwrap().is_none());

    // While too few attest the tip (no peer holds it or answers), the
    // install waits, installs nothing, and goes on once one does.
    let mut waiting = Replica::new();
    let (state, peers, by) = (waiting.sm.shared(), waiting.peers.clone(), leader.sm.shared());
    let (installed, ()) = tokio::join!(waiting.install(&meta, bytes), async move {
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert_eq!(state.read().height(), 0, "installed before the tip was attested");
        peers.0.lock().unwrap().push(by);
    });
    installed.unwrap();
    assert_eq!((waiting.height(), waiting.notary_bytes()), (3, leader.notary_bytes()));
    assert_eq!((follower.height(), follower.notary_bytes()), (3, leader.notary_bytes()));
    let gaps = follower.sm.shared().gaps().unwrap();
    assert_eq!(gaps.iter().map(|g| (g.bottom, g.top)).collect::<Vec<_>>(), [(3, 3)]);
    backfill(&follower, &leader);
    assert_eq!(follower.sm.shared().block(3).unwrap(), leader.sm.shared().block(3).unwrap());
}

/// A block never grows past what a follower can decode (box-core refuses an
/// encoding over 1 MiB, so a bigger block would stall the signer, the
/// gateway and every auditor): an entry that would take the block being
/// built past `BLOCK_ENTRY_BUDGET` is deferred (not applied, answered as a
/// wait), the sealed block decodes, and the entry proposed again applies in
/// the next block. A snapshot that misstates the unsealed entries' size (it
/// would make the follower defer differently from the others) is refused.
#[tokio::test]
async fn a_full_block_defers_the_next_entry_until_it_is_sealed_and_every_block_decodes() {
    let mut r = Replica::new();
    let mut n = 0;
    let deferred = loop {
        n += 1;
        assert!(n < 10_000, "the block never filled");
        let applied = r.notary(NotaryEntry::Submit(sample_flow(n))).await;
        if applied.deferred {
            break applied;
        }
        assert_eq!(applied.outcome, Outcome::Submitted);
    };
    let Outcome::Ignored(reason) = &deferred.outcome else { panic!("deferred as {:?}", deferred.outcome) };
    assert!(reason.starts_with("waiting: the block being built is full"), "{reason}");
    let id = sample_flow(n).id(&genesis().domain()).unwrap();
    {
        let shared = r.sm.shared();
        let s = shared.read();
        assert!(s.notary.subject(&id).is_none(), "a deferred entry changed the state");
        assert_eq!(s.unsealed.len() as u64, n - 1);
        assert!(s.unsealed_bytes <= BLOCK_ENTRY_BUDGET);
    }

    // A follower that installs a snapshot here counts the unsealed entries'
    // size itself (the snapshot does not carry it), so it defers as the others do.
    let (meta, bytes) = r.snapshot().await;
    let mut follower = Replica::new();
    follower.install(&meta, bytes).await.unwrap();
    assert_eq!(follower.sm.shared().read().unsealed_bytes, r.sm.shared().read().unsealed_bytes);

    r.seal(&node_key()).await;
    let block = r.sm.shared().block(1).unwrap().expect("block 1 stored");
    assert!(block.len() <= box_core::encoding::MAX_ENCODED_LEN, "block 1 is {} bytes", block.len());
    let decoded = Block::decode(&block).expect("block 1 decodes");
    assert_eq!(decoded.entries.len() as u64, n - 1);

    let again = r.notary(NotaryEntry::Submit(sample_flow(n))).await;
    assert_eq!(again.outcome, Outcome::Submitted);
    assert!(r.sm.shared().read().notary.subject(&id).is_some());
}

/// A snapshot is the live state at the tip, not the history: a history of 40
/// more blocks whose entries leave the state as it was (the same flow
/// submitted again: a duplicate) snapshots to about the same size, while the
/// blocks themselves take far more than that difference.
#[tokio::test]
async fn a_snapshots_size_does_not_grow_with_the_number_of_blocks() {
    let mut short = Replica::new();
    short.notarize(1).await;
    short.seal(&node_key()).await;
    let mut long = Replica::new();
    long.notarize(1).await;
    long.seal(&node_key()).await;
    for _ in 0..40 {
        long.notary(NotaryEntry::Submit(sample_flow(1))).await;
        long.seal(&node_key()).await;
    }
    assert_eq!((short.height(), long.height()), (1, 41));
    let (small, big) = (short.snapshot_bytes().await.len(), long.snapshot_bytes().await.len());
    let blocks: usize = (2..=41).map(|h| long.sm.shared().block(h).unwrap().unwrap().len()).sum();
    let (small_json, big_json) = (json_snapshot(&short).len(), json_snapshot(&long).len());
    eprintln!(
        "snapshot bytes: {small} after 1 block, {big} after 41 blocks ({blocks} bytes of blocks 2..=41); \
         the earlier JSON format: {small_json} and {big_json}"
    );
    assert!(big <= small + 64, "40 more blocks grew the snapshot from {small} to {big} bytes");
    assert!(blocks > 40 * 256, "the blocks are far bigger than the snapshot's difference");
}

/// A node puts aside the state after a block sealed shortly before a
/// snapshot is due (raft's `snapshot_every`), and builds that snapshot from
/// it with only the blocks after it replayed: the bytes are those a node
/// that replays every block since its previous snapshot builds, the state
/// put aside is used once, and a node that installs such a snapshot drops
/// what it had put aside for its own next one.
#[tokio::test]
async fn a_snapshot_built_from_the_state_put_aside_before_it_is_the_one_a_full_replay_builds() {
    const EVERY: u64 = 24;
    let (mut plain, mut quick) = (Replica::new(), Replica::new());
    quick.sm.shared().keeper.snapshots_every(EVERY);
    for r in [&mut plain, &mut quick] {
        r.notarize(1).await;
        r.seal(&node_key()).await;
        assert_eq!(r.snapshot().await.0.last_log_id.unwrap().index, 4);
    }
    // Each block: a submission and a vote, then Seal and SignBlock. The
    // snapshot is due at log index 4 + 24; a block whose entries end from
    // index 25 on (the last eighth) is put aside.
    let mut blocks_after = None;
    for n in 2..20 {
        for r in [&mut plain, &mut quick] {
            r.notarize(n).await;
            r.seal(&node_key()).await;
        }
        let put_aside = quick.sm.shared().snapshot_base_height();
        assert_eq!(
            plain.sm.shared().snapshot_base_height(),
            None,
            "a node not told raft's interval puts nothing aside"
        );
        if let Some(h) = put_aside {
            assert!(
                quick.index > 4 + EVERY - EVERY / 8,
                "put aside at block {h}, log index {}, too early",
                quick.index
            );
            let after = blocks_after.get_or_insert(0);
            *after += 1;
            if *after == 3 {
                break;
            }
        }
    }
    assert_eq!(blocks_after, Some(3), "no block was put aside before the snapshot was due");
    let base = quick.sm.shared().snapshot_base_height().unwrap();
    assert_eq!(quick.height(), base + 2, "the put-aside block stays the one before the snapshot");
    quick.notary(NotaryEntry::Submit(sample_flow(99))).await;
    plain.notary(NotaryEntry::Submit(sample_flow(99))).await;
    let (replayed_meta, replayed) = plain.snapshot().await;
    let (built_meta, built) = quick.snapshot().await;
    assert_eq!(built_meta.last_log_id, replayed_meta.last_log_id);
    assert!(built == replayed, "the snapshot built from the state put aside differs from the full replay's");
    assert_eq!(quick.sm.shared().snapshot_base_height(), None, "the state put aside is used once");

    // The next one is put aside again, relative to the snapshot just built;
    // an installed snapshot drops it.
    for n in 20..40 {
        for r in [&mut plain, &mut quick] {
            r.notarize(n).await;
            r.seal(&node_key()).await;
        }
        if quick.sm.shared().snapshot_base_height().is_some() {
            break;
        }
    }
    assert!(quick.sm.shared().snapshot_base_height().is_some(), "nothing put aside for the second snapshot");
    for n in 40..43 {
        plain.notarize(n).await;
        plain.seal(&node_key()).await;
    }
    let (meta, bytes) = plain.snapshot().await;
    quick.peer_with(&plain);
    quick.install(&meta, bytes).await.unwrap();
    assert_eq!(quick.height(), plain.height());
    assert_eq!(quick.sm.shared().snapshot_base_height(), None, "an installed snapshot drops the state put aside");
}

/// What installing cannot check: that a snapshot holds every entry after
/// its tip (the raft entries between them, Seal and SignBlock among them,
/// are not in it, so their log indices have gaps anyway). A snapshot that
/// leaves one out installs; the node's next sealed header then differs
/// from the one the chain signs, the signature is ignored, the node stays
/// at its height, and it says why and what to do, at error level.
#[tokio::test]
async fn a_snapshot_missing_an_unsealed_entry_leaves_a_node_that_says_it_cannot_follow() {
    let mut leader = history(1).await;
    leader.notary(NotaryEntry::Submit(sample_flow(4))).await;
    let (meta, bytes) = leader.snapshot().await;
    let mut p = parts(&bytes);
    assert_eq!(p.unsealed.len(), 2, "flows 3 and 4 are unsealed");
    p.unsealed.remove(0);
    let mut learner = Replica::new();
    learner.peer_with(&leader);
    learner.install(&meta, p.encode()).await.expect("the omission is not seen at install");
    learner.index = leader.index;
    let height = leader.sm.shared().read().next_height;
    let seal = Command::Seal { height, time: genesis().time + leader.index };
    leader.apply(seal.clone()).await;
    learner.apply(seal).await;
    let signature = {
        let shared = leader.sm.shared();
        let s = shared.read();
        s.notary.domain().sign(&node_key(), &s.pending.as_ref().unwrap().header).as_bytes().to_vec()
    };
    assert_eq!(
        leader.apply(Command::SignBlock { height, signature: signature.clone() }).await.outcome,
        Outcome::Signed
    );
    let Outcome::Ignored(reason) = learner.apply(Command::SignBlock { height, signature }).await.outcome else {
        panic!("the learner signed a block over a state the chain never had");
    };
    for part in [
        &format!("block {height} signed by"),
        "this node's state differs from the chain's",
        "move its data directory aside and restart it",
    ] {
        assert!(reason.contains(part), "{part:?} not in {reason}");
    }
    assert_eq!((leader.height(), learner.height()), (height, height - 1));
}

/// The snapshot an earlier version wrote for `r`: JSON of the chain state
/// and every block with its notarized records.
fn json_snapshot(r: &Replica) -> Vec<u8> {
    let shared = r.sm.shared();
    let state = shared.read().clone();
    let blocks: Vec<Value> = (1..=state.height())
        .map(|h| serde_json::json!([hex::encode(shared.block(h).unwrap().unwrap()), shared.notarized(h).unwrap()]))
        .collect();
    serde_json::to_vec(&serde_json::json!({ "state": state, "blocks": blocks })).unwrap()
}

/// A node upgraded in place has an earlier version's JSON snapshot saved
/// (the state and every block): it still opens from it, builds its next
/// snapshot in the binary form (replaying its stored blocks once), and a
/// follower still installs a JSON one from a leader not yet upgraded.
#[tokio::test]
async fn an_earlier_versions_json_snapshot_still_opens_and_installs() {
    let leader = history(1).await;
    let json = json_snapshot(&leader);
    let (notary, path) = (leader.notary_bytes(), leader._dir.path().join("state.redb"));
    let Replica { _dir: dir, sm, .. } = leader;
    drop(sm);
    {
        let db = redb::Database::create(&path).unwrap();
        let tx = db.begin_write().unwrap();
        {
            let mut t = tx.open_table(redb::TableDefinition::<&str, &[u8]>::new("snapshot")).unwrap();
            t.insert("data", json.as_slice()).unwrap();
            t.remove("meta").unwrap();
        }
        tx.commit().unwrap();
    }
    let mut reopened = Replica::around(StateMachine::open(&path, genesis()).unwrap(), dir);
    assert_eq!((reopened.height(), reopened.notary_bytes()), (2, notary.clone()));
    let current = reopened.sm.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(current.snapshot.into_inner(), json, "the saved JSON snapshot is served as saved");

    // A follower installs the JSON snapshot as before: blocks and state.
    let mut follower = Replica::new();
    follower.install(&current.meta, json).await.unwrap();
    assert_eq!((follower.height(), follower.notary_bytes()), (2, notary.clone()));
    assert_eq!(follower.sm.shared().block(2).unwrap(), reopened.sm.shared().block(2).unwrap());

    // The next snapshot is binary, installs, and the node reopens from it.
    let (meta, bytes) = reopened.snapshot().await;
    assert!(bytes.starts_with(MAGIC));
    let mut fresh = Replica::new();
    fresh.peer_with(&reopened);
    fresh.install(&meta, bytes).await.unwrap();
    drop(fresh); // it holds the reopened store's handle as its peer
    let Replica { _dir: dir, sm, .. } = reopened;
    drop(sm);
    let again = StateMachine::open(&path, genesis()).unwrap();
    assert_eq!(again.shared().read().notary.snapshot(), notary);
    assert_eq!(again.shared().read().height(), 2);
    drop(dir);
}

/// The state a node keeps for new followers at `height`, once its
/// background write is done (bounded wait).
async fn kept_at(shared: &Shared, height: u64) -> Checkpoint {
    for _ in 0..500 {
        if let Some((h, bytes)) = shared.kept_state(Some(height)).unwrap() {
            assert_eq!(h, height);
            return checkpoint::decode(&genesis(), &bytes).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no state kept at height {height} after 5 s");
}

/// Block 3 is a kept height (every 3rd); the leader's snapshot is taken
/// after its `Seal`, before its `SignBlock`. A follower that installs it,
/// and the leader restarted from it, replay the pending block's entries at
/// restore: once `SignBlock` applies, each keeps the state block 3's header
/// commits to, as a node that applied the `Seal` itself does.
#[tokio::test]
async fn a_snapshot_taken_between_seal_and_sign_block_still_keeps_the_sealed_state() {
    let mut leader = history(1).await;
    leader.sm.shared().keeper.configure(node_key(), 3);
    leader.apply(Command::Seal { height: 3, time: genesis().time + leader.index }).await;
    let (root, signature) = {
        let shared = leader.sm.shared();
        let s = shared.read();
        let p = s.pending.as_ref().expect("block 3 sealed, not signed");
        (p.header.stateHash, s.notary.domain().sign(&node_key(), &p.header).as_bytes().to_vec())
    };
    let (meta, bytes) = leader.snapshot().await;
    assert!(parts(&bytes).pending.is_some(), "the snapshot holds the pending block");
    let sign = Command::SignBlock { height: 3, signature };

    let dir = tempfile::tempdir().unwrap();
    let sm = StateMachine::open(&dir.path().join("state.redb"), genesis()).unwrap();
    let mut follower = Replica::keeping(sm, dir, 3);
    follower.peer_with(&leader);
    follower.install(&meta, bytes).await.unwrap();
    follower.index = leader.index;
    assert_eq!(follower.apply(sign.clone()).await.outcome, Outcome::Signed);
    let kept = kept_at(&follower.sm.shared(), 3).await;
    assert_eq!(kept.verifier.state().state_root().0, root, "the follower kept block 3's state");
    assert_eq!(kept.header.map(|h| h.header.height), Some(3));
    drop(follower); // it holds the leader's store as its peer

    let Replica { _dir: dir, sm, index, .. } = leader;
    drop(sm);
    let sm = StateMachine::open(&dir.path().join("state.redb"), genesis()).unwrap();
    let mut restarted = Replica::keeping(sm, dir, 3);
    restarted.index = index;
    assert!(restarted.sm.shared().read().pending.is_some(), "restored with block 3 pending");
    assert_eq!(restarted.apply(sign).await.outcome, Outcome::Signed);
    let kept = kept_at(&restarted.sm.shared(), 3).await;
    assert_eq!(kept.verifier.state().state_root().0, root, "the restarted leader kept block 3's state");
}
