//! Server ACLs (spec: c2s "Server Access Control Lists (ACLs) for rooms", the
//! `m.room.server_acl` event schema, s2s "Server Access Control Lists (ACLs)"): whether a
//! room's ACL lets a server take part in it.
//!
//! Read leniently, as Synapse reads it (`server_acl_evaluator_from_event`): a non-boolean
//! `allow_ip_literals` counts as `true`, a non-list `allow` or `deny` as an empty list,
//! and non-string entries are skipped. The ACL never makes an event invalid; it only
//! decides which servers the room's endpoints answer.

use serde_json::Value;

use super::id::ServerName;
use super::push::glob::matches_whole;

/// The content of an `m.room.server_acl` event, read once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAcl {
    allow_ip_literals: bool,
    allow: Vec<String>,
    deny: Vec<String>,
}

impl ServerAcl {
    /// Reads the event's `content`; anything that is not an object reads as `{}` (which,
    /// with no `allow` list, denies every server, as the schema warns).
    pub fn from_content(content: &Value) -> ServerAcl {
        // Schema: "Defaults to `true` if missing or otherwise not a boolean."
        let allow_ip_literals = content
            .get("allow_ip_literals")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        ServerAcl {
            allow_ip_literals,
            allow: globs(content.get("allow")),
            deny: globs(content.get("deny")),
        }
    }

    /// Whether `server_name` may take part in the room, by the schema's steps 2 to 5
    /// (step 1, no ACL event at all, is the caller's: no ACL allows everyone). The port is
    /// never considered: `evil.com`, `evil.com:8448` and `evil.com:1234` are one server.
    pub fn allows(&self, server_name: &ServerName) -> bool {
        let host = server_name.host();
        // Step 2: IP literals, when `allow_ip_literals` is false.
        if !self.allow_ip_literals && (host.starts_with('[') || is_ipv4_literal(host)) {
            return false;
        }
        // Step 3, then 4; step 5: whatever no allow entry matched is denied.
        if self.deny.iter().any(|glob| matches_whole(glob, host)) {
            return false;
        }
        self.allow.iter().any(|glob| matches_whole(glob, host))
    }
}

/// The string entries of a list; anything else reads as no entries.
fn globs(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// A dotted quad of decimal octets 0–255 without leading zeros: what Synapse takes for an
/// IPv4 literal (Rust's `Ipv4Addr` parser, which refuses `01.2.3.4`).
fn is_ipv4_literal(host: &str) -> bool {
    let parts: Vec<&str> = host.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|part| {
            (1..=3).contains(&part.len())
                && part.bytes().all(|b| b.is_ascii_digit())
                && !(part.len() > 1 && part.starts_with('0'))
                && part.parse::<u16>().is_ok_and(|n| n <= 255)
        })
}

#[cfg(test)]
#[path = "server_acl_tests.rs"]
mod tests;
