//! Values of up to a MiB (a block, a block's notarized records) stored in
//! page-sized pieces.
//!
//! redb keeps a value larger than a page (4 KiB) in a run of pages whose
//! count is the next power of two: a block of 637 KB took 1 MiB, and 37% of
//! a node's store was such slack (the history bench at N = 300,000,
//! BENCHMARKS.md). Here a value is stored under `(key, 0)`, `(key, 1)`, …
//! in pieces of at most [`PIECE`] bytes, each of which fills one page; only
//! the last piece's page is partly empty. An empty value is one empty piece.
//!
//! A store written before these tables existed has its rows moved here once,
//! at open ([`move_legacy`]).

use redb::{
    Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, StorageError, Table, TableDefinition, TableError,
};

/// A table of values in pieces, by `(key, piece index)`.
pub(super) type Pieces = TableDefinition<'static, (u64, u32), &'static [u8]>;

/// The most bytes of a value one piece holds: a redb leaf holding one piece
/// (a 4-byte page header, the value's 4-byte length, the 12-byte key, the
/// piece) then fits one 4 KiB page, with room to spare.
pub(super) const PIECE: usize = 4096 - 64;

/// The value under `key`, its pieces joined; `None` if there is none.
pub(super) fn get(
    t: &impl ReadableTable<(u64, u32), &'static [u8]>,
    key: u64,
) -> Result<Option<Vec<u8>>, StorageError> {
    let mut out: Option<Vec<u8>> = None;
    for item in t.range((key, 0)..=(key, u32::MAX))? {
        let (_, piece) = item?;
        out.get_or_insert_with(Vec::new).extend_from_slice(piece.value());
    }
    Ok(out)
}

/// Whether a value is stored under `key`.
pub(super) fn contains(t: &impl ReadableTable<(u64, u32), &'static [u8]>, key: u64) -> Result<bool, StorageError> {
    Ok(t.get((key, 0))?.is_some())
}

/// Stores `value` under `key`, replacing what was there.
pub(super) fn put(t: &mut Table<(u64, u32), &[u8]>, key: u64, value: &[u8]) -> Result<(), StorageError> {
    t.retain_in((key, 0)..=(key, u32::MAX), |_, _| false)?;
    if value.is_empty() {
        t.insert((key, 0), [].as_slice())?;
    }
    for (i, piece) in value.chunks(PIECE).enumerate() {
        // A value of at most 1 MiB (box-core's encoding limit) has a few hundred pieces.
        let i = u32::try_from(i).map_err(|_| StorageError::ValueTooLarge(value.len()))?;
        t.insert((key, i), piece)?;
    }
    Ok(())
}

/// The highest key below `below` under which a value is stored.
pub(super) fn highest_below(
    t: &impl ReadableTable<(u64, u32), &'static [u8]>,
    below: u64,
) -> Result<Option<u64>, StorageError> {
    Ok(t.range(..(below, 0))?.next_back().transpose()?.map(|(k, _)| k.value().0))
}

/// Every key under which a value is stored, in order: a pass over the whole
/// table, for the one-time indexes built at open.
pub(super) fn keys(t: &impl ReadableTable<(u64, u32), &'static [u8]>) -> Result<Vec<u64>, StorageError> {
    let mut out = Vec::new();
    for item in t.iter()? {
        let (k, _) = item?;
        let (key, piece) = k.value();
        if piece == 0 {
            out.push(key);
        }
    }
    Ok(out)
}

