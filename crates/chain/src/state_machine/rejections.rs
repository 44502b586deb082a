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
use redb::{ReadableDatabase, TableDefinition, WriteTransaction};
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
}
