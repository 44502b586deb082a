//! Offboarding a person at the gateway: their escrowed keystore revoked and
//! their applications still collecting approvals cancelled, in one
//! transaction.

use super::codec::Stored;
use super::codec::get;
use super::{NonceUse, Store, StoreError, now};
use box_api::CollectionState;
use box_core::Address;
use box_core::ids::TransferId;

impl Store {
    /// Deletes `who`'s escrowed keystore (if any) and closes every
    /// application of theirs still collecting approvals as rejected by `by`
    /// with `reason`, in one transaction. Returns whether a keystore was
    /// deleted and the transfers closed. Applications already complete
    /// (queued for or on the chain) are not touched: the freeze refuses them.
    pub async fn offboard(
        &self,
        nonce: &NonceUse,
        who: &Address,
        by: &Address,
        reason: &str,
    ) -> Result<(bool, Vec<TransferId>), StoreError> {
        let mut tx = self.pool.begin().await?;
        Self::use_nonce(&mut tx, nonce).await?;
        let revoked = sqlx::query("DELETE FROM escrow WHERE address = $1").bind(who.to_sql()).execute(&mut *tx).await?;
        let collecting = CollectionState::Collecting.to_sql();
        let rows = sqlx::query("SELECT id FROM transfers WHERE applicant = $1 AND state = $2 ORDER BY id")
            .bind(who.to_sql())
            .bind(&collecting)
            .fetch_all(&mut *tx)
            .await?;
        let mut cancelled = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: TransferId = get(r, "id")?;
            sqlx::query(
                "UPDATE transfers SET version = version + 1, state = $1, rejected_by = $2, reason = $3, updated_at = $4 \
                 WHERE id = $5 AND state = $6",
            )
            .bind(CollectionState::Rejected.to_sql())
            .bind(by.to_sql())
            .bind(reason)
            .bind(now())
            .bind(id.to_sql())
            .bind(&collecting)
            .execute(&mut *tx)
            .await?;
            cancelled.push(id);
        }
        tx.commit().await?;
        Ok((revoked.rows_affected() > 0, cancelled))
    }
}
