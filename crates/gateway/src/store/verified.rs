//! The verified notary state the follower persists (box-core's checkpoint),
//! so that a restart resumes from it.

use super::{Store, StoreError, now};

impl Store {
    /// Replaces the persisted verified state with `body` (box-core's
    /// checkpoint: the hex of its binary form; earlier versions stored its
    /// JSON text) at `height` with state root `root`, in one statement:
    /// a crash leaves the old row or the new one, never a mix.
    pub async fn put_verified_state(&self, height: i64, root: &str, body: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO verified_state (id, height, root, body, saved_at) VALUES (1, $1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET height = excluded.height, root = excluded.root, body = excluded.body, saved_at = excluded.saved_at",
        )
        .bind(height)
        .bind(root)
        .bind(body)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The persisted verified state: its height and body, if one was written.
    pub async fn verified_state(&self) -> Result<Option<(i64, String)>, StoreError> {
        Ok(sqlx::query_as("SELECT height, body FROM verified_state WHERE id = 1").fetch_optional(&self.pool).await?)
    }

    /// The stored block at `height` (0x hex), if any.
    pub async fn block(&self, height: i64) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT body FROM blocks WHERE height = $1").bind(height).fetch_optional(&self.pool).await?;
        Ok(row.map(|(b,)| b))
    }
}
