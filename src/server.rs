//! The server context handed to every handler (STYLE 1.2): config, store, signing key,
//! the sync notifier and the access-token cache. No globals: whatever a handler needs, it
//! reaches through `&Server`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::Config;
use crate::federation::Federation;
use crate::proto::id::ServerName;
use crate::proto::rate_limit::{Limit, RateLimiter};
use crate::proto::signing::SigningKey;
use crate::store::Store;
use crate::store::notify::Notifier;

pub struct Server {
    pub config: Config,
    /// `config.server_name`, parsed once.
    pub name: ServerName,
    pub store: Store,
    pub signing_key: SigningKey,
    /// Woken whenever something a `/sync` may want is committed.
    pub notifier: std::sync::Arc<Notifier>,
    /// Access token hash → (user ID, device ID): saves a database read per request.
    pub token_cache: RwLock<HashMap<String, (String, String)>>,
    /// Who is typing where (in memory only; `client::typing`).
    pub typing: std::sync::Mutex<crate::proto::typing::Typing>,
    /// Unread counts per (user, room) remembered between syncs (`client::sync_ephemeral`).
    pub unread_counts: std::sync::Arc<std::sync::Mutex<crate::proto::push::unread::UnreadCounts>>,
    /// Parsed push rules per user, with the stored text they were parsed from
    /// (`client::push_rules::load_ruleset_cached`): every sync that counts unread
    /// notifications needs them, and they rarely change.
    pub push_rulesets: std::sync::Arc<std::sync::Mutex<PushRulesets>>,
    /// Parsed current-state events, for building local events (`store::parsed`).
    pub parsed_events: std::sync::Arc<crate::store::parsed::ParsedEvents>,
    /// Login and registration attempts per client address (`client::rate_limit`).
    pub rate_limits: RateLimits,
    /// The outbound federation client and the cache of other servers' keys.
    pub federation: Federation,
}

/// User ID → (the stored rules text, `None` for the defaults; the rules parsed from it).
pub type PushRulesets =
    HashMap<String, (Option<String>, std::sync::Arc<crate::proto::push::Ruleset>)>;

/// Token buckets per client address. Generous enough for test suites that register a
/// few dozen users from one address, tight enough to slow password guessing to one a second.
pub struct RateLimits {
    pub login: Mutex<RateLimiter<IpAddr>>,
    pub registration: Mutex<RateLimiter<IpAddr>>,
}

impl RateLimits {
    pub const LOGIN: Limit = Limit {
        burst: 30,
        refill_ms: 1000,
    };
    pub const REGISTRATION: Limit = Limit {
        burst: 30,
        refill_ms: 2000,
    };

    fn new() -> RateLimits {
        RateLimits {
            login: Mutex::new(RateLimiter::new(Self::LOGIN)),
            registration: Mutex::new(RateLimiter::new(Self::REGISTRATION)),
        }
    }
}

impl Server {
    pub fn new(
        config: Config,
        name: ServerName,
        store: Store,
        signing_key: SigningKey,
        federation: Federation,
    ) -> Server {
        let notifier = store.notifier().clone();
        Server {
            config,
            name,
            store,
            signing_key,
            notifier,
            token_cache: RwLock::new(HashMap::new()),
            typing: std::sync::Mutex::new(crate::proto::typing::Typing::starting_at(now_ms())),
            unread_counts: std::sync::Arc::new(std::sync::Mutex::new(
                crate::proto::push::unread::UnreadCounts::new(),
            )),
            push_rulesets: std::sync::Arc::default(),
            parsed_events: std::sync::Arc::default(),
            rate_limits: RateLimits::new(),
            federation,
        }
    }

    pub fn server_name(&self) -> &str {
        self.name.as_str()
    }
}

/// Milliseconds since the Unix epoch; the one place the I/O layers read the clock for
/// timestamps (the protocol core takes `now_ms` as an argument).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
