//! `ServerName` (spec: appendices, "Server Name"): a hostname — DNS name, IPv4 literal or
//! bracketed IPv6 literal — with an optional numeric port. Compared case-sensitively, as
//! the spec says (`@user:matrix.org` and `@user:MATRIX.ORG` are different users).

use serde::{Deserialize, Serialize};

use super::{IdError, MAX_ID_BYTES, id_common_impls};

/// A server name as it appears after the `:` of an identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ServerName {
    full: String,
    /// Byte length of the hostname part (brackets included for IPv6).
    host_len: usize,
    port: Option<u16>,
}

id_common_impls!(ServerName);

impl ServerName {
    /// Parses `hostname [ ":" port ]` by the spec's grammar.
    ///
    /// DNS names are checked against the grammar only (`[A-Za-z0-9.-]`, at most 255
    /// characters), as Synapse does; an IPv6 literal must be 2–45 characters of hex
    /// digits, `:` and `.` between brackets. Ports above 65535 are refused: no server can
    /// listen there, so no event from such a name can carry a valid signature.
    pub fn parse(text: &str) -> Result<Self, IdError> {
        if text.is_empty() || text.len() > MAX_ID_BYTES {
            return Err(IdError::InvalidServerName);
        }
        let (host, port_text) = if text.starts_with('[') {
            let close = text.find(']').ok_or(IdError::InvalidServerName)?;
            let (host, after) = text.split_at(close + 1);
            let inner = host
                .get(1..host.len() - 1)
                .ok_or(IdError::InvalidServerName)?;
            let is_ipv6_char = |b: u8| b.is_ascii_hexdigit() || b == b':' || b == b'.';
            if !(2..=45).contains(&inner.len()) || !inner.bytes().all(is_ipv6_char) {
                return Err(IdError::InvalidServerName);
            }
            match after {
                "" => (host, None),
                _ => (
                    host,
                    Some(after.strip_prefix(':').ok_or(IdError::InvalidServerName)?),
                ),
            }
        } else {
            let (host, port_text) = match text.split_once(':') {
                Some((host, port_text)) => (host, Some(port_text)),
                None => (text, None),
            };
            let is_dns_char = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'.';
            if host.is_empty() || !host.bytes().all(is_dns_char) {
                return Err(IdError::InvalidServerName);
            }
            (host, port_text)
        };
        let port = port_text.map(parse_port).transpose()?;
        Ok(ServerName {
            full: text.to_owned(),
            host_len: host.len(),
            port,
        })
    }

    /// The hostname as written: a DNS name, a dotted quad, or `[IPv6]` with its brackets.
    pub fn host(&self) -> &str {
        // INVARIANT: `host_len` is the byte length of a prefix of `full` that ends on an
        // ASCII character, set by `parse`.
        self.full.get(..self.host_len).unwrap_or(&self.full)
    }

    /// The explicit port, if the server name has one.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// Whether the hostname is an IP literal (dotted-quad IPv4 with parts 0–255, or
    /// bracketed IPv6). Spec: s2s "Resolving server names", step 1: IP literals are
    /// connected to directly, with no well-known or SRV lookup.
    pub fn is_ip_literal(&self) -> bool {
        let host = self.host();
        if host.starts_with('[') {
            return true;
        }
        let parts: Vec<&str> = host.split('.').collect();
        parts.len() == 4
            && parts.iter().all(|part| {
                (1..=3).contains(&part.len())
                    && part.bytes().all(|b| b.is_ascii_digit())
                    && part.parse::<u16>().is_ok_and(|n| n <= 255)
            })
    }
}

fn parse_port(text: &str) -> Result<u16, IdError> {
    // Spec grammar: port = 1*5DIGIT.
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IdError::InvalidPort);
    }
    text.parse::<u16>().map_err(|_| IdError::InvalidPort)
}
