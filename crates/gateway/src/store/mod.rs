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
//! Rows are typed ([`rows`]): box-core's ids, addresses, amounts,
//! signatures and signed structs, statuses as enums, written as the text
//! forms of [`codec`] (unchanged since schema version 1).
//!
//! The store checks no rule of BOX: callers verify first.

mod bootstrap;
mod codec;
mod finals;
mod flows;
mod offboard;
mod outbox;
mod people;
pub mod rows;
mod transfers;
mod verified;

pub use finals::{FinalKind, FinalTransfer};
pub use rows::*;

use crate::config::Database;
use box_core::{Address, B256};
use codec::Stored;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, AssertSqlSafe};
use std::time::{SystemTime, UNIX_EPOCH};

/// The migrations, in order. Each runs once, in a transaction.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../../migrations/0001_initial.sql")),
    (2, "escrow download token", include_str!("../../migrations/0002_escrow_download_token.sql")),
    (3, "governance collecting index", include_str!("../../migrations/0003_governance_collecting.sql")),
    (4, "verified state", include_str!("../../migrations/0004_verified_state.sql")),
    (5, "final status", include_str!("../../migrations/0005_final_status.sql")),
    (6, "retired ids", include_str!("../../migrations/0006_retired_ids.sql")),
    (7, "retired positions", include_str!("../../migrations/0007_retired_positions.sql")),
    (8, "final status height", include_str!("../../migrations/0008_final_status_height.sql")),
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
        signer: Address,
        /// Nonce.
        nonce: B256,
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
    /// Signer address.
    pub signer: Address,
    /// The nonce.
    pub nonce: B256,
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
            .bind(n.signer.to_sql())
            .bind(n.nonce.to_sql())
            .bind(n.at)
            .execute(&mut **tx)
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NonceReused { signer: n.signer, nonce: n.nonce });
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
    pub async fn nonce_seen(&self, signer: &Address, nonce: &B256) -> Result<bool, StoreError> {
        let r: Option<(i64,)> = sqlx::query_as("SELECT seen_at FROM nonces WHERE signer = $1 AND nonce = $2")
            .bind(signer.to_sql())
            .bind(nonce.to_sql())
            .fetch_optional(&self.pool)
            .await?;
        Ok(r.is_some())
    }

    async fn insert_outbox(tx: &mut Tx<'_>, o: &NewOutbox) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO outbox (subject_id, kind, subject, created_at, attempts, seq) VALUES ($1, $2, $3, $4, 0, $5) ON CONFLICT DO NOTHING",
        )
        .bind(o.subject_id.to_sql())
        .bind(o.kind.to_sql())
        .bind(o.subject.to_sql())
        .bind(now())
        .bind(micros())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

/// The statements of a migration: `--` comments removed, split at `;`.
fn statements(sql: &str) -> Vec<String> {
    let text: String = sql.lines().map(|l| l.split("--").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
    text.split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}
