//! Rate limits on login and registration per client address (the TCP peer, or the
//! `X-Forwarded-For` address on an `x_forwarded` listener), driving the
//! token buckets of `proto::rate_limit` with the clock. Over the limit: 429
//! `M_LIMIT_EXCEEDED` with `retry_after_ms` (spec: c2s "Rate limiting") and a
//! `Retry-After` header (seconds, rounded up), as Synapse sends.

use serde_json::json;

use crate::api::{Request, Response};
use crate::proto::rate_limit::Verdict;
use crate::server::{Server, now_ms};

/// What is being attempted; each has its own buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Login,
    Registration,
}

/// Takes a token for this request's address; `Some(429 response)` when none is left.
/// Requests without a known client address are not limited.
pub fn check(server: &Server, request: &Request, action: Action) -> Option<Response> {
    let address = request.client?;
    let limiter = match action {
        Action::Login => &server.rate_limits.login,
        Action::Registration => &server.rate_limits.registration,
    };
    let now = u64::try_from(now_ms()).unwrap_or(0);
    // A poisoned lock only means another request panicked mid-update; the counts are
    // still usable.
    let verdict = match limiter.lock() {
        Ok(mut limiter) => limiter.handle_attempt(&address, now),
        Err(poisoned) => poisoned.into_inner().handle_attempt(&address, now),
    };
    match verdict {
        Verdict::Allowed => None,
        Verdict::Limited { retry_after_ms } => {
            crate::warn!("rate limit: {action:?} from {address} refused for {retry_after_ms} ms");
            let body = json!({
                "errcode": "M_LIMIT_EXCEEDED",
                "error": "too many requests; try again later",
                "retry_after_ms": retry_after_ms,
            });
            Some(
                Response::json(429, &body)
                    .with_header("Retry-After", retry_after_ms.div_ceil(1000).to_string()),
            )
        }
    }
}
