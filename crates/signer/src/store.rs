//! The signer's durable record, in redb. Every write commits with immediate
//! durability (fsync) before it returns, so what the signer did survives a
//! `kill -9` at any instruction.
//!
//! What it holds: `d`, the enrolled devices, the phrase commitments, the
//! wallet address, the failure counter and lock reason, the announcement
//! sequence, and every execution (transfer id or flow hash → nonce and the
//! raw signed transactions). What it never holds: a phrase, the root key or
//! the wallet key. A stolen copy yields `d` and the commitments, each of which
//! costs an Argon2id evaluation per phrase guess.

use alloy::primitives::{Address, B256, Bytes, U256};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::Path;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const EXECUTIONS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("executions");
const NONCES: TableDefinition<u64, &[u8; 32]> = TableDefinition::new("nonces");
/// The verified notary state (box-core's checkpoint: binary; JSON before), under [`VERIFIED_STATE`].
const VERIFIED: TableDefinition<&str, &[u8]> = TableDefinition::new("verified");
/// The one key of the verified-state table.
const VERIFIED_STATE: &str = "state";
/// The retired ids the persisted verified state leaves to this store (id →
/// row tag): replay protection for every transfer and subject that ever
/// finished, read by point lookups instead of loaded at start
/// (box-core `checkpoint::encode_indexed`).
const RETIRED: TableDefinition<&[u8; 32], u8> = TableDefinition::new("retired");

/// A store failure: the signer stops rather than act without a record.
#[derive(Debug, thiserror::Error)]
#[error("signer store: {0}")]
pub struct StoreError(String);

impl StoreError {
    /// A store failure with this description.
    pub(crate) fn new(what: impl Into<String>) -> Self {
        Self(what.into())
    }
}

fn e<E: std::fmt::Display>(err: E) -> StoreError {
    StoreError(err.to_string())
}

/// Begins a write transaction that records redb's allocator state with its
/// commit (redb's "quick-repair"): after a `kill -9` or a power loss the
/// store opens at once, where otherwise redb walks the whole file, which
/// grows with every execution, before the signer can start. Each commit pays
/// a second fsync and that record, whose size follows the file's; the signer
/// commits per execution, not per block (box-chain README, "Crash recovery",
/// has the numbers and why nodes do not do this). Every write to the store
/// goes through here.
fn begin_write(db: &Database) -> Result<redb::WriteTransaction, redb::TransactionError> {
    let mut tx = db.begin_write()?;
    tx.set_quick_repair(true);
    Ok(tx)
}

/// One enrolled key-holder device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// The device key's address.
    pub address: Address,
    /// The holder's name for the device.
    pub device_id: String,
}

/// What an execution moves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionKind {
    /// A notarized transfer.
    Transfer {
        /// Its flow.
        flow: B256,
        /// Asset (0 = ETH).
        asset: Address,
        /// Base units.
        amount: U256,
        /// The signed fee cap (wei): counted towards the flow's ETH period
        /// limit at its worst case.
        #[serde(default)]
        max_fee: U256,
        /// The recipient (zero in records written before it was kept).
        #[serde(default)]
        to: Address,
    },
    /// The anchoring of an authorized flow.
    Anchor,
}

/// Where an execution stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ExecutionState {
    /// Signed and recorded; not yet accepted by the Ethereum node.
    Signed,
    /// Accepted by the Ethereum node.
    Broadcast,
    /// Mined at `block`, not yet deep enough.
    Mined {
        /// Block number of the receipt.
        block: u64,
        /// Which of `raw` was mined.
        tx_hash: B256,
    },
    /// Deep enough: final.
    Confirmed {
        /// The mined transaction.
        tx_hash: B256,
        /// Its block.
        block: u64,
    },
    /// Refused before signing: nothing was signed. Final.
    Refused {
        /// Why.
        reason: String,
    },
    /// Reverted on chain. Final.
    Failed {
        /// Why.
        reason: String,
        /// The reverted transaction.
        tx_hash: B256,
    },
}

