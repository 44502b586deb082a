//! Snapshots: the state at the chain tip plus what was applied after it
//! ([`super::tip`]), built, saved with their metadata (so a snapshot keeps
//! the id it was built or received with), installed and read back.
//!
//! Building one costs the live state plus a few blocks, never the history:
//! the state at the tip is the state this node put aside when it sealed a
//! block shortly before the snapshot was due (`Keeper::snapshots_every`),
//! with the blocks sealed since replayed on it (from this node's store,
//! through box-core's [`HistoryVerifier`]). Without one (the first snapshot
//! after a start or an install, or raft's timing off its interval) it is
//! the previous snapshot's tip state with every block since replayed. Only a node
//! whose saved snapshot is an earlier version's JSON (or that has none)
//! replays from the genesis, once. Blocks stay in the store: a node that
//! installs a snapshot fetches the blocks below its tip from its peers
//! (`crate::backfill`).

use super::tip::{MAGIC, RaftPart, TipSnapshot};
use super::{ChainState, NotarizedRecord, SNAPSHOT, Shared, StateMachine};
use crate::log_store::{StoreError, rerr, werr};
use crate::types::{NodeId, TypeConfig};
use box_core::audit::HistoryVerifier;
use box_core::block::{Block, BlockHeader};
use box_core::checkpoint;
use box_core::encoding::Canonical;
use box_core::evidence::SealedHeader;
use openraft::storage::Snapshot;
use openraft::{BasicNode, RaftSnapshotBuilder, SnapshotMeta, StorageIOError};
use redb::ReadableDatabase;
use redb::ReadableTable;
use serde::{Deserialize, Serialize};
use std::io::Cursor;

/// An earlier version's snapshot bytes (JSON): the state, then every block
/// with its notarized records. Read (on open, and from a leader not yet
/// upgraded), never written.
#[derive(Serialize, Deserialize)]
pub(super) struct SnapshotData {
    pub(super) state: ChainState,
    pub(super) blocks: Vec<(String, Vec<NotarizedRecord>)>,
}

fn build_error(e: String) -> StoreError {
    werr(std::io::Error::other(format!("cannot build a snapshot: {e}")))
}

impl StateMachine {
    /// The saved snapshot's bytes, if any.
    fn saved(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.shared.db.begin_read().map_err(rerr)?;
        let t = tx.open_table(SNAPSHOT).map_err(rerr)?;
        Ok(t.get("data").map_err(rerr)?.map(|g| g.value().to_vec()))
    }

    /// box-core's checkpoint of the state after block `height`: the state
    /// this node put aside at a block shortly before the snapshot was due
    /// (`Keeper::snapshots_every`) with the few blocks since replayed on it;
    /// else the saved snapshot's tip state with the blocks since replayed on
    /// it, or (no binary snapshot saved yet) every block from the genesis.
    fn tip_checkpoint(&self, height: u64) -> Result<Vec<u8>, StoreError> {
        if let Some(base) = self.shared.take_snapshot_base(height) {
            let verifier = HistoryVerifier::at_sealed(base.sealed.state, &base.header, base.sealed.next_index);
            return self.replayed_to(verifier, Some(base.header), height);
        }
        let genesis = self.shared.read().notary.genesis().clone();
        let from_saved = match self.saved()? {
            Some(bytes) if bytes.starts_with(MAGIC) => {
                let tip = TipSnapshot::decode(&bytes).map_err(build_error)?;
                let cp = checkpoint::decode(&genesis, &tip.checkpoint).map_err(|e| build_error(e.0))?;
                (cp.verifier.height() <= height).then_some((cp.verifier, cp.header))
            }
            _ => None,
        };
        let (verifier, header) = match from_saved {
            Some(v) => v,
            None => (HistoryVerifier::new(&genesis).map_err(|e| build_error(e.to_string()))?, None),
        };
        self.replayed_to(verifier, header, height)
    }

