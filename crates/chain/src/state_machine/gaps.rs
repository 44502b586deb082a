//! The blocks a node lacks below a snapshot it installed, kept durably so a
//! restart resumes fetching them (`crate::backfill` fetches them).
//!
//! A gap is a run of heights `bottom..=top` and the hash block `top` must
//! have: the installed tip's, then each fetched block's parent. A block is
//! stored only if it hashes to what the gap expects and its entries match its
//! header's Merkle root, in the same transaction that moves the gap down, so
//! the stored chain is always linked to the certified tip.
//!
//! What it does not check: a fetched block's seal against the registry of
//! its height (that needs the state before it, which the node never had); the
//! seal must only be a signature. A block's hash covers its header, not its
//! seal, so a peer could serve the same content sealed by another key;
//! whoever follows blocks (signer, gateway, `boxctl audit`) checks every seal
//! against the registry of its time itself and refuses such a block.

use super::pieces;
use super::{BLOCKS, DECIDED, META, NOTARIZED, NotarizedRecord, Shared, StoredTransferProof, TRANSFER_PROOFS};
use crate::log_store::{StoreError, werr};
use box_core::B256;
use box_core::attestation::RegistryChange;
use box_core::block::{Block, LoggedEntry, merkle_root};
use box_core::encoding::Canonical;
use box_core::ids::{SubjectId, TransferId};
use box_core::notary::{SubjectKind, TransferProof};
use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

const GAPS_KEY: &str = "backfill_gaps";
/// The highest snapshot tip below which some block's records are missing.
const RECORDS_MISSING_KEY: &str = "records_missing_upto";
/// The closed gaps (JSON list of `[bottom, top]`) whose retired transfers'
/// proofs are still to fetch.
const PROOFS_WANTED_KEY: &str = "backfill_proofs_wanted";
/// The transfers (JSON list of ids) of fetched runs that no peer sent a
/// verifying proof of when the run was fetched: asked about again.
const PROOFS_UNHELD_KEY: &str = "backfill_proofs_unheld";
/// The subjects (JSON list of [`Undecided`]) of fetched runs whose standing
/// their run could not settle: asked about again.
const REJECTIONS_UNSETTLED_KEY: &str = "backfill_rejections_unsettled";

/// A subject submitted in a run of blocks fetched below a snapshot, of which
/// this node holds no decision and which is not live at its tip: rejected,
/// or never decided, before the snapshot (`crate::backfill` asks the peers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Undecided {
    /// The subject.
    pub id: SubjectId,
    /// Its kind, as its submission in this node's block has it.
    pub kind: SubjectKind,
    /// The height of the block that carries its submission.
    pub submitted: u64,
    /// The top of its run (the installed tip it was fetched for): a
    /// rejection of it counts only if decided from `submitted` to `top`.
    pub top: u64,
}

/// Blocks still to fetch: heights `bottom..=top`, block `top` hashing to `hash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// The highest missing height.
    pub top: u64,
    /// The hash block `top` must have.
    pub hash: B256,
    /// The lowest missing height (1, or one above a block this node holds).
    pub bottom: u64,
    /// The installed tip the gap was recorded for: the notarized records of
    /// `bottom..=tip` are fetched before the gap's last block is stored, so
    /// a restart fetches them again if it stopped in between.
    #[serde(default)]
    pub tip: u64,
}

/// What storing a fetched block did.
#[derive(Debug, PartialEq, Eq)]
pub enum Backfilled {
    /// Stored; the gap continues below it.
    Stored,
    /// Stored; it closed its gap, and links to the block below it (or is block 1).
    Closed,
    /// Stored and closed its gap, but the block this node held below it is
    /// not its parent: the node's own chain and the certified one disagree.
    Unlinked,
    /// Not stored: this node holds another block at that height (never
    /// rewritten); the gap is dropped.
    Conflict,
}

