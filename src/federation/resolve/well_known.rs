//! `/.well-known/matrix/server` (spec: s2s "Resolving server names" step 3,
//! data/api/server-server/wellknown.yaml): reading the body, and how long to keep the
//! result. Pure: the fetch is in `fetch.rs`, the clock comes in as arguments.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::proto::id::ServerName;

/// Largest body read (Synapse's `WELL_KNOWN_MAX_SIZE`); a bigger one is a failure.
pub const MAX_BODY_BYTES: usize = 50 * 1024;
/// Redirects followed before giving up.
pub const MAX_REDIRECTS: usize = 5;
/// Spec: cache for 24 hours when the response says nothing.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Spec: "impose a maximum cache time of 48 hours".
pub const MAX_LIFETIME: Duration = Duration::from_secs(48 * 3600);
/// Spec: errors cached "no longer than 1 hour"; the first failure is kept 1 minute and
/// each following one twice as long ("exponentially back off").
pub const MAX_FAILURE_LIFETIME: Duration = Duration::from_secs(3600);
const FIRST_FAILURE_LIFETIME: Duration = Duration::from_secs(60);

/// Why a well-known lookup gave no delegation. Any of these means: go on with SRV on the
/// original hostname (spec step 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WellKnownError {
    /// No connection, TLS failure or time-out (temporary).
    Unreachable(String),
    /// A status other than 200 (5xx are temporary).
    Status(u16),
    /// A redirect without a usable `Location`, or to a non-https URL.
    BadRedirect(String),
    /// More than [`MAX_REDIRECTS`] redirects.
    TooManyRedirects,
    /// A redirect back to a URL already visited.
    RedirectLoop(String),
    /// Body over [`MAX_BODY_BYTES`].
    TooLarge,
    /// Body is not a JSON object.
    NotJson(String),
    /// No `m.server` string in the object.
    NoServer,
    /// `m.server` is not a valid server name.
    InvalidServer(String),
}

impl WellKnownError {
    /// Whether the failure says nothing about the domain's intent (network trouble, a
    /// server error): a result cached from before is then kept.
    pub fn is_temporary(&self) -> bool {
        match self {
            WellKnownError::Unreachable(_) | WellKnownError::TooLarge => true,
            WellKnownError::Status(status) => *status >= 500,
            WellKnownError::BadRedirect(_)
            | WellKnownError::TooManyRedirects
            | WellKnownError::RedirectLoop(_)
            | WellKnownError::NotJson(_)
            | WellKnownError::NoServer
            | WellKnownError::InvalidServer(_) => false,
        }
    }
}

impl std::fmt::Display for WellKnownError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WellKnownError::Unreachable(why) => write!(f, "could not fetch it: {why}"),
            WellKnownError::Status(status) => write!(f, "HTTP status {status} (only 200 counts)"),
            WellKnownError::BadRedirect(why) => write!(f, "bad redirect: {why}"),
            WellKnownError::TooManyRedirects => {
                write!(f, "more than {MAX_REDIRECTS} redirects")
            }
            WellKnownError::RedirectLoop(url) => write!(f, "redirect loop back to {url}"),
            WellKnownError::TooLarge => write!(f, "body larger than {MAX_BODY_BYTES} bytes"),
            WellKnownError::NotJson(why) => write!(f, "body is not a JSON object: {why}"),
            WellKnownError::NoServer => write!(f, "no \"m.server\" string in the JSON"),
            WellKnownError::InvalidServer(value) => {
                write!(f, "\"m.server\" is not a valid server name: {value:?}")
            }
        }
    }
}

/// Reads a 200 body: a JSON object with a string `m.server` that is a server name. The
/// Content-Type is not checked (the spec says to parse the body as JSON regardless).
pub fn parse_body(body: &[u8]) -> Result<ServerName, WellKnownError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(WellKnownError::TooLarge);
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| WellKnownError::NotJson(e.to_string()))?;
    let object = value
        .as_object()
        .ok_or_else(|| WellKnownError::NotJson("not an object".into()))?;
    let server = object
        .get("m.server")
        .and_then(|server| server.as_str())
        .ok_or(WellKnownError::NoServer)?;
    ServerName::parse(server).map_err(|_| WellKnownError::InvalidServer(server.to_owned()))
}

