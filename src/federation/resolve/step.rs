//! The resolution stepper (STYLE 2.2): the spec's steps as a state machine with no I/O.
//!
//! [`Resolution::poll`] says what to look up next ([`Step`]); the driver answers with
//! `handle_well_known`, `handle_srv` or `handle_addr` and polls again, until
//! [`Step::Done`]. Spec: s2s "Resolving server names" (checklist §1.1, rows 1–6).

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::srv::order_srv_records;
use super::{Destination, ResolveError};
use crate::federation::dns::{DnsError, SrvRecord};
use crate::proto::id::ServerName;

/// The port of federation when neither the server name, the well-known nor SRV gives one.
pub const DEFAULT_PORT: u16 = 8448;

/// What the driver must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// GET `https://<hostname>/.well-known/matrix/server`; answer with `handle_well_known`.
    WellKnown(String),
    /// Look up SRV records of this full name (`_matrix-fed._tcp.<hostname>`); answer with
    /// `handle_srv`.
    Srv(String),
    /// Look up A and AAAA records (following CNAMEs) of the host; the port is where the
    /// addresses found will be connected to. Answer with `handle_addr`.
    Addr(String, u16),
    /// Finished: the destinations in the order to try them, or why there are none.
    Done(Result<Vec<Destination>, ResolveError>),
}

/// Which SRV name is being asked, in the spec's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SrvService {
    /// `_matrix-fed._tcp` (spec v1.8 and later).
    MatrixFed,
    /// `_matrix._tcp`, deprecated but still published by many servers.
    Matrix,
}

#[derive(Debug, Clone)]
enum State {
    WellKnown {
        hostname: String,
    },
    Srv {
        hostname: String,
        service: SrvService,
    },
    Addrs {
        host_header: String,
        tls_server_name: String,
        queue: VecDeque<(String, u16)>,
        found: Vec<Destination>,
        last_error: Option<ResolveError>,
    },
    Done(Result<Vec<Destination>, ResolveError>),
}

/// One resolution of one server name.
#[derive(Debug, Clone)]
pub struct Resolution {
    state: State,
    /// xorshift64 state for the RFC 2782 weighted order; the driver seeds it.
    random: u64,
}

impl Resolution {
    /// Starts resolving `server_name`. `seed` feeds the random order of SRV records of
    /// equal priority (any value; zero is replaced).
    pub fn new(server_name: &ServerName, seed: u64) -> Resolution {
        let host = server_name.host();
        let state = if server_name.is_ip_literal() {
            // Step 1: an IP literal is connected to directly; the Host header is the
            // server name as given (with its port), and no SNI is sent.
            let port = server_name.port().unwrap_or(DEFAULT_PORT);
            State::Done(ip_destination(host, port, server_name.as_str()))
        } else if let Some(port) = server_name.port() {
            // Step 2: explicit port: A/AAAA of the hostname, Host header with the port.
            State::Addrs {
                host_header: server_name.as_str().to_owned(),
                tls_server_name: host.to_owned(),
                queue: VecDeque::from([(host.to_owned(), port)]),
                found: Vec::new(),
                last_error: None,
            }
        } else {
            // Step 3: no port: ask the hostname's well-known first.
            State::WellKnown {
                hostname: host.to_owned(),
            }
        };
        Resolution {
            state,
            random: seed.max(1),
        }
    }

    /// What to do next. Calling it again without an answer returns the same step.
    pub fn poll(&self) -> Step {
        match &self.state {
            State::WellKnown { hostname } => Step::WellKnown(hostname.clone()),
            State::Srv { hostname, service } => Step::Srv(srv_name(*service, hostname)),
            State::Addrs { queue, .. } => match queue.front() {
                Some((host, port)) => Step::Addr(host.clone(), *port),
                // Not reached: an emptied queue turns into `Done` at once.
                None => Step::Done(Err(ResolveError::NoAddress {
                    host: String::new(),
                })),
            },
            State::Done(result) => Step::Done(result.clone()),
        }
    }

    /// The answer to [`Step::WellKnown`]: the valid `m.server` value, or `None` for any
    /// failure (no answer, not 200, bad JSON, no or invalid `m.server`).
    pub fn handle_well_known(&mut self, delegated: Option<&ServerName>) {
        let State::WellKnown { hostname } = &self.state else {
            return;
        };
        self.state = match delegated {
            // Step 4: well-known failed: SRV on the original hostname.
            None => State::Srv {
                hostname: hostname.clone(),
                service: SrvService::MatrixFed,
            },
            // Step 3.1: an IP literal: connect to it; Host is the delegated name as given.
            Some(delegated) if delegated.is_ip_literal() => State::Done(ip_destination(
                delegated.host(),
                delegated.port().unwrap_or(DEFAULT_PORT),
                delegated.as_str(),
            )),
            // Step 3.2: a hostname with a port: Host is `delegated_hostname:port`.
            Some(delegated) if delegated.port().is_some() => State::Addrs {
                host_header: delegated.as_str().to_owned(),
                tls_server_name: delegated.host().to_owned(),
                queue: VecDeque::from([(
                    delegated.host().to_owned(),
                    delegated.port().unwrap_or(DEFAULT_PORT),
                )]),
                found: Vec::new(),
                last_error: None,
            },
            // Steps 3.3–3.5: SRV on the delegated hostname (no second well-known).
            Some(delegated) => State::Srv {
                hostname: delegated.host().to_owned(),
                service: SrvService::MatrixFed,
            },
        };
    }

