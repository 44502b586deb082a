//! The raft log and vote in redb. Every write commits with redb's default
//! immediate durability (fsync) before it returns or reports completion, so a
//! `kill -9` loses nothing raft considered persisted.

use crate::types::{NodeId, TypeConfig};
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{Entry, LogId, OptionalSend, RaftLogReader, StorageError, StorageIOError, Vote};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::Arc;

const LOGS: TableDefinition<u64, &[u8]> = TableDefinition::new("logs");

/// The most bytes of stored entries one AppendEntries message carries
/// (each entry's JSON, about its size on the wire): 64 KiB. openraft sends
/// up to `max_payload_entries` (300) entries a message and waits for the
/// answer only one heartbeat interval (`[raft] heartbeat_ms`, 100 ms by
/// default): 300 large entries (flows of many employees, up to 2 MiB each
/// as hex) take longer to send, decode and write than that, and openraft,
/// sending the same range again after each timeout, never brought a lagging
/// follower past them. A message holds at least one entry, whatever its size.
pub const APPEND_ENTRIES_BYTES: usize = 64 << 10;
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

    /// Undoes what a snapshot install that did not finish left in the log.
    /// openraft purges the log up to a received snapshot's position as it
    /// hands the snapshot to the state machine, before the state machine has
    /// verified it; if the state machine refused it (one that does not verify:
    /// crate README, "Snapshots") or the process died during the install, the
    /// log is marked purged up to a position the state (at `applied`) never
    /// reached, and openraft would panic at the next start. If so, and the log
    /// holds no entry after that mark, the mark (and the committed position
    /// kept beside it) are set back to `applied`: the node then holds nothing
    /// after its state, and the leader sends what follows, or the snapshot
    /// again. Returns the mark it found when it repaired; `Ok(None)` when
    /// there was nothing to repair. Entries after the mark (which this node
    /// acknowledged to a leader) are never dropped: then it is an `Err`
    /// saying what to do.
    pub fn repair_unfinished_install(&self, applied: Option<LogId<NodeId>>) -> Result<Option<LogId<NodeId>>, String> {
        let io = |e: StoreError| format!("the raft log store failed: {e}");
        let Some(purged) = self.get_meta::<LogId<NodeId>>("last_purged").map_err(io)? else { return Ok(None) };
        if Some(purged) <= applied {
            return Ok(None);
        }
        let tx = self.db.begin_write().map_err(|e| io(werr(e)))?;
        {
            let logs = tx.open_table(LOGS).map_err(|e| io(werr(e)))?;
            if logs.last().map_err(|e| io(rerr(e)))?.is_some() {
                return Err(format!(
                    "the raft log is purged up to entry {} by a snapshot this node's state never installed (at {}), and \
                     it holds entries after it; stop the node, move its data_dir aside and start it empty: it \
                     catches up from the leader",
                    purged.index,
                    applied.map_or_else(|| "nothing applied".to_owned(), |a| format!("entry {}", a.index)),
                ));
            }
            let mut meta = tx.open_table(META).map_err(|e| io(werr(e)))?;
            let put = |v: &Option<LogId<NodeId>>| serde_json::to_vec(v).map_err(|e| e.to_string());
            match applied {
                Some(a) => meta.insert("last_purged", put(&Some(a))?.as_slice()),
                None => meta.remove("last_purged").map(|_| None),
            }
            .map_err(|e| io(werr(e)))?;
            let committed = meta
                .get("committed")
                .map_err(|e| io(rerr(e)))?
                .and_then(|g| serde_json::from_slice::<Option<LogId<NodeId>>>(g.value()).ok())
                .flatten();
            if committed > applied {
                meta.insert("committed", put(&applied)?.as_slice()).map_err(|e| io(werr(e)))?;
            }
        }
        tx.commit().map_err(|e| io(werr(e)))?;
        Ok(Some(purged))
    }

    fn put_meta<T: Serialize>(&self, k: &str, v: &T) -> Result<(), StoreError> {
        self.put_meta_with(k, v, Durability::Immediate)
    }

    fn put_meta_with<T: Serialize>(&self, k: &str, v: &T, durability: Durability) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(v).map_err(werr)?;
        let mut tx = self.db.begin_write().map_err(werr)?;
        tx.set_durability(durability).map_err(werr)?;
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

    /// The entries of `[start, end)` from `start` while their stored bytes
    /// stay within [`APPEND_ENTRIES_BYTES`] (at least one, as openraft
    /// requires of a non-empty range): what the leader sends a follower in
    /// one AppendEntries message.
    async fn limited_get_log_entries(&mut self, start: u64, end: u64) -> Result<Vec<Entry<TypeConfig>>, StoreError> {
        let tx = self.db.begin_read().map_err(rerr)?;
        let t = tx.open_table(LOGS).map_err(rerr)?;
        let mut out = Vec::new();
        let mut bytes = 0;
        for item in t.range(start..end).map_err(rerr)? {
            let (_, v) = item.map_err(rerr)?;
            bytes += v.value().len();
            if bytes > APPEND_ENTRIES_BYTES && !out.is_empty() {
                break;
            }
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

    /// Not fsync'd (redb `Durability::None`): the next append's durable
    /// commit carries it to disk. The committed position is a hint for the
    /// start (openraft applies the log up to it, and takes the state
    /// machine's applied position when that is later, `StorageHelper`), so a
    /// crash that loses the latest one only leaves entries for the leader to
    /// commit again; raft's safety rests on the entries and the vote, which
    /// stay durable. Made durable, it cost a disk flush at every commit
    /// advance on every node (2.6% of the notarize bench's CPU samples).
    async fn save_committed(&mut self, c: Option<LogId<NodeId>>) -> Result<(), StoreError> {
        self.put_meta_with("committed", &c, Durability::None)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use openraft::CommittedLeaderId;

    fn at(index: u64) -> LogId<NodeId> {
        LogId::new(CommittedLeaderId::new(1, 1), index)
    }

    /// A node handed a snapshot at entry 824 that its state machine refused
    /// (or that a crash interrupted): openraft had already purged the log up
    /// to it. At the next start the purge mark and the committed position go
    /// back to what the state holds, so openraft starts; a log with entries
    /// after the mark is left alone and the start refused with what to do.
    #[tokio::test]
    async fn a_purge_for_a_snapshot_never_installed_is_undone_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LogStore::open(&dir.path().join("raft-log.redb")).unwrap();
        assert_eq!(log.repair_unfinished_install(None).unwrap(), None, "nothing purged, nothing to repair");
        log.purge(at(824)).await.unwrap();
        log.save_committed(Some(at(824))).await.unwrap();
        assert_eq!(log.repair_unfinished_install(Some(at(824))).unwrap(), None, "the state holds the snapshot");

        assert_eq!(log.repair_unfinished_install(None).unwrap(), Some(at(824)));
        let state = log.get_log_state().await.unwrap();
        assert_eq!((state.last_purged_log_id, state.last_log_id), (None, None));
        assert_eq!(log.read_committed().await.unwrap(), None);
        // Refused twice, from a state at entry 100: back to 100 each time.
        log.purge(at(900)).await.unwrap();
        log.save_committed(Some(at(900))).await.unwrap();
        assert_eq!(log.repair_unfinished_install(Some(at(100))).unwrap(), Some(at(900)));
        assert_eq!(log.get_log_state().await.unwrap().last_purged_log_id, Some(at(100)));
        assert_eq!(log.read_committed().await.unwrap(), Some(at(100)));

        // Entries after the mark: never dropped.
        log.purge(at(950)).await.unwrap();
        let entry = Entry::<TypeConfig> { log_id: at(951), payload: openraft::EntryPayload::Blank };
        let tx = log.db.begin_write().unwrap();
        tx.open_table(LOGS).unwrap().insert(951, serde_json::to_vec(&entry).unwrap().as_slice()).unwrap();
        tx.commit().unwrap();
        let err = log.repair_unfinished_install(Some(at(100))).unwrap_err();
        assert!(err.contains("purged up to entry 950") && err.contains("move its data_dir aside"), "{err}");
        assert_eq!(log.get_log_state().await.unwrap().last_log_id, Some(at(951)));
    }

    /// Stores notary entries of `len` bytes each at `indexes`.
    fn store(log: &LogStore, indexes: std::ops::Range<u64>, len: usize) {
        let tx = log.db.begin_write().unwrap();
        {
            let mut t = tx.open_table(LOGS).unwrap();
            for i in indexes {
                let command = crate::types::Command::Notary { time: 1, entry: vec![0xAB; len] };
                let entry = Entry::<TypeConfig> { log_id: at(i), payload: openraft::EntryPayload::Normal(command) };
                t.insert(i, serde_json::to_vec(&entry).unwrap().as_slice()).unwrap();
            }
        }
        tx.commit().unwrap();
    }

    /// What the leader sends in one AppendEntries stays within
    /// `APPEND_ENTRIES_BYTES` of stored entries, and holds at least one
    /// entry however large: before, 300 flows of 64 employees (about 1.4 MB
    /// of JSON) did not reach a lagging follower within a heartbeat, and
    /// openraft sent the same 300 again without end.
    #[tokio::test]
    async fn one_append_entries_message_carries_a_bounded_number_of_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LogStore::open(&dir.path().join("raft-log.redb")).unwrap();
        // Small entries (a vote batch's size): the whole range, up to its end.
        store(&log, 1..401, 200);
        let got = log.limited_get_log_entries(1, 101).await.unwrap();
        assert_eq!(got.iter().map(|e| e.log_id.index).collect::<Vec<_>>(), (1..101).collect::<Vec<_>>());
        // 2.3 KB entries (a flow of 64 employees), about 4.7 KB of JSON: as many as the bytes allow.
        store(&log, 401..701, 2_300);
        let got = log.limited_get_log_entries(401, 701).await.unwrap();
        let sizes: Vec<usize> = got.iter().map(|e| serde_json::to_vec(e).unwrap().len()).collect();
        assert!(sizes.iter().sum::<usize>() <= APPEND_ENTRIES_BYTES, "{} bytes", sizes.iter().sum::<usize>());
        assert!(got.len() < 300 && got.len() + 1 > APPEND_ENTRIES_BYTES / sizes[0], "{} entries", got.len());
        assert_eq!(got.first().unwrap().log_id.index, 401, "from the first of the range");
        // An entry larger than the bound on its own (a flow of 10,000 employees): sent alone.
        store(&log, 701..703, 400_000);
        let got = log.limited_get_log_entries(701, 703).await.unwrap();
        assert_eq!(got.iter().map(|e| e.log_id.index).collect::<Vec<_>>(), vec![701]);
        let got = log.limited_get_log_entries(700, 703).await.unwrap();
        assert_eq!(got.iter().map(|e| e.log_id.index).collect::<Vec<_>>(), vec![700], "the large one waits");
    }
}