/// How long a successful response may be kept, from its `Cache-Control` and `Expires`
/// headers (Cache-Control wins, RFC 9111 §5.3); `None` = do not keep it. `now_unix` is
/// the current time in seconds since the epoch, for `Expires`.
pub fn success_lifetime(
    cache_control: Option<&str>,
    expires: Option<&str>,
    now_unix: u64,
) -> Option<Duration> {
    if let Some(cache_control) = cache_control {
        let mut max_age = None;
        for directive in cache_control.split(',') {
            let directive = directive.trim().to_ascii_lowercase();
            if directive == "no-store" || directive == "no-cache" {
                return None;
            }
            if let Some(value) = directive.strip_prefix("max-age=") {
                max_age = value.trim_matches('"').parse::<u64>().ok();
            }
        }
        if let Some(seconds) = max_age {
            return clamp(Duration::from_secs(seconds));
        }
    }
    if let Some(expires) = expires {
        // An unparseable Expires means "already expired" (RFC 9111 §5.3).
        let seconds = parse_http_date(expires).map_or(0, |at| at.saturating_sub(now_unix));
        return clamp(Duration::from_secs(seconds));
    }
    Some(DEFAULT_LIFETIME)
}

fn clamp(lifetime: Duration) -> Option<Duration> {
    (!lifetime.is_zero()).then(|| lifetime.min(MAX_LIFETIME))
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the only date format
/// senders may generate (RFC 9110 §5.6.7), into seconds since the epoch.
pub fn parse_http_date(text: &str) -> Option<u64> {
    let mut words = text.split_whitespace().skip(1);
    let day: u64 = words.next()?.parse().ok()?;
    let month = match words.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = words.next()?.parse().ok()?;
    let mut time = words
        .next()?
        .split(':')
        .map(|part| part.parse::<u64>().ok());
    let (hour, minute, second) = (time.next()??, time.next()??, time.next()??);
    if words.next()? != "GMT" || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * m + 2) / 5 + day as i64 - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    u64::try_from(days)
        .ok()
        .map(|days| days * 86_400 + hour * 3600 + minute * 60 + second)
}

/// One hostname's cached well-known outcome.
#[derive(Debug, Clone)]
struct Entry {
    delegated: Option<ServerName>,
    expires: Instant,
    /// Failures in a row, for the backoff.
    failures: u32,
}

/// Well-known outcomes per hostname, successes and failures alike (spec: "cache all
/// responses").
#[derive(Debug, Default)]
pub struct WellKnownCache {
    entries: HashMap<String, Entry>,
}

impl WellKnownCache {
    /// The cached outcome: `Some(Some(name))` delegated, `Some(None)` a cached failure,
    /// `None` nothing valid cached (fetch it).
    pub fn get(&self, hostname: &str, now: Instant) -> Option<Option<ServerName>> {
        let entry = self.entries.get(hostname)?;
        (entry.expires > now).then(|| entry.delegated.clone())
    }

    /// Records a fetch. Returns how long the outcome is kept.
    pub fn put(
        &mut self,
        hostname: &str,
        outcome: &Result<ServerName, WellKnownError>,
        success_lifetime: Option<Duration>,
        now: Instant,
    ) -> Duration {
        let previous = self.entries.get(hostname).cloned();
        let entry = match outcome {
            Ok(delegated) => {
                let Some(lifetime) = success_lifetime else {
                    self.entries.remove(hostname);
                    return Duration::ZERO;
                };
                Entry {
                    delegated: Some(delegated.clone()),
                    expires: now + lifetime,
                    failures: 0,
                }
            }
            Err(error) => {
                let failures = previous.as_ref().map_or(0, |entry| entry.failures) + 1;
                let lifetime = failure_lifetime(failures);
                // A temporary failure keeps a delegation known from before: a passing
                // network problem must not re-route federation.
                let kept = previous
                    .and_then(|entry| entry.delegated)
                    .filter(|_| error.is_temporary());
                Entry {
                    delegated: kept,
                    expires: now + lifetime,
                    failures,
                }
            }
        };
        let lifetime = entry.expires.saturating_duration_since(now);
        if self.entries.len() >= 10_000 {
            self.entries.retain(|_, entry| entry.expires > now);
        }
        self.entries.insert(hostname.to_owned(), entry);
        lifetime
    }
}

/// 1 minute after the first failure, doubling, at most an hour.
pub fn failure_lifetime(failures_in_a_row: u32) -> Duration {
    let doublings = failures_in_a_row.saturating_sub(1).min(10);
    (FIRST_FAILURE_LIFETIME * 2u32.pow(doublings)).min(MAX_FAILURE_LIFETIME)
}

#[cfg(test)]
mod tests;
