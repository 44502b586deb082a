//! The raft log and vote in redb. Every write commits with redb's default
//! immediate durability (fsync) before it returns or reports completion, so a
//! `kill -9` loses nothing raft considered persisted (the committed position,
//! a start-up hint, is the exception: see `save_committed`).
//!
//! An entry is stored in one of two forms, told apart by its first byte:
//! - a notary command (`Command::Notary`, nearly every entry) as
//!   [`BINARY_NOTARY`] ‖ term ‖ leader node id ‖ index ‖ time (each a
//!   big-endian u64) ‖ the canonical entry bytes: 33 bytes and the entry;
//! - anything else (blank, membership, seal, block signature) as openraft's
//!   JSON of the entry, which starts with `{`. Stores written before the
//!   binary form hold JSON only and read as before.

use crate::types::{Command, NodeId, TypeConfig};
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

/// First byte of a notary command stored in binary (module doc); JSON
/// starts with `{` (0x7B).
pub const BINARY_NOTARY: u8 = 0x01;
/// Bytes before the entry in the binary form.
const BINARY_HEADER: usize = 1 + 4 * 8;
/// At least the bytes openraft's JSON of a notary entry adds to twice the
/// entry's length (the hex): its fixed text and four u64s of 20 digits.
const JSON_NOTARY_OVERHEAD: usize = 170;

/// The stored form of `e` (module doc).
pub(crate) fn encode_entry(e: &Entry<TypeConfig>) -> Result<Vec<u8>, StoreError> {
    if let openraft::EntryPayload::Normal(Command::Notary { time, entry }) = &e.payload {
        let mut out = Vec::with_capacity(BINARY_HEADER + entry.len());
        out.push(BINARY_NOTARY);
        for v in [e.log_id.leader_id.term, e.log_id.leader_id.node_id, e.log_id.index, *time] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out.extend_from_slice(entry);
        return Ok(out);
    }
    serde_json::to_vec(e).map_err(werr)
}

/// Reads a stored entry in either form.
pub(crate) fn decode_entry(bytes: &[u8]) -> Result<Entry<TypeConfig>, StoreError> {
    if bytes.first() != Some(&BINARY_NOTARY) {
        return serde_json::from_slice(bytes).map_err(rerr);
    }
    let malformed = || {
        rerr(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("a binary raft log entry needs {BINARY_HEADER} bytes before its entry, it has {}", bytes.len()),
        ))
    };
    let word = |i: usize| -> Result<u64, StoreError> {
        let at = 1 + 8 * i;
        let b: [u8; 8] = bytes.get(at..at + 8).and_then(|b| b.try_into().ok()).ok_or_else(malformed)?;
        Ok(u64::from_be_bytes(b))
    };
    let (term, node, index, time) = (word(0)?, word(1)?, word(2)?, word(3)?);
    let entry = bytes.get(BINARY_HEADER..).ok_or_else(malformed)?.to_vec();
    Ok(Entry {
        log_id: LogId::new(openraft::CommittedLeaderId::new(term, node), index),
        payload: openraft::EntryPayload::Normal(Command::Notary { time, entry }),
    })
}

/// About the bytes of a stored entry's JSON, as it travels in AppendEntries
/// to a peer that reads only JSON (at least that many for the binary form,
/// whose entry goes as hex); in postcard (`crate::network::Encoding`) it is
/// about half of that for a notary entry, so the bound holds either way.
fn wire_len(stored: &[u8]) -> usize {
    if stored.first() == Some(&BINARY_NOTARY) {
        2 * stored.len().saturating_sub(BINARY_HEADER) + JSON_NOTARY_OVERHEAD
    } else {
        stored.len()
    }
}

/// The most bytes of entries one AppendEntries message carries (each
/// entry's JSON, about its size on the wire): 64 KiB. openraft sends
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
            out.push(decode_entry(v.value())?);
        }
        Ok(out)
    }

    /// The entries of `[start, end)` from `start` while their JSON's bytes
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
            bytes += wire_len(v.value());
            if bytes > APPEND_ENTRIES_BYTES && !out.is_empty() {
                break;
            }
            out.push(decode_entry(v.value())?);
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
            Some((_, v)) => Some(decode_entry(v.value())?.log_id),
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
                t.insert(e.log_id.index, encode_entry(&e)?.as_slice()).map_err(werr)?;
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

    /// A notary command is stored in binary (33 bytes and the entry, not
    /// twice the entry as hex in JSON), anything else as JSON; a store
    /// written before holds JSON only and reads the same; a truncated binary
    /// entry is an error, not a panic.
    #[tokio::test]
    async fn notary_entries_are_stored_in_binary_and_json_entries_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LogStore::open(&dir.path().join("raft-log.redb")).unwrap();
        let notary = |i: u64| Entry::<TypeConfig> {
            log_id: LogId::new(CommittedLeaderId::new(7, 3), i),
            payload: openraft::EntryPayload::Normal(Command::Notary {
                time: 1_700_000_000 + i,
                entry: vec![i as u8; 834],
            }),
        };
        let seal = Entry::<TypeConfig> {
            log_id: at(3),
            payload: openraft::EntryPayload::Normal(Command::Seal { height: 9, time: 5 }),
        };
        let bytes = encode_entry(&notary(1)).unwrap();
        assert_eq!((bytes[0], bytes.len()), (BINARY_NOTARY, BINARY_HEADER + 834));
        assert_eq!(decode_entry(&bytes).unwrap(), notary(1));
        assert_eq!(encode_entry(&seal).unwrap()[0], b'{', "other commands stay JSON");
        assert!(wire_len(&bytes) >= serde_json::to_vec(&notary(1)).unwrap().len(), "the bound counts the hex");

        // A store from before: JSON entries, then new ones in both forms.
        let tx = log.db.begin_write().unwrap();
        {
            let mut t = tx.open_table(LOGS).unwrap();
            t.insert(1, serde_json::to_vec(&notary(1)).unwrap().as_slice()).unwrap();
            t.insert(2, serde_json::to_vec(&notary(2)).unwrap().as_slice()).unwrap();
            // What `append` writes now (the openraft suite runs `append` itself).
            for e in [&seal, &notary(4)] {
                t.insert(e.log_id.index, encode_entry(e).unwrap().as_slice()).unwrap();
            }
        }
        tx.commit().unwrap();
        let got = log.try_get_log_entries(1..5).await.unwrap();
        assert_eq!(got, vec![notary(1), notary(2), seal, notary(4)]);
        assert_eq!(log.get_log_state().await.unwrap().last_log_id, Some(notary(4).log_id));

        for cut in [1, 20, BINARY_HEADER - 1] {
            let err = decode_entry(&bytes[..cut]).unwrap_err().to_string();
            assert!(err.contains("needs 33 bytes before its entry"), "{err}");
        }
    }

    /// Stores notary entries of `len` bytes each at `indexes`.
    fn store(log: &LogStore, indexes: std::ops::Range<u64>, len: usize) {
        let tx = log.db.begin_write().unwrap();
        {
            let mut t = tx.open_table(LOGS).unwrap();
            for i in indexes {
                let command = crate::types::Command::Notary { time: 1, entry: vec![0xAB; len] };
                let entry = Entry::<TypeConfig> { log_id: at(i), payload: openraft::EntryPayload::Normal(command) };
                t.insert(i, encode_entry(&entry).unwrap().as_slice()).unwrap();
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
