//! The replicated state machine: box-core's notary state plus block sealing.
//!
//! Applying a [`Command::Notary`](crate::types::Command::Notary) runs the pure notary state machine and
//! queues the entry for the next block. [`Command::Seal`](crate::types::Command::Seal) closes a block: every
//! replica builds the same header (parent hash, Merkle root of the queued
//! entries, state hash, time) from its own state. [`Command::SignBlock`](crate::types::Command::SignBlock)
//! carries the leader's signature over that header; each replica checks it
//! recovers to a registered node account over *its own* header and only then
//! writes the block to redb. A leader that signs a different header
//! than the replicas computed gets nothing stored.
//!
//! The notary state lives in memory and is rebuilt after a restart from the
//! latest snapshot plus the durable log; so are the blocks signed after that
//! snapshot: their entries are durable in the log as soon as they are
//! committed, and the store's write of a block is flushed with the next
//! snapshot saved (see `Shared::store_block`). A snapshot is the state at the chain tip plus what was applied
//! after it ([`tip`], bounded by the live state, not the history); it carries
//! no block: a node that catches up by snapshot fetches the blocks below the
//! tip from its peers ([`gaps`], `crate::backfill`).

mod attested;
mod gaps;
mod kept;
mod pieces;
mod rejections;
mod rows;
mod snapshot;
pub mod tip;
mod verify;
pub(crate) mod warm;

pub use attested::{PeerAttesters, TipAttesters};
pub use gaps::{Backfilled, FetchedProof, Gap, Undecided};
pub use kept::{AttestError, KEPT, Keeper};
pub use rejections::RejectedRecord;

use snapshot::SnapshotData;

use crate::liveness::Progress;
use crate::log_store::{StoreError, werr};
use crate::types::{Applied, NodeId, TypeConfig};
use box_core::block::{Block, BlockHeader, LoggedEntry};
use box_core::encoding::Canonical;
use box_core::evidence::SealedHeader;
use box_core::ids::{SubjectId, TransferId};
use box_core::notary::{NotaryState, TransferProof};
use box_core::typed::Genesis;
use box_core::{Address, B256};
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{BasicNode, EntryPayload, LogId, OptionalSend, SnapshotMeta, StoredMembership};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::io::Cursor;
use std::path::Path;
use std::sync::{Arc, RwLock, RwLockReadGuard};
use tokio::sync::{Notify, watch};

mod apply;

/// Each stored block's encoding, by height, in pieces ([`pieces`]).
const BLOCKS: pieces::Pieces = TableDefinition::new("block_pieces");
/// [`BLOCKS`] as an earlier version wrote it, one row a block; moved into
/// [`BLOCKS`] at the first open of this version.
const LEGACY_BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
/// Each stored block's sealed header, as its header-only block encoding
/// ([`Block::header_only`]), written with the block: what needs a header
/// alone (the cross-check, attestations, transfer proofs) reads a few hundred
/// bytes instead of decoding a block of up to 1 MiB.
const HEADERS: TableDefinition<u64, &[u8]> = TableDefinition::new("sealed_headers");
/// The `meta` key saying [`HEADERS`] covers every stored block.
const HEADERS_INDEXED_KEY: &str = "sealed_headers_indexed";
/// Each stored block's notarized records (`rows::encode_notarized`), by
/// height, in pieces ([`pieces`]).
const NOTARIZED: pieces::Pieces = TableDefinition::new("notarized_pieces");
/// [`NOTARIZED`] as an earlier version wrote it; moved like [`LEGACY_BLOCKS`].
const LEGACY_NOTARIZED: TableDefinition<u64, &[u8]> = TableDefinition::new("notarized");
const DECIDED: TableDefinition<&[u8; 32], u64> = TableDefinition::new("decided_at");
const SNAPSHOT: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshot");
/// Equivocation this node found by cross-checking headers, by "sealer@height".
const EVIDENCE: TableDefinition<&str, &[u8]> = TableDefinition::new("evidence");
/// The genesis fingerprint, written when the database is created (key [`GENESIS_KEY`]).
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// The latest proven row of each transfer, by transfer id: the height of the
/// block whose state root proves it, and the proof ([`StoredTransferProof`]).
const TRANSFER_PROOFS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("transfer_proofs");
const GENESIS_KEY: &str = "genesis_fingerprint";

/// A notarized subject as subscribers receive it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotarizedRecord {
    /// Subject id.
    pub subject: SubjectId,
    /// Canonical `Subject` bytes.
    pub payload: Vec<u8>,
    /// Canonical `QuorumCertificate` bytes.
    pub certificate: Vec<u8>,
}