    /// The checkpoint of `verifier` (whose last block's sealed header is
    /// `header`) with this node's blocks after it up to `height` pushed.
    fn replayed_to(
        &self,
        mut verifier: HistoryVerifier,
        mut header: Option<SealedHeader>,
        height: u64,
    ) -> Result<Vec<u8>, StoreError> {
        // The blocks since are this node's own: most of their signers are in its memo.
        self.shared.remembering(|| {
            for h in verifier.height() + 1..=height {
                let raw =
                    self.shared.block(h).map_err(rerr)?.ok_or_else(|| build_error(format!("block {h} is missing")))?;
                let block = Block::decode(&raw).map_err(|e| build_error(format!("block {h} does not decode: {e}")))?;
                verifier.push(&block).map_err(|e| build_error(e.to_string()))?;
                header = Some(block.sealed_header());
            }
            Ok::<_, StoreError>(())
        })?;
        Ok(checkpoint::encode(&verifier, header.as_ref()))
    }

    /// Saves a snapshot's bytes and its metadata in one durable transaction,
    /// so the current snapshot keeps the id it was built or received with,
    /// unless the saved one is at a later log position: a snapshot built
    /// from the state before a newer one was installed (openraft builds in
    /// the background while the state machine installs) must not replace it.
    /// Raft purges its log up to an installed snapshot, so a node restarted
    /// with the older one saved would find its log purged past its snapshot
    /// and could not start. Returns whether it saved.
    fn save_snapshot(&self, bytes: &[u8], meta: &SnapshotMeta<NodeId, BasicNode>) -> Result<bool, StoreError> {
        let encoded = serde_json::to_vec(meta).map_err(werr)?;
        let tx = super::durable_write(&self.shared.db).map_err(werr)?;
        {
            let mut t = tx.open_table(SNAPSHOT).map_err(werr)?;
            let saved: Option<SnapshotMeta<NodeId, BasicNode>> =
                t.get("meta").map_err(werr)?.and_then(|g| serde_json::from_slice(g.value()).ok());
            if let Some(saved) = saved.filter(|s| s.last_log_id > meta.last_log_id) {
                tracing::info!(
                    snapshot = %meta.snapshot_id,
                    "snapshot not saved: the one saved ({}) is at a later log position",
                    saved.snapshot_id
                );
                return Ok(false);
            }
            t.insert("data", bytes).map_err(werr)?;
            t.insert("meta", encoded.as_slice()).map_err(werr)?;
        }
        tx.commit().map_err(werr)?;
        self.shared.keeper.snapshot_at(meta.last_log_id.map_or(0, |l| l.index));
        Ok(true)
    }

    /// Metadata for a new snapshot at `last_applied`, with a fresh id.
    fn new_meta(
        &self,
        last_applied: Option<openraft::LogId<NodeId>>,
        membership: &openraft::StoredMembership<NodeId, BasicNode>,
    ) -> SnapshotMeta<NodeId, BasicNode> {
        let seq = self.shared.snapshot_seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        SnapshotMeta {
            last_log_id: last_applied,
            last_membership: membership.clone(),
            snapshot_id: format!("{}-{seq}", last_applied.map_or(0, |l| l.index)),
        }
    }

    /// Installs a snapshot received from the leader, once it verified
    /// ([`super::verify`]) and a strict majority of the node registry attests
    /// its tip ([`super::attested`], waited for): the state at its tip, then the blocks below the
    /// tip are fetched from peers in the background (`crate::backfill`). An
    /// earlier version's JSON snapshot installs its blocks and state as
    /// before. A snapshot that does not verify changes nothing; the reason
    /// is logged and returned.
    pub(super) async fn install(
        &self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        bytes: Vec<u8>,
    ) -> Result<(), StoreError> {
        let refuse = |e: String| {
            tracing::error!(snapshot = %meta.snapshot_id, "snapshot refused: {e}");
            StorageIOError::read_snapshot(
                Some(meta.signature()),
                &std::io::Error::other(format!("snapshot refused: {e}")),
            )
        };
        if !bytes.starts_with(MAGIC) {
            return self.install_json(meta, bytes, refuse);
        }
        let data = TipSnapshot::decode(&bytes).map_err(|e| refuse(format!("its bytes do not parse: {e}")))?;
        if data.raft.last_applied != meta.last_log_id || data.raft.membership != meta.last_membership {
            return Err(refuse("its state is not at the log position its metadata names".into()).into());
        }
        let genesis = self.shared.read().notary.genesis().clone();
        let held = |h: u64| self.shared.block(h).map_err(|e| format!("cannot read block {h}: {e}"));
        let keep = |h: u64| self.shared.keeps(h);
        let mut verified =
            super::verify::verify_tip(&genesis, super::verify::Source::Peer, data, held, keep).map_err(refuse)?;
        let mut changes = None;
        if let Some((header, registry)) = &verified.tip {
            let (n, chain) = super::attested::certify_tip(&self.shared, &genesis, header, registry)
                .await
                .map_err(|e| refuse(format!("its tip is not the chain's: {e}")))?;
            tracing::info!(
                snapshot = %meta.snapshot_id,
                "a snapshot of {} bytes: its tip block {} is attested by {n} registered node accounts",
                bytes.len(),
                header.height
            );
            changes = Some(chain);
        }
        self.save_snapshot(&bytes, meta)?;
        self.shared.want_blocks_below(verified.height, verified.hash, &verified.proofs, changes.as_deref())?;
        if let Some(sealed) = verified.sealed.take() {
            self.shared.keeper.restored(sealed);
        }
        self.adopt(verified.state);
        Ok(())
    }

