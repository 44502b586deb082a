//! Rejections kept in the block store: a rejected subject's kind and the
//! refusing nodes' reasons, written with the block that decided it, so
//! `Notary.GetSubject` still answers "rejected, because …" once the subject
//! retired from the live state (box-core README, "Retirement").
//!
//! A notarized subject needs no such table: its payload and certificate are
//! in the `notarized` records of its block.

use crate::log_store::{StoreError, werr};
use box_core::ids::SubjectId;
use box_core::notary::{Event, NotaryState, SubjectKind, SubjectStatus};
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

/// Rejected subjects by id (JSON [`RejectedRecord`]).
pub(super) const REJECTED: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("rejected");

/// A rejected subject as its block decided it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedRecord {
    /// The subject.
    pub subject: SubjectId,
    /// What it was.
    pub kind: SubjectKind,
    /// Each refusing node's reason, "account: reason".
    pub reasons: Vec<String>,
}

/// The rejections among `decided`, read from `notary` (the state right
/// after the block that decided them, while they are live). A subject that
/// already retired — log time passed its deadline before its block was
/// signed, which needs a clock jump of six hours within one block — is not
/// listed; `GetSubject` then answers it as unknown once retired.
pub(super) fn of(notary: &NotaryState, decided: &[SubjectId]) -> Vec<RejectedRecord> {
    decided
        .iter()
        .filter_map(|id| {
            let rec = notary.subject(id)?;
            match &rec.status {
                SubjectStatus::Rejected { reasons } => {
                    Some(RejectedRecord { subject: *id, kind: rec.subject.kind(), reasons: reasons.clone() })
                }
                _ => None,
            }
        })
        .collect()
}

/// The rejections `events` (a block's replay) decided.
pub(super) fn from_events(events: &[Event]) -> Vec<RejectedRecord> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Rejected { subject, kind, reasons } => {
                Some(RejectedRecord { subject: *subject, kind: *kind, reasons: reasons.clone() })
            }
            _ => None,
        })
        .collect()
}

/// Writes `records` in `tx` (the transaction storing their block).
pub(super) fn store(tx: &WriteTransaction, records: &[RejectedRecord]) -> Result<(), StoreError> {
    let mut t = tx.open_table(REJECTED).map_err(werr)?;
    for r in records {
        let bytes = serde_json::to_vec(r).map_err(werr)?;
        t.insert(&r.subject.0.0, bytes.as_slice()).map_err(werr)?;
    }
    Ok(())
}

impl super::Shared {
    /// The rejection of `subject` as its block recorded it, if a block this
    /// node stored rejected it (live or retired). Not a proof: the reasons
    /// are this node's record of the votes in the chain.
    pub fn rejection(&self, subject: &SubjectId) -> Result<Option<RejectedRecord>, redb::Error> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(REJECTED)?;
        Ok(t.get(&subject.0.0)?.and_then(|g| serde_json::from_slice(g.value()).ok()))
    }

    /// Keeps `record`, a rejection decided in block `height` that a
    /// strict majority of the registry's nodes reported alike (a node that
    /// caught up by snapshot: crate README, "Snapshots"), unless this node
    /// holds a decision or a rejection of that subject already: then
    /// `Ok(false)`, nothing written. Writes the `rejected` row and the
    /// subject's decision height in one durable transaction; `Err` only when
    /// the store fails.
    pub fn store_fetched_rejection(&self, height: u64, record: &RejectedRecord) -> Result<bool, String> {
        let io = |e: redb::Error| format!("the store failed: {e}");
        let tx = super::durable_write(&self.db).map_err(|e| io(e.into()))?;
        let new = {
            let mut decided = tx.open_table(super::DECIDED).map_err(|e| io(e.into()))?;
            let key = &record.subject.0.0;
            let held = decided.get(key).map_err(|e| io(e.into()))?.is_some()
                || tx.open_table(REJECTED).map_err(|e| io(e.into()))?.get(key).map_err(|e| io(e.into()))?.is_some();
            if !held {
                decided.insert(key, height).map_err(|e| io(e.into()))?;
                store(&tx, std::slice::from_ref(record)).map_err(|e| e.to_string())?;
            }
            !held
        };
        tx.commit().map_err(|e| io(e.into()))?;
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use box_core::B256;

    /// A fetched rejection is kept once, with its decision height; a second
    /// report of the same subject, or of one this node holds a decision of,
    /// writes nothing.
    #[test]
    fn a_fetched_rejection_is_kept_once_and_never_over_a_held_decision() {
        let dir = tempfile::tempdir().unwrap();
        let sm = super::super::test_machine(dir.path(), 0x5B);
        let shared = &sm.shared;
        let record = |byte: u8, reason: &str| RejectedRecord {
            subject: SubjectId(B256::repeat_byte(byte)),
            kind: SubjectKind::Governance,
            reasons: vec![reason.into()],
        };
        let first = record(1, "0xabc: a removal needs the key holders");
        assert!(shared.store_fetched_rejection(7, &first).unwrap());
        assert_eq!(shared.rejection(&first.subject).unwrap(), Some(first.clone()));
        assert_eq!(shared.decided_at(&first.subject).unwrap(), Some(7));
        // Reported again, otherwise: the first stays.
        assert!(!shared.store_fetched_rejection(9, &record(1, "another reason")).unwrap());
        assert_eq!(
            (shared.rejection(&first.subject).unwrap(), shared.decided_at(&first.subject).unwrap()),
            (Some(first), Some(7))
        );
        // A subject this node holds a decision of (a notarized record) is not
        // turned into a rejection.
        let notarized = record(2, "forged");
        let tx = shared.db.begin_write().unwrap();
        tx.open_table(super::super::DECIDED).unwrap().insert(&notarized.subject.0.0, 5).unwrap();
        tx.commit().unwrap();
        assert!(!shared.store_fetched_rejection(5, &notarized).unwrap());
        assert_eq!(shared.rejection(&notarized.subject).unwrap(), None);
    }
}
