//! Per-destination backoff after failures (STYLE 2.2: a state machine that takes `now`).
//!
//! Synapse's policy (synapse/util/retryutils.py): after the first failure wait 10
//! minutes, then double the wait after each further failure, capped at one day; the
//! first success resets everything. Synapse draws a random jitter on top; hearth does
//! not, so that tests and `hearth check` can say exactly when the next try is.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::proto::id::ServerName;

/// The wait after the first failure.
pub const MIN_RETRY_INTERVAL: Duration = Duration::from_secs(10 * 60);
/// The longest wait.
pub const MAX_RETRY_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// The backoff of one destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait that the last failure started.
    interval: Duration,
    /// No request before this instant.
    retry_at: Instant,
    /// Failures since the last success.
    failures: u32,
}

impl Backoff {
    pub fn retry_at(&self) -> Instant {
        self.retry_at
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }
}

/// The backoffs of every destination that failed lately; a destination not in the
/// table is up.
#[derive(Debug, Default)]
pub struct Backoffs {
    by_destination: HashMap<ServerName, Backoff>,
}

impl Backoffs {
    /// `Some(until)` when no request may go to `server_name` before `until`.
    pub fn poll_blocked(&self, server_name: &ServerName, now: Instant) -> Option<Instant> {
        self.by_destination
            .get(server_name)
            .map(Backoff::retry_at)
            .filter(|retry_at| *retry_at > now)
    }

    /// A request to `server_name` failed at `now` (the destination did not answer, or
    /// answered in a way that means "not now").
    pub fn handle_failure(&mut self, server_name: &ServerName, now: Instant) {
        let next = match self.by_destination.get(server_name) {
            // A request that was already under way when the backoff started fails too:
            // it must not double the wait again.
            Some(backoff) if backoff.retry_at > now => return,
            Some(backoff) => Backoff {
                interval: (backoff.interval * 2).min(MAX_RETRY_INTERVAL),
                retry_at: now + (backoff.interval * 2).min(MAX_RETRY_INTERVAL),
                failures: backoff.failures.saturating_add(1),
            },
            None => Backoff {
                interval: MIN_RETRY_INTERVAL,
                retry_at: now + MIN_RETRY_INTERVAL,
                failures: 1,
            },
        };
        self.by_destination.insert(server_name.clone(), next);
    }

    /// `server_name` answered: it is up again.
    pub fn handle_success(&mut self, server_name: &ServerName) {
        self.by_destination.remove(server_name);
    }

    /// The backoff of `server_name`, if it failed since its last success.
    pub fn get(&self, server_name: &ServerName) -> Option<&Backoff> {
        self.by_destination.get(server_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn doubles_from_ten_minutes_up_to_a_day_and_resets_on_success() {
        let name = ServerName::parse("remote.test").unwrap();
        let mut backoffs = Backoffs::default();
        let mut now = Instant::now();
        assert_eq!(backoffs.poll_blocked(&name, now), None);
        let mut expected_waits = Vec::new();
        for _ in 0..10 {
            backoffs.handle_failure(&name, now);
            let retry_at = backoffs.poll_blocked(&name, now).unwrap();
            expected_waits.push((retry_at - now).as_secs() / 60);
            // Blocked until the very instant, free from then on.
            assert!(backoffs.poll_blocked(&name, retry_at - MINUTE).is_some());
            assert_eq!(backoffs.poll_blocked(&name, retry_at), None);
            now = retry_at;
        }
        assert_eq!(
            expected_waits,
            [10, 20, 40, 80, 160, 320, 640, 1280, 1440, 1440]
        );
        assert_eq!(backoffs.get(&name).unwrap().failures(), 10);
        backoffs.handle_success(&name);
        assert_eq!(backoffs.poll_blocked(&name, now), None);
        backoffs.handle_failure(&name, now);
        assert_eq!(backoffs.poll_blocked(&name, now), Some(now + 10 * MINUTE));
    }

    #[test]
    fn failures_during_a_backoff_do_not_extend_it() {
        let name = ServerName::parse("remote.test").unwrap();
        let other = ServerName::parse("other.test").unwrap();
        let mut backoffs = Backoffs::default();
        let now = Instant::now();
        backoffs.handle_failure(&name, now);
        backoffs.handle_failure(&name, now + MINUTE);
        assert_eq!(backoffs.poll_blocked(&name, now), Some(now + 10 * MINUTE));
        assert_eq!(backoffs.get(&name).unwrap().failures(), 1);
        // Destinations are independent.
        assert_eq!(backoffs.poll_blocked(&other, now), None);
    }
}