/// One execution: a transfer or an anchoring, at most once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Execution {
    /// What it moves.
    pub kind: ExecutionKind,
    /// The nonce it owns (none when refused).
    pub nonce: Option<u64>,
    /// Every signed transaction for that nonce, oldest first (fee bumps add more).
    pub raw: Vec<Bytes>,
    /// Their hashes, in the same order.
    pub hashes: Vec<B256>,
    /// The fee cap per gas of the newest transaction, and its gas limit.
    pub max_fee_per_gas: u128,
    /// Priority fee per gas of the newest transaction.
    pub priority_fee_per_gas: u128,
    /// Gas limit.
    pub gas: u64,
    /// The signed fee cap (wei) the transaction may spend.
    pub fee_cap: U256,
    /// Log time of the decision (seconds), for the period limits.
    pub time: u64,
    /// When the newest transaction was sent (unix seconds), for fee bumps.
    pub sent_at: u64,
    /// Something to tell the chain (e.g. stuck at the fee cap).
    #[serde(default)]
    pub note: String,
    /// Whether `note` was reported.
    #[serde(default)]
    pub note_reported: bool,
    /// For a token transfer once mined: the base units its receipt shows
    /// delivered to the recipient (the token's `Transfer(wallet, to, …)`
    /// events); below the amount for a token that takes a fee on transfer.
    #[serde(default)]
    pub delivered: Option<U256>,
    /// Where it stands.
    pub state: ExecutionState,
    /// What the signer did about a transaction stuck under the base fee,
    /// or a reorg after confirmation (empty for most executions).
    #[serde(default)]
    pub recovery: Recovery,
}

/// A transfer's recovery from the public chain's faults: a fee cap that
/// stays below the base fee (cancelled on its nonce), a reorg deeper than
/// the confirmation depth.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recovery {
    /// Since when (unix seconds) the newest transaction's fee cap has been
    /// below the base fee, as last seen (0: it is not).
    #[serde(default)]
    pub below_base_since: u64,
    /// The cancellation signed on the transfer's nonce, if any.
    #[serde(default)]
    pub cancel: Option<Cancellation>,
    /// What the operator is told about a reorg that undid the transfer's
    /// confirmation (empty: none happened). Kept once set.
    #[serde(default)]
    pub deep_reorg: String,
}

/// A 0-value send from the wallet to itself on a stuck transfer's nonce,
/// so that later nonces can be mined. Its bytes are the newest of
/// [`Execution::raw`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancellation {
    /// Its hash (also the newest of [`Execution::hashes`]).
    pub tx_hash: B256,
    /// Its fee cap per gas.
    pub max_fee_per_gas: u128,
    /// Its priority fee per gas.
    pub priority_fee_per_gas: u128,
    /// Why it was cancelled: the words of the failure once it is mined.
    pub reason: String,
}

impl Execution {
    /// Whether it counts towards the period limits: anything that was signed
    /// and has not failed on chain.
    pub fn counts(&self) -> bool {
        !matches!(self.state, ExecutionState::Refused { .. } | ExecutionState::Failed { .. })
    }
}

/// The store.
pub struct Store {
    db: Database,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

impl Store {
    /// Opens (or creates) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::create(path).map_err(|err| StoreError(format!("cannot open {}: {err}", path.display())))?;
        let tx = begin_write(&db).map_err(e)?;
        {
            tx.open_table(META).map_err(e)?;
            tx.open_table(EXECUTIONS).map_err(e)?;
            tx.open_table(NONCES).map_err(e)?;
            tx.open_table(VERIFIED).map_err(e)?;
            tx.open_table(RETIRED).map_err(e)?;
        }
        tx.commit().map_err(e)?;
        Ok(Self { db })
    }

    /// Replaces the persisted verified state (box-core's checkpoint bytes)
    /// in one durable transaction: a crash leaves the old one or the new one.
    pub fn put_verified_state(&self, bytes: &[u8]) -> Result<(), StoreError> {
        let tx = begin_write(&self.db).map_err(e)?;
        {
            let mut t = tx.open_table(VERIFIED).map_err(e)?;
            t.insert(VERIFIED_STATE, bytes).map_err(e)?;
        }
        tx.commit().map_err(e)
    }

