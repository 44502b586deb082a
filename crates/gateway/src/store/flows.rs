//! Flow drafts, the relay queue's entry points and governance actions.

use super::codec::{Stored, get};
use super::{FlowRow, GovernanceRow, NewOutbox, NonceUse, Store, StoreError, now};
use box_api::action::encode_action;
use box_core::encoding::Canonical;
use box_core::ids::FlowHash;
use box_core::{Address, B256, Signature};

impl Store {
    /// Stores a flow draft; `false` if a flow with that hash exists (nothing changed).
    pub async fn insert_flow(&self, nonce: &NonceUse, f: &FlowRow) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        Self::use_nonce(&mut tx, nonce).await?;
        let r = sqlx::query(
            "INSERT INTO flows (hash, name, body, created_by, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(f.hash.to_sql())
        .bind(&f.name)
        .bind(f.flow.encode().to_sql())
        .bind(f.created_by.to_sql())
        .bind(f.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    /// One flow.
    pub async fn flow(&self, hash: &FlowHash) -> Result<Option<FlowRow>, StoreError> {
        let r = sqlx::query("SELECT hash, name, body, created_by, created_at, submitted_at FROM flows WHERE hash = $1")
            .bind(hash.to_sql())
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
    pub async fn submit_flow(&self, nonce: &NonceUse, hash: &FlowHash, outbox: &NewOutbox) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        Self::use_nonce(&mut tx, nonce).await?;
        sqlx::query("UPDATE flows SET submitted_at = $1 WHERE hash = $2 AND submitted_at IS NULL")
            .bind(now())
            .bind(hash.to_sql())
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

    /// Adds a key holder's signature to an action (creating it), and queues
    /// `outbox` when the signatures now meet the action's authority.
    pub async fn sign_governance(
        &self,
        nonce: &NonceUse,
        g: &GovernanceRow,
        signer: &Address,
        signature: &Signature,
        outbox: Option<&NewOutbox>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        Self::use_nonce(&mut tx, nonce).await?;
        sqlx::query(
            "INSERT INTO governance (hash, action, description, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(g.hash.to_sql())
        .bind(encode_action(&g.action).to_sql())
        .bind(&g.description)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO governance_signatures (hash, signer, signature) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(g.hash.to_sql())
        .bind(signer.to_sql())
        .bind(signature.to_sql())
        .execute(&mut *tx)
        .await?;
        if let Some(o) = outbox {
            sqlx::query("UPDATE governance SET queued_at = $1 WHERE hash = $2")
                .bind(now())
                .bind(g.hash.to_sql())
                .execute(&mut *tx)
                .await?;
            Self::insert_outbox(&mut tx, o).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// One action with its signatures (signer, signature).
    pub async fn governance(
        &self,
        hash: &B256,
    ) -> Result<Option<(GovernanceRow, Vec<(Address, Signature)>)>, StoreError> {
        let r = sqlx::query("SELECT hash, action, description, created_at, queued_at FROM governance WHERE hash = $1")
            .bind(hash.to_sql())
            .fetch_optional(&self.pool)
            .await?;
        let Some(r) = r else { return Ok(None) };
        let g = GovernanceRow::from_row(&r)?;
        let rows = sqlx::query("SELECT signer, signature FROM governance_signatures WHERE hash = $1 ORDER BY signer")
            .bind(hash.to_sql())
            .fetch_all(&self.pool)
            .await?;
        let sigs =
            rows.iter().map(|r| Ok((get(r, "signer")?, get(r, "signature")?))).collect::<Result<_, StoreError>>()?;
        Ok(Some((g, sigs)))
    }

    /// The actions still collecting signatures (never queued), newest first,
    /// at most `limit`: read through the partial index
    /// `governance_collecting`, so the cost follows how many are open, not
    /// how many actions were ever signed.
    pub async fn governance_collecting(&self, limit: i64) -> Result<Vec<GovernanceRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT hash, action, description, created_at, queued_at FROM governance WHERE queued_at IS NULL \
             ORDER BY created_at DESC, hash LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(GovernanceRow::from_row).collect()
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
}