    /// Makes `state`, a verified snapshot's, this node's: publishes its
    /// registry and height and wakes whoever waits for applied entries.
    fn adopt(&self, state: ChainState) {
        let height = state.height();
        {
            let mut s = self.write();
            *s = state;
            self.shared.publish_registry(&s);
        }
        self.shared.keeper.forget_snapshot_base();
        self.shared.height_tx.send_replace(height);
        self.shared.applied.notify_waiters();
    }

    /// Installs an earlier version's JSON snapshot (every block with its
    /// records, checked from the genesis).
    fn install_json(
        &self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        bytes: Vec<u8>,
        refuse: impl Fn(String) -> StorageIOError<NodeId>,
    ) -> Result<(), StoreError> {
        let data: SnapshotData =
            serde_json::from_slice(&bytes).map_err(|e| refuse(format!("its bytes do not parse: {e}")))?;
        if data.state.last_applied != meta.last_log_id || data.state.membership != meta.last_membership {
            return Err(refuse("its state is not at the log position its metadata names".into()).into());
        }
        let genesis = self.shared.read().notary.genesis().clone();
        let held = |h: u64| self.shared.block(h).map_err(|e| format!("cannot read block {h}: {e}"));
        let verified = super::verify::verify_json(&genesis, data, held).map_err(refuse)?;
        for (block, notarized, decided, proofs, rejected) in &verified.blocks {
            self.shared.store_block(block, notarized, decided, proofs, rejected)?;
        }
        self.save_snapshot(&bytes, meta)?;
        self.adopt(verified.state);
        Ok(())
    }

    /// The snapshot last built or installed, with the metadata it was saved
    /// with (either format: an earlier version's JSON one is served as saved).
    pub(super) fn current(&self) -> Result<Option<Snapshot<TypeConfig>>, StoreError> {
        let (saved, meta): (Option<Vec<u8>>, Option<Vec<u8>>) = {
            let tx = self.shared.db.begin_read().map_err(rerr)?;
            let t = tx.open_table(SNAPSHOT).map_err(rerr)?;
            let data = t.get("data").map_err(rerr)?.map(|g| g.value().to_vec());
            let meta = t.get("meta").map_err(rerr)?.map(|g| g.value().to_vec());
            (data, meta)
        };
        let Some(bytes) = saved else { return Ok(None) };
        let meta = match meta {
            Some(m) => serde_json::from_slice(&m).map_err(rerr)?,
            // Saved before the metadata was kept with the bytes (always JSON then): describe it anew.
            None => {
                let state = serde_json::from_slice::<SnapshotData>(&bytes).map_err(rerr)?.state;
                self.new_meta(state.last_applied, &state.membership)
            }
        };
        Ok(Some(Snapshot { meta, snapshot: Box::new(Cursor::new(bytes)) }))
    }
}

/// `snapshot` with the last byte of its tip state changed (a binary
/// snapshot; an earlier version's JSON one is left as it is): what a node
/// started with `BOX_NODE_FAULT=forge-snapshots` sends.
pub(super) fn forged(mut snapshot: Snapshot<TypeConfig>) -> Snapshot<TypeConfig> {
    if let Ok(mut tip) = TipSnapshot::decode(snapshot.snapshot.get_ref())
        && let Some(last) = tip.checkpoint.last_mut()
    {
        *last ^= 1;
        tracing::warn!(snapshot = %snapshot.meta.snapshot_id, "fault injection: sending a snapshot with a forged tip state");
        snapshot.snapshot = Box::new(Cursor::new(tip.encode()));
    }
    snapshot
}

