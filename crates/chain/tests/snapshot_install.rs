//! Installing a snapshot verifies it (issue 13 item 4): through the raft
//! storage API a follower uses (`RaftStateMachine::install_snapshot`), an
//! honest snapshot built by another node installs, and forged or corrupted
//! ones are refused and change nothing: bytes that do not parse, a notary
//! state that fails `NotaryState::restore`'s checks, a state its blocks do not
//! produce, a block sealed by a key outside the registry, a corrupted block,
//! forged per-block records, and a history that rewrites blocks the node holds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use box_chain::state_machine::BLOCK_ENTRY_BUDGET;
use box_chain::state_machine::StateMachine;
use box_chain::types::{Applied, Command, TypeConfig};
use box_core::B256;
use box_core::block::Block;
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

/// One replica's storage, driven as raft drives it.
struct Replica {
    _dir: tempfile::TempDir,
    sm: StateMachine,
    index: u64,
}

impl Replica {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let sm = StateMachine::open(&dir.path().join("state.redb"), genesis()).unwrap();
        Self { _dir: dir, sm, index: 0 }
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

fn edit(bytes: &[u8], f: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(bytes).unwrap();
    f(&mut v);
    serde_json::to_vec(&v).unwrap()
}

fn block_hex(v: &Value, height: usize) -> Block {
    Block::decode(&hex::decode(v["blocks"][height - 1][0].as_str().unwrap()).unwrap()).unwrap()
}

/// Installs `bytes` into a fresh replica: it must be refused with `why` in
/// the reason, leaving the replica at the genesis with no block.
async fn refused(meta: &SnapshotMeta<u64, openraft::BasicNode>, bytes: Vec<u8>, why: &str) {
    let mut fresh = Replica::new();
    let before = fresh.notary_bytes();
    let err = fresh.install(meta, bytes).await.expect_err(why);
    assert!(err.contains(why), "refused for the wrong reason: expected {why:?} in {err}");
    assert_eq!(fresh.height(), 0, "{why}: nothing installed");
    assert!(fresh.sm.shared().block(1).unwrap().is_none(), "{why}: no block stored");
    assert_eq!(fresh.notary_bytes(), before, "{why}: the state is untouched");
}

#[tokio::test]
async fn an_honest_snapshot_installs_and_forged_ones_are_refused() {
    let mut leader = history(1).await;
    let (meta, bytes) = leader.snapshot().await;

    // Honest: a fresh follower installs it and holds the same chain and state.
    let mut follower = Replica::new();
    follower.install(&meta, bytes.clone()).await.unwrap();
    assert_eq!(follower.height(), 2);
    assert_eq!(follower.notary_bytes(), leader.notary_bytes());
    for h in 1..=2 {
        assert_eq!(follower.sm.shared().block(h).unwrap(), leader.sm.shared().block(h).unwrap());
        assert_eq!(follower.sm.shared().notarized(h).unwrap(), leader.sm.shared().notarized(h).unwrap());
    }
    assert_eq!(follower.sm.get_current_snapshot().await.unwrap().unwrap().meta, meta);

    refused(&meta, bytes[..bytes.len() / 2].to_vec(), "do not parse").await;

    // A notary state restore's checks refuse: key holders not the genesis's.
    let strangers: Vec<String> = (0..3).map(|i| key(&format!("stranger-{i}")).address().to_string()).collect();
    refused(&meta, edit(&bytes, |v| v["state"]["notary"]["key_holders"] = strangers.into()), "does not restore").await;

    // A state restore accepts but the blocks do not produce: paused, or
    // another history's state under these blocks.
    refused(&meta, edit(&bytes, |v| v["state"]["notary"]["paused"] = "forged".into()), "not the state").await;
    let other = history(10).await;
    let other_notary: Value = serde_json::from_slice(&other.notary_bytes()).unwrap();
    refused(&meta, edit(&bytes, |v| v["state"]["notary"] = other_notary), "not the state").await;

    // The tip re-sealed by a key outside the registry.
    let resealed = edit(&bytes, |v| {
        let mut tip = block_hex(v, 2);
        tip.signature = genesis().domain().sign(&key("stranger"), &tip.header);
        v["blocks"][1][0] = hex::encode(tip.encode()).into();
    });
    refused(&meta, resealed, "not a registered node account").await;

    // A corrupted block: its entries no longer match its header.
    let corrupted = edit(&bytes, |v| {
        let mut b = block_hex(v, 1);
        b.entries[0].time += 1;
        v["blocks"][0][0] = hex::encode(b.encode()).into();
    });
    refused(&meta, corrupted, "Merkle root").await;

    // Forged records: block 1 listed as notarizing nothing.
    refused(&meta, edit(&bytes, |v| v["blocks"][0][1] = Value::Array(vec![])), "notarized records").await;

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
    let err = follower.install(&fork_meta, fork_bytes.clone()).await.expect_err("a rewrite of held blocks");
    assert!(err.contains("differs from the block 1 this node holds"), "{err}");
    assert_eq!(follower.notary_bytes(), leader.notary_bytes(), "the follower keeps its verified chain");
    assert_eq!(follower.sm.shared().block(1).unwrap(), leader.sm.shared().block(1).unwrap());
    // The same fork installs where nothing contradicts it.
    Replica::new().install(&fork_meta, fork_bytes).await.unwrap();

    // The leader's own later snapshot (a longer history) installs on the follower.
    leader.notarize(4).await;
    leader.seal(&node_key()).await;
    let (meta, bytes) = leader.snapshot().await;
    follower.install(&meta, bytes).await.unwrap();
    assert_eq!((follower.height(), follower.notary_bytes()), (3, leader.notary_bytes()));
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

    let (meta, bytes) = r.snapshot().await;
    refused(&meta, edit(&bytes, |v| v["state"]["unsealed_bytes"] = 0.into()), "size it records").await;

    r.seal(&node_key()).await;
    let block = r.sm.shared().block(1).unwrap().expect("block 1 stored");
    assert!(block.len() <= box_core::encoding::MAX_ENCODED_LEN, "block 1 is {} bytes", block.len());
    let decoded = Block::decode(&block).expect("block 1 decodes");
    assert_eq!(decoded.entries.len() as u64, n - 1);

    let again = r.notary(NotaryEntry::Submit(sample_flow(n))).await;
    assert_eq!(again.outcome, Outcome::Submitted);
    assert!(r.sm.shared().read().notary.subject(&id).is_some());
}
