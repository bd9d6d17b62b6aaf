//! The server context handed to every handler (STYLE 1.2): config, store and signing key.
//! No globals: whatever a handler needs, it reaches through `&Server`.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::Config;
use crate::proto::signing::SigningKey;
use crate::store::Store;

pub struct Server {
    pub config: Config,
    pub store: Store,
    pub signing_key: SigningKey,
}

impl Server {
    pub fn server_name(&self) -> &str {
        &self.config.server_name
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
