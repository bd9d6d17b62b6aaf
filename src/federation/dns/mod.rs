//! A small DNS client for server name resolution: A, AAAA (following CNAME chains) and
//! SRV lookups over UDP, retried over TCP when the answer is truncated, with timeouts,
//! retries over the nameservers of `/etc/resolv.conf`, `/etc/hosts` honoured, and
//! answers cached for their TTL (negative answers too, RFC 2308).
//!
//! Deliberately absent: search domains (federation names are fully qualified), DNSSEC
//! validation (the resolver's TLS checks carry the trust), EDNS.

pub mod cache;
pub mod conf;
mod transport;
pub mod wire;

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use self::cache::Cache;
pub use self::conf::{DnsConfig, Hosts};
use self::wire::{QueryType, Record, ResponseCode};

/// One SRV record (RFC 2782). `target` is lower case without the trailing dot; the
/// root (`""`) means "no service here".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvRecord {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    pub target: String,
}

/// A lookup that failed, as opposed to one that found nothing (which is `Ok(vec![])`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsError {
    /// No server answered in time, after every retry.
    Timeout,
    /// Every server answered with an error code (SERVFAIL, REFUSED…), the last one given.
    ServerFailure(u16),
    /// The name cannot be put in a query (too long, bad label).
    BadName(String),
    /// A CNAME chain longer than the limit, or a loop.
    CnameChain(String),
    /// Sockets failed (no network, refused).
    Io(String),
}

impl std::fmt::Display for DnsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DnsError::Timeout => write!(f, "no nameserver answered in time"),
            DnsError::ServerFailure(code) => {
                write!(f, "the nameservers answered with error code {code}")
            }
            DnsError::BadName(reason) => write!(f, "{reason}"),
            DnsError::CnameChain(name) => write!(f, "CNAME chain too long or looping at {name}"),
            DnsError::Io(reason) => write!(f, "network error: {reason}"),
        }
    }
}

impl std::error::Error for DnsError {}

/// CNAME hops followed before giving up (glibc follows about as many).
const MAX_CNAME_HOPS: usize = 8;

/// The DNS client; clones share the configuration and the cache.
#[derive(Clone)]
pub struct DnsClient {
    config: Arc<DnsConfig>,
    cache: Arc<Mutex<Cache>>,
}

impl DnsClient {
    pub fn new(config: DnsConfig) -> DnsClient {
        DnsClient {
            config: Arc::new(config),
            cache: Arc::new(Mutex::new(Cache::default())),
        }
    }

    pub fn config(&self) -> &DnsConfig {
        &self.config
    }

    /// The addresses of `host`: from the hosts files if listed there, else IPv4 then
    /// IPv6 from DNS, following CNAMEs. Empty when the name has no address.
    pub async fn lookup_ip(&self, host: &str, now: Instant) -> Result<Vec<IpAddr>, DnsError> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        if let Some(addresses) = self.config.hosts.lookup(host) {
            return Ok(addresses.to_vec());
        }
        let v4 = self.lookup_addresses(host, QueryType::A, now).await;
        let v6 = self.lookup_addresses(host, QueryType::Aaaa, now).await;
        match (v4, v6) {
            (Ok(mut v4), Ok(v6)) => {
                v4.extend(v6);
                Ok(v4)
            }
            // One family failing does not hide the other's addresses.
            (Ok(found), Err(error)) | (Err(error), Ok(found)) => {
                if found.is_empty() {
                    Err(error)
                } else {
                    Ok(found)
                }
            }
            (Err(error), Err(_)) => Err(error),
        }
    }

    /// The SRV records of `name` (e.g. `_matrix-fed._tcp.example.com`); empty when the
    /// name does not exist or has none.
    pub async fn lookup_srv(&self, name: &str, now: Instant) -> Result<Vec<SrvRecord>, DnsError> {
        let name = conf::normalize(name);
        let records = self.query(&name, QueryType::Srv, now).await?;
        Ok(records
            .into_iter()
            .filter(|(owner, _)| *owner == name)
            .filter_map(|(_, record)| match record {
                Record::Srv(srv) => Some(srv),
                _ => None,
            })
            .collect())
    }

    /// A or AAAA records of `host`, following the CNAME chain: through the records the
    /// server put in the same answer, and with a new query where the chain stops short.
    async fn lookup_addresses(
        &self,
        host: &str,
        query_type: QueryType,
        now: Instant,
    ) -> Result<Vec<IpAddr>, DnsError> {
        let mut name = conf::normalize(host);
        let mut seen = vec![name.clone()];
        for _ in 0..MAX_CNAME_HOPS {
            let records = self.query(&name, query_type, now).await?;
            // Walk the chain inside this answer.
            let mut current = name.clone();
            loop {
                let alias = records.iter().find_map(|(owner, record)| match record {
                    Record::Cname(target) if *owner == current => Some(target.clone()),
                    _ => None,
                });
                match alias {
                    Some(target) if seen.contains(&target) => {
                        return Err(DnsError::CnameChain(target));
                    }
                    Some(target) => {
                        seen.push(target.clone());
                        current = target;
                    }
                    None => break,
                }
                if seen.len() > MAX_CNAME_HOPS {
                    return Err(DnsError::CnameChain(current));
                }
            }
            let addresses: Vec<IpAddr> = records
                .iter()
                .filter_map(|(owner, record)| match record {
                    // Only the family asked for: a confused server's A record in an AAAA
                    // answer is not taken.
                    Record::Ip(ip)
                        if *owner == current && ip.is_ipv4() == (query_type == QueryType::A) =>
                    {
                        Some(*ip)
                    }
                    _ => None,
                })
                .collect();
            if !addresses.is_empty() || current == name {
                return Ok(addresses);
            }
            // The chain ended in a name without addresses in this answer: ask for it.
            name = current;
        }
        Err(DnsError::CnameChain(name))
    }

    /// One question, answered from the cache or the nameservers.
    async fn query(
        &self,
        name: &str,
        query_type: QueryType,
        now: Instant,
    ) -> Result<Vec<(String, Record)>, DnsError> {
        if let Some(cached) = self.lock_cache().get(name, query_type, now) {
            return Ok(cached.records);
        }
        let response = transport::ask(&self.config, name, query_type).await?;
        let mut cache = self.lock_cache();
        match response.rcode {
            ResponseCode::NameError => {
                cache.put_negative(name, query_type, response.negative_ttl, now);
                Ok(Vec::new())
            }
            ResponseCode::NoError if response.records.is_empty() => {
                cache.put_negative(name, query_type, response.negative_ttl, now);
                Ok(Vec::new())
            }
            ResponseCode::NoError => {
                let records = response
                    .records
                    .iter()
                    .map(|(owner, _, record)| (owner.clone(), record.clone()))
                    .collect();
                cache.put_records(name, query_type, response.records, now);
                Ok(records)
            }
            // `transport::ask` only returns answers it accepted.
            ResponseCode::Failure(code) => Err(DnsError::ServerFailure(code)),
        }
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        // A panic while holding the lock leaves a cache that is still consistent (every
        // update is one insert), so a poisoned lock is used as it is.
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests;
