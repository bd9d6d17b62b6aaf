//! Token buckets for rate limits (spec: c2s "Rate limiting"), as a pure state machine:
//! the caller supplies the key (a client address) and the time; nothing here reads a clock.
//!
//! Each key has a bucket of `burst` tokens refilled at one token per `refill_ms`. An
//! attempt takes a token or is refused with the time until one is back. Full buckets carry
//! no information, so they are dropped when the table grows: memory stays bounded by the
//! number of keys that were limited recently, not by every address ever seen.

use std::collections::HashMap;
use std::hash::Hash;

/// The shape of one limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Attempts allowed at once, after a quiet period.
    pub burst: u32,
    /// Milliseconds for one token to come back.
    pub refill_ms: u64,
}

/// Whether an attempt may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Refused; a token is back after this many milliseconds.
    Limited {
        retry_after_ms: u64,
    },
}

/// Buckets per key; tokens are counted in milliseconds of refill time so the arithmetic
/// stays in integers.
#[derive(Debug)]
pub struct RateLimiter<K> {
    limit: Limit,
    /// Key → (refill-milliseconds of credit, time of the last update).
    buckets: HashMap<K, (u64, u64)>,
}

/// Above this many buckets, full ones are dropped before adding another.
const PRUNE_ABOVE: usize = 4096;

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    pub fn new(limit: Limit) -> Self {
        RateLimiter {
            limit,
            buckets: HashMap::new(),
        }
    }

    /// One attempt by `key` at `now_ms`: takes a token when there is one.
    pub fn handle_attempt(&mut self, key: &K, now_ms: u64) -> Verdict {
        let capacity = self.capacity();
        if !self.buckets.contains_key(key) && self.buckets.len() >= PRUNE_ABOVE {
            self.prune(now_ms);
        }
        let (credit, updated) = self
            .buckets
            .entry(key.clone())
            .or_insert((capacity, now_ms));
        // A clock that steps back adds nothing and takes nothing.
        let elapsed = now_ms.saturating_sub(*updated);
        *credit = credit.saturating_add(elapsed).min(capacity);
        *updated = now_ms.max(*updated);
        let cost = self.limit.refill_ms.max(1);
        if *credit >= cost {
            *credit -= cost;
            Verdict::Allowed
        } else {
            Verdict::Limited {
                retry_after_ms: cost - *credit,
            }
        }
    }

    /// How many keys have a bucket (for tests and metrics).
    pub fn tracked_keys(&self) -> usize {
        self.buckets.len()
    }

    fn capacity(&self) -> u64 {
        u64::from(self.limit.burst.max(1)).saturating_mul(self.limit.refill_ms.max(1))
    }

    /// Drops the buckets that are full again by `now_ms`.
    fn prune(&mut self, now_ms: u64) {
        let capacity = self.capacity();
        self.buckets.retain(|_, (credit, updated)| {
            credit.saturating_add(now_ms.saturating_sub(*updated)) < capacity
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Limit = Limit {
        burst: 3,
        refill_ms: 1000,
    };

    /// Runs attempts `(key, now_ms)` and checks each verdict.
    fn check(steps: &[(&str, u64, Verdict)]) {
        let mut limiter = RateLimiter::new(LIMIT);
        for (index, (key, now, expected)) in steps.iter().enumerate() {
            assert_eq!(
                limiter.handle_attempt(&key.to_string(), *now),
                *expected,
                "step {index}"
            );
        }
    }

    const OK: Verdict = Verdict::Allowed;

    #[test]
    fn burst_then_refusal_with_the_wait() {
        check(&[
            ("a", 0, OK),
            ("a", 0, OK),
            ("a", 0, OK),
            (
                "a",
                0,
                Verdict::Limited {
                    retry_after_ms: 1000,
                },
            ),
            (
                "a",
                400,
                Verdict::Limited {
                    retry_after_ms: 600,
                },
            ),
        ]);
    }

    #[test]
    fn tokens_come_back_over_time_up_to_the_burst() {
        check(&[
            ("a", 0, OK),
            ("a", 0, OK),
            ("a", 0, OK),
            ("a", 1000, OK),
            (
                "a",
                1000,
                Verdict::Limited {
                    retry_after_ms: 1000,
                },
            ),
            // A long quiet period refills to the burst, no more.
            ("a", 60_000, OK),
            ("a", 60_000, OK),
            ("a", 60_000, OK),
            (
                "a",
                60_000,
                Verdict::Limited {
                    retry_after_ms: 1000,
                },
            ),
        ]);
    }

    #[test]
    fn keys_are_independent_and_a_clock_stepping_back_is_harmless() {
        check(&[
            ("a", 5000, OK),
            ("a", 5000, OK),
            ("a", 5000, OK),
            ("b", 5000, OK),
            (
                "a",
                1000,
                Verdict::Limited {
                    retry_after_ms: 1000,
                },
            ),
            ("a", 6000, OK),
        ]);
    }

    #[test]
    fn full_buckets_are_dropped_when_the_table_grows() {
        let mut limiter = RateLimiter::new(LIMIT);
        for key in 0..PRUNE_ABOVE {
            assert_eq!(limiter.handle_attempt(&key, 0), Verdict::Allowed);
        }
        assert_eq!(limiter.tracked_keys(), PRUNE_ABOVE);
        // Much later every bucket is full again: adding one more key drops them all.
        assert_eq!(
            limiter.handle_attempt(&usize::MAX, 10_000),
            Verdict::Allowed
        );
        assert_eq!(limiter.tracked_keys(), 1);
    }
}
