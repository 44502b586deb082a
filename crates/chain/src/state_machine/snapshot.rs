//! Snapshots: the chain state with every block and its notarized records,
//! built, saved with their metadata (so a snapshot keeps the id it was
//! built or received with), installed and read back.

use super::{ChainState, NotarizedRecord, SNAPSHOT, StateMachine};
use crate::log_store::{StoreError, rerr, werr};
use crate::types::{NodeId, TypeConfig};
use openraft::storage::Snapshot;
use openraft::{BasicNode, RaftSnapshotBuilder, SnapshotMeta, StorageIOError};
use redb::ReadableDatabase;
use serde::{Deserialize, Serialize};
use std::io::Cursor;

/// A snapshot's bytes: the state, then every block with its notarized records.
#[derive(Serialize, Deserialize)]
pub(super) struct SnapshotData {
    pub(super) state: ChainState,
    pub(super) blocks: Vec<(String, Vec<NotarizedRecord>)>,
}

impl StateMachine {
    fn all_blocks(&self, upto: u64) -> Result<Vec<(String, Vec<NotarizedRecord>)>, StoreError> {
        let mut out = Vec::new();
        for h in 1..=upto {
            let b =
                self.shared.block(h).map_err(rerr)?.ok_or_else(|| {
                    werr(std::io::Error::other(format!("block {h} missing while building a snapshot")))
                })?;
            out.push((hex::encode(b), self.shared.notarized(h).map_err(rerr)?));
        }
        Ok(out)
    }

    /// Saves a snapshot's bytes and its metadata in one durable transaction,
    /// so the current snapshot keeps the id it was built or received with.
    fn save_snapshot(&self, bytes: &[u8], meta: &SnapshotMeta<NodeId, BasicNode>) -> Result<(), StoreError> {
        let meta = serde_json::to_vec(meta).map_err(werr)?;
        let tx = self.shared.db.begin_write().map_err(werr)?;
        {
            let mut t = tx.open_table(SNAPSHOT).map_err(werr)?;
            t.insert("data", bytes).map_err(werr)?;
            t.insert("meta", meta.as_slice()).map_err(werr)?;
        }
        tx.commit().map_err(werr)
    }

    /// Metadata for a new snapshot of `state`, with a fresh id.
    fn new_meta(&self, state: &ChainState) -> SnapshotMeta<NodeId, BasicNode> {
        let seq = self.shared.snapshot_seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        SnapshotMeta {
            last_log_id: state.last_applied,
            last_membership: state.membership.clone(),
            snapshot_id: format!("{}-{seq}", state.last_applied.map_or(0, |l| l.index)),
        }
    }

    /// Installs a snapshot received from the leader, once it verified
    /// ([`super::verify`]: restore's checks, the blocks from the genesis with
    /// every seal and certificate, the state they produce): its blocks, then
    /// its state. A snapshot that does not verify changes nothing.
    pub(super) fn install(&self, meta: &SnapshotMeta<NodeId, BasicNode>, bytes: Vec<u8>) -> Result<(), StoreError> {
        let refuse = |e: String| {
            tracing::error!(snapshot = %meta.snapshot_id, "snapshot refused: {e}");
            StorageIOError::read_snapshot(
                Some(meta.signature()),
                &std::io::Error::other(format!("snapshot refused: {e}")),
            )
        };
        let data: SnapshotData =
            serde_json::from_slice(&bytes).map_err(|e| refuse(format!("its bytes do not parse: {e}")))?;
        if data.state.last_applied != meta.last_log_id || data.state.membership != meta.last_membership {
            return Err(refuse("its state is not at the log position its metadata names".into()).into());
        }
        let genesis = self.shared.read().notary.genesis().clone();
        let held = |h: u64| self.shared.block(h).map_err(|e| format!("cannot read block {h}: {e}"));
        let verified = super::verify::verify(&genesis, data, held).map_err(refuse)?;
        for (block, notarized, decided, proofs, rejected) in &verified.blocks {
            self.shared.store_block(block, notarized, decided, proofs, rejected)?;
        }
        self.save_snapshot(&bytes, meta)?;
        let height = verified.state.height();
        *self.write() = verified.state;
        self.shared.height_tx.send_replace(height);
        self.shared.applied.notify_waiters();
        Ok(())
    }

    /// The snapshot last built or installed, with the metadata it was saved with.
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
            // Saved before the metadata was kept with the bytes: describe it anew.
            None => self.new_meta(&serde_json::from_slice::<SnapshotData>(&bytes).map_err(rerr)?.state),
        };
        Ok(Some(Snapshot { meta, snapshot: Box::new(Cursor::new(bytes)) }))
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StoreError> {
        let state = self.shared.read().clone();
        let blocks = self.all_blocks(state.height())?;
        let bytes = serde_json::to_vec(&SnapshotData { state: state.clone(), blocks }).map_err(rerr)?;
        let meta = self.new_meta(&state);
        self.save_snapshot(&bytes, &meta)?;
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(bytes)) })
    }
}