/// A block whose header every replica agreed on, awaiting the leader's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingBlock {
    /// The header to sign.
    pub header: BlockHeader,
    /// Its entries.
    pub entries: Vec<LoggedEntry>,
    /// Subjects notarized by those entries.
    pub notarized: Vec<NotarizedRecord>,
    /// Subjects decided (notarized or rejected) by those entries.
    pub decided: Vec<SubjectId>,
    /// The rows of the transfers those entries changed, each proven against
    /// the header's state root (computed at seal, while the rows are live).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proofs: Vec<TransferProof>,
}

/// A transfer's row as a node keeps it once a block changed it: readable by
/// id after the row retired from the live state (`Notary.GetTransferProof`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredTransferProof {
    /// The block whose header's `stateHash` the proof is against.
    pub height: u64,
    /// The row and its path.
    pub proof: TransferProof,
}

/// What the entries of one block may take in its encoding, in bytes: a
/// block whose encoding exceeds box-core's `MAX_ENCODED_LEN` (1 MiB) would be
/// stored but could not be decoded by the signer, the gateway or an auditor,
/// so an entry that would take the block being built past this budget is
/// deferred until it is sealed ([`crate::types::Applied::deferred`]); 16 KiB
/// of the limit are left for the header, its seal and the framing.
pub const BLOCK_ENTRY_BUDGET: u64 = box_core::encoding::MAX_ENCODED_LEN as u64 - 16 * 1024;

/// What an entry of `len` bytes takes in its block's encoding: its ABI
/// tuple (offset, index, time, bytes offset, length: five words) and its
/// bytes padded to a whole word.
pub fn entry_cost(len: usize) -> u64 {
    160 + (len as u64).div_ceil(32) * 32
}

/// Everything replicated, and what a snapshot holds (besides the blocks).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChainState {
    /// The notary.
    pub notary: NotaryState,
    /// Last applied log id.
    pub last_applied: Option<LogId<NodeId>>,
    /// Last membership.
    pub membership: StoredMembership<NodeId, BasicNode>,
    /// Latest entry time (entry times never go backwards).
    pub last_time: u64,
    /// Height the next block will have.
    pub next_height: u64,
    /// Hash of the latest block (zero before the first).
    pub parent: B256,
    /// Entries not yet in a block.
    pub unsealed: Vec<LoggedEntry>,
    /// What the unsealed entries take in their block's encoding
    /// ([`entry_cost`] summed), bounded by [`BLOCK_ENTRY_BUDGET`].
    #[serde(default)]
    pub unsealed_bytes: u64,
    /// Subjects notarized by the unsealed entries.
    pub unsealed_notarized: Vec<NotarizedRecord>,
    /// Subjects decided by the unsealed entries.
    pub unsealed_decided: Vec<SubjectId>,
    /// Transfers whose rows the unsealed entries changed.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub unsealed_transfers: BTreeSet<TransferId>,
    /// A sealed header awaiting its signature.
    pub pending: Option<PendingBlock>,
}

impl ChainState {
    fn new(notary: NotaryState) -> Self {
        Self {
            notary,
            last_applied: None,
            membership: StoredMembership::default(),
            last_time: 0,
            next_height: 1,
            parent: B256::ZERO,
            unsealed: Vec::new(),
            unsealed_bytes: 0,
            unsealed_notarized: Vec::new(),
            unsealed_decided: Vec::new(),
            unsealed_transfers: BTreeSet::new(),
            pending: None,
        }
    }

    /// The latest sealed and signed height.
    pub fn height(&self) -> u64 {
        self.next_height - 1
    }
}