/// `snapshot` with its tip forked consistently (a binary snapshot with a
/// sealed tip; anything else is left as it is): the tip header one second
/// later, sealed with this node's account key, the latest entry time and
/// the pending block's parent following it. What a node started with
/// `BOX_NODE_FAULT=fork-snapshots` sends: only the registry's attestations
/// refuse it.
pub(super) fn forked(shared: &Shared, mut snapshot: Snapshot<TypeConfig>) -> Snapshot<TypeConfig> {
    let genesis = shared.read().notary.genesis().clone();
    let domain = genesis.domain();
    let (Ok(mut tip), Some(key)) = (TipSnapshot::decode(snapshot.snapshot.get_ref()), shared.keeper.key.get()) else {
        return snapshot;
    };
    let Ok(cp) = checkpoint::decode(&genesis, &tip.checkpoint) else { return snapshot };
    let Some(sealed) = cp.header else { return snapshot };
    let header = BlockHeader { time: sealed.header.time + 1, ..sealed.header };
    let fork = SealedHeader { signature: domain.sign(key, &header), header };
    tip.last_time = tip.last_time.max(fork.header.time);
    if let Some((pending, _)) = tip.pending.as_mut() {
        pending.parent = domain.signing_hash(&fork.header);
    }
    tip.checkpoint = checkpoint::encode_sealed(cp.verifier.state().clone(), &fork, cp.verifier.next_index());
    tracing::warn!(snapshot = %snapshot.meta.snapshot_id, height = fork.header.height, "fault injection: sending a snapshot whose tip is a re-sealed fork");
    snapshot.snapshot = Box::new(Cursor::new(tip.encode()));
    snapshot
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StoreError> {
        // The parts of the state that are not at the tip (bounded by a
        // block's budget each), read at one log position.
        let (raft, last_time, height, pending, unsealed) = {
            let s = self.shared.read();
            let raft = RaftPart { last_applied: s.last_applied, membership: s.membership.clone() };
            let pending = s.pending.as_ref().map(|p| (p.header.clone(), p.entries.clone()));
            (raft, s.last_time, s.height(), pending, s.unsealed.clone())
        };
        let checkpoint = self.tip_checkpoint(height)?;
        let tip = TipSnapshot { raft, last_time, checkpoint, pending, unsealed };
        let bytes = tip.encode();
        let meta = self.new_meta(tip.raft.last_applied, &tip.raft.membership);
        self.save_snapshot(&bytes, &meta)?;
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(bytes)) })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use openraft::{CommittedLeaderId, LogId, StoredMembership};

    fn meta(index: u64) -> SnapshotMeta<NodeId, BasicNode> {
        SnapshotMeta {
            last_log_id: Some(LogId::new(CommittedLeaderId::new(1, 1), index)),
            last_membership: StoredMembership::default(),
            snapshot_id: format!("{index}-0"),
        }
    }

    /// A snapshot built from the state at log index 819 finishes after one
    /// at 884 was installed: the installed one stays the current snapshot
    /// (raft purged its log up to 884), also after a restart.
    #[tokio::test]
    async fn a_snapshot_built_before_a_newer_one_was_installed_does_not_replace_it() {
        let dir = tempfile::tempdir().unwrap();
        let sm = super::super::test_machine(dir.path(), 0x5A);
        assert!(sm.save_snapshot(b"installed at 884", &meta(884)).unwrap());
        assert!(!sm.save_snapshot(b"built at 819", &meta(819)).unwrap());
        let saved = |sm: &StateMachine| {
            let tx = sm.shared.db.begin_read().unwrap();
            let t = tx.open_table(SNAPSHOT).unwrap();
            let meta: SnapshotMeta<NodeId, BasicNode> =
                serde_json::from_slice(t.get("meta").unwrap().unwrap().value()).unwrap();
            (t.get("data").unwrap().unwrap().value().to_vec(), meta.snapshot_id)
        };
        assert_eq!(saved(&sm), (b"installed at 884".to_vec(), "884-0".to_owned()));
        // A later one still replaces it.
        assert!(sm.save_snapshot(b"built at 900", &meta(900)).unwrap());
        assert_eq!(saved(&sm).1, "900-0");
    }
}
