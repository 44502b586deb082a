//! What a node keeps for new followers (issue 13, item 3): its attestation
//! of a block it holds, the notarized node-registry changes in order, and
//! the state after every `state_checkpoint_every`-th sealed block.
//!
//! - **Registry changes** are indexed when a block that notarized a
//!   `NodeChange` is stored (`store_block`, in the block's own write
//!   transaction): one row per such block, so the whole chain is read in one
//!   pass over a table with one row per node change.
//! - **Kept states.** At `Seal` of a height that is a multiple of the
//!   interval, the live notary state is exactly the state the header
//!   commits to (`stateHash` is its root; later entries only apply after
//!   `Seal`), so a copy of it is put aside; once `SignBlock` stores that
//!   block, a background thread writes the binary checkpoint
//!   (`box_core::checkpoint::encode_sealed`) with the signed header, and
//!   drops all but the latest [`KEPT`]. Nothing is replicated or part of the
//!   raft snapshot. A snapshot taken between `Seal` and `SignBlock` holds
//!   the pending block's entries: restoring it (at start, or installing it
//!   from the leader) replays them on the tip's state, and the state the
//!   header commits to is put aside from there (`verify::verify_tip`).
//! - **Attestations** are signed on request with the node account key (the
//!   one that seals), over the header of a block this node stored.
//!
//! What it does not do: decide what a follower may believe. A kept state is
//! this node's word; a follower checks its rows against the root a strict
//! majority attests (box-proto's `bootstrap`).

use super::{NotarizedRecord, Shared};
use crate::log_store::{StoreError, werr};
use box_core::attestation::{RegistryChange, SignedAttestation, statement_of};
use box_core::block::Block;
use box_core::crypto::SecretKey;
use box_core::encoding::{Canonical, Kind};
use box_core::evidence::SealedHeader;
use box_core::governance::GovernanceAction;
use box_core::notary::{NotaryState, Subject};
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// Notarized node changes by the height of the block that notarized them
/// (JSON list of [`RegistryChange`]).
const REGISTRY_CHANGES: TableDefinition<u64, &[u8]> = TableDefinition::new("registry_changes");
/// Binary checkpoints of the state after a sealed block, by its height.
const KEPT_STATES: TableDefinition<u64, &[u8]> = TableDefinition::new("kept_states");

/// How many kept states a node holds (the latest ones).
pub const KEPT: usize = 2;

/// A state put aside at `Seal`, waiting for its block's signature.
pub(super) struct Sealed {
    /// The sealed block's height.
    pub(super) height: u64,
    /// The state its header commits to.
    pub(super) state: NotaryState,
    /// The log index after its last entry.
    pub(super) next_index: Option<u64>,
}

/// A state put aside for the next snapshot once its block was signed:
/// where that snapshot's build starts (see [`Keeper::snapshots_every`]).
pub(super) struct SnapshotBase {
    /// The state after the block, its height and the log index after it.
    pub(super) sealed: Sealed,
    /// The block's signed header.
    pub(super) header: SealedHeader,
}

/// The node's key and interval for what it keeps, and the state put aside
/// at the latest `Seal` of a kept height; and the state put aside for the
/// next snapshot.
pub struct Keeper {
    pub(super) key: OnceLock<SecretKey>,
    every: AtomicU64,
    sealed: Mutex<Option<Sealed>>,
    /// Raft's log entries between snapshots (0: nothing is put aside).
    snapshot_every: AtomicU64,
    /// The last log index of the current snapshot (0: none yet).
    snapshot_index: AtomicU64,
    /// Put aside at a `Seal` shortly before a snapshot is due, until its block is signed.
    for_snapshot: Mutex<Option<Sealed>>,
    /// That state once its block was signed.
    snapshot_base: Mutex<Option<SnapshotBase>>,
}

impl Default for Keeper {
    fn default() -> Self {
        Self {
            key: OnceLock::new(),
            every: AtomicU64::new(crate::config::DEFAULT_STATE_CHECKPOINT_EVERY),
            sealed: Mutex::new(None),
            snapshot_every: AtomicU64::new(0),
            snapshot_index: AtomicU64::new(0),
            for_snapshot: Mutex::new(None),
            snapshot_base: Mutex::new(None),
        }
    }
}