/// Shared between the raft state machine, the API, the companion and the sealer.
pub struct Shared {
    state: RwLock<ChainState>,
    db: Database,
    height_tx: watch::Sender<u64>,
    /// The node ids of the notary's registry, published apart from `state`
    /// so that admitting a raft message never waits for an entry being
    /// applied ([`Shared::registered_nodes`]).
    registry: watch::Sender<BTreeSet<NodeId>>,
    /// Woken after every applied batch (the companion waits on it).
    pub applied: Notify,
    /// Entries this node wants in the log, cleared as they are applied.
    pub progress: Progress,
    /// The last block this node sealed as leader: its height and how long
    /// its `Seal` and `SignBlock` took from proposal to commit (the leader's
    /// signature included). Read by the history benchmark; never persisted.
    pub seal_time: watch::Sender<(u64, std::time::Duration)>,
    /// Once this node has read its store's decided-subject index into
    /// memory after the start ([`warm`]): the rows read and how long it
    /// took. Read by the history benchmark; never persisted.
    pub warmed: watch::Sender<Option<(u64, std::time::Duration)>>,
    /// Accounts this node's own cross-checks convicted (from [`EVIDENCE`]).
    local_equivocators: std::sync::Mutex<BTreeSet<Address>>,
    snapshot_seq: std::sync::atomic::AtomicU64,
    /// Woken when an installed snapshot leaves blocks to fetch ([`Shared::gaps`]).
    pub backfill: Notify,
    /// What this node keeps for new followers ([`kept`]).
    pub keeper: Keeper,
    /// Who attests a snapshot's tip before it is installed ([`attested`]).
    attesters: std::sync::OnceLock<Arc<dyn TipAttesters>>,
    /// The signers this node recovered while applying entries, so that
    /// replaying its own blocks to build a snapshot does not recover them again.
    memo: Arc<box_core::crypto::RecoveryMemo>,
}

/// The node ids of `s`'s registry ([`Shared::registered_nodes`]).
fn registry_of(s: &ChainState) -> BTreeSet<NodeId> {
    s.notary.nodes().map(|n| n.nodeId).collect()
}

/// Signers a node remembers ([`box_core::crypto::RecoveryMemo`], about 150
/// bytes each): more than the signatures of the entries between two
/// snapshots (every 2,000 entries by default, a few signatures each).
const MEMO_SIGNERS: usize = 32_768;

impl Shared {
    /// Runs `f` with this node's memo of recovered signers
    /// ([`box_core::crypto::with_memo`]): what `f` verifies, applying entries
    /// later finds recovered, and the reverse.
    pub fn remembering<R>(&self, f: impl FnOnce() -> R) -> R {
        box_core::crypto::with_memo(&self.memo, f)
    }

    /// The raft ids of the notary's registered node accounts, as
    /// of the last applied entry. Unlike [`Shared::read`] it never waits for
    /// an entry being applied: raft's access checks run on every message,
    /// and a follower catching up applies entries that take a while.
    pub fn registered_nodes(&self) -> BTreeSet<NodeId> {
        self.registry.borrow().clone()
    }

    /// Publishes `s`'s registry to [`Shared::registered_nodes`] if it changed.
    fn publish_registry(&self, s: &ChainState) {
        let now = registry_of(s);
        self.registry.send_if_modified(|held| {
            let changed = *held != now;
            if changed {
                *held = now;
            }
            changed
        });
    }

    /// Read access to the replicated state. Never hold it across an `.await`.
    pub fn read(&self) -> RwLockReadGuard<'_, ChainState> {
        // A poisoned lock means a panic while applying: the process is
        // already failing; keep serving reads of the last good state.
        self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sets who attests a snapshot's tip (the first call wins). Until it is
    /// set, a snapshot with a sealed tip waits before it is installed.
    pub fn attest_tips_with(&self, attesters: Arc<dyn TipAttesters>) {
        let _ = self.attesters.set(attesters);
    }

    /// Watches the latest signed block height.
    pub fn heights(&self) -> watch::Receiver<u64> {
        self.height_tx.subscribe()
    }