impl Shared {
    /// The blocks this node still lacks below an installed snapshot's tip.
    pub fn gaps(&self) -> Result<Vec<Gap>, redb::Error> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(META)?;
        Ok(t.get(GAPS_KEY)?.and_then(|g| serde_json::from_slice(g.value()).ok()).unwrap_or_default())
    }

    /// `Some(tip)` if this node installed a snapshot at `tip` whose blocks
    /// below it are (or will be) stored without their derived records
    /// (notarized subjects, decision heights, transfer proofs, the node
    /// changes they notarized): what it serves from those records is
    /// incomplete, and it says so instead of answering (crate README,
    /// "Snapshots"). `None` for a node that applied every block it holds.
    pub fn records_missing(&self) -> Result<Option<u64>, redb::Error> {
        self.meta_u64(RECORDS_MISSING_KEY)
    }

    /// Records, after installing a snapshot whose tip is block `height` with
    /// `hash`, the blocks this node lacks below it, and keeps `proofs` (every
    /// live transfer's row proven against the tip's header: the blocks that
    /// last changed them may be in the gap) where it holds no later one.
    /// `registry`: the node changes up to the tip of the registry chain that
    /// certified it (verified from the genesis), taken as this node's index
    /// of them when it lacks the tip block (`super::kept::take_registry_chain`).
    /// One durable transaction. Wakes the backfill task.
    pub(super) fn want_blocks_below(
        &self,
        height: u64,
        hash: B256,
        proofs: &[TransferProof],
        registry: Option<&[RegistryChange]>,
    ) -> Result<(), StoreError> {
        if height == 0 {
            return Ok(());
        }
        let tx = super::durable_write(&self.db).map_err(werr)?;
        {
            let blocks = tx.open_table(BLOCKS).map_err(werr)?;
            if !pieces::contains(&blocks, height).map_err(werr)? {
                // The highest block held below the tip: the gap ends above it.
                let below = pieces::highest_below(&blocks, height).map_err(werr)?;
                let bottom = below.map_or(1, |h| h + 1);
                let mut meta = tx.open_table(META).map_err(werr)?;
                let mut gaps: Vec<Gap> = meta
                    .get(GAPS_KEY)
                    .map_err(werr)?
                    .and_then(|g| serde_json::from_slice(g.value()).ok())
                    .unwrap_or_default();
                gaps.retain(|g| g.top < bottom);
                gaps.push(Gap { top: height, hash, bottom, tip: height });
                let bytes = serde_json::to_vec(&gaps).map_err(werr)?;
                meta.insert(GAPS_KEY, bytes.as_slice()).map_err(werr)?;
                // The blocks of this gap will be stored without their records, for good.
                meta.insert(RECORDS_MISSING_KEY, height.to_be_bytes().as_slice()).map_err(werr)?;
                drop(meta);
                if let Some(changes) = registry {
                    super::kept::take_registry_chain(&tx, height, changes)?;
                }
            }
            let mut table = tx.open_table(TRANSFER_PROOFS).map_err(werr)?;
            for proof in proofs {
                keep_latest(&mut table, height, proof).map_err(werr)?;
            }
        }
        tx.commit().map_err(werr)?;
        self.backfill.notify_one();
        Ok(())
    }

    /// Stores `block`, fetched for `gap` (the first of [`Shared::gaps`]), if
    /// it hashes to what the gap expects, and moves the gap down. Its derived
    /// records (notarized subjects, decision heights, transfer proofs) are
    /// not recomputed: they need the state before it (crate README). Refuses
    /// a block that does not hash to the gap's expectation or a gap that is
    /// no longer the first.
    pub fn store_backfilled(&self, gap: Gap, block: &Block) -> Result<Backfilled, String> {
        let domain = self.read().notary.domain();
        if block.header.height != gap.top || block.hash(&domain) != gap.hash {
            return Err(format!("it is not the block {} the certified chain names", gap.top));
        }
        let leaves: Vec<B256> = block.entries.iter().map(LoggedEntry::leaf).collect();
        if merkle_root(&leaves) != block.header.entriesRoot || block.header.entryCount != block.entries.len() as u64 {
            return Err(format!("block {}'s entries do not match its header's Merkle root and count", gap.top));
        }
        block.sealer(&domain).map_err(|e| format!("block {}'s seal is not a signature ({e})", gap.top))?;
        let io = |e: redb::Error| format!("the store failed: {e}");
        let tx = super::durable_write(&self.db).map_err(|e| io(e.into()))?;
        let outcome = {
            let mut meta = tx.open_table(META).map_err(|e| io(e.into()))?;
            let mut gaps: Vec<Gap> = meta
                .get(GAPS_KEY)
                .map_err(|e| io(e.into()))?
                .and_then(|g| serde_json::from_slice(g.value()).ok())
                .unwrap_or_default();
            if gaps.first() != Some(&gap) {
                return Err("its gap changed while it was fetched".into());
            }
            let mut blocks = tx.open_table(BLOCKS).map_err(|e| io(e.into()))?;
            let bytes = block.encode();
            let held = pieces::get(&blocks, gap.top).map_err(|e| io(e.into()))?;
            let outcome = if held.as_ref().is_some_and(|mine| *mine != bytes) {
                // Never rewrite a block this node holds.
                gaps.remove(0);
                Backfilled::Conflict
            } else if gap.top > gap.bottom {
                gaps[0] = Gap { top: gap.top - 1, hash: block.header.parent, ..gap };
                Backfilled::Stored
            } else {
                gaps.remove(0);
                let below = match gap.bottom {
                    1 => Some(B256::ZERO),
                    b => pieces::get(&blocks, b - 1)
                        .map_err(|e| io(e.into()))?
                        .and_then(|bytes| Block::decode(&bytes).ok())
                        .map(|held| held.hash(&domain)),
                };
                if below == Some(block.header.parent) { Backfilled::Closed } else { Backfilled::Unlinked }
            };
            if held.is_none() {
                pieces::put(&mut blocks, gap.top, &bytes).map_err(|e| io(e.into()))?;
                super::store_header(&tx, block).map_err(|e| e.to_string())?;
            }
            let bytes = serde_json::to_vec(&gaps).map_err(|e| e.to_string())?;
            meta.insert(GAPS_KEY, bytes.as_slice()).map_err(|e| io(e.into()))?;
            if matches!(outcome, Backfilled::Closed | Backfilled::Unlinked) {
                let mut wanted = read_wanted(&meta).map_err(io)?;
                wanted.push((gap.bottom, gap.tip.max(gap.top)));
                let bytes = serde_json::to_vec(&wanted).map_err(|e| e.to_string())?;
                meta.insert(PROOFS_WANTED_KEY, bytes.as_slice()).map_err(|e| io(e.into()))?;
            }
            outcome
        };
        tx.commit().map_err(|e| io(e.into()))?;
        Ok(outcome)
    }
}

