//! How typed values are written in the store's portable SQL (TEXT columns,
//! the same on SQLite and PostgreSQL), and read back: addresses as
//! lowercase `0x` hex, hashes and ids `0x` + 64 hex, amounts as decimal base
//! units, signatures and canonical bytes `0x` hex, statuses as their words.
//! The written forms are the schema's since version 1, so existing databases
//! read as before. A value that does not read back is
//! [`StoreError::Corrupt`], naming the column.

use super::StoreError;
use box_api::{CollectionState, RelayOutcome, Role};
use box_core::ids::{FlowHash, SubjectId, TransferId};
use box_core::{Address, Amount, B256, Signature};
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::BTreeSet;

/// A value with one TEXT form in the store.
pub(crate) trait Stored: Sized {
    /// The stored text.
    fn to_sql(&self) -> String;
    /// Reads the stored text.
    fn from_sql(s: &str) -> Result<Self, String>;
}

fn hex0x(b: &[u8]) -> String {
    format!("0x{}", hex::encode(b))
}

fn unhex(s: &str) -> Result<Vec<u8>, String> {
    s.strip_prefix("0x").and_then(|h| hex::decode(h).ok()).ok_or_else(|| format!("{s:?} is not 0x hex"))
}

impl Stored for Address {
    fn to_sql(&self) -> String {
        hex0x(self.as_slice())
    }
    fn from_sql(s: &str) -> Result<Self, String> {
        s.parse().map_err(|e| format!("{s:?} is not an address: {e}"))
    }
}

impl Stored for B256 {
    fn to_sql(&self) -> String {
        self.to_string()
    }
    fn from_sql(s: &str) -> Result<Self, String> {
        box_api::wire::parse_hex_32(s).ok_or_else(|| format!("{s:?} is not a 32-byte hash"))
    }
}

macro_rules! stored_hash {
    ($($t:ty),*) => {$(
        impl Stored for $t {
            fn to_sql(&self) -> String {
                self.0.to_sql()
            }
            fn from_sql(s: &str) -> Result<Self, String> {
                B256::from_sql(s).map(Self)
            }
        }
    )*};
}
stored_hash!(FlowHash, TransferId, SubjectId);

impl Stored for Amount {
    fn to_sql(&self) -> String {
        self.0.to_string()
    }
    fn from_sql(s: &str) -> Result<Self, String> {
        Amount::parse_base_units(s).map_err(|e| e.to_string())
    }
}

impl Stored for Signature {
    fn to_sql(&self) -> String {
        hex0x(&self.as_bytes())
    }
    fn from_sql(s: &str) -> Result<Self, String> {
        box_core::crypto::signature_from_bytes(&unhex(s)?).map_err(|e| e.to_string())
    }
}

impl Stored for Vec<u8> {
    fn to_sql(&self) -> String {
        hex0x(self)
    }
    fn from_sql(s: &str) -> Result<Self, String> {
        unhex(s)
    }
}

impl Stored for CollectionState {
    fn to_sql(&self) -> String {
        self.as_str().to_owned()
    }
    fn from_sql(s: &str) -> Result<Self, String> {
        s.parse()
    }
}

impl Stored for RelayOutcome {
    fn to_sql(&self) -> String {
        self.to_string()
    }
    fn from_sql(s: &str) -> Result<Self, String> {
        s.parse()
    }
}

/// Roles are stored as comma-separated words; unknown words are ignored
/// (a role this gateway no longer knows grants nothing).
impl Stored for BTreeSet<Role> {
    fn to_sql(&self) -> String {
        self.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",")
    }
    fn from_sql(s: &str) -> Result<Self, String> {
        Ok(s.split(',').filter_map(|r| r.trim().parse().ok()).collect())
    }
}

/// A column as stored (a primitive sqlx reads directly).
pub(crate) fn col<T>(r: &AnyRow, name: &str) -> Result<T, StoreError>
where
    T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    r.try_get(name).map_err(|e| StoreError::Corrupt(format!("column {name}: {e}")))
}

/// A TEXT column read as a typed value.
pub(crate) fn get<T: Stored>(r: &AnyRow, name: &str) -> Result<T, StoreError> {
    let text: String = col(r, name)?;
    T::from_sql(&text).map_err(|e| StoreError::Corrupt(format!("column {name}: {e}")))
}

/// A nullable TEXT column read as a typed value.
pub(crate) fn get_opt<T: Stored>(r: &AnyRow, name: &str) -> Result<Option<T>, StoreError> {
    let text: Option<String> = col(r, name)?;
    text.map(|t| T::from_sql(&t).map_err(|e| StoreError::Corrupt(format!("column {name}: {e}")))).transpose()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The written forms are version 1's: lowercase hex addresses, decimal amounts.
    #[test]
    fn stored_forms_are_the_schemas() {
        let a: Address = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266".parse().unwrap();
        assert_eq!(a.to_sql(), "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266");
        assert_eq!(Address::from_sql(&a.to_sql()).unwrap(), a);
        let max = Amount(box_core::U256::MAX);
        assert_eq!(Amount::from_sql(&max.to_sql()).unwrap(), max);
        assert_eq!(Amount(box_core::U256::from(15u8)).to_sql(), "15");
        let roles: BTreeSet<Role> = [Role::Employee, Role::Approver].into();
        assert_eq!(roles.to_sql(), "approver,employee");
        assert_eq!(BTreeSet::<Role>::from_sql("employee,approver,boss").unwrap(), roles);
        assert_eq!(RelayOutcome::from_sql("refused: no").unwrap(), RelayOutcome::Refused("no".into()));
        assert!(TransferId::from_sql("0x01").is_err());
    }
}