    /// A block by height.
    pub fn block(&self, height: u64) -> Result<Option<Vec<u8>>, redb::Error> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(BLOCKS)?;
        Ok(pieces::get(&t, height)?)
    }

    /// The sealed header of block `height`, as its header-only block
    /// encoding ([`Block::header_only`]); `None` if no block is held there.
    pub fn header(&self, height: u64) -> Result<Option<Vec<u8>>, redb::Error> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(HEADERS)?;
        Ok(t.get(height)?.map(|g| g.value().to_vec()))
    }

    /// The sealed header of block `height`, decoded; `None` if no block is
    /// held there (or, never written by this node, its bytes do not decode).
    pub fn sealed_header(&self, height: u64) -> Result<Option<SealedHeader>, redb::Error> {
        Ok(self.header(height)?.and_then(|bytes| Block::decode(&bytes).ok()).map(|b| b.sealed_header()))
    }

    /// The notarized subjects of block `height`.
    pub fn notarized(&self, height: u64) -> Result<Vec<NotarizedRecord>, redb::Error> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(NOTARIZED)?;
        Ok(match pieces::get(&t, height)? {
            Some(bytes) => rows::decode_notarized(&bytes).map_err(redb::Error::Corrupted)?,
            None => Vec::new(),
        })
    }

    /// The big-endian `u64` the `meta` table holds under `key`, if any.
    fn meta_u64(&self, key: &str) -> Result<Option<u64>, redb::Error> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(META)?;
        Ok(t.get(key)?.and_then(|g| <[u8; 8]>::try_from(g.value()).ok()).map(u64::from_be_bytes))
    }

    /// The height of the block holding `subject`'s decision, if sealed.
    pub fn decided_at(&self, subject: &SubjectId) -> Result<Option<u64>, redb::Error> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(DECIDED)?;
        Ok(t.get(&subject.0.0)?.map(|g| g.value()))
    }

    /// The latest proven row of transfer `id` (live or retired), if a block
    /// this node sealed and stored changed it.
    pub fn transfer_proof(&self, id: &TransferId) -> Result<Option<StoredTransferProof>, redb::Error> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(TRANSFER_PROOFS)?;
        match t.get(&id.0.0)? {
            Some(g) => Ok(Some(rows::decode_proof(g.value()).map_err(redb::Error::Corrupted)?)),
            None => Ok(None),
        }
    }

    /// Records equivocation evidence this node found against `sealer` at
    /// `height`, durably. Returns `false` if that pair was recorded before.
    pub fn record_evidence(&self, sealer: Address, height: u64, record: &[u8]) -> Result<bool, redb::Error> {
        let key = format!("{sealer}@{height}");
        let tx = durable_write(&self.db)?;
        let fresh = {
            let mut t = tx.open_table(EVIDENCE)?;
            let fresh = t.get(key.as_str())?.is_none();
            if fresh {
                t.insert(key.as_str(), record)?;
            }
            fresh
        };
        tx.commit()?;
        self.equivocators_lock().insert(sealer);
        Ok(fresh)
    }

    /// Every evidence record this node holds ("sealer@height" → JSON).
    pub fn evidence(&self) -> Result<Vec<(String, Vec<u8>)>, redb::Error> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(EVIDENCE)?;
        let mut out = Vec::new();
        for item in t.iter()? {
            let (k, v) = item?;
            out.push((k.value().to_owned(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// The accounts this node's own cross-checks convicted.
    pub fn local_equivocators(&self) -> BTreeSet<Address> {
        self.equivocators_lock().clone()
    }

    fn equivocators_lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<Address>> {
        self.local_equivocators.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn store_block(
        &self,
        block: &Block,
        notarized: &[NotarizedRecord],
        decided: &[SubjectId],
        proofs: &[TransferProof],
        rejected: &[RejectedRecord],
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().map_err(werr)?;
        // Not flushed to disk (redb `Durability::None`): everything written
        // here is recomputed by applying the raft log, which is durable. A
        // crash rolls the store back to its last durable commit (a snapshot
        // saved, a kept state, a fetched block); the node restarts from its
        // saved snapshot and applies the log after it, which stores these
        // blocks again, byte for byte (the `SignBlock` entry carries the
        // signature), and the log is purged only up to a snapshot whose
        // durable commit carried every block below it. Flushed, it cost a
        // disk flush at every block on every node, on the path of the seal,
        // of pages scattered through the `decided_at` and `transfer_proofs`
        // trees, which grow with the history (crates/chain/README.md, "Crash
        // recovery").
        tx.set_durability(Durability::None).map_err(werr)?;
        {
            let mut b = tx.open_table(BLOCKS).map_err(werr)?;
            pieces::put(&mut b, block.header.height, &block.encode()).map_err(werr)?;
            store_header(&tx, block)?;
            let mut n = tx.open_table(NOTARIZED).map_err(werr)?;
            pieces::put(&mut n, block.header.height, &rows::encode_notarized(notarized)).map_err(werr)?;
            let mut d = tx.open_table(DECIDED).map_err(werr)?;
            for s in decided {
                d.insert(&s.0.0, block.header.height).map_err(werr)?;
            }
            let mut p = tx.open_table(TRANSFER_PROOFS).map_err(werr)?;
            for proof in proofs {
                let stored = StoredTransferProof { height: block.header.height, proof: proof.clone() };
                p.insert(&proof.transfer.0.0, rows::encode_proof(&stored).as_slice()).map_err(werr)?;
            }
            kept::index_registry_changes(&tx, block.header.height, notarized)?;
            rejections::store(&tx, rejected)?;
        }
        tx.commit().map_err(werr)
    }
}

/// Writes `block`'s sealed header into [`HEADERS`], in the transaction
/// storing the block.
fn store_header(tx: &redb::WriteTransaction, block: &Block) -> Result<(), StoreError> {
    let header = Block::header_only(block.sealed_header()).encode();
    tx.open_table(HEADERS).map_err(werr)?.insert(block.header.height, header.as_slice()).map_err(werr)?;
    Ok(())
}

/// Creates [`HEADERS`] (at open). A store written before it existed has its
/// blocks read once to fill it (the only pass over the blocks, at the first
/// start of this version); a stored block that does not decode is left out
/// (a reader then finds no header at its height, as for a block not held).
fn index_headers(tx: &redb::WriteTransaction) -> Result<(), String> {
    fn text<E: Into<redb::Error>>(e: E) -> String {
        e.into().to_string()
    }
    let mut headers = tx.open_table(HEADERS).map_err(text)?;
    let mut meta = tx.open_table(META).map_err(text)?;
    if meta.get(HEADERS_INDEXED_KEY).map_err(text)?.is_some() {
        return Ok(());
    }
    let blocks = tx.open_table(BLOCKS).map_err(text)?;
    for height in pieces::keys(&blocks).map_err(text)? {
        let bytes = pieces::get(&blocks, height).map_err(text)?.unwrap_or_default();
        if let Ok(block) = Block::decode(&bytes) {
            let header = Block::header_only(block.sealed_header()).encode();
            headers.insert(height, header.as_slice()).map_err(text)?;
        }
    }
    meta.insert(HEADERS_INDEXED_KEY, [1u8].as_slice()).map_err(text)?;
    Ok(())
}

/// Begins a durable write on a node's store (`state.redb`), with redb's
/// quick-repair: the commit records the store's allocator state, so that
/// the open after a crash loads it instead of walking the whole file. Every
/// durable commit on the store goes through here (the repair is quick only
/// if the last durable commit recorded it); a block's own write is not
/// durable (`Shared::store_block`), so the record is paid at a saved
/// snapshot, a kept state, a fetched block or evidence, never per block.
/// Recording it grows with the file (it covers every region: 1.1–1.4 ms a
/// commit instead of 0.4–0.7 ms at 2.4 GB, 8 ms at 42 GB; crates/chain
/// README, "Crash recovery").
fn durable_write(db: &Database) -> Result<redb::WriteTransaction, redb::TransactionError> {
    let mut tx = db.begin_write()?;
    tx.set_quick_repair(true);
    Ok(tx)
}

/// Opens (or creates) the node's store at `path`. A store that was not closed
/// cleanly (a `kill -9`, a power loss) is first checked and repaired by redb,
/// a walk of the whole file that grows with the history (crates/chain/README.md,
/// "Crash recovery"): its progress is logged, so that a long start says why.
fn open_store(path: &Path) -> Result<Database, String> {
    let shown = path.display().to_string();
    let named = shown.clone();
    let logged = std::sync::atomic::AtomicU8::new(u8::MAX);
    Database::builder()
        .set_repair_callback(move |session| {
            let tenth = (session.progress() * 10.0) as u8;
            if logged.swap(tenth, std::sync::atomic::Ordering::Relaxed) != tenth {
                tracing::warn!(
                    "{named} was not closed cleanly (a crash, a power loss): checking and repairing the whole store \
                     before starting, {}% done",
                    u32::from(tenth) * 10
                );
            }
        })
        .create(path)
        .map_err(|e| format!("cannot open {shown}: {e}"))
}

/// The raft state machine handle.
#[derive(Clone)]
pub struct StateMachine {
    shared: Arc<Shared>,
    /// A test hook (`BOX_NODE_FAULT=forge-snapshots` or `fork-snapshots`):
    /// the snapshots this node sends are forged so.
    forge_snapshots: Option<crate::fault::Forgery>,
}

impl StateMachine {
    /// Opens the state database, restoring the latest snapshot if there is one.
    pub fn open(path: &Path, genesis: Genesis) -> Result<Self, String> {
        let db = open_store(path)?;
        pieces::move_legacy(&db, LEGACY_BLOCKS, BLOCKS)?;
        pieces::move_legacy(&db, LEGACY_NOTARIZED, NOTARIZED)?;
        let tx = durable_write(&db).map_err(|e| e.to_string())?;
        {
            for t in [BLOCKS, NOTARIZED] {
                tx.open_table(t).map_err(|e| e.to_string())?;
            }
            tx.open_table(DECIDED).map_err(|e| e.to_string())?;
            tx.open_table(SNAPSHOT).map_err(|e| e.to_string())?;
            tx.open_table(EVIDENCE).map_err(|e| e.to_string())?;
            tx.open_table(TRANSFER_PROOFS).map_err(|e| e.to_string())?;
            kept::create_tables(&tx)?;
            index_headers(&tx)?;
            tx.open_table(rejections::REJECTED).map_err(|e| e.to_string())?;
            // The genesis this data directory belongs to, recorded at creation (and on the first start
            // of a database made before it was recorded): a changed genesis file is refused at once,
            // before any snapshot exists.
            let mut meta = tx.open_table(META).map_err(|e| e.to_string())?;
            let fp = box_core::genesis::Fingerprint::of(&genesis);
            let recorded: Option<Vec<u8>> =
                meta.get(GENESIS_KEY).map_err(|e| e.to_string())?.map(|g| g.value().to_vec());
            match recorded {
                None => {
                    meta.insert(GENESIS_KEY, fp.0.as_slice()).map_err(|e| e.to_string())?;
                }
                Some(bytes) if bytes.as_slice() == fp.0.as_slice() => {}
                Some(bytes) => {
                    let theirs = box_core::B256::try_from(bytes.as_slice())
                        .map(|b| box_core::genesis::Fingerprint(b).to_string())
                        .unwrap_or_else(|_| "unreadable".into());
                    return Err(format!(
                        "the data directory {} belongs to another genesis (its fingerprint {theirs}, the genesis \
                         file's {fp}); refusing to run: use the deployment's genesis, or another data directory",
                        path.parent().map_or_else(|| path.display().to_string(), |p| p.display().to_string()),
                    ));
                }
            }
        }
        tx.commit().map_err(|e| e.to_string())?;
        let saved: Option<Vec<u8>> = {
            let tx = db.begin_read().map_err(|e| e.to_string())?;
            let t = tx.open_table(SNAPSHOT).map_err(|e| e.to_string())?;
            t.get("data").map_err(|e| e.to_string())?.map(|g| g.value().to_vec())
        };
        let mut restored = None;
        let state = match saved {
            Some(bytes) if bytes.starts_with(tip::MAGIC) => {
                let data =
                    tip::TipSnapshot::decode(&bytes).map_err(|e| format!("stored snapshot is unreadable: {e}"))?;
                let held = |h: u64| -> Result<Option<Vec<u8>>, String> {
                    let tx = db.begin_read().map_err(|e| e.to_string())?;
                    let t = tx.open_table(BLOCKS).map_err(|e| e.to_string())?;
                    pieces::get(&t, h).map_err(|e| e.to_string())
                };
                // The interval of kept states is not configured yet: a pending block's state is
                // copied whatever its height (`Keeper::configure` drops it if not kept).
                let verified = verify::verify_tip(&genesis, verify::Source::Own, data, held, |_| true)
                    .map_err(|e| format!("the stored snapshot is refused: {e}"))?;
                restored = verified.sealed;
                verified.state
            }
            // An earlier version's JSON snapshot (a node upgraded in place).
            Some(bytes) => {
                let data: SnapshotData =
                    serde_json::from_slice(&bytes).map_err(|e| format!("stored snapshot is unreadable: {e}"))?;
                if data.state.notary.genesis() != &genesis {
                    let fp = box_core::genesis::Fingerprint::of;
                    return Err(format!(
                        "the data directory belongs to another genesis (its fingerprint {}, the genesis file's {}); \
                         refusing to run: use the deployment's genesis, or another data directory",
                        fp(data.state.notary.genesis()),
                        fp(&genesis)
                    ));
                }
                NotaryState::restore(&data.state.notary.snapshot())
                    .map_err(|e| format!("the stored snapshot's notary state does not restore: {e}"))?;
                data.state
            }
            None => ChainState::new(NotaryState::new(genesis).map_err(|e| e.to_string())?),
        };
        let (height_tx, _) = watch::channel(state.height());
        let registry = watch::channel(registry_of(&state)).0;
        let convicted: BTreeSet<Address> = {
            let tx = db.begin_read().map_err(|e| e.to_string())?;
            let t = tx.open_table(EVIDENCE).map_err(|e| e.to_string())?;
            let mut out = BTreeSet::new();
            for item in t.iter().map_err(|e| e.to_string())? {
                let (k, _) = item.map_err(|e| e.to_string())?;
                if let Some(a) = k.value().split('@').next().and_then(|a| a.parse().ok()) {
                    out.insert(a);
                }
            }
            out
        };
        let keeper = Keeper::default();
        keeper.snapshot_at(state.last_applied.map_or(0, |l| l.index));
        if let Some(sealed) = restored {
            keeper.restored(sealed);
        }
        Ok(Self {
            shared: Arc::new(Shared {
                state: RwLock::new(state),
                db,
                height_tx,
                registry,
                applied: Notify::new(),
                progress: Progress::default(),
                seal_time: watch::channel((0, std::time::Duration::ZERO)).0,
                warmed: watch::channel(None).0,
                local_equivocators: std::sync::Mutex::new(convicted),
                snapshot_seq: std::sync::atomic::AtomicU64::new(0),
                backfill: Notify::new(),
                keeper,
                attesters: std::sync::OnceLock::new(),
                memo: Arc::new(box_core::crypto::RecoveryMemo::new(MEMO_SIGNERS)),
            }),
            forge_snapshots: None,
        })
    }

    /// With `forge`, every snapshot this node sends is forged that way: a
    /// test hook (`BOX_NODE_FAULT=forge-snapshots` or `fork-snapshots`, crate
    /// `fault`) for a leader that sends forged snapshots.
    pub fn forging_snapshots(mut self, forge: Option<crate::fault::Forgery>) -> Self {
        self.forge_snapshots = forge;
        self
    }

    /// The shared handle.
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, ChainState> {
        self.shared.state.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>), StoreError> {
        let s = self.shared.read();
        Ok((s.last_applied, s.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Applied>, StoreError>
    where
        I: IntoIterator<Item = openraft::Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut out = Vec::new();
        self.shared.remembering(|| {
            for e in entries {
                // The lock is taken per entry: readers (the API, the
                // companion) wait for one entry, not for a whole batch, which
                // for a follower catching up can be hundreds of entries.
                let mut s = self.write();
                s.last_applied = Some(e.log_id);
                match e.payload {
                    EntryPayload::Blank => out.push(Applied::default()),
                    EntryPayload::Normal(cmd) => {
                        let r = self.apply_command(&mut s, e.log_id.index, cmd)?;
                        out.push(r);
                    }
                    EntryPayload::Membership(m) => {
                        s.membership = StoredMembership::new(Some(e.log_id), m);
                        out.push(Applied::default());
                    }
                }
                self.shared.publish_registry(&s);
            }
            Ok::<_, StoreError>(())
        })?;
        self.shared.applied.notify_waiters();
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StoreError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StoreError> {
        self.install(meta, snapshot.into_inner()).await
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StoreError> {
        let current = self.current()?;
        match self.forge_snapshots {
            Some(crate::fault::Forgery::Bytes) => return Ok(current.map(snapshot::forged)),
            Some(crate::fault::Forgery::Fork) => return Ok(current.map(|s| snapshot::forked(&self.shared, s))),
            None => {}
        }
        Ok(current)
    }
}

/// A one-node genesis for unit tests (deployment id `byte` repeated), and
/// a state machine opened on it in `dir`.
#[cfg(test)]
pub(crate) fn test_machine(dir: &Path, byte: u8) -> StateMachine {
    let genesis = Genesis {
        deploymentId: B256::repeat_byte(byte),
        chainId: 31337,
        keyHolders: (0..3).map(|i| box_testkit::key(&format!("holder-{i}")).address()).collect(),
        nodes: vec![box_core::typed::GenesisNode {
            nodeId: 1,
            endpoint: "127.0.0.1:1".into(),
            account: box_testkit::key("node").address(),
        }],
        signer: box_testkit::key("signer").address(),
        assets: vec![],
        time: 1_800_000_000,
    };
    #[allow(clippy::unwrap_used)]
    StateMachine::open(&dir.join("state.redb"), genesis).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use box_core::ids::{ChainId, DeploymentId};
    use box_core::typed::Domain;

    #[test]
    fn a_node_opening_a_store_of_an_earlier_version_serves_its_blocks_and_records_from_the_pieces() {
        let dir = tempfile::tempdir().unwrap();
        let domain = Domain { chain_id: ChainId(31337), deployment: DeploymentId(B256::repeat_byte(9)) };
        let key = box_testkit::key("node");
        // A block of several pieces and one of a single piece, with their records.
        let entries = (0..40)
            .map(|i| LoggedEntry {
                index: i + 1,
                time: 7,
                entry: box_core::notary::Entry::Submit(box_testkit::sample_flow(i)),
            })
            .collect();
        let big = Block::seal(&domain, &key, 1, B256::ZERO, entries, B256::repeat_byte(1), 7);
        let small = Block::seal(&domain, &key, 2, big.hash(&domain), Vec::new(), B256::repeat_byte(2), 8);
        assert!(big.encode().len() > 3 * pieces::PIECE && small.encode().len() < pieces::PIECE);
        let records = vec![NotarizedRecord {
            subject: SubjectId(B256::repeat_byte(3)),
            payload: vec![5; 9_000],
            certificate: vec![6; 300],
        }];
        {
            // What an earlier version wrote: a row a block, a row of records a block.
            let db = Database::create(dir.path().join("state.redb")).unwrap();
            let tx = db.begin_write().unwrap();
            {
                let mut b = tx.open_table(LEGACY_BLOCKS).unwrap();
                b.insert(1, big.encode().as_slice()).unwrap();
                b.insert(2, small.encode().as_slice()).unwrap();
                let mut n = tx.open_table(LEGACY_NOTARIZED).unwrap();
                n.insert(1, rows::encode_notarized(&records).as_slice()).unwrap();
            }
            tx.commit().unwrap();
        }
        let shared = test_machine(dir.path(), 9).shared();
        assert_eq!(shared.block(1).unwrap(), Some(big.encode()));
        assert_eq!(shared.block(2).unwrap(), Some(small.encode()));
        assert_eq!(shared.block(3).unwrap(), None);
        assert_eq!(shared.notarized(1).unwrap(), records);
        assert!(shared.notarized(2).unwrap().is_empty());
        assert_eq!(shared.sealed_header(2).unwrap(), Some(small.sealed_header()), "headers indexed from the pieces");
        let tx = shared.db.begin_read().unwrap();
        assert!(matches!(tx.open_table(LEGACY_BLOCKS), Err(redb::TableError::TableDoesNotExist(_))));
        assert!(matches!(tx.open_table(LEGACY_NOTARIZED), Err(redb::TableError::TableDoesNotExist(_))));
    }

    #[test]
    fn a_store_written_before_the_header_table_has_its_headers_indexed_once_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("state.redb")).unwrap();
        let domain = Domain { chain_id: ChainId(31337), deployment: DeploymentId(B256::repeat_byte(9)) };
        let key = box_testkit::key("node-1");
        let entries = vec![LoggedEntry {
            index: 4,
            time: 7,
            entry: box_core::notary::Entry::Submit(box_testkit::sample_flow(1)),
        }];
        let first = Block::seal(&domain, &key, 1, B256::ZERO, entries, B256::repeat_byte(1), 7);
        let second = Block::seal(&domain, &key, 2, first.hash(&domain), Vec::new(), B256::repeat_byte(2), 8);
        // What an earlier version wrote: blocks (one of them unreadable), no header table.
        let tx = db.begin_write().unwrap();
        {
            let mut t = tx.open_table(LEGACY_BLOCKS).unwrap();
            t.insert(1, first.encode().as_slice()).unwrap();
            t.insert(2, second.encode().as_slice()).unwrap();
            t.insert(3, [0xde, 0xad].as_slice()).unwrap();
        }
        tx.commit().unwrap();
        // As at open: the blocks move into pieces first, then the headers are indexed from them.
        assert_eq!(pieces::move_legacy(&db, LEGACY_BLOCKS, BLOCKS).unwrap(), 3);
        let tx = db.begin_write().unwrap();
        index_headers(&tx).unwrap();
        tx.commit().unwrap();
        let header = |h: u64| -> Option<Vec<u8>> {
            let tx = db.begin_read().unwrap();
            tx.open_table(HEADERS).unwrap().get(h).unwrap().map(|g| g.value().to_vec())
        };
        for block in [&first, &second] {
            let held = Block::decode(&header(block.header.height).unwrap()).unwrap();
            assert_eq!(held.sealed_header(), block.sealed_header());
            assert!(held.entries.is_empty(), "a header alone, not the block");
        }
        assert_eq!(header(3), None, "a block that does not decode has no header");
        // Once: a second open does not read the blocks again (a row removed meanwhile stays removed).
        let tx = db.begin_write().unwrap();
        tx.open_table(HEADERS).unwrap().remove(2).unwrap();
        index_headers(&tx).unwrap();
        tx.commit().unwrap();
        assert_eq!(header(2), None);
        assert!(header(1).is_some());
    }
}
