//! The outbox relay: submits queued subjects to the chain until a node takes
//! them. Submission is idempotent on the chain (a subject id is decided
//! once), so a row submitted just before a crash and submitted again after the
//! restart is one subject, reported `duplicate`.

use crate::store::Store;
use box_api::RelayOutcome;
use box_proto::{NodeClient, NodeError, Outcome, SubmitOutcome};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// Rows read per round.
const BATCH: i64 = 64;

/// What the outbox records for a node's answer to `Submit` (a refusal is
/// [`NodeError::Refused`], recorded as [`RelayOutcome::Refused`]).
fn submitted(outcome: SubmitOutcome) -> RelayOutcome {
    match outcome {
        SubmitOutcome::Submitted => RelayOutcome::Submitted,
        SubmitOutcome::Duplicate => RelayOutcome::Duplicate,
    }
}

/// What the API reports for a relayed entry's [`Outcome`] (the ceremony
/// relay): a refusal with its reason, `duplicate` for a subject the chain
/// had already, and `submitted` for any other entry the log took (e.g. a
/// ceremony message recorded for the signer). It reports what the log did,
/// not whether the signer will act on the entry.
pub(crate) fn relayed(outcome: &Outcome) -> RelayOutcome {
    match outcome {
        Outcome::Refused(reason) => RelayOutcome::Refused(reason.clone()),
        Outcome::Duplicate => RelayOutcome::Duplicate,
        Outcome::Applied
        | Outcome::Submitted
        | Outcome::Vote
        | Outcome::Ignored(_)
        | Outcome::Relayed
        | Outcome::Recorded
        | Outcome::Sealed
        | Outcome::Signed => RelayOutcome::Submitted,
    }
}

/// Runs until `shutdown` changes. `wake` is notified when rows are queued.
pub async fn run(store: Store, chain: NodeClient, wake: Arc<Notify>, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let notified = wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let mut failed = false;
        let mut full = false;
        match store.outbox_due(BATCH).await {
            Ok(rows) => {
                full = rows.len() as i64 == BATCH;
                for row in rows {
                    let Ok(bytes) = hex::decode(row.subject.trim_start_matches("0x")) else {
                        tracing::error!(subject = %row.subject_id, "outbox row is not hex; marking it refused");
                        let corrupt = RelayOutcome::Refused("stored subject is corrupt".into());
                        let _ = store.outbox_done(&row.subject_id, &corrupt).await;
                        continue;
                    };
                    let result = match chain.submit(bytes).await {
                        Ok(reply) => store.outbox_done(&row.subject_id, &submitted(reply.outcome)).await,
                        Err(NodeError::Refused(reason)) => {
                            tracing::warn!(subject = %row.subject_id, "the chain refused a queued subject: {reason}");
                            store.outbox_done(&row.subject_id, &RelayOutcome::Refused(reason)).await
                        }
                        Err(e) => {
                            failed = true;
                            tracing::warn!(subject = %row.subject_id, "relay: {e}");
                            store.outbox_failed(&row.subject_id, &e.to_string()).await
                        }
                    };
                    if let Err(e) = result {
                        tracing::error!("relay could not record an outcome: {e}");
                        failed = true;
                    }
                    if failed {
                        break; // the chain is down: wait before trying the rest
                    }
                }
            }
            Err(e) => {
                tracing::error!("relay cannot read the outbox: {e}");
                failed = true;
            }
        }
        if full && !failed && !*shutdown.borrow() {
            continue; // more rows are due: no pause
        }
        let wait = if failed {
            backoff = (backoff * 2).min(Duration::from_secs(5));
            backoff
        } else {
            backoff = Duration::from_millis(200);
            Duration::from_secs(2)
        };
        tokio::select! {
            _ = &mut notified, if !failed => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_replies_map_to_the_api_outcomes() {
        assert_eq!(submitted(SubmitOutcome::Submitted), RelayOutcome::Submitted);
        assert_eq!(submitted(SubmitOutcome::Duplicate), RelayOutcome::Duplicate);
        assert_eq!(relayed(&Outcome::Relayed), RelayOutcome::Submitted);
        assert_eq!(relayed(&Outcome::Duplicate), RelayOutcome::Duplicate);
        assert_eq!(relayed(&Outcome::Refused("flow unknown".into())), RelayOutcome::Refused("flow unknown".into()));
        assert!(!relayed(&Outcome::Refused(String::new())).is_taken());
    }
}