impl Keeper {
    /// Sets the node account key attestations are signed with and the
    /// interval (blocks, at least 1) at which states are kept. The key is
    /// set once; a second call only changes the interval. A state put aside
    /// for a height the interval does not keep is dropped.
    pub fn configure(&self, key: SecretKey, every: u64) {
        let _ = self.key.set(key);
        let every = every.max(1);
        self.every.store(every, Ordering::Relaxed);
        let mut sealed = self.sealed();
        if sealed.as_ref().is_some_and(|s| !s.height.is_multiple_of(every)) {
            *sealed = None;
        }
    }

    /// Puts aside the state of a block sealed before this node's state was
    /// restored (its snapshot was taken between `Seal` and `SignBlock`),
    /// whatever its height: [`Keeper::configure`] drops it if the interval
    /// does not keep that height.
    pub(super) fn restored(&self, sealed: Sealed) {
        *self.sealed() = Some(sealed);
    }

    fn sealed(&self) -> std::sync::MutexGuard<'_, Option<Sealed>> {
        lock(&self.sealed)
    }

    /// Puts aside the state after a block sealed shortly before each
    /// snapshot is due, raft taking one every `every` log entries (the
    /// node's `raft.snapshot_every`), so that building the snapshot starts
    /// from it and replays only the blocks after it, instead of replaying
    /// every block since the previous snapshot on that snapshot's state
    /// (which applied every entry a second time, about a tenth of a busy
    /// node's CPU). One copy of the live state per snapshot, the order of
    /// the snapshot's own encoding. 0 turns it off.
    pub fn snapshots_every(&self, every: u64) {
        self.snapshot_every.store(every, Ordering::Relaxed);
    }

    /// The current snapshot ends at log index `index` (built, installed,
    /// or found at open).
    pub(super) fn snapshot_at(&self, index: u64) {
        self.snapshot_index.store(index, Ordering::Relaxed);
    }

    /// Drops what was put aside for the next snapshot: the state was
    /// replaced by an installed snapshot, so it no longer leads to the tip.
    pub(super) fn forget_snapshot_base(&self) {
        *lock(&self.for_snapshot) = None;
        *lock(&self.snapshot_base) = None;
    }

    /// Whether a block whose entries end before log index `next` is the
    /// one to put aside for the next snapshot: it ends within the last
    /// eighth of the entries before that snapshot is due, and nothing was
    /// put aside for it yet.
    fn snapshot_due(&self, next: Option<u64>) -> bool {
        let every = self.snapshot_every.load(Ordering::Relaxed);
        let Some(next) = next.filter(|_| every > 0) else { return false };
        let due = self.snapshot_index.load(Ordering::Relaxed).saturating_add(every);
        let window = due.saturating_sub((every / 8).max(1));
        let put_aside = |s: &Sealed| s.next_index.is_some_and(|n| n >= window);
        next >= window
            && !lock(&self.for_snapshot).as_ref().is_some_and(put_aside)
            && !lock(&self.snapshot_base).as_ref().is_some_and(|b| put_aside(&b.sealed))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Why a node does not attest a height.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttestError {
    /// Height 0, or a block this node does not hold.
    #[error("{0}")]
    NotFound(String),
    /// No key configured, or the store failed.
    #[error("{0}")]
    Internal(String),
}

/// The `meta` key saying the registry-change index covers every stored block.
const INDEXED_KEY: &str = "registry_changes_indexed";

/// Creates the tables (at open). A store written before the index existed
/// has its notarized records read once to build it (the only pass over
/// the history, at the first start of this version), so a node upgraded in
/// place serves the changes notarized before.
pub(super) fn create_tables(tx: &WriteTransaction) -> Result<(), String> {
    fn text<E: Into<redb::Error>>(e: E) -> String {
        e.into().to_string()
    }
    tx.open_table(REGISTRY_CHANGES).map_err(text)?;
    tx.open_table(KEPT_STATES).map_err(text)?;
    if tx.open_table(super::META).map_err(text)?.get(INDEXED_KEY).map_err(text)?.is_some() {
        return Ok(());
    }
    let heights: Vec<u64> = {
        let t = tx.open_table(super::NOTARIZED).map_err(text)?;
        super::pieces::keys(&t).map_err(text)?
    };
    for h in heights {
        let records: Vec<NotarizedRecord> = {
            let t = tx.open_table(super::NOTARIZED).map_err(text)?;
            let row = super::pieces::get(&t, h).map_err(text)?;
            row.map(|bytes| super::rows::decode_notarized(&bytes).unwrap_or_default()).unwrap_or_default()
        };
        index_registry_changes(tx, h, &records).map_err(|x| x.to_string())?;
    }
    tx.open_table(super::META).map_err(text)?.insert(INDEXED_KEY, [1u8].as_slice()).map_err(text)?;
    Ok(())
}

/// Indexes the node changes `notarized` holds, at `height`, in the block's
/// write transaction.
pub(super) fn index_registry_changes(
    tx: &WriteTransaction,
    height: u64,
    notarized: &[NotarizedRecord],
) -> Result<(), StoreError> {
    let governance = Kind::Governance as u8;
    let changes: Vec<RegistryChange> = notarized
        .iter()
        .filter(|n| n.payload.get(1) == Some(&governance))
        .filter(|n| {
            matches!(Subject::decode(&n.payload), Ok(Subject::Governance(a)) if matches!(a.action, GovernanceAction::NodeChange(_)))
        })
        .map(|n| RegistryChange { height, subject: n.payload.clone(), certificate: n.certificate.clone() })
        .collect();
    if changes.is_empty() {
        return Ok(());
    }
    let bytes = serde_json::to_vec(&changes).map_err(werr)?;
    tx.open_table(REGISTRY_CHANGES).map_err(werr)?.insert(height, bytes.as_slice()).map_err(werr)?;
    Ok(())
}

/// The `meta` key holding the tip height up to which the registry-change
/// index was taken from a verified registry chain ([`take_registry_chain`]).
const TAKEN_KEY: &str = "registry_changes_taken_upto";

/// Replaces this node's index of node changes at heights up to `tip` with
/// `changes` (those of the registry chain, verified from the genesis, that
/// certified a snapshot's tip at `tip`), and records that the index is
/// whole up to `tip`. In the caller's write transaction: the blocks below
/// the tip that the node then fetches carry no records to index them from
/// (crate README, "Snapshots"). Changes above `tip` are not taken: the
/// node indexes those itself as it applies the blocks after the tip.
pub(super) fn take_registry_chain(
    tx: &WriteTransaction,
    tip: u64,
    changes: &[RegistryChange],
) -> Result<(), StoreError> {
    let mut table = tx.open_table(REGISTRY_CHANGES).map_err(werr)?;
    let held: Vec<u64> = table
        .range(..=tip)
        .map_err(werr)?
        .map(|i| i.map(|(k, _)| k.value()))
        .collect::<Result<_, _>>()
        .map_err(werr)?;
    for h in held {
        table.remove(h).map_err(werr)?;
    }
    let mut rest = changes.iter().filter(|c| c.height <= tip).peekable();
    while let Some(first) = rest.next() {
        let mut row = vec![first.clone()];
        while let Some(next) = rest.next_if(|c| c.height == first.height) {
            row.push(next.clone());
        }
        let bytes = serde_json::to_vec(&row).map_err(werr)?;
        table.insert(first.height, bytes.as_slice()).map_err(werr)?;
    }
    drop(table);
    tx.open_table(super::META).map_err(werr)?.insert(TAKEN_KEY, tip.to_be_bytes().as_slice()).map_err(werr)?;
    Ok(())
}

/// Every indexed registry change, in order.
fn read_chain(db: &redb::Database) -> Result<Vec<RegistryChange>, redb::Error> {
    let tx = db.begin_read()?;
    let t = tx.open_table(REGISTRY_CHANGES)?;
    let mut out = Vec::new();
    for item in t.iter()? {
        let (_, v) = item?;
        let changes: Vec<RegistryChange> = serde_json::from_slice(v.value())
            .map_err(|e| redb::Error::Corrupted(format!("a registry change row does not read: {e}")))?;
        out.extend(changes);
    }
    Ok(out)
}

impl Shared {
    /// Every notarized node change this node stored, in order.
    pub fn registry_chain(&self) -> Result<Vec<RegistryChange>, redb::Error> {
        read_chain(&self.db)
    }

    /// The snapshot tip up to which this node's index of node changes was
    /// taken from a verified registry chain (0: never).
    pub fn registry_taken_to(&self) -> Result<u64, redb::Error> {
        Ok(self.meta_u64(TAKEN_KEY)?.unwrap_or(0))
    }

    /// The kept state at `height` (`None`: the latest), with its height.
    pub fn kept_state(&self, height: Option<u64>) -> Result<Option<(u64, Vec<u8>)>, redb::Error> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(KEPT_STATES)?;
        let found = match height {
            Some(h) => t.get(h)?.map(|g| (h, g.value().to_vec())),
            None => t.last()?.map(|(k, v)| (k.value(), v.value().to_vec())),
        };
        Ok(found)
    }

    /// This node's attestation of the block it holds at `height`.
    pub fn attest(&self, height: u64) -> Result<SignedAttestation, AttestError> {
        if height == 0 {
            return Err(AttestError::NotFound("height 0 is the genesis, not a sealed block; ask for 1 or more".into()));
        }
        let sealed = self
            .sealed_header(height)
            .map_err(|e| AttestError::Internal(e.to_string()))?
            .ok_or_else(|| AttestError::NotFound(format!("this node holds no block {height}")))?;
        let key = self
            .keeper
            .key
            .get()
            .ok_or_else(|| AttestError::Internal("this node has no account key to attest with".into()))?;
        let domain = self.read().notary.domain();
        Ok(SignedAttestation::sign(&domain, key, statement_of(&domain, &sealed.header)))
    }

    /// At `Seal` of `height`: puts `state` (the state the header commits to)
    /// aside if `height` is one to keep.
    ///
    /// Also puts it aside for the next snapshot when one is due soon
    /// ([`Keeper::snapshots_every`]).
    pub(super) fn seal_kept(&self, height: u64, state: &NotaryState, next_index: Option<u64>) {
        if self.keeps(height) {
            *self.keeper.sealed() = Some(Sealed { height, state: state.clone(), next_index });
        }
        if self.keeper.snapshot_due(next_index) {
            *lock(&self.keeper.for_snapshot) = Some(Sealed { height, state: state.clone(), next_index });
        }
    }

    /// The state put aside for the next snapshot, taken, if its block is at
    /// or below `height` (the tip the snapshot is built at).
    pub(super) fn take_snapshot_base(&self, height: u64) -> Option<SnapshotBase> {
        let mut base = lock(&self.keeper.snapshot_base);
        if base.as_ref().is_some_and(|b| b.sealed.height <= height) { base.take() } else { None }
    }

    /// The height of the block whose state is put aside for the next
    /// snapshot, once signed (what a test checks before building one).
    pub fn snapshot_base_height(&self) -> Option<u64> {
        lock(&self.keeper.snapshot_base).as_ref().map(|b| b.sealed.height)
    }

    /// Whether the state after block `height` is one to keep.
    pub(super) fn keeps(&self, height: u64) -> bool {
        height.is_multiple_of(self.keeper.every.load(Ordering::Relaxed).max(1))
    }

    /// Once `block` is stored: writes the state put aside for its height, if
    /// any, with its signed header, on a thread of its own (encoding a large
    /// state must not hold up the log).
    pub(super) fn keep_signed(self: &std::sync::Arc<Self>, block: &Block) {
        {
            let mut g = lock(&self.keeper.for_snapshot);
            if g.as_ref().is_some_and(|s| s.height == block.header.height)
                && let Some(sealed) = g.take()
            {
                *lock(&self.keeper.snapshot_base) = Some(SnapshotBase { sealed, header: block.sealed_header() });
            }
        }
        let sealed = {
            let mut g = self.keeper.sealed();
            match g.take() {
                Some(s) if s.height == block.header.height => s,
                other => {
                    *g = other;
                    return;
                }
            }
        };
        let shared = self.clone();
        let header = block.sealed_header();
        std::thread::spawn(move || {
            let height = sealed.height;
            let bytes = box_core::checkpoint::encode_sealed(sealed.state, &header, sealed.next_index);
            if let Err(e) = shared.write_kept(height, &bytes) {
                tracing::warn!(height, "cannot keep the state after block {height}: {e}");
            }
        });
    }

    fn write_kept(&self, height: u64, bytes: &[u8]) -> Result<(), redb::Error> {
        let tx = super::durable_write(&self.db)?;
        {
            let mut t = tx.open_table(KEPT_STATES)?;
            t.insert(height, bytes)?;
            let heights: Vec<u64> = t.iter()?.map(|i| i.map(|(k, _)| k.value())).collect::<Result<_, _>>()?;
            for old in heights.iter().rev().skip(KEPT) {
                t.remove(*old)?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use box_core::governance::SignedAction;
    use box_core::ids::SubjectId;
    use box_core::typed::NodeChange;
    use box_core::{Address, B256};

    fn record(payload: Vec<u8>) -> NotarizedRecord {
        NotarizedRecord { subject: SubjectId(B256::repeat_byte(1)), payload, certificate: vec![7, 7] }
    }

    #[test]
    fn a_store_written_before_the_index_has_its_node_changes_indexed_once_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("state.redb")).unwrap();
        let change = Subject::Governance(SignedAction {
            action: GovernanceAction::NodeChange(NodeChange {
                account: Address::repeat_byte(4),
                nodeId: 4,
                endpoint: "127.0.0.1:7004".into(),
                add: true,
                nonce: 1,
            }),
            signatures: vec![],
        })
        .encode();
        let flow = box_testkit::sample_flow(1).encode();
        // What an earlier version wrote: notarized records, no index.
        let tx = db.begin_write().unwrap();
        {
            let mut t = tx.open_table(super::super::LEGACY_NOTARIZED).unwrap();
            for (h, records) in [(3u64, vec![record(flow.clone())]), (5, vec![record(flow), record(change.clone())])] {
                t.insert(h, serde_json::to_vec(&records).unwrap().as_slice()).unwrap();
            }
        }
        tx.commit().unwrap();
        // As at open: the rows move into pieces first, then the index is built from them.
        let moved = super::super::pieces::move_legacy(&db, super::super::LEGACY_NOTARIZED, super::super::NOTARIZED);
        assert_eq!(moved.unwrap(), 2);
        let tx = db.begin_write().unwrap();
        create_tables(&tx).unwrap();
        tx.commit().unwrap();
        let chain = read_chain(&db).unwrap();
        assert_eq!(chain, vec![RegistryChange { height: 5, subject: change, certificate: vec![7, 7] }]);
        // Once: a second open does not index again (a row written meanwhile stays as it is).
        let tx = db.begin_write().unwrap();
        tx.open_table(REGISTRY_CHANGES).unwrap().remove(5).unwrap();
        create_tables(&tx).unwrap();
        tx.commit().unwrap();
        assert!(read_chain(&db).unwrap().is_empty());
    }

    #[test]
    fn a_taken_registry_chain_replaces_the_index_up_to_the_tip_and_keeps_what_is_above() {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("state.redb")).unwrap();
        let change = |h: u64, tag: u8| RegistryChange { height: h, subject: vec![tag], certificate: vec![tag, tag] };
        let tx = db.begin_write().unwrap();
        create_tables(&tx).unwrap();
        {
            // What the node indexed itself: a row below the tip the chain
            // does not list, and one above the tip.
            let mut t = tx.open_table(REGISTRY_CHANGES).unwrap();
            for c in [change(4, 0xEE), change(30, 3)] {
                t.insert(c.height, serde_json::to_vec(&vec![c.clone()]).unwrap().as_slice()).unwrap();
            }
        }
        tx.commit().unwrap();

        let tx = db.begin_write().unwrap();
        // Two changes at one height share a row; the one above the tip is not taken.
        let taken = [change(2, 1), change(7, 2), change(7, 4), change(25, 9)];
        take_registry_chain(&tx, 20, &taken).unwrap();
        tx.commit().unwrap();
        assert_eq!(read_chain(&db).unwrap(), vec![change(2, 1), change(7, 2), change(7, 4), change(30, 3)]);
        let meta = db.begin_read().unwrap();
        let t = meta.open_table(super::super::META).unwrap();
        assert_eq!(t.get(TAKEN_KEY).unwrap().unwrap().value(), 20u64.to_be_bytes().as_slice());
    }
}