/// The closed gaps whose retired transfers' proofs are still to fetch.
fn read_wanted(meta: &impl ReadableTable<&'static str, &'static [u8]>) -> Result<Vec<(u64, u64)>, redb::Error> {
    Ok(meta.get(PROOFS_WANTED_KEY)?.and_then(|g| serde_json::from_slice(g.value()).ok()).unwrap_or_default())
}

impl Shared {
    /// The fetched runs of blocks `(bottom, top)` (each up to the installed
    /// tip it was fetched for) whose retired transfers' proofs and retired
    /// rejections are still to fetch (`crate::backfill`): recorded in the
    /// transaction that closes a gap, so a restart fetches them again.
    pub fn proofs_wanted(&self) -> Result<Vec<(u64, u64)>, redb::Error> {
        let tx = self.db.begin_read()?;
        read_wanted(&tx.open_table(META)?)
    }

    /// Records that the proofs and rejections of the run `range` were
    /// fetched, and, in the same transaction, that no peer proved the
    /// transfers `unheld` of it ([`Shared::proofs_unheld`]) and that the
    /// standing of the subjects `unsettled` of it was not settled
    /// ([`Shared::rejections_unsettled`]).
    pub fn proofs_fetched(
        &self,
        range: (u64, u64),
        unheld: &[TransferId],
        unsettled: &[Undecided],
    ) -> Result<(), redb::Error> {
        let tx = super::durable_write(&self.db)?;
        {
            let mut meta = tx.open_table(META)?;
            let mut wanted = read_wanted(&meta)?;
            wanted.retain(|r| *r != range);
            put_json(&mut meta, PROOFS_WANTED_KEY, &wanted)?;
            if !unheld.is_empty() {
                let mut all: BTreeSet<TransferId> = read_set(&meta, PROOFS_UNHELD_KEY)?;
                all.extend(unheld.iter().copied());
                put_json(&mut meta, PROOFS_UNHELD_KEY, &all)?;
            }
            if !unsettled.is_empty() {
                let mut all: BTreeSet<Undecided> = read_set(&meta, REJECTIONS_UNSETTLED_KEY)?;
                all.extend(unsettled.iter().copied());
                put_json(&mut meta, REJECTIONS_UNSETTLED_KEY, &all)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The subjects of fetched runs whose standing their run could not
    /// settle: peers that did not answer could have made up the majority a
    /// rejection needs (`crate::backfill` asks about them again, with
    /// [`Shared::proofs_unheld`]).
    pub fn rejections_unsettled(&self) -> Result<BTreeSet<Undecided>, redb::Error> {
        let tx = self.db.begin_read()?;
        read_set(&tx.open_table(META)?, REJECTIONS_UNSETTLED_KEY)
    }

    /// Takes the subjects `settled` (a rejection kept, or the peers' answers
    /// settled that none is reported) off [`Shared::rejections_unsettled`].
    pub fn rejections_settled(&self, settled: &[SubjectId]) -> Result<(), redb::Error> {
        if settled.is_empty() {
            return Ok(());
        }
        self.change_set(REJECTIONS_UNSETTLED_KEY, |all: &mut BTreeSet<Undecided>| {
            all.retain(|u| !settled.contains(&u.id));
        })
    }

    /// Changes the set written as JSON under `key` of the `meta` table, in
    /// one transaction.
    fn change_set<T>(&self, key: &str, change: impl FnOnce(&mut BTreeSet<T>)) -> Result<(), redb::Error>
    where
        T: Serialize + serde::de::DeserializeOwned + Ord,
    {
        let tx = super::durable_write(&self.db)?;
        {
            let mut meta = tx.open_table(META)?;
            let mut all = read_set(&meta, key)?;
            change(&mut all);
            put_json(&mut meta, key, &all)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The transfers of fetched runs that no peer sent a verifying proof of
    /// when their run was fetched (the peers that held one were down for
    /// good, or were themselves caught up by snapshot and had not fetched
    /// it yet): `crate::backfill` asks about them again, at every start and
    /// then now and then, until each is proven.
    pub fn proofs_unheld(&self) -> Result<BTreeSet<TransferId>, redb::Error> {
        let tx = self.db.begin_read()?;
        read_set(&tx.open_table(META)?, PROOFS_UNHELD_KEY)
    }

    /// Takes the transfers `proven` (a verifying proof of each is held now)
    /// off [`Shared::proofs_unheld`].
    pub fn proofs_now_held(&self, proven: &[TransferId]) -> Result<(), redb::Error> {
        if proven.is_empty() {
            return Ok(());
        }
        self.change_set(PROOFS_UNHELD_KEY, |all: &mut BTreeSet<TransferId>| {
            for id in proven {
                all.remove(id);
            }
        })
    }
}

/// The set written as JSON under `key` of the `meta` table (empty if none).
fn read_set<T: serde::de::DeserializeOwned + Ord>(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<BTreeSet<T>, redb::Error> {
    match meta.get(key)? {
        None => Ok(BTreeSet::new()),
        Some(g) => serde_json::from_slice(g.value())
            .map_err(|e| redb::Error::Corrupted(format!("the backfill's `{key}` does not read: {e}"))),
    }
}

/// Writes `value` as JSON under `key` of the `meta` table.
fn put_json(meta: &mut redb::Table<&str, &[u8]>, key: &str, value: &impl Serialize) -> Result<(), redb::Error> {
    let bytes = serde_json::to_vec(value).map_err(|e| redb::Error::Corrupted(e.to_string()))?;
    meta.insert(key, bytes.as_slice())?;
    Ok(())
}

/// Writes `proof` as its transfer's latest proven row at `height` into
/// `table` ([`TRANSFER_PROOFS`]) unless it holds one at `height` or later.
/// Returns whether it wrote.
fn keep_latest(
    table: &mut redb::Table<&[u8; 32], &[u8]>,
    height: u64,
    proof: &TransferProof,
) -> Result<bool, redb::Error> {
    let key = &proof.transfer.0.0;
    let later = table
        .get(key)?
        .and_then(|g| super::rows::decode_proof(g.value()).ok())
        .is_some_and(|held| held.height >= height);
    if !later {
        let stored = StoredTransferProof { height, proof: proof.clone() };
        table.insert(key, super::rows::encode_proof(&stored).as_slice())?;
    }
    Ok(!later)
}

/// What became of a transfer proof fetched from a peer ([`Shared::store_fetched_proof`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchedProof {
    /// Kept as the transfer's latest proven row.
    Kept,
    /// This node already holds a proof of that transfer at that height or later.
    Held,
    /// Refused: this node holds no block at that height, or the proof does
    /// not show the transfer's row under that block's `stateHash`.
    Refused,
}

impl Shared {
    /// Keeps `proof`, a transfer's row a peer proved against its block
    /// `height`, if it verifies against the `stateHash` of the block this
    /// node holds at `height` (never the peer's header) and this node holds
    /// no proof of that transfer at `height` or later. One durable
    /// transaction; `Err` only when the store fails.
    pub fn store_fetched_proof(&self, height: u64, proof: &TransferProof) -> Result<FetchedProof, String> {
        let io = |e: redb::Error| format!("the store failed: {e}");
        let Some(held) = self.sealed_header(height).map_err(io)? else { return Ok(FetchedProof::Refused) };
        if proof.verify(&held.header.stateHash).is_none() {
            return Ok(FetchedProof::Refused);
        }
        let tx = super::durable_write(&self.db).map_err(|e| io(e.into()))?;
        let kept = {
            let mut table = tx.open_table(TRANSFER_PROOFS).map_err(|e| io(e.into()))?;
            keep_latest(&mut table, height, proof).map_err(io)?
        };
        tx.commit().map_err(|e| io(e.into()))?;
        Ok(if kept { FetchedProof::Kept } else { FetchedProof::Held })
    }

    /// Keeps `records`, fetched from a peer for the fetched block `height`
    /// and each verified by the caller (subject id of its payload, quorum
    /// certificate), as that block's notarized records and decision heights,
    /// where this node holds none. Returns how many it kept.
    pub fn store_fetched_records(&self, height: u64, records: &[NotarizedRecord]) -> Result<usize, String> {
        let io = |e: redb::Error| format!("the store failed: {e}");
        let tx = super::durable_write(&self.db).map_err(|e| io(e.into()))?;
        let kept = {
            let mut n = tx.open_table(NOTARIZED).map_err(|e| io(e.into()))?;
            let held: Vec<NotarizedRecord> = pieces::get(&n, height)
                .map_err(|e| io(e.into()))?
                .and_then(|bytes| super::rows::decode_notarized(&bytes).ok())
                .unwrap_or_default();
            if !held.is_empty() || records.is_empty() {
                0
            } else {
                pieces::put(&mut n, height, &super::rows::encode_notarized(records)).map_err(|e| io(e.into()))?;
                let mut d = tx.open_table(DECIDED).map_err(|e| io(e.into()))?;
                for r in records {
                    if d.get(&r.subject.0.0).map_err(|e| io(e.into()))?.is_none() {
                        d.insert(&r.subject.0.0, height).map_err(|e| io(e.into()))?;
                    }
                }
                records.len()
            }
        };
        tx.commit().map_err(|e| io(e.into()))?;
        Ok(kept)
    }
}
