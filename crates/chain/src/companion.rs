//! The companion (伴生程序): verifies every pending subject independently with
//! box-core against this node's own replica and submits a signed vote on each,
//! all the votes of one pass in one log entry (`Entry::Votes`, at most
//! `MAX_BATCH_VOTES`; each vote individually signed, so certificates stay per
//! subject).
//!
//! It votes only on subjects still pending and only if its account is
//! registered (a learner's or auditor's companion stays silent). A vote that
//! failed to reach the log is retried after a pause.

use crate::proposer::Proposer;
use crate::state_machine::Shared;
use box_core::crypto::SecretKey;
use box_core::encoding::Canonical;
use box_core::ids::{SubjectId, Timestamp};
use box_core::notary::{Entry, MAX_BATCH_VOTES, VoteBatch};
use box_core::typed::{NodeVote, Signed};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

const RETRY_AFTER: Duration = Duration::from_secs(3);
/// Most subjects decided in one pass (all under one read of the replica, which
/// holds off applying while it lasts): one batch entry of at most this many votes.
const PER_PASS: usize = 64;
const _: () = assert!(PER_PASS <= MAX_BATCH_VOTES);

/// Runs until `shutdown` changes.
pub async fn run(shared: Arc<Shared>, proposer: Proposer, key: SecretKey, mut shutdown: watch::Receiver<bool>) {
    let me = key.address();
    let mut in_flight: HashMap<SubjectId, Instant> = HashMap::new();
    loop {
        let notified = shared.applied.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        // Judged with the node's memo of signers: applying the subject already recovered them.
        let votes: Vec<(SubjectId, Signed<NodeVote>)> = shared.remembering(|| {
            let s = shared.read();
            let notary = &s.notary;
            if !notary.registry().contains(&me) {
                Vec::new()
            } else {
                let domain = notary.domain();
                let now = Timestamp(s.last_time);
                notary
                    .pending()
                    .filter(|(id, r)| {
                        !r.accepts.contains_key(&me)
                            && !r.refusals.contains_key(&me)
                            && in_flight.get(*id).is_none_or(|t| t.elapsed() > RETRY_AFTER)
                    })
                    .take(PER_PASS)
                    .map(|(id, rec)| {
                        let vote = match notary.verdict(id, now) {
                            Ok(content) => {
                                NodeVote { subject: id.0, contentHash: content.0, accept: true, reason: String::new() }
                            }
                            Err(refusal) => NodeVote {
                                subject: id.0,
                                contentHash: rec.content.0,
                                accept: false,
                                reason: refusal.to_string(),
                            },
                        };
                        (*id, Signed::new(&domain, &key, vote))
                    })
                    .collect()
            }
        });
        // Every vote of this pass in one log entry (each vote still signed on its own).
        let count = votes.len();
        let mut signed = Vec::with_capacity(count);
        for (id, vote) in votes {
            in_flight.insert(id, Instant::now());
            signed.push(vote);
        }
        // Empty when there is nothing to vote on (never over the maximum: `take` above).
        if let Ok(batch) = VoteBatch::new(signed)
            && let Err(e) = proposer.entry(Entry::Votes(batch).encode(), false).await
        {
            tracing::warn!(votes = count, "votes not recorded yet: {e}");
        }
        in_flight.retain(|_, t| t.elapsed() <= RETRY_AFTER * 10);
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.changed() => return,
        }
    }
}
