//! Transfers being collected and their approvals.

use super::codec::Stored;
use super::{
    ApprovalRow, Backend, NewOutbox, NonceUse, Store, StoreError, TRANSFER_COLUMNS, TransferFilter, TransferRow, now,
};
use box_api::CollectionState;
use box_core::Address;
use box_core::encoding::Canonical;
use box_core::ids::TransferId;
use sqlx::AssertSqlSafe;

impl Store {
    /// Stores a new application; `false` if the transfer id exists (nothing changed).
    pub async fn insert_transfer(&self, nonce: &NonceUse, t: &TransferRow) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        Self::use_nonce(&mut tx, nonce).await?;
        let r = sqlx::query(
            "INSERT INTO transfers (id, flow_hash, applicant, asset, destination, amount, request, applicant_signature, \
             level, state, version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11, $11) \
             ON CONFLICT DO NOTHING",
        )
        .bind(t.id.to_sql())
        .bind(t.flow_hash.to_sql())
        .bind(t.applicant.to_sql())
        .bind(t.asset.to_sql())
        .bind(t.destination.to_sql())
        .bind(t.amount.to_sql())
        .bind(t.request.encode().to_sql())
        .bind(t.applicant_signature.to_sql())
        .bind(t.level)
        .bind(t.state.to_sql())
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
    pub async fn transfer(&self, id: &TransferId) -> Result<Option<TransferRow>, StoreError> {
        let r = sqlx::query(AssertSqlSafe(format!("SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = $1")))
            .bind(id.to_sql())
            .fetch_optional(&self.pool)
            .await?;
        r.map(|r| TransferRow::from_row(&r)).transpose()
    }

    /// Its approvals, by level then approver.
    pub async fn approvals(&self, id: &TransferId) -> Result<Vec<ApprovalRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT transfer_id, level, approver, signature, created_at FROM approvals WHERE transfer_id = $1 ORDER BY level, approver",
        )
        .bind(id.to_sql())
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
            .bind(f.applicant.as_ref().map(Stored::to_sql))
            .bind(f.state.as_ref().map(Stored::to_sql))
            .bind(f.flow_hash.as_ref().map(Stored::to_sql))
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
        state: CollectionState,
        outbox: Option<&NewOutbox>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let bumped = sqlx::query(
            "UPDATE transfers SET version = version + 1, level = $1, state = $2, updated_at = $3 WHERE id = $4 AND version = $5",
        )
        .bind(level)
        .bind(state.to_sql())
        .bind(now())
        .bind(a.transfer_id.to_sql())
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
        .bind(a.transfer_id.to_sql())
        .bind(a.level)
        .bind(a.approver.to_sql())
        .bind(a.signature.to_sql())
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
        id: &TransferId,
        expected_version: i64,
        by: &Address,
        reason: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let r = sqlx::query(
            "UPDATE transfers SET version = version + 1, state = $6, rejected_by = $1, reason = $2, updated_at = $3 \
             WHERE id = $4 AND version = $5",
        )
        .bind(by.to_sql())
        .bind(reason)
        .bind(now())
        .bind(id.to_sql())
        .bind(expected_version)
        .bind(CollectionState::Rejected.to_sql())
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::Conflict);
        }
        Self::use_nonce(&mut tx, nonce).await?;
        tx.commit().await?;
        Ok(())
    }
}