/// Moves the rows of `legacy` (one value a row, as an earlier version wrote
/// them) into `into`, in transactions of about 64 MB, then deletes `legacy`.
/// Each row moves within one transaction, so a crash leaves every value in
/// exactly one of the two tables and the next open moves the rest. Returns
/// how many rows moved (0, and nothing written, when `legacy` does not exist).
pub(super) fn move_legacy(db: &Database, legacy: TableDefinition<u64, &[u8]>, into: Pieces) -> Result<u64, String> {
    use redb::TableHandle;
    let text = |e: redb::Error| {
        format!(
            "moving the store's `{}` table into page-sized pieces failed: {e}; the rows not moved yet stay \
             in the old table and the next start moves them (if the disk is full, free space first)",
            legacy.name()
        )
    };
    let rows = {
        let tx = db.begin_read().map_err(|e| text(e.into()))?;
        match tx.open_table(legacy) {
            Ok(t) => t.len().map_err(|e| text(e.into()))?,
            Err(TableError::TableDoesNotExist(_)) => return Ok(0),
            Err(e) => return Err(text(e.into())),
        }
    };
    if rows > 0 {
        tracing::info!(
            "moving the {rows} rows of the store's `{}` table into page-sized pieces (once, at the first start \
             of this version)",
            legacy.name()
        );
    }
    let mut moved = 0;
    loop {
        let tx = super::durable_write(db).map_err(|e| text(e.into()))?;
        let done = {
            let mut from = tx.open_table(legacy).map_err(|e| text(e.into()))?;
            let mut to = tx.open_table(into).map_err(|e| text(e.into()))?;
            let mut bytes = 0;
            let mut batch = Vec::new();
            for item in from.iter().map_err(|e| text(e.into()))? {
                let (k, v) = item.map_err(|e| text(e.into()))?;
                bytes += v.value().len();
                batch.push((k.value(), v.value().to_vec()));
                if bytes >= 64 << 20 {
                    break;
                }
            }
            for (key, value) in &batch {
                put(&mut to, *key, value).map_err(|e| text(e.into()))?;
                from.remove(*key).map_err(|e| text(e.into()))?;
            }
            moved += batch.len() as u64;
            batch.is_empty()
        };
        if done {
            tx.delete_table(legacy).map_err(|e| text(e.into()))?;
        }
        tx.commit().map_err(|e| text(e.into()))?;
        if done {
            return Ok(moved);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const LEGACY: TableDefinition<u64, &[u8]> = TableDefinition::new("legacy");
    const INTO: Pieces = TableDefinition::new("pieces");

    fn value(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
    }

    #[test]
    fn a_value_comes_back_whole_whatever_its_size_and_a_new_one_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("t.redb")).unwrap();
        let sizes = [0, 1, PIECE - 1, PIECE, PIECE + 1, 3 * PIECE, 637_000];
        let tx = db.begin_write().unwrap();
        {
            let mut t = tx.open_table(INTO).unwrap();
            for (i, len) in sizes.iter().enumerate() {
                put(&mut t, i as u64 + 1, &value(*len, i as u8)).unwrap();
            }
            // Smaller than before: no piece of the old value is left behind.
            put(&mut t, 7, &value(10, 99)).unwrap();
        }
        tx.commit().unwrap();
        let tx = db.begin_read().unwrap();
        let t = tx.open_table(INTO).unwrap();
        for (i, len) in sizes.iter().enumerate().take(6) {
            assert_eq!(get(&t, i as u64 + 1).unwrap(), Some(value(*len, i as u8)), "a value of {len} bytes");
        }
        assert_eq!(get(&t, 7).unwrap(), Some(value(10, 99)));
        assert_eq!(get(&t, 8).unwrap(), None);
        assert!(contains(&t, 1).unwrap(), "an empty value is stored");
        assert!(!contains(&t, 8).unwrap());
        assert_eq!(keys(&t).unwrap(), (1..=7).collect::<Vec<_>>());
        assert_eq!(highest_below(&t, 5).unwrap(), Some(4));
        assert_eq!(highest_below(&t, 1).unwrap(), None);
        assert_eq!(highest_below(&t, 100).unwrap(), Some(7));
    }

    #[test]
    fn pieces_fill_their_pages() {
        // The reason for the pieces: the store's slack is a few pages, not a value's size.
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("t.redb")).unwrap();
        let tx = db.begin_write().unwrap();
        {
            let mut t = tx.open_table(INTO).unwrap();
            for key in 0..20 {
                put(&mut t, key, &value(637_000, key as u8)).unwrap();
            }
        }
        tx.commit().unwrap();
        let tx = db.begin_read().unwrap();
        let stats = tx.open_table(INTO).unwrap().stats().unwrap();
        let stored = stats.stored_bytes();
        assert!(stored >= 20 * 637_000);
        assert!(
            stats.fragmented_bytes() * 20 < stored,
            "{} bytes of slack for {stored} stored: more than 5%",
            stats.fragmented_bytes()
        );
    }

    #[test]
    fn legacy_rows_move_once_and_the_old_table_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("t.redb")).unwrap();
        assert_eq!(move_legacy(&db, LEGACY, INTO).unwrap(), 0, "no legacy table: nothing to move");
        let tx = db.begin_write().unwrap();
        {
            let mut t = tx.open_table(LEGACY).unwrap();
            // More than one transaction's worth (64 MB).
            for key in 0..110u64 {
                t.insert(key, value(1 << 20, key as u8).as_slice()).unwrap();
            }
        }
        tx.commit().unwrap();
        assert_eq!(move_legacy(&db, LEGACY, INTO).unwrap(), 110);
        let tx = db.begin_read().unwrap();
        assert!(matches!(tx.open_table(LEGACY), Err(TableError::TableDoesNotExist(_))));
        let t = tx.open_table(INTO).unwrap();
        for key in [0u64, 63, 64, 109] {
            assert_eq!(get(&t, key).unwrap(), Some(value(1 << 20, key as u8)));
        }
        drop((t, tx));
        assert_eq!(move_legacy(&db, LEGACY, INTO).unwrap(), 0, "moved once");
    }
}
