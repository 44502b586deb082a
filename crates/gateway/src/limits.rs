//! Rate limits (token buckets per key and per IP) and the throttle of
//! sources that fail to prove who they are.
//!
//! In memory, per gateway process: a restart forgets them, which at worst
//! gives a throttled source its attempts back early. The clock is an argument, so
//! the rules are tested without waiting.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many idle buckets to keep before sweeping full ones away.
const SWEEP_AT: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets: `burst` requests at once, refilled at `per_minute`.
#[derive(Debug)]
pub struct RateLimiter<K> {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Eq + Hash + Clone> RateLimiter<K> {
    /// A limiter allowing `per_minute` sustained and `burst` at once.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        Self { per_second: f64::from(per_minute) / 60.0, burst: f64::from(burst), buckets: Mutex::default() }
    }

    /// Takes one token for `key` at `now`; `Err(seconds to wait)` if none is left.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), u64> {
        let mut m = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if m.len() > SWEEP_AT {
            let (rate, burst) = (self.per_second, self.burst);
            m.retain(|_, b| b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let b = m.entry(key.clone()).or_insert(Bucket { tokens: self.burst, at: now });
        let refill = now.saturating_duration_since(b.at).as_secs_f64() * self.per_second;
        b.tokens = (b.tokens + refill).min(self.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - b.tokens) / self.per_second).ceil();
            // A float of a few seconds, not money: the cast is a display value.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Err((wait as u64).max(1))
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Strikes {
    count: u32,
    since: Instant,
    locked_until: Option<Instant>,
}

/// Throttles a source (a client IP) after `threshold` failures within
/// `window`, for `window`.
///
/// Keyed by where requests come from, never by the identity a request
/// claims: a bad signature or a wrong token proves nothing about the address
/// it names, so counting it against that address would let anyone lock anyone
/// out (DESIGN.md §2). A success does not clear the count either: one source
/// may carry an attacker's requests beside honest ones. Everyone behind a
/// throttled IP is throttled with it; emergency actions are exempt (see
/// `api::lane`).
#[derive(Debug)]
pub struct SourceThrottle<K> {
    threshold: u32,
    window: Duration,
    strikes: Mutex<HashMap<K, Strikes>>,
}

impl<K: Eq + Hash + Clone> SourceThrottle<K> {
    /// `threshold` failures within `window` throttle a source for `window`.
    pub fn new(threshold: u32, window: Duration) -> Self {
        Self { threshold, window, strikes: Mutex::default() }
    }

    /// `Err(seconds left)` while `source` is throttled.
    pub fn check(&self, source: &K, now: Instant) -> Result<(), u64> {
        let m = self.strikes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match m.get(source).and_then(|s| s.locked_until) {
            Some(until) if until > now => Err(until.duration_since(now).as_secs().max(1)),
            _ => Ok(()),
        }
    }

    /// Records a failure from `source`; returns true if this throttled it.
    pub fn strike(&self, source: &K, now: Instant) -> bool {
        let mut m = self.strikes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if m.len() > SWEEP_AT {
            let window = self.window;
            m.retain(|_, s| s.locked_until.is_some_and(|u| u > now) || now.saturating_duration_since(s.since) < window);
        }
        let fresh = Strikes { count: 0, since: now, locked_until: None };
        let s = m.entry(source.clone()).or_insert(fresh);
        let lock_over = s.locked_until.is_some_and(|u| u <= now);
        let window_over = s.locked_until.is_none() && now.saturating_duration_since(s.since) >= self.window;
        if lock_over || window_over {
            *s = fresh;
        }
        s.count = s.count.saturating_add(1);
        if s.count >= self.threshold && s.locked_until.is_none() {
            s.locked_until = Some(now + self.window);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_the_rate() {
        let r = RateLimiter::new(60, 3);
        let t = Instant::now();
        for _ in 0..3 {
            assert_eq!(r.check(&"k", t), Ok(()));
        }
        assert_eq!(r.check(&"k", t), Err(1));
        assert_eq!(r.check(&"other", t), Ok(()), "buckets are per key");
        assert_eq!(r.check(&"k", t + Duration::from_millis(1100)), Ok(()));
        assert!(r.check(&"k", t + Duration::from_millis(1100)).is_err());
    }

    #[test]
    fn failures_throttle_the_source_for_a_window_and_success_does_not_reset_them() {
        let l = SourceThrottle::new(3, Duration::from_secs(60));
        let t = Instant::now();
        assert!(!l.strike(&1, t));
        assert!(!l.strike(&1, t + Duration::from_secs(10)));
        assert_eq!(l.check(&1, t + Duration::from_secs(10)), Ok(()));
        assert!(l.strike(&1, t + Duration::from_secs(20)), "the third failure within the window");
        assert_eq!(l.check(&1, t + Duration::from_secs(21)), Err(59));
        assert_eq!(l.check(&2, t), Ok(()), "per source");
        assert!(!l.strike(&1, t + Duration::from_secs(30)), "already throttled");
        assert_eq!(l.check(&1, t + Duration::from_secs(81)), Ok(()));
        // Failures spread wider than the window never throttle.
        for i in 0..10u64 {
            assert!(!l.strike(&3, t + Duration::from_secs(i * 40)));
        }
    }
}
