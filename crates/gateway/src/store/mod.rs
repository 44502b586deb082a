//! The gateway's SQL store: SQLite (a file, the default) or PostgreSQL, through
//! sqlx's `Any` driver with runtime queries, one schema and one set of
//! migrations (`migrations/`), written in the SQL both engines share.
//!
//! Guarantees every method gives, on both engines:
//! - a method returns only after its writes are committed (durable);
//! - a method that takes a [`NonceUse`] records the nonce in the same
//!   transaction as its change, and changes nothing if the nonce was used
//!   before ([`StoreError::NonceReused`]);
//! - outbox rows are written in the same transaction as the change that
//!   produced them, so nothing accepted is lost.
//!
//! The store checks no rule of BOX: callers verify first.

mod rows;

pub use rows::*;

use crate::config::Database;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, AssertSqlSafe, Row};
use std::time::{SystemTime, UNIX_EPOCH};

/// The migrations, in order. Each runs once, in a transaction.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../../migrations/0001_initial.sql")),
    (2, "escrow download token", include_str!("../../migrations/0002_escrow_download_token.sql")),
];

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or is unreachable.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// The request's nonce was used before by the same signer.
    #[error("nonce {nonce} was already used by {signer}; every request needs a fresh nonce")]
    NonceReused {
        /// Signer.
        signer: String,
        /// Nonce.
        nonce: String,
    },
    /// Someone else changed the row first; re-read and try again.
    #[error("the record changed concurrently")]
    Conflict,
    /// A stored value does not parse (the database was edited by hand?).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Opening or migrating failed.
    #[error("{0}")]
    Setup(String),
}

/// Which engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// A request's nonce, to be recorded with the change it authorizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonceUse {
    /// Signer address (0x-hex, lowercase).
    pub signer: String,
    /// The nonce (0x-hex).
    pub nonce: String,
    /// When it was seen.
    pub at: i64,
}

/// The store.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({:?})", self.backend)
    }
}

/// Unix seconds now.
pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn micros() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

