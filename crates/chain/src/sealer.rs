//! The leader's block sealing: propose a `Seal` when entries are waiting, then
//! sign the header every replica computed and propose the signature.
//!
//! Event-driven: the sealer wakes after every applied batch of log entries
//! (`Shared::applied`), not on a timer. While this node leads:
//! - a sealed header awaiting its signature is signed at once;
//! - a block is sealed at once when an unsealed entry decided a subject
//!   (notarized or rejected it) and the previous seal is at least
//!   [`MIN_SPACING`] (20 ms) old: the signer, the gateway and every follower
//!   act only on a decision inside a sealed and signed block, so that block is
//!   held back by no timer, and under load one block packs the decisions of
//!   20 ms rather than one each;
//! - unsealed entries that decided nothing (a submission, votes short of a
//!   majority, a ceremony message) are sealed once the oldest of them has
//!   waited `interval` (`seal_interval_ms`), so a quiet cluster still closes
//!   its blocks and a busy one packs them.
//!
//! A block packs every entry applied before its `Seal` (the replicas take all
//! unsealed entries), so under load one block carries many decisions. The
//! checks are unchanged: every replica builds the header from its own state
//! and stores the block only with a registered node's signature over it.

use crate::fault::Faults;
use crate::proposer::{Proposer, now};
use crate::state_machine::{ChainState, Shared};
use crate::types::{Applied, Command};
use box_core::crypto::SecretKey;
use box_proto::Outcome;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How often a sealer that is not leading, or whose last command did not
/// make it, looks again.
const RECHECK: Duration = Duration::from_millis(200);

/// The least time between two seals for a decision: under load a block packs
/// the decisions of this much time instead of one block (two log entries and
/// a durable write on every replica) per decision; at light load it is the
/// most a decision waits. Capped by `seal_interval_ms`.
const MIN_SPACING: Duration = Duration::from_millis(20);

/// What the sealer does next, read from the replicated state.
fn next(
    s: &ChainState,
    key: &SecretKey,
    faults: &Faults,
    waiting: Instant,
    interval: Duration,
    spaced: bool,
) -> Option<Command> {
    if let Some(p) = &s.pending {
        let sig = s.notary.domain().sign(key, &p.header);
        faults.after_signing(&s.notary.domain(), key, p);
        return Some(Command::SignBlock { height: p.header.height, signature: sig.as_bytes().to_vec() });
    }
    let due = (!s.unsealed_decided.is_empty() && spaced) || waiting.elapsed() >= interval;
    (!s.unsealed.is_empty() && due).then(|| Command::Seal { height: s.next_height, time: now() })
}

/// Runs until `shutdown` changes. Only acts while this node leads.
pub async fn run(
    shared: Arc<Shared>,
    proposer: Proposer,
    key: SecretKey,
    interval: Duration,
    faults: Arc<Faults>,
    mut shutdown: watch::Receiver<bool>,
) {
    // Since when unsealed entries have been waiting (seen by this sealer).
    let mut waiting: Option<Instant> = None;
    let spacing = MIN_SPACING.min(interval);
    let mut sealed_at = Instant::now().checked_sub(spacing).unwrap_or_else(Instant::now);
    // When the Seal of the block awaiting its signature was proposed.
    let mut seal_began: Option<Instant> = None;
    loop {
        let applied = shared.applied.notified();
        tokio::pin!(applied);
        applied.as_mut().enable();
        // A decision held back only by the spacing: when to look again.
        let mut held = None;
        let cmd = if proposer.is_leader() {
            let s = shared.read();
            if s.unsealed.is_empty() {
                waiting = None;
            }
            let since = if s.unsealed.is_empty() { Instant::now() } else { *waiting.get_or_insert_with(Instant::now) };
            let spaced = sealed_at.elapsed() >= spacing;
            if !spaced && !s.unsealed_decided.is_empty() {
                held = Some(spacing.saturating_sub(sealed_at.elapsed()));
            }
            next(&s, &key, &faults, since, interval, spaced)
        } else {
            waiting = None;
            None
        };
        if let Some(cmd) = cmd {
            let sealing = matches!(cmd, Command::Seal { .. });
            let signing = match &cmd {
                Command::SignBlock { height, .. } => Some(*height),
                _ => None,
            };
            let started = Instant::now();
            let why = match proposer.local(cmd).await {
                Ok((_, Applied { outcome: Outcome::Ignored(why), .. })) => why,
                Ok(_) => {
                    if sealing {
                        waiting = None;
                        sealed_at = Instant::now();
                        seal_began = Some(started);
                    }
                    if let Some(height) = signing {
                        // Seal + SignBlock of this block, as the leader saw them.
                        shared.seal_time.send_replace((height, seal_began.take().unwrap_or(started).elapsed()));
                    }
                    continue; // sign straight away; seal again if more is due
                }
                Err(e) => e.to_string(),
            };
            tracing::debug!("sealing deferred: {why}");
            // Leadership moved, the log refused, or the replicas ignored the command
            // (e.g. a signature over another header): try again after a pause, not in a loop.
            tokio::select! {
                _ = tokio::time::sleep(interval.min(RECHECK)) => {}
                _ = shutdown.changed() => return,
            }
            continue;
        }
        // Nothing due: wait for the next applied entry, or until the oldest
        // waiting entry's `interval` is up; a follower looks again every
        // RECHECK (a new leader also applies a blank entry, which wakes it).
        let wake = waiting.map_or(interval.min(RECHECK), |t| interval.saturating_sub(t.elapsed()));
        // A decision held back by the spacing is sealed when it is up.
        let wake = held.map_or(wake, |h| wake.min(h));
        tokio::select! {
            _ = &mut applied => {}
            _ = tokio::time::sleep(wake) => {}
            _ = shutdown.changed() => return,
        }
    }
}
