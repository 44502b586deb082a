//! The outbox the relay drains, and the verified blocks.

use super::codec::Stored;
use super::{OUTBOX_COLUMNS, OutboxRow, Store, StoreError, now};
use box_api::RelayOutcome;
use box_core::ids::SubjectId;
use sqlx::AssertSqlSafe;

impl Store {
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
    pub async fn outbox(&self, subject_id: &SubjectId) -> Result<Option<OutboxRow>, StoreError> {
        let r = sqlx::query(AssertSqlSafe(format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE subject_id = $1")))
            .bind(subject_id.to_sql())
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

    /// A node answered (taken, already there, or refused with a reason).
    pub async fn outbox_done(&self, subject_id: &SubjectId, outcome: &RelayOutcome) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET relayed_at = $1, outcome = $2, attempts = attempts + 1, last_error = NULL WHERE subject_id = $3")
            .bind(now())
            .bind(outcome.to_sql())
            .bind(subject_id.to_sql())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// No node took it this time.
    pub async fn outbox_failed(&self, subject_id: &SubjectId, error: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $1 WHERE subject_id = $2")
            .bind(error)
            .bind(subject_id.to_sql())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stores a verified block (idempotent): canonical bytes, 0x hex.
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