    /// Replaces the persisted verified state with `bytes` (box-core's
    /// indexed checkpoint) and adds `retired` (the ids retired after the
    /// first `from`) to the retired-id index, in one durable transaction: a
    /// crash leaves the old state and index or the new ones. `from` = 0
    /// clears the index first (a state verified from the genesis lists
    /// every id; whatever an earlier, discarded state left there goes).
    pub fn put_verified_state_indexed(
        &self,
        bytes: &[u8],
        from: u64,
        retired: &[(u8, B256)],
    ) -> Result<(), StoreError> {
        let tx = begin_write(&self.db).map_err(e)?;
        {
            if from == 0 {
                tx.delete_table(RETIRED).map_err(e)?;
            }
            let mut t = tx.open_table(RETIRED).map_err(e)?;
            for (tag, id) in retired {
                t.insert(&id.0, *tag).map_err(e)?;
            }
            tx.open_table(VERIFIED).map_err(e)?.insert(VERIFIED_STATE, bytes).map_err(e)?;
        }
        tx.commit().map_err(e)
    }

    /// Which of `ids` the retired-id index holds (O(log n) each).
    pub fn retired_among(&self, ids: &[B256]) -> Result<std::collections::HashSet<B256>, StoreError> {
        let tx = self.db.begin_read().map_err(e)?;
        let t = tx.open_table(RETIRED).map_err(e)?;
        let mut found = std::collections::HashSet::new();
        for id in ids {
            if t.get(&id.0).map_err(e)?.is_some() {
                found.insert(*id);
            }
        }
        Ok(found)
    }

    /// How many ids the retired-id index holds.
    pub fn retired_count(&self) -> Result<u64, StoreError> {
        let tx = self.db.begin_read().map_err(e)?;
        tx.open_table(RETIRED).map_err(e)?.len().map_err(e)
    }

    /// The persisted verified state, if one was written.
    pub fn verified_state(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db.begin_read().map_err(e)?;
        let t = tx.open_table(VERIFIED).map_err(e)?;
        Ok(t.get(VERIFIED_STATE).map_err(e)?.map(|v| v.value().to_vec()))
    }