    /// The answer to [`Step::Srv`]: the records (empty for "no such name" or "no SRV
    /// records"), or the DNS failure.
    pub fn handle_srv(&mut self, answer: Result<Vec<SrvRecord>, DnsError>) {
        let State::Srv { hostname, service } = &self.state else {
            return;
        };
        let hostname = hostname.clone();
        let service = *service;
        let records = match answer {
            Ok(records) => records,
            Err(error) => {
                self.state = State::Done(Err(ResolveError::Dns {
                    name: srv_name(service, &hostname),
                    reason: error.to_string(),
                }));
                return;
            }
        };
        if records.is_empty() {
            self.state = match service {
                // Step 3.4 / 5: the deprecated `_matrix._tcp` name.
                SrvService::MatrixFed => State::Srv {
                    hostname,
                    service: SrvService::Matrix,
                },
                // Step 3.5 / 6: the hostname itself on 8448.
                SrvService::Matrix => State::Addrs {
                    host_header: hostname.clone(),
                    tls_server_name: hostname.clone(),
                    queue: VecDeque::from([(hostname, DEFAULT_PORT)]),
                    found: Vec::new(),
                    last_error: None,
                },
            };
            return;
        }
        // RFC 2782: a single record with target "." means the service is decidedly not
        // available at this domain.
        if records.len() == 1 && records.iter().all(|record| is_root(&record.target)) {
            self.state = State::Done(Err(ResolveError::ServiceUnavailable {
                srv_name: srv_name(service, &hostname),
            }));
            return;
        }
        let ordered = order_srv_records(records, &mut || self.next_random());
        let queue = ordered
            .into_iter()
            .filter(|record| !is_root(&record.target))
            .map(|record| (record.target.trim_end_matches('.').to_owned(), record.port))
            .collect();
        // Host header and certificate name stay the (delegated) hostname, never the SRV
        // target (checklist §1.1 rows 3.3 and 4).
        self.state = State::Addrs {
            host_header: hostname.clone(),
            tls_server_name: hostname,
            queue,
            found: Vec::new(),
            last_error: None,
        };
        self.finish_if_queue_empty();
    }

    /// The answer to [`Step::Addr`]: the addresses of the host (empty for none), or the
    /// DNS failure. A failure for one SRV target does not stop the others.
    pub fn handle_addr(&mut self, answer: Result<Vec<IpAddr>, DnsError>) {
        let State::Addrs {
            host_header,
            tls_server_name,
            queue,
            found,
            last_error,
        } = &mut self.state
        else {
            return;
        };
        let Some((host, port)) = queue.pop_front() else {
            return;
        };
        match answer {
            Ok(addresses) if addresses.is_empty() => {
                *last_error = Some(ResolveError::NoAddress { host });
            }
            Ok(addresses) => {
                for ip in addresses {
                    let destination = Destination {
                        addr: SocketAddr::new(ip, port),
                        host_header: host_header.clone(),
                        tls_server_name: Some(tls_server_name.clone()),
                    };
                    if !found.contains(&destination) {
                        found.push(destination);
                    }
                }
            }
            Err(error) => {
                *last_error = Some(ResolveError::Dns {
                    name: host,
                    reason: error.to_string(),
                });
            }
        }
        self.finish_if_queue_empty();
    }

    fn finish_if_queue_empty(&mut self) {
        if let State::Addrs {
            queue,
            found,
            last_error,
            host_header,
            ..
        } = &mut self.state
            && queue.is_empty()
        {
            let result = if found.is_empty() {
                Err(last_error.take().unwrap_or(ResolveError::NoAddress {
                    host: host_header.clone(),
                }))
            } else {
                Ok(std::mem::take(found))
            };
            self.state = State::Done(result);
        }
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64: good enough to spread load by SRV weight; not for secrets.
        let mut x = self.random;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.random = x;
        x
    }
}

fn srv_name(service: SrvService, hostname: &str) -> String {
    match service {
        SrvService::MatrixFed => format!("_matrix-fed._tcp.{hostname}"),
        SrvService::Matrix => format!("_matrix._tcp.{hostname}"),
    }
}

fn is_root(target: &str) -> bool {
    target.is_empty() || target == "."
}

/// The destination of an IP literal (`1.2.3.4` or `[::1]`): no SNI, the certificate must
/// be valid for the IP (spec: s2s "TLS", checklist §1.1 row 1).
fn ip_destination(
    host: &str,
    port: u16,
    host_header: &str,
) -> Result<Vec<Destination>, ResolveError> {
    let ip = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(inner) => inner.parse::<Ipv6Addr>().map(IpAddr::V6).ok(),
        None => host.parse::<Ipv4Addr>().map(IpAddr::V4).ok(),
    };
    match ip {
        Some(ip) => Ok(vec![Destination {
            addr: SocketAddr::new(ip, port),
            host_header: host_header.to_owned(),
            tls_server_name: None,
        }]),
        None => Err(ResolveError::NoAddress {
            host: host.to_owned(),
        }),
    }
}
