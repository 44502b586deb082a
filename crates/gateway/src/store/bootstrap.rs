//! What a gateway that started from a majority-attested state
//! ([`crate::bootstrap`]) writes and reads: the attested block and the
//! verified state at its height, in one transaction; the first stored block,
//! which tells such a gateway (first block above 1) from one that verified
//! from the genesis.

use super::{Store, StoreError, now};

impl Store {
    /// Whether the store holds no chain data yet: no stored block and no
    /// persisted verified state (a fresh store).
    pub async fn holds_no_chain(&self) -> Result<bool, StoreError> {
        let block: Option<(i64,)> =
            sqlx::query_as("SELECT height FROM blocks LIMIT 1").fetch_optional(&self.pool).await?;
        let state: Option<(i64,)> =
            sqlx::query_as("SELECT height FROM verified_state WHERE id = 1").fetch_optional(&self.pool).await?;
        Ok(block.is_none() && state.is_none())
    }

    /// The lowest stored block height, if any: 1 for a gateway that verified
    /// from the genesis, the attested height for one that bootstrapped. One
    /// primary-key lookup.
    pub async fn first_block(&self) -> Result<Option<i64>, StoreError> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT height FROM blocks ORDER BY height LIMIT 1").fetch_optional(&self.pool).await?;
        Ok(row.map(|(h,)| h))
    }

    /// Writes a bootstrap: the attested block at `height` (0x hex) and the
    /// verified state after it (`root`, box-core's binary checkpoint as hex),
    /// in one transaction, so a crash leaves the store as it was or a
    /// complete bootstrap, never one without the other. The retired-id index
    /// is emptied (the attested state lists every id). Refuses
    /// ([`StoreError::Conflict`]) if the store holds chain data already,
    /// unless `replace`: then its stored blocks and persisted state are
    /// dropped first (a gateway bootstrapping again); nothing else is
    /// touched.
    pub async fn put_bootstrap(
        &self,
        height: i64,
        block: &str,
        root: &str,
        state: &str,
        replace: bool,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        if replace {
            sqlx::query("DELETE FROM blocks").execute(&mut *tx).await?;
            sqlx::query("DELETE FROM verified_state").execute(&mut *tx).await?;
        }
        let held: Option<(i64,)> = sqlx::query_as("SELECT height FROM blocks LIMIT 1").fetch_optional(&mut *tx).await?;
        let kept: Option<(i64,)> =
            sqlx::query_as("SELECT height FROM verified_state WHERE id = 1").fetch_optional(&mut *tx).await?;
        if held.is_some() || kept.is_some() {
            return Err(StoreError::Conflict);
        }
        sqlx::query("DELETE FROM retired_ids").execute(&mut *tx).await?;
        sqlx::query("INSERT INTO blocks (height, body) VALUES ($1, $2)")
            .bind(height)
            .bind(block)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO verified_state (id, height, root, body, saved_at) VALUES (1, $1, $2, $3, $4)")
            .bind(height)
            .bind(root)
            .bind(state)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