    /// A metadata value.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        let tx = self.db.begin_read().map_err(e)?;
        let t = tx.open_table(META).map_err(e)?;
        match t.get(key).map_err(e)? {
            Some(v) => serde_json::from_slice(v.value()).map(Some).map_err(e),
            None => Ok(None),
        }
    }

    /// Writes several metadata values in one durable transaction.
    pub fn put_all(&self, values: &[(&str, serde_json::Value)]) -> Result<(), StoreError> {
        let tx = begin_write(&self.db).map_err(e)?;
        {
            let mut t = tx.open_table(META).map_err(e)?;
            for (k, v) in values {
                let bytes = serde_json::to_vec(v).map_err(e)?;
                t.insert(*k, bytes.as_slice()).map_err(e)?;
            }
        }
        tx.commit().map_err(e)
    }

    /// Writes one metadata value durably.
    pub fn put<T: Serialize>(&self, key: &str, value: &T) -> Result<(), StoreError> {
        self.put_all(&[(key, serde_json::to_value(value).map_err(e)?)])
    }

    /// Removes metadata values in one durable transaction.
    pub fn remove_all(&self, keys: &[&str]) -> Result<(), StoreError> {
        let tx = begin_write(&self.db).map_err(e)?;
        {
            let mut t = tx.open_table(META).map_err(e)?;
            for k in keys {
                t.remove(*k).map_err(e)?;
            }
        }
        tx.commit().map_err(e)
    }

    /// The execution for `subject`, if any.
    pub fn execution(&self, subject: &B256) -> Result<Option<Execution>, StoreError> {
        let tx = self.db.begin_read().map_err(e)?;
        let t = tx.open_table(EXECUTIONS).map_err(e)?;
        match t.get(&subject.0).map_err(e)? {
            Some(v) => serde_json::from_slice(v.value()).map(Some).map_err(e),
            None => Ok(None),
        }
    }

    /// Every execution.
    pub fn executions(&self) -> Result<Vec<(B256, Execution)>, StoreError> {
        let tx = self.db.begin_read().map_err(e)?;
        let t = tx.open_table(EXECUTIONS).map_err(e)?;
        let mut out = Vec::new();
        for row in t.iter().map_err(e)? {
            let (k, v) = row.map_err(e)?;
            out.push((B256::from(*k.value()), serde_json::from_slice(v.value()).map_err(e)?));
        }
        Ok(out)
    }

    /// Records a new execution. Refuses (returns `false`, writes nothing) if
    /// `subject` already has one, or if its nonce is already owned: this is
    /// the exactly-once gate, checked and written in one transaction.
    pub fn insert_execution(&self, subject: &B256, x: &Execution) -> Result<bool, StoreError> {
        let bytes = serde_json::to_vec(x).map_err(e)?;
        let tx = begin_write(&self.db).map_err(e)?;
        {
            let mut t = tx.open_table(EXECUTIONS).map_err(e)?;
            if t.get(&subject.0).map_err(e)?.is_some() {
                return Ok(false);
            }
            let mut n = tx.open_table(NONCES).map_err(e)?;
            if let Some(nonce) = x.nonce {
                if n.get(nonce).map_err(e)?.is_some() {
                    return Ok(false);
                }
                n.insert(nonce, &subject.0).map_err(e)?;
            }
            t.insert(&subject.0, bytes.as_slice()).map_err(e)?;
        }
        tx.commit().map_err(e)?;
        Ok(true)
    }

    /// Replaces an existing execution's record (same subject, same nonce).
    pub fn update_execution(&self, subject: &B256, x: &Execution) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(x).map_err(e)?;
        let tx = begin_write(&self.db).map_err(e)?;
        {
            let mut t = tx.open_table(EXECUTIONS).map_err(e)?;
            t.insert(&subject.0, bytes.as_slice()).map_err(e)?;
        }
        tx.commit().map_err(e)
    }

    /// The highest nonce any execution owns.
    pub fn max_nonce(&self) -> Result<Option<u64>, StoreError> {
        let tx = self.db.begin_read().map_err(e)?;
        let t = tx.open_table(NONCES).map_err(e)?;
        Ok(t.last().map_err(e)?.map(|(k, _)| k.value()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x(nonce: Option<u64>) -> Execution {
        Execution {
            kind: ExecutionKind::Anchor,
            nonce,
            raw: vec![],
            hashes: vec![],
            max_fee_per_gas: 0,
            priority_fee_per_gas: 0,
            gas: 0,
            fee_cap: U256::ZERO,
            time: 0,
            sent_at: 0,
            note: String::new(),
            note_reported: false,
            delivered: None,
            state: ExecutionState::Signed,
            recovery: Recovery::default(),
        }
    }

    #[test]
    fn a_subject_and_a_nonce_are_each_executed_once() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("s.redb")).unwrap();
        let (a, b) = (B256::repeat_byte(1), B256::repeat_byte(2));
        assert!(s.insert_execution(&a, &x(Some(0))).unwrap());
        assert!(!s.insert_execution(&a, &x(Some(1))).unwrap(), "same subject twice");
        assert!(!s.insert_execution(&b, &x(Some(0))).unwrap(), "same nonce twice");
        assert!(s.insert_execution(&b, &x(Some(1))).unwrap());
        assert_eq!(s.max_nonce().unwrap(), Some(1));
        drop(s);
        let s = Store::open(&dir.path().join("s.redb")).unwrap();
        assert_eq!(s.executions().unwrap().len(), 2);
        assert_eq!(s.execution(&a).unwrap().unwrap().nonce, Some(0));
    }
}
