//! People and the key escrow.

use super::codec::Stored;
use super::{Escrow, NonceUse, Person, Store, StoreError, now};
use box_core::{Address, B256};

impl Store {
    /// Registers or updates a person.
    pub async fn put_person(&self, nonce: &NonceUse, p: &Person) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        Self::use_nonce(&mut tx, nonce).await?;
        sqlx::query(
            "INSERT INTO people (address, name, roles, registered_by, registered_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (address) DO UPDATE SET name = $2, roles = $3, registered_by = $4, registered_at = $5",
        )
        .bind(p.address.to_sql())
        .bind(&p.name)
        .bind(p.roles.to_sql())
        .bind(p.registered_by.to_sql())
        .bind(p.registered_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// One person.
    pub async fn person(&self, address: &Address) -> Result<Option<Person>, StoreError> {
        let r = sqlx::query("SELECT address, name, roles, registered_by, registered_at FROM people WHERE address = $1")
            .bind(address.to_sql())
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

    /// Stores (or replaces) an encrypted keystore, with the hash of its
    /// download token when it may be claimed once unsigned (a replaced
    /// keystore's old token no longer works).
    pub async fn put_escrow(
        &self,
        nonce: &NonceUse,
        address: &Address,
        keystore: &serde_json::Value,
        by: &Address,
        download_token_hash: Option<&B256>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        Self::use_nonce(&mut tx, nonce).await?;
        sqlx::query(
            "INSERT INTO escrow (address, keystore, uploaded_by, uploaded_at, download_token_hash) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (address) DO UPDATE SET keystore = $2, uploaded_by = $3, uploaded_at = $4, download_token_hash = $5",
        )
        .bind(address.to_sql())
        .bind(keystore.to_string())
        .bind(by.to_sql())
        .bind(now())
        .bind(download_token_hash.map(Stored::to_sql))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// An encrypted keystore.
    pub async fn escrow(&self, address: &Address) -> Result<Option<Escrow>, StoreError> {
        let r = sqlx::query("SELECT keystore, uploaded_by, uploaded_at FROM escrow WHERE address = $1")
            .bind(address.to_sql())
            .fetch_optional(&self.pool)
            .await?;
        r.map(|r| Escrow::from_row(&r)).transpose()
    }

    /// Claims the keystore of `address` with a download token's hash, once:
    /// the keystore if the hash is the one stored (which it clears in the
    /// same statement, so of two concurrent claims one wins), else `None`,
    /// the same for an unknown address, a wrong token and a spent one.
    pub async fn claim_escrow(&self, address: &Address, token_hash: &B256) -> Result<Option<Escrow>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let taken =
            sqlx::query("UPDATE escrow SET download_token_hash = NULL WHERE address = $1 AND download_token_hash = $2")
                .bind(address.to_sql())
                .bind(token_hash.to_sql())
                .execute(&mut *tx)
                .await?;
        if taken.rows_affected() != 1 {
            return Ok(None);
        }
        let row = sqlx::query("SELECT keystore, uploaded_by, uploaded_at FROM escrow WHERE address = $1")
            .bind(address.to_sql())
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        row.map(|r| Escrow::from_row(&r)).transpose()
    }
}
