//! The verified notary state the follower persists (box-core's checkpoint),
//! so that a restart resumes from it.

use super::{Store, StoreError, now};
use box_core::B256;
use sqlx::AssertSqlSafe;
use std::collections::HashSet;

/// Replaces the one verified-state row (binds: height, root, body, saved_at).
const UPSERT_VERIFIED: &str = "INSERT INTO verified_state (id, height, root, body, saved_at) VALUES (1, $1, $2, $3, $4) \
     ON CONFLICT (id) DO UPDATE SET height = excluded.height, root = excluded.root, body = excluded.body, saved_at = excluded.saved_at";

/// Rows per statement when the retired-id index is written or read.
const CHUNK: usize = 500;

/// `($1, $2), ($3, $4), …` for `rows` rows of `width` columns (or
/// `$1, $2, …` with `width` 1 and no parentheses).
fn placeholders(rows: usize, width: usize) -> String {
    let row = |r: usize| {
        let cols: Vec<String> = (1..=width).map(|c| format!("${}", r * width + c)).collect();
        if width == 1 { cols.join(", ") } else { format!("({})", cols.join(", ")) }
    };
    (0..rows).map(row).collect::<Vec<_>>().join(", ")
}

impl Store {
    /// Replaces the persisted verified state with `body` (box-core's
    /// checkpoint: the hex of its binary form; earlier versions stored its
    /// JSON text) at `height` with state root `root`, in one statement:
    /// a crash leaves the old row or the new one, never a mix.
    pub async fn put_verified_state(&self, height: i64, root: &str, body: &str) -> Result<(), StoreError> {
        sqlx::query(UPSERT_VERIFIED).bind(height).bind(root).bind(body).bind(now()).execute(&self.pool).await?;
        Ok(())
    }

    /// [`Store::put_verified_state`] for box-core's indexed checkpoint: also
    /// adds `retired` (the ids retired after the first `from`, in retirement
    /// order) to the retired-id index at positions `from`, `from + 1`, …, in
    /// the same transaction, so a crash leaves the old state and index or the
    /// new ones. Rows at positions from `from` on are dropped first: `from` =
    /// 0 empties the index (a state verified from the genesis or
    /// bootstrapped lists every id).
    pub async fn put_verified_state_indexed(
        &self,
        height: i64,
        root: &str,
        body: &str,
        from: u64,
        retired: &[(u8, B256)],
    ) -> Result<(), StoreError> {
        let position = |i: u64| i64::try_from(i).map_err(|_| StoreError::Corrupt(format!("retired-id position {i}")));
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM retired_ids WHERE seq >= $1").bind(position(from)?).execute(&mut *tx).await?;
        let mut next = from;
        for chunk in retired.chunks(CHUNK) {
            let sql = format!("INSERT INTO retired_ids (id, tag, seq) VALUES {}", placeholders(chunk.len(), 3));
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (tag, id) in chunk {
                q = q.bind(id.to_string()).bind(i64::from(*tag)).bind(position(next)?);
                next += 1;
            }
            q.execute(&mut *tx).await?;
        }
        sqlx::query(UPSERT_VERIFIED).bind(height).bind(root).bind(body).bind(now()).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The lowest and highest position in the retired-id index (`None`:
    /// empty); two lookups on the position's index, whatever the index
    /// holds. An index written whole by [`Store::put_verified_state_indexed`]
    /// for a state that leaves `k` ids to it spans `0` to `k - 1`.
    pub async fn retired_span(&self) -> Result<Option<(u64, u64)>, StoreError> {
        let end = |order: &'static str| async move {
            let sql = format!("SELECT seq FROM retired_ids ORDER BY seq {order} LIMIT 1");
            let row: Option<(i64,)> = sqlx::query_as(AssertSqlSafe(sql)).fetch_optional(&self.pool).await?;
            row.map(|(s,)| u64::try_from(s).map_err(|_| StoreError::Corrupt(format!("retired-id position {s}"))))
                .transpose()
        };
        Ok(end("ASC").await?.zip(end("DESC").await?))
    }

    /// Which of `ids` the retired-id index holds (an indexed lookup each).
    pub async fn retired_among(&self, ids: &[B256]) -> Result<HashSet<B256>, StoreError> {
        let mut found = HashSet::new();
        for chunk in ids.chunks(CHUNK) {
            let sql = format!("SELECT id FROM retired_ids WHERE id IN ({})", placeholders(chunk.len(), 1));
            let mut q = sqlx::query_as::<_, (String,)>(AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(id.to_string());
            }
            for (id,) in q.fetch_all(&self.pool).await? {
                found.insert(id.parse().map_err(|_| StoreError::Corrupt(format!("retired id {id}")))?);
            }
        }
        Ok(found)
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
