//! Final statuses recorded from verified blocks: a transfer's final status
//! (with its confirmed detail) and a governed subject's decision, so that
//! the views still show them after they retire from the live notary state
//! (box-core README "Retirement"). One row per id, read by primary key.

use super::codec::Stored;
use super::{Store, StoreError};
use box_api::CollectionState;
use box_core::B256;
use box_core::ids::TransferId;
use box_core::notary::{SubjectStatus, TransferStatus};
use serde::{Deserialize, Serialize};

/// What a recorded row is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalKind {
    /// A transfer (id: its transfer id).
    Transfer,
    /// A governed subject (id: its subject id).
    Subject,
}

impl FinalKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Transfer => "transfer",
            Self::Subject => "subject",
        }
    }
}

/// A transfer's final status as the verified block that made it final left
/// it, with the confirmed report's detail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinalTransfer {
    /// The status (confirmed, rejected, refused or failed when recorded).
    pub status: TransferStatus,
    /// The confirmed report's detail, if any.
    pub detail: Option<String>,
}

impl Store {
    /// Applies, in order and in one transaction, the rows a verified block
    /// at `height` produced: `Some(body)` records (or replaces) a final
    /// row; `None` forgets the row of an item that left its final status
    /// (a reorged confirmation, a rejected transfer submitted again). A
    /// row recorded at a greater height is neither replaced nor forgotten,
    /// so a late writer (the backfill) never puts an older status over a
    /// newer one. Recording the same block again (a restart replaying
    /// stored blocks) writes the same rows.
    pub async fn put_finals(&self, height: i64, rows: &[(FinalKind, B256, Option<String>)]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for (kind, id, body) in rows {
            let Some(body) = body else {
                sqlx::query("DELETE FROM final_status WHERE kind = $1 AND id = $2 AND height <= $3")
                    .bind(kind.as_str())
                    .bind(id.to_string())
                    .bind(height)
                    .execute(&mut *tx)
                    .await?;
                continue;
            };
            sqlx::query(
                "INSERT INTO final_status (kind, id, height, body) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (kind, id) DO UPDATE SET height = excluded.height, body = excluded.body \
                 WHERE final_status.height <= excluded.height",
            )
            .bind(kind.as_str())
            .bind(id.to_string())
            .bind(height)
            .bind(body.as_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The highest height a final status was recorded at (0: none); one
    /// lookup on the height's index (migration 8).
    pub async fn finals_recorded_to(&self) -> Result<u64, StoreError> {
        let (h,): (Option<i64>,) = sqlx::query_as("SELECT MAX(height) FROM final_status").fetch_one(&self.pool).await?;
        Ok(h.map_or(0, |h| u64::try_from(h).unwrap_or(0)))
    }

    async fn final_body(&self, kind: FinalKind, id: &B256) -> Result<Option<(u64, String)>, StoreError> {
        let row: Option<(i64, String)> =
            sqlx::query_as("SELECT height, body FROM final_status WHERE kind = $1 AND id = $2")
                .bind(kind.as_str())
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(h, b)| (u64::try_from(h).unwrap_or(0), b)))
    }

    /// The recorded final status of transfer `id` with the height of the
    /// verified block that made it final, if one was recorded.
    pub async fn final_transfer(&self, id: &B256) -> Result<Option<(u64, FinalTransfer)>, StoreError> {
        self.final_body(FinalKind::Transfer, id)
            .await?
            .map(|(h, b)| {
                serde_json::from_str(&b)
                    .map(|f| (h, f))
                    .map_err(|e| StoreError::Corrupt(format!("final status of {id}: {e}")))
            })
            .transpose()
    }

    /// Up to `limit` transfers the chain was given (collection complete,
    /// `submitting`) that have no recorded final status, in id order after
    /// `after` (a page cursor). One index walk of the transfers without a
    /// row; used once at start by the backfill ([`crate::backfill`]).
    pub async fn transfers_without_final(
        &self,
        after: Option<&TransferId>,
        limit: i64,
    ) -> Result<Vec<TransferId>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT t.id FROM transfers t WHERE t.state = $1 AND t.id > $2 AND NOT EXISTS \
             (SELECT 1 FROM final_status f WHERE f.kind = 'transfer' AND f.id = t.id) ORDER BY t.id LIMIT $3",
        )
        .bind(CollectionState::Submitting.to_sql())
        .bind(after.map_or_else(String::new, Stored::to_sql))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|(id,)| TransferId::from_sql(id).map_err(StoreError::Corrupt)).collect()
    }

    /// The recorded decision on subject `id` with the height of the
    /// verified block that made it, if one was recorded.
    pub async fn final_subject(&self, id: &B256) -> Result<Option<(u64, SubjectStatus)>, StoreError> {
        self.final_body(FinalKind::Subject, id)
            .await?
            .map(|(h, b)| {
                serde_json::from_str(&b)
                    .map(|s| (h, s))
                    .map_err(|e| StoreError::Corrupt(format!("decision on {id}: {e}")))
            })
            .transpose()
    }
}
