//! Final statuses recorded as verified blocks are applied.
//!
//! A finished transfer and a decided subject retire from the live notary
//! state RETAIN (six hours of log time) after they finish (box-core README
//! "Retirement"). The views read the live state first and, once it is gone,
//! what is recorded here: each transfer's final status with its confirmed
//! detail, and each governance action's decision, written when the verified
//! block that made it final is applied. The work per block is one lookup
//! per event; a read is one primary-key lookup. The record is what the
//! verified replica held right after that block, so it is as trustworthy as
//! the replica; a status that is not final is not recorded (the live state
//! holds it). A transfer can leave a final status: a `Reorged` report takes
//! a confirmed one back to broadcast, a new transbox reopens a rejected one.
//! Its row is then forgotten (one delete by primary key per `submitted` or
//! `broadcast` event), so a row is never older than the live status it
//! would be shown over (`api::view`, a replica started below the rows).

use crate::follower::SharedReplica;
use crate::store::{FinalKind, FinalTransfer, Store};
use box_core::B256;
use box_core::notary::{Event, Subject, SubjectKind, SubjectStatus, TransferStatus};

/// The rows `events` (what the verified block just applied produced) make
/// final, as the replica holds them now (`Some`), and the rows of the
/// transfers that may have left a final status (`None`: forgotten), in
/// event order.
fn rows(replica: &SharedReplica, events: &[Event]) -> Vec<(FinalKind, B256, Option<String>)> {
    let r = replica.read();
    let mut out = Vec::new();
    for ev in events {
        let row = match ev {
            Event::TransferStatus { transfer, status } if status.is_final() => {
                // The live record (the block cannot have retired it: that
                // takes RETAIN of log time after it became final).
                let rec = r.state().transfer(transfer);
                let f = FinalTransfer {
                    status: rec.map_or_else(|| status.clone(), |t| t.status.clone()),
                    detail: rec.and_then(|t| t.confirmed_detail()).map(str::to_owned),
                };
                serde_json::to_string(&f).ok().map(|b| (FinalKind::Transfer, transfer.0, Some(b)))
            }
            Event::TransferStatus {
                transfer,
                status: TransferStatus::Submitted | TransferStatus::Broadcast { .. },
            } => Some((FinalKind::Transfer, transfer.0, None)),
            Event::Notarized { subject, payload, certificate } if matches!(**payload, Subject::Governance(_)) => {
                let s = SubjectStatus::Notarized { certificate: certificate.clone() };
                serde_json::to_string(&s).ok().map(|b| (FinalKind::Subject, subject.0, Some(b)))
            }
            Event::Rejected { subject, kind: SubjectKind::Governance, reasons } => {
                let s = SubjectStatus::Rejected { reasons: reasons.clone() };
                serde_json::to_string(&s).ok().map(|b| (FinalKind::Subject, subject.0, Some(b)))
            }
            _ => None,
        };
        out.extend(row);
    }
    out
}

/// Records what the verified block at `height` made final. Retries a store
/// failure (a transient one) until it succeeds, so no final status is lost
/// before the block itself is stored.
pub async fn record(store: &Store, replica: &SharedReplica, height: u64, events: &[Event]) {
    let rows = rows(replica, events);
    if rows.is_empty() {
        return;
    }
    let mut wait = std::time::Duration::from_millis(100);
    while let Err(e) = store.put_finals(height as i64, &rows).await {
        tracing::warn!("could not record the final statuses of block {height}, retrying: {e}");
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(std::time::Duration::from_secs(5));
    }
}
