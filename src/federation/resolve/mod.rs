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
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use futures_rustls::rustls::ClientConfig;

use self::step::{Resolution, Step};
use self::well_known::WellKnownCache;
use crate::federation::dns::{DnsClient, DnsConfig};
use crate::proto::id::ServerName;

pub mod fetch;
#[cfg(test)]
mod fetch_tests;
pub mod https;
pub mod srv;
pub mod step;
#[cfg(test)]
mod tests;
pub mod tls;
pub mod well_known;

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

/// Resolves server names; holds the DNS client, the TLS settings for the well-known fetch
/// and the well-known cache. Cheap to clone and share between tasks (`Arc` inside).
#[derive(Clone)]
pub struct Resolver {
    dns: DnsClient,
    tls: Arc<ClientConfig>,
    well_known: Arc<Mutex<WellKnownCache>>,
    /// 443 (spec step 3); tests serve the well-known elsewhere.
    well_known_port: u16,
}

impl Resolver {
    pub fn new(dns: DnsClient, tls: Arc<ClientConfig>) -> Resolver {
        Resolver {
            dns,
            tls,
            well_known: Arc::new(Mutex::new(WellKnownCache::default())),
            well_known_port: 443,
        }
    }

    #[cfg(test)]
    pub(crate) fn with_well_known_port(mut self, port: u16) -> Resolver {
        self.well_known_port = port;
        self
    }

    /// A resolver using the system's DNS configuration (`/etc/resolv.conf`, `/etc/hosts`,
    /// and the hosts file named by `HEARTH_HOSTS_FILE`, which tests use to point names at
    /// loopback) and the public roots plus `federation.extra_ca` for the well-known fetch.
    pub fn from_config(config: &crate::config::Config) -> Result<Resolver, std::io::Error> {
        let roots = tls::root_store(&config.federation.extra_ca)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        Ok(Resolver::new(
            DnsClient::new(DnsConfig::from_system()),
            tls::client_config(Arc::new(roots)),
        ))
    }

    pub fn dns(&self) -> &DnsClient {
        &self.dns
    }

    /// Every destination for `server_name`, best first: try them in order until one
    /// connects. `now` drives the caches.
    pub async fn resolve(
        &self,
        server_name: &ServerName,
        now: Instant,
    ) -> Result<Vec<Destination>, ResolveError> {
        let mut resolution = Resolution::new(server_name, random_seed());
        loop {
            match resolution.poll() {
                Step::WellKnown(hostname) => {
                    let delegated = self.well_known(&hostname, now).await;
                    resolution.handle_well_known(delegated.as_ref());
                }
                Step::Srv(name) => resolution.handle_srv(self.dns.lookup_srv(&name, now).await),
                Step::Addr(host, _) => resolution.handle_addr(self.dns.lookup_ip(&host, now).await),
                Step::Done(result) => return result,
            }
        }
    }

    /// The delegated server name from `hostname`'s well-known, from the cache or fetched
    /// (and cached, successes and failures alike); `None` when there is none.
    pub async fn well_known(&self, hostname: &str, now: Instant) -> Option<ServerName> {
        if let Some(cached) = self.lock_cache().get(hostname, now) {
            return cached;
        }
        let now_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let url = fetch::Url {
            host: hostname.to_ascii_lowercase(),
            port: self.well_known_port,
            path: "/.well-known/matrix/server".to_owned(),
        };
        let fetched = fetch::fetch_from(&self.dns, self.tls.clone(), url, now, now_unix).await;
        let mut cache = self.lock_cache();
        cache.put(hostname, &fetched.outcome, fetched.lifetime, now);
        // A temporary failure may have kept an older delegation.
        cache
            .get(hostname, now)
            .unwrap_or_else(|| fetched.outcome.ok())
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, WellKnownCache> {
        // Every update is one insert: a poisoned cache is still consistent.
        self.well_known.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A seed for the SRV weight draw; no need for strength, only for spread.
fn random_seed() -> u64 {
    getrandom::u64().unwrap_or(0x9e37_79b9_7f4a_7c15)
}