impl Store {
    /// Opens (creating the SQLite file and its directory if needed) and
    /// migrates the database.
    pub async fn open(db: &Database) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let (backend, max) = match db {
            Database::Sqlite(path) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| StoreError::Setup(format!("cannot create {}: {e}", dir.display())))?;
                }
                (Backend::Sqlite, 4)
            }
            Database::Postgres(_) => (Backend::Postgres, 16),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the one writer; wait for the writer
                        // instead of failing at once.
                        sqlx::query("PRAGMA journal_mode = WAL").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA busy_timeout = 10000").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA synchronous = FULL").execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .connect(&db.url())
            .await
            .map_err(|e| StoreError::Setup(format!("cannot open {db}: {e}")))?;
        let store = Self { pool, backend };
        store.migrate().await?;
        Ok(store)
    }

    /// Which engine this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .execute(&self.pool)
        .await?;
        for (version, name, sql) in MIGRATIONS {
            let mut tx = self.pool.begin().await?;
            let done: Option<(i64,)> = sqlx::query_as("SELECT version FROM schema_migrations WHERE version = $1")
                .bind(*version)
                .fetch_optional(&mut *tx)
                .await?;
            if done.is_some() {
                continue;
            }
            for stmt in statements(sql) {
                sqlx::query(AssertSqlSafe(stmt))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| StoreError::Setup(format!("migration {version} ({name}): {e}")))?;
            }
            sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
                .bind(*version)
                .bind(*name)
                .bind(now())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// Records a nonce in `tx`, or fails with [`StoreError::NonceReused`].
    async fn use_nonce(tx: &mut Tx<'_>, n: &NonceUse) -> Result<(), StoreError> {
        let r = sqlx::query("INSERT INTO nonces (signer, nonce, seen_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(&n.signer)
            .bind(&n.nonce)
            .bind(n.at)
            .execute(&mut **tx)
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NonceReused { signer: n.signer.clone(), nonce: n.nonce.clone() });
        }
        Ok(())
    }

    /// Records a nonce for a request that stores nothing else (a relayed ceremony message).
    pub async fn enqueue_nothing(&self, nonce: &NonceUse) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        Self::use_nonce(&mut tx, nonce).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Forgets nonces seen before `before` (requests that old are refused as stale anyway).
    pub async fn prune_nonces(&self, before: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM nonces WHERE seen_at < $1").bind(before).execute(&self.pool).await?.rows_affected())
    }

    /// Whether a nonce is recorded (for tests and diagnostics).
    pub async fn nonce_seen(&self, signer: &str, nonce: &str) -> Result<bool, StoreError> {
        let r: Option<(i64,)> = sqlx::query_as("SELECT seen_at FROM nonces WHERE signer = $1 AND nonce = $2")
            .bind(signer)
            .bind(nonce)
            .fetch_optional(&self.pool)
            .await?;
        Ok(r.is_some())
    }

    async fn insert_outbox(tx: &mut Tx<'_>, o: &NewOutbox) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO outbox (subject_id, kind, subject, created_at, attempts, seq) VALUES ($1, $2, $3, $4, 0, $5) ON CONFLICT DO NOTHING",
        )
        .bind(&o.subject_id)
        .bind(&o.kind)
        .bind(&o.subject)
        .bind(now())
        .bind(micros())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    // ---- people ----

    /// Registers or updates a person.
    pub async fn put_person(&self, nonce: &NonceUse, p: &Person) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        Self::use_nonce(&mut tx, nonce).await?;
        sqlx::query(
            "INSERT INTO people (address, name, roles, registered_by, registered_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (address) DO UPDATE SET name = $2, roles = $3, registered_by = $4, registered_at = $5",
        )
        .bind(&p.address)
        .bind(&p.name)
        .bind(&p.roles)
        .bind(&p.registered_by)
        .bind(p.registered_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// One person.
    pub async fn person(&self, address: &str) -> Result<Option<Person>, StoreError> {
        let r = sqlx::query("SELECT address, name, roles, registered_by, registered_at FROM people WHERE address = $1")
            .bind(address)
            .fetch_optional(&self.pool)
            .await?;
        r.map(|r| Person::from_row(&r)).transpose()
    }

    /// Everyone, by address.
    pub async fn people(&self) -> Result<Vec<Person>, StoreError> {
        let rows =
            sqlx::query("SELECT address, name, roles, registered_by, registered_at FROM people ORDER BY address")
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(Person::from_row).collect()
    }

    // ---- escrow ----

    /// Stores (or replaces) an encrypted keystore, with the hash of its
    /// download token when it may be claimed once unsigned (a replaced
    /// keystore's old token no longer works).
    pub async fn put_escrow(
        &self,
        nonce: &NonceUse,
        address: &str,
        keystore: &str,
        by: &str,
        download_token_hash: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        Self::use_nonce(&mut tx, nonce).await?;
        sqlx::query(
            "INSERT INTO escrow (address, keystore, uploaded_by, uploaded_at, download_token_hash) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (address) DO UPDATE SET keystore = $2, uploaded_by = $3, uploaded_at = $4, download_token_hash = $5",
        )
        .bind(address)
        .bind(keystore)
        .bind(by)
        .bind(now())
        .bind(download_token_hash)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// An encrypted keystore: (keystore JSON, uploaded by, at).
    pub async fn escrow(&self, address: &str) -> Result<Option<(String, String, i64)>, StoreError> {
        Ok(sqlx::query_as("SELECT keystore, uploaded_by, uploaded_at FROM escrow WHERE address = $1")
            .bind(address)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Claims the keystore of `address` with a download token's hash, once:
    /// the keystore if the hash is the one stored (which it clears in the
    /// same statement, so of two concurrent claims one wins), else `None`,
    /// the same for an unknown address, a wrong token and a spent one.
    pub async fn claim_escrow(
        &self,
        address: &str,
        token_hash: &str,
    ) -> Result<Option<(String, String, i64)>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let taken =
            sqlx::query("UPDATE escrow SET download_token_hash = NULL WHERE address = $1 AND download_token_hash = $2")
                .bind(address)
                .bind(token_hash)
                .execute(&mut *tx)
                .await?;
        if taken.rows_affected() != 1 {
            return Ok(None);
        }
        let row = sqlx::query_as("SELECT keystore, uploaded_by, uploaded_at FROM escrow WHERE address = $1")
            .bind(address)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    // ---- flows ----

    /// Stores a flow draft; `false` if a flow with that hash exists (nothing changed).
    pub async fn insert_flow(&self, nonce: &NonceUse, f: &FlowRow) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        Self::use_nonce(&mut tx, nonce).await?;
        let r = sqlx::query(
            "INSERT INTO flows (hash, name, body, created_by, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(&f.hash)
        .bind(&f.name)
        .bind(&f.body)
        .bind(&f.created_by)
        .bind(f.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    /// One flow.
    pub async fn flow(&self, hash: &str) -> Result<Option<FlowRow>, StoreError> {
        let r = sqlx::query("SELECT hash, name, body, created_by, created_at, submitted_at FROM flows WHERE hash = $1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?;
        r.map(|r| FlowRow::from_row(&r)).transpose()
    }

    /// Every flow, newest first.
    pub async fn flows(&self) -> Result<Vec<FlowRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT hash, name, body, created_by, created_at, submitted_at FROM flows ORDER BY created_at DESC, hash",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(FlowRow::from_row).collect()
    }

    /// Marks a flow submitted and queues it for the chain.
    pub async fn submit_flow(&self, nonce: &NonceUse, hash: &str, outbox: &NewOutbox) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        Self::use_nonce(&mut tx, nonce).await?;
        sqlx::query("UPDATE flows SET submitted_at = $1 WHERE hash = $2 AND submitted_at IS NULL")
            .bind(now())
            .bind(hash)
            .execute(&mut *tx)
            .await?;
        Self::insert_outbox(&mut tx, outbox).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Queues a subject for the chain (e.g. a key holder's flow authorization).
    pub async fn enqueue(&self, nonce: &NonceUse, outbox: &NewOutbox) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        Self::use_nonce(&mut tx, nonce).await?;
        Self::insert_outbox(&mut tx, outbox).await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- transfers ----

    /// Stores a new application; `false` if the transfer id exists (nothing changed).
    pub async fn insert_transfer(&self, nonce: &NonceUse, t: &TransferRow) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        Self::use_nonce(&mut tx, nonce).await?;
        let r = sqlx::query(
            "INSERT INTO transfers (id, flow_hash, applicant, asset, destination, amount, request, applicant_signature, \
             level, state, version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11, $11) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&t.id)
        .bind(&t.flow_hash)
        .bind(&t.applicant)
        .bind(&t.asset)
        .bind(&t.destination)
        .bind(&t.amount)
        .bind(&t.request)
        .bind(&t.applicant_signature)
        .bind(t.level)
        .bind(&t.state)
        .bind(t.created_at)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Ok(false); // dropping the transaction rolls the nonce back too
        }
        tx.commit().await?;
        Ok(true)
    }

    /// One transfer.
    pub async fn transfer(&self, id: &str) -> Result<Option<TransferRow>, StoreError> {
        let r = sqlx::query(AssertSqlSafe(format!("SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = $1")))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        r.map(|r| TransferRow::from_row(&r)).transpose()
    }

    /// Its approvals, by level then approver.
    pub async fn approvals(&self, id: &str) -> Result<Vec<ApprovalRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT transfer_id, level, approver, signature, created_at FROM approvals WHERE transfer_id = $1 ORDER BY level, approver",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(ApprovalRow::from_row).collect()
    }

    /// Transfers matching `f`, newest first.
    pub async fn transfers(&self, f: &TransferFilter) -> Result<Vec<TransferRow>, StoreError> {
        // Fixed SQL with optional parameters: `$n IS NULL OR column = $n`.
        let sql = format!(
            "SELECT {TRANSFER_COLUMNS} FROM transfers WHERE ($1 IS NULL OR applicant = $1) AND ($2 IS NULL OR state = $2) \
             AND ($3 IS NULL OR flow_hash = $3) ORDER BY created_at DESC, id LIMIT $4 OFFSET $5"
        );
        let q = match self.backend {
            // PostgreSQL cannot infer the type of a parameter only compared with NULL.
            Backend::Postgres => sql
                .replace("$1 IS NULL", "$1::TEXT IS NULL")
                .replace("$2 IS NULL", "$2::TEXT IS NULL")
                .replace("$3 IS NULL", "$3::TEXT IS NULL"),
            Backend::Sqlite => sql,
        };
        // Built from constant fragments only; every value is bound.
        let rows = sqlx::query(AssertSqlSafe(q))
            .bind(f.applicant.clone())
            .bind(f.state.clone())
            .bind(f.flow_hash.clone())
            .bind(f.limit)
            .bind(f.offset)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(TransferRow::from_row).collect()
    }

    /// Records one approval if the transfer is still at `expected_version`,
    /// moving it to `level`/`state` and queueing `outbox` (when the last level
    /// closed) in the same transaction. [`StoreError::Conflict`] if someone
    /// changed the transfer first: nothing was written; re-read and retry.
    pub async fn approve(
        &self,
        nonce: &NonceUse,
        expected_version: i64,
        a: &ApprovalRow,
        level: i64,
        state: &str,
        outbox: Option<&NewOutbox>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let bumped = sqlx::query(
            "UPDATE transfers SET version = version + 1, level = $1, state = $2, updated_at = $3 WHERE id = $4 AND version = $5",
        )
        .bind(level)
        .bind(state)
        .bind(now())
        .bind(&a.transfer_id)
        .bind(expected_version)
        .execute(&mut *tx)
        .await?;
        if bumped.rows_affected() == 0 {
            return Err(StoreError::Conflict);
        }
        Self::use_nonce(&mut tx, nonce).await?;
        let r = sqlx::query(
            "INSERT INTO approvals (transfer_id, level, approver, signature, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(&a.transfer_id)
        .bind(a.level)
        .bind(&a.approver)
        .bind(&a.signature)
        .bind(a.created_at)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::Conflict);
        }
        if let Some(o) = outbox {
            Self::insert_outbox(&mut tx, o).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Closes a transfer as rejected by an approver, if still at `expected_version`.
    pub async fn reject(
        &self,
        nonce: &NonceUse,
        id: &str,
        expected_version: i64,
        by: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let r = sqlx::query(
            "UPDATE transfers SET version = version + 1, state = 'rejected', rejected_by = $1, reason = $2, updated_at = $3 \
             WHERE id = $4 AND version = $5",
        )
        .bind(by)
        .bind(reason)
        .bind(now())
        .bind(id)
        .bind(expected_version)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::Conflict);
        }
        Self::use_nonce(&mut tx, nonce).await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- governance ----

    /// Adds a key holder's signature to an action (creating it), and queues
    /// `outbox` when the signatures now meet the action's authority.
    pub async fn sign_governance(
        &self,
        nonce: &NonceUse,
        g: &GovernanceRow,
        signer: &str,
        signature: &str,
        outbox: Option<&NewOutbox>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        Self::use_nonce(&mut tx, nonce).await?;
        sqlx::query(
            "INSERT INTO governance (hash, action, description, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(&g.hash)
        .bind(&g.action)
        .bind(&g.description)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO governance_signatures (hash, signer, signature) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(&g.hash)
        .bind(signer)
        .bind(signature)
        .execute(&mut *tx)
        .await?;
        if let Some(o) = outbox {
            sqlx::query("UPDATE governance SET queued_at = $1 WHERE hash = $2")
                .bind(now())
                .bind(&g.hash)
                .execute(&mut *tx)
                .await?;
            Self::insert_outbox(&mut tx, o).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// One action with its signatures (signer, signature).
    pub async fn governance(&self, hash: &str) -> Result<Option<(GovernanceRow, Vec<(String, String)>)>, StoreError> {
        let r = sqlx::query("SELECT hash, action, description, created_at, queued_at FROM governance WHERE hash = $1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?;
        let Some(r) = r else { return Ok(None) };
        let g = GovernanceRow::from_row(&r)?;
        let sigs =
            sqlx::query_as("SELECT signer, signature FROM governance_signatures WHERE hash = $1 ORDER BY signer")
                .bind(hash)
                .fetch_all(&self.pool)
                .await?;
        Ok(Some((g, sigs)))
    }

    /// Every action, newest first.
    pub async fn governance_list(&self) -> Result<Vec<GovernanceRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT hash, action, description, created_at, queued_at FROM governance ORDER BY created_at DESC, hash",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(GovernanceRow::from_row).collect()
    }

    // ---- outbox ----

    /// Rows not yet accepted by a node, oldest first.
    pub async fn outbox_due(&self, limit: i64) -> Result<Vec<OutboxRow>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE relayed_at IS NULL ORDER BY seq LIMIT $1"
        )))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(OutboxRow::from_row).collect()
    }

    /// One row.
    pub async fn outbox(&self, subject_id: &str) -> Result<Option<OutboxRow>, StoreError> {
        let r = sqlx::query(AssertSqlSafe(format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE subject_id = $1")))
            .bind(subject_id)
            .fetch_optional(&self.pool)
            .await?;
        r.map(|r| OutboxRow::from_row(&r)).transpose()
    }

    /// Every row, newest first (for status pages and tests).
    pub async fn outbox_all(&self) -> Result<Vec<OutboxRow>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!("SELECT {OUTBOX_COLUMNS} FROM outbox ORDER BY seq DESC")))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(OutboxRow::from_row).collect()
    }

    /// A node answered: `outcome` is `submitted`, `duplicate` or `refused: …`.
    pub async fn outbox_done(&self, subject_id: &str, outcome: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET relayed_at = $1, outcome = $2, attempts = attempts + 1, last_error = NULL WHERE subject_id = $3")
            .bind(now())
            .bind(outcome)
            .bind(subject_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// No node took it this time.
    pub async fn outbox_failed(&self, subject_id: &str, error: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $1 WHERE subject_id = $2")
            .bind(error)
            .bind(subject_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- blocks ----

    /// Stores a verified block (idempotent).
    pub async fn put_block(&self, height: i64, body: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO blocks (height, body) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(height)
            .bind(body)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Blocks from `from`, at most `limit`, in height order.
    pub async fn blocks(&self, from: i64, limit: i64) -> Result<Vec<(i64, String)>, StoreError> {
        Ok(sqlx::query_as("SELECT height, body FROM blocks WHERE height >= $1 ORDER BY height LIMIT $2")
            .bind(from)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }
}

/// The statements of a migration: `--` comments removed, split at `;`.
fn statements(sql: &str) -> Vec<String> {
    let text: String = sql.lines().map(|l| l.split("--").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
    text.split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

pub(crate) fn col<T>(r: &AnyRow, name: &str) -> Result<T, StoreError>
where
    T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    r.try_get(name).map_err(|e| StoreError::Corrupt(format!("column {name}: {e}")))
}
