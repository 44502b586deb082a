//! Rate limits (token buckets per key and per IP) and the bad-signature lock.
//!
//! In memory, per gateway process: a restart forgets them, which at worst
//! gives a locked key its attempts back early. The clock is an argument, so
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
    locked_until: Option<Instant>,
}

/// Locks a key after `threshold` consecutive bad signatures, for `lock`.
#[derive(Debug)]
pub struct Lockout<K> {
    threshold: u32,
    lock: Duration,
    strikes: Mutex<HashMap<K, Strikes>>,
}

impl<K: Eq + Hash + Clone> Lockout<K> {
    /// A lock rule.
    pub fn new(threshold: u32, lock: Duration) -> Self {
        Self { threshold, lock, strikes: Mutex::default() }
    }

    /// `Err(seconds left)` while `key` is locked.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), u64> {
        let m = self.strikes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match m.get(key).and_then(|s| s.locked_until) {
            Some(until) if until > now => Err(until.duration_since(now).as_secs().max(1)),
            _ => Ok(()),
        }
    }

    /// Records a bad signature; returns true if this locked the key.
    pub fn strike(&self, key: &K, now: Instant) -> bool {
        let mut m = self.strikes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if m.len() > SWEEP_AT {
            m.retain(|_, s| s.locked_until.is_some_and(|u| u > now));
        }
        let s = m.entry(key.clone()).or_insert(Strikes { count: 0, locked_until: None });
        if s.locked_until.is_some_and(|u| u <= now) {
            *s = Strikes { count: 0, locked_until: None };
        }
        s.count += 1;
        if s.count >= self.threshold && s.locked_until.is_none() {
            s.locked_until = Some(now + self.lock);
            return true;
        }
        false
    }

    /// A good signature clears the count.
    pub fn clear(&self, key: &K) {
        let mut m = self.strikes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if m.get(key).is_some_and(|s| s.locked_until.is_none()) {
            m.remove(key);
        }
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
    fn consecutive_bad_signatures_lock_for_a_while() {
        let l = Lockout::new(3, Duration::from_secs(60));
        let t = Instant::now();
        assert!(!l.strike(&1, t));
        l.clear(&1);
        assert!(!l.strike(&1, t));
        assert!(!l.strike(&1, t));
        assert!(l.strike(&1, t));
        assert_eq!(l.check(&1, t + Duration::from_secs(1)), Err(59));
        l.clear(&1); // a good signature does not lift a lock
        assert!(l.check(&1, t + Duration::from_secs(30)).is_err());
        assert_eq!(l.check(&1, t + Duration::from_secs(61)), Ok(()));
        assert_eq!(l.check(&2, t), Ok(()));
    }
}
