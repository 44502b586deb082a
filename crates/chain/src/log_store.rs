//! The raft log and vote in redb. Every write commits with redb's default
//! immediate durability (fsync) before it returns or reports completion, so a
//! `kill -9` loses nothing raft considered persisted.

use crate::types::{NodeId, TypeConfig};
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{Entry, LogId, OptionalSend, RaftLogReader, StorageError, StorageIOError, Vote};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::Arc;

const LOGS: TableDefinition<u64, &[u8]> = TableDefinition::new("logs");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

pub(crate) type StoreError = StorageError<NodeId>;

pub(crate) fn rerr<E: std::error::Error + 'static>(e: E) -> StoreError {
    StorageIOError::read(&e).into()
}
pub(crate) fn werr<E: std::error::Error + 'static>(e: E) -> StoreError {
    StorageIOError::write(&e).into()
}

/// The durable raft log.
#[derive(Clone)]
pub struct LogStore {
    db: Arc<Database>,
}

impl LogStore {
    /// Opens (or creates) the log database at `path`.
    pub fn open(path: &Path) -> Result<Self, redb::Error> {
        let db = Database::create(path)?;
        let tx = db.begin_write()?;
        {
            tx.open_table(LOGS)?;
            tx.open_table(META)?;
        }
        tx.commit()?;
        Ok(Self { db: Arc::new(db) })
    }

    fn put_meta<T: Serialize>(&self, k: &str, v: &T) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(v).map_err(werr)?;
        let tx = self.db.begin_write().map_err(werr)?;
        {
            let mut t = tx.open_table(META).map_err(werr)?;
            t.insert(k, bytes.as_slice()).map_err(werr)?;
        }
        tx.commit().map_err(werr)
    }

    fn get_meta<T: DeserializeOwned>(&self, k: &str) -> Result<Option<T>, StoreError> {
        let tx = self.db.begin_read().map_err(rerr)?;
        let t = tx.open_table(META).map_err(rerr)?;
        match t.get(k).map_err(rerr)? {
            Some(g) => Ok(Some(serde_json::from_slice(g.value()).map_err(rerr)?)),
            None => Ok(None),
        }
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StoreError> {
        let tx = self.db.begin_read().map_err(rerr)?;
        let t = tx.open_table(LOGS).map_err(rerr)?;
        let mut out = Vec::new();
        for item in t.range(range).map_err(rerr)? {
            let (_, v) = item.map_err(rerr)?;
            out.push(serde_json::from_slice(v.value()).map_err(rerr)?);
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StoreError> {
        let last_purged: Option<LogId<NodeId>> = self.get_meta("last_purged")?;
        let tx = self.db.begin_read().map_err(rerr)?;
        let t = tx.open_table(LOGS).map_err(rerr)?;
        let last = match t.last().map_err(rerr)? {
            Some((_, v)) => Some(serde_json::from_slice::<Entry<TypeConfig>>(v.value()).map_err(rerr)?.log_id),
            None => last_purged,
        };
        Ok(LogState { last_purged_log_id: last_purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StoreError> {
        self.put_meta("vote", vote)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StoreError> {
        self.get_meta("vote")
    }

    async fn save_committed(&mut self, c: Option<LogId<NodeId>>) -> Result<(), StoreError> {
        self.put_meta("committed", &c)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StoreError> {
        Ok(self.get_meta::<Option<LogId<NodeId>>>("committed")?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), StoreError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let tx = self.db.begin_write().map_err(werr)?;
        {
            let mut t = tx.open_table(LOGS).map_err(werr)?;
            for e in entries {
                let b = serde_json::to_vec(&e).map_err(werr)?;
                t.insert(e.log_id.index, b.as_slice()).map_err(werr)?;
            }
        }
        // Immediate durability: fsync'd when commit returns.
        tx.commit().map_err(werr)?;
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(werr)?;
        {
            let mut t = tx.open_table(LOGS).map_err(werr)?;
            t.retain_in(log_id.index.., |_, _| false).map_err(werr)?;
        }
        tx.commit().map_err(werr)
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StoreError> {
        self.put_meta("last_purged", &log_id)?;
        let tx = self.db.begin_write().map_err(werr)?;
        {
            let mut t = tx.open_table(LOGS).map_err(werr)?;
            t.retain_in(..=log_id.index, |_, _| false).map_err(werr)?;
        }
        tx.commit().map_err(werr)
    }
}
