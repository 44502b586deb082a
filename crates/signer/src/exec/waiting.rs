//! Transient holds. A subject that cannot proceed for a reason that may
//! pass (the Ethereum node unreachable, an answer that did not parse) is
//! never refused: it is held, retried with capped exponential backoff,
//! shown as `waiting: <reason>` (the signer's announcement, hence the
//! console and the API's signer status), and raises an alert once it has
//! waited longer than the configured time. Only a broken rule refuses.

use super::{Action, Context, Executor, Note, note};
use box_core::B256;

/// The first delay of the backoff (milliseconds): the first retry comes at
/// the next round, the second after this, then doubling up to the cap.
pub const RETRY_BASE_MS: u64 = 1_000;

/// One subject's hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Waiting {
    /// When it first had to wait (wall-clock milliseconds).
    since_ms: u64,
    /// Failed attempts in a row.
    attempts: u32,
    /// Not before this (wall-clock milliseconds).
    retry_at_ms: u64,
    /// The latest reason.
    reason: String,
    /// Whether the alert was raised.
    alerted: bool,
}

/// The delay after `attempts` failures in a row: none after the first,
/// then [`RETRY_BASE_MS`] doubling, at most `max_secs`.
pub fn backoff_ms(attempts: u32, max_secs: u64) -> u64 {
    if attempts <= 1 {
        return 0;
    }
    let doubling = RETRY_BASE_MS.saturating_mul(1u64 << (attempts - 2).min(30));
    doubling.min(max_secs.saturating_mul(1000))
}

impl Executor {
    /// Holds `subject` for `reason` (transient): when to retry, the note,
    /// and the alert once it has waited `alert_after_secs`.
    pub(super) fn hold(&mut self, ctx: &Context<'_>, subject: B256, reason: String) -> Vec<Action> {
        let now = ctx.now_ms;
        let w = self.waiting.entry(subject).or_insert_with(|| Waiting {
            since_ms: now,
            attempts: 0,
            retry_at_ms: now,
            reason: String::new(),
            alerted: false,
        });
        w.attempts = w.attempts.saturating_add(1);
        w.retry_at_ms = now.saturating_add(backoff_ms(w.attempts, self.config.retry_max_secs));
        w.reason.clone_from(&reason);
        let waited = now.saturating_sub(w.since_ms) / 1000;
        let mut out = vec![note(subject, Note::Waiting(reason.clone()))];
        if !w.alerted && waited >= self.config.alert_after_secs {
            w.alerted = true;
            out.push(note(subject, Note::Alert(format!("{subject} has been waiting for {waited} s: {reason}"))));
        }
        out
    }

    /// How long `subject` has been held (seconds; 0 if it is not).
    pub(super) fn waited_secs(&self, subject: &B256, now_ms: u64) -> u64 {
        self.waiting.get(subject).map_or(0, |w| now_ms.saturating_sub(w.since_ms) / 1000)
    }

    /// `subject` is no longer held.
    pub(super) fn resolved(&mut self, subject: &B256) {
        self.waiting.remove(subject);
    }

    /// Whether a held `subject` may be tried again at `now_ms`.
    pub(super) fn due(&self, subject: &B256, now_ms: u64) -> bool {
        self.waiting.get(subject).is_none_or(|w| w.retry_at_ms <= now_ms)
    }

    /// What the signer is waiting for, as operators see it: `waiting:` and
    /// the reason of the longest-held subject (and how many more), or
    /// `None` when nothing waits.
    pub fn waiting(&self) -> Option<String> {
        let (_, oldest) = self.waiting.iter().min_by_key(|(s, w)| (w.since_ms, **s))?;
        let more = self.waiting.len() - 1;
        Some(match more {
            0 => format!("waiting: {}", oldest.reason),
            n => format!("waiting: {} (and {n} more)", oldest.reason),
        })
    }

    /// The subjects held now (zero: the Ethereum node as a whole).
    pub fn waiting_subjects(&self) -> Vec<B256> {
        self.waiting.keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_from_the_second_retry_up_to_the_cap() {
        let delays: Vec<u64> = (1..=9).map(|a| backoff_ms(a, 60)).collect();
        assert_eq!(delays, vec![0, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]);
        assert_eq!(backoff_ms(u32::MAX, 60), 60_000, "no overflow");
    }
}
