//! Warming the store's random-access indexes after a start (crate README,
//! "After a start: the indexes are read once").
//!
//! Every block's commit inserts each subject it decided into [`DECIDED`]
//! (and each rejection into [`REJECTED`]), keyed by the subject id, a hash:
//! the inserts land on leaves spread over the whole table. On a store whose
//! pages are not in the page cache (a start after a reboot, or on a host
//! whose cache was taken by other files), each such insert first reads its
//! leaf from the disk, on the path of the block. Measured with the history
//! bench at 300,000 finished transfers and the stores dropped from the page
//! cache: 29 MB read during a load of 2,000 subjects, throughput 0.64× and
//! block seal p50 1.38× of N = 0's, against 1.01× and 0.91× with the pages
//! cached (BENCHMARKS.md).
//!
//! So a started node reads those two tables once, in the background, key
//! range by key range (each in its own short read transaction, so that no
//! page freed meanwhile is held back), and its blocks find the leaves in
//! memory. What it reads is about 40 bytes a decided subject (52 MB of pages
//! at 300,000 finished transfers, 42,342 leaf pages at 1,000,000); it never
//! delays the start, and a failed read only ends the warming (the blocks
//! then read what they need as before). The transfer proofs (about 0.9 KB
//! a transfer, written at a transfer's status changes) are left to be read
//! as needed: warming them would read about 20 times as much at every start.

use super::{DECIDED, Shared, rejections::REJECTED};
use redb::ReadableDatabase;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;

impl Shared {
    /// Reads every row of [`DECIDED`] and [`REJECTED`] whose key starts with
    /// the byte `first`, so that their pages are cached. Returns the rows read.
    fn warm_indexes(&self, first: u8) -> Result<u64, redb::Error> {
        let (mut low, mut high) = ([0u8; 32], [0xffu8; 32]);
        low[0] = first;
        high[0] = first;
        let tx = self.db.begin_read()?;
        let mut rows = 0;
        for item in tx.open_table(DECIDED)?.range::<&[u8; 32]>(&low..=&high)? {
            item?;
            rows += 1;
        }
        for item in tx.open_table(REJECTED)?.range::<&[u8; 32]>(&low..=&high)? {
            item?;
            rows += 1;
        }
        Ok(rows)
    }
}

/// Reads the indexes of `shared`'s store once ([`Shared::warm_indexes`], the
/// 256 key ranges one after another on the blocking pool), then logs how
/// many rows in how long and publishes it in [`Shared::warmed`]. Stops at
/// `shutdown`, or at the first failed read (logged: the node runs on).
pub(crate) async fn run(shared: Arc<Shared>, shutdown: watch::Receiver<bool>) {
    let started = Instant::now();
    let mut rows = 0;
    for first in 0..=u8::MAX {
        if *shutdown.borrow() {
            return;
        }
        let s = shared.clone();
        match tokio::task::spawn_blocking(move || s.warm_indexes(first)).await {
            Ok(Ok(n)) => rows += n,
            Ok(Err(e)) => {
                tracing::warn!(
                    "reading the store's decided-subject index into memory stopped: {e}; the node runs on and \
                     reads its pages as blocks need them"
                );
                return;
            }
            Err(_) => return, // the runtime is shutting down
        }
    }
    let took = started.elapsed();
    tracing::info!(rows, "the store's decided-subject index read into memory in {:.1} s", took.as_secs_f64());
    shared.warmed.send_replace(Some((rows, took)));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn every_row_of_both_indexes_is_read_once() {
        let dir = tempfile::tempdir().unwrap();
        let shared = super::super::test_machine(dir.path(), 1).shared();
        let tx = shared.db.begin_write().unwrap();
        {
            let mut d = tx.open_table(DECIDED).unwrap();
            let mut r = tx.open_table(REJECTED).unwrap();
            for i in 0..=u8::MAX {
                // The lowest and the highest key of each range, and a rejection in every other range.
                let (mut low, mut high) = ([0u8; 32], [0xffu8; 32]);
                low[0] = i;
                high[0] = i;
                d.insert(&low, 7).unwrap();
                d.insert(&high, 8).unwrap();
                if i % 2 == 0 {
                    r.insert(&[i; 32], [1u8].as_slice()).unwrap();
                }
            }
        }
        tx.commit().unwrap();
        // Each range reads its own two edges (and its rejection), no neighbour's.
        for i in 0..=u8::MAX {
            assert_eq!(shared.warm_indexes(i).unwrap(), if i % 2 == 0 { 3 } else { 2 }, "range {i}");
        }
    }
}
