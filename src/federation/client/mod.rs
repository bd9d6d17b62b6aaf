//! The outbound federation client: resolve the destination (`federation::resolve`), sign
//! the request with `X-Matrix`, send it over a pooled keep-alive HTTPS connection, and
//! back off from destinations that fail.
//!
//! The only outbound code naming async-h1 and http-types (STYLE 1.1). Responses are
//! trusted by their TLS certificate (spec: s2s "Response Authentication").

mod backoff;
mod connection;
pub mod path;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_rustls::rustls;
use serde_json::Value;

pub use backoff::{Backoff, Backoffs, MAX_RETRY_INTERVAL, MIN_RETRY_INTERVAL};
use connection::{Connection, ExchangeError, PoolKey, RawResponse, describe};

use crate::api::Method;
use crate::federation::FedError;
use crate::federation::resolve::{Destination, Resolver};
use crate::proto::id::ServerName;
use crate::proto::signing::SigningKey;
use crate::proto::x_matrix;

/// TCP connect plus TLS handshake, per address tried.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Writing the request and reading the whole response.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest response body accepted (a `send_join` answer for a big room is large).
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;
/// An idle pooled connection older than this is closed rather than reused: servers
/// close idle keep-alive connections after a minute or so.
const IDLE_TIMEOUT: Duration = Duration::from_secs(50);
/// Idle connections kept per destination address.
const MAX_IDLE_PER_KEY: usize = 4;

/// One outbound request.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    pub method: Method,
    /// From `/_matrix/...`, identifiers and query values percent-encoded (`path::encode`,
    /// `path::with_query`): it is sent and signed as given.
    pub path_and_query: &'a str,
    pub body: Option<&'a Value>,
    /// `false` for the unauthenticated key endpoints.
    pub sign: bool,
    /// Go even when the destination is in backoff (key fetches, as Synapse does: a
    /// signature check must not fail just because sending to that server failed).
    pub ignore_backoff: bool,
}

/// The outbound client; one per server, shared by every task.
pub struct FederationClient {
    origin: ServerName,
    signing_key: SigningKey,
    resolver: Resolver,
    tls: Arc<rustls::ClientConfig>,
    pool: Mutex<HashMap<PoolKey, Vec<(Connection, Instant)>>>,
    backoffs: Mutex<Backoffs>,
}

impl FederationClient {
    /// `origin` and `signing_key` sign every request (`X-Matrix`).
    pub fn new(
        origin: ServerName,
        signing_key: SigningKey,
        resolver: Resolver,
        tls: Arc<rustls::ClientConfig>,
    ) -> FederationClient {
        FederationClient {
            origin,
            signing_key,
            resolver,
            tls,
            pool: Mutex::new(HashMap::new()),
            backoffs: Mutex::new(Backoffs::default()),
        }
    }

    /// The server name requests are signed as.
    pub fn origin(&self) -> &ServerName {
        &self.origin
    }

    /// The key requests are signed with.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing_key
    }

    /// Sends a signed request to `destination` and returns the status and JSON body,
    /// whatever the status (a Matrix error is a JSON body too).
    pub async fn request(
        &self,
        destination: &ServerName,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), FedError> {
        let outgoing = Outgoing {
            method,
            path_and_query,
            body,
            sign: true,
            ignore_backoff: false,
        };
        self.send(destination, &outgoing).await
    }

    /// Resolves `destination` and sends `outgoing` there.
    pub async fn send(
        &self,
        destination: &ServerName,
        outgoing: &Outgoing<'_>,
    ) -> Result<(u16, Value), FedError> {
        let (status, body) = self.send_raw(destination, outgoing).await?;
        let value = serde_json::from_slice(&body)
            .map_err(|_| FedError::NotJson(destination.clone(), status))?;
        Ok((status, value))
    }

    /// Like `send`, but the body comes back as the bytes received: a large answer (a
    /// `send_join` of a big room) is parsed by its caller without a `Value` of it all.
    pub async fn send_raw(
        &self,
        destination: &ServerName,
        outgoing: &Outgoing<'_>,
    ) -> Result<(u16, Vec<u8>), FedError> {
        if !outgoing.ignore_backoff
            && let Some(until) = self
                .lock_backoffs()
                .poll_blocked(destination, Instant::now())
        {
            let secs = until.saturating_duration_since(Instant::now()).as_secs();
            return Err(FedError::BackingOff(destination.clone(), secs));
        }
        let addresses = match self.resolver.resolve(destination, Instant::now()).await {
            Ok(addresses) => addresses,
            Err(e) => {
                self.lock_backoffs()
                    .handle_failure(destination, Instant::now());
                return Err(FedError::Resolve(destination.clone(), e));
            }
        };
        self.send_to_raw(destination, &addresses, outgoing).await
    }

    /// Sends `outgoing` to `destination` at the first of `addresses` that connects
    /// (tests and `hearth check` pass addresses of their own).
    pub async fn send_to(
        &self,
        destination: &ServerName,
        addresses: &[Destination],
        outgoing: &Outgoing<'_>,
    ) -> Result<(u16, Value), FedError> {
        let (status, body) = self.send_to_raw(destination, addresses, outgoing).await?;
        let value = serde_json::from_slice(&body)
            .map_err(|_| FedError::NotJson(destination.clone(), status))?;
        Ok((status, value))
    }

    async fn send_to_raw(
        &self,
        destination: &ServerName,
        addresses: &[Destination],
        outgoing: &Outgoing<'_>,
    ) -> Result<(u16, Vec<u8>), FedError> {
        let result = self.try_addresses(destination, addresses, outgoing).await;
        let mut backoffs = self.lock_backoffs();
        match &result {
            // Synapse backs off on 429 too: the destination asks for a pause.
            Ok((429, _)) => backoffs.handle_failure(destination, Instant::now()),
            Ok(_) => backoffs.handle_success(destination),
            Err(FedError::Unreachable(..) | FedError::Exchange(..)) => {
                backoffs.handle_failure(destination, Instant::now())
            }
            // Not JSON: the server is up, only this endpoint misbehaves.
            Err(_) => backoffs.handle_success(destination),
        }
        drop(backoffs);
        result
    }

    /// The backoff state of `destination`, for `hearth check` and tests.
    pub fn backoff(&self, destination: &ServerName) -> Option<Backoff> {
        self.lock_backoffs().get(destination).copied()
    }

    async fn try_addresses(
        &self,
        destination: &ServerName,
        addresses: &[Destination],
        outgoing: &Outgoing<'_>,
    ) -> Result<(u16, Vec<u8>), FedError> {
        let prepared = self.prepare(destination, outgoing)?;
        let mut last_error = String::from("no address to try");
        for address in addresses {
            let key = PoolKey::of(address);
            // A pooled connection may have been closed by the server meanwhile: if it
            // breaks, try once more on a fresh one. Federation requests are idempotent
            // (transactions carry IDs), so sending twice is safe. A slow or oversized
            // answer is no sign of a stale connection: that fails as it is.
            if let Some(connection) = self.take_idle(&key) {
                let request = prepared.request(address);
                match connection
                    .exchange(request, MAX_RESPONSE_BYTES, REQUEST_TIMEOUT)
                    .await
                {
                    Ok(response) => return self.finish(key, connection, response),
                    Err(e @ (ExchangeError::Timeout | ExchangeError::TooLarge)) => {
                        return Err(FedError::Exchange(
                            destination.clone(),
                            format!("{}: {e}", describe(address)),
                        ));
                    }
                    Err(ExchangeError::Io(_) | ExchangeError::Http(_)) => {}
                }
            }
            let connection = match Connection::open(&self.tls, address, CONNECT_TIMEOUT).await {
                Ok(connection) => connection,
                Err(e) => {
                    crate::debug!("federation: {destination}: {e}");
                    last_error = e;
                    continue;
                }
            };
            return match connection
                .exchange(
                    prepared.request(address),
                    MAX_RESPONSE_BYTES,
                    REQUEST_TIMEOUT,
                )
                .await
            {
                Ok(response) => self.finish(key, connection, response),
                Err(e) => Err(FedError::Exchange(
                    destination.clone(),
                    format!("{}: {e}", describe(address)),
                )),
            };
        }
        Err(FedError::Unreachable(destination.clone(), last_error))
    }

    /// Signs the request once for all addresses: the `X-Matrix` header covers the very
    /// path and query written on the wire, and the server names from before delegation.
    fn prepare(
        &self,
        destination: &ServerName,
        outgoing: &Outgoing<'_>,
    ) -> Result<Prepared, FedError> {
        if !outgoing.path_and_query.starts_with("/_matrix/") {
            return Err(FedError::Exchange(
                destination.clone(),
                format!("not a Matrix path: {}", outgoing.path_and_query),
            ));
        }
        // The URL's host is never sent (the Host header is); the path and query are
        // written as the URL holds them, so those are what is signed.
        let url = http_types::Url::parse(&format!(
            "https://hearth.invalid{}",
            outgoing.path_and_query
        ))
        .map_err(|e| FedError::Exchange(destination.clone(), format!("bad path: {e}")))?;
        let uri = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let authorization = if outgoing.sign {
            let header = x_matrix::authorization_header(
                &self.signing_key,
                outgoing.method.as_str(),
                &uri,
                &self.origin,
                destination,
                outgoing.body,
            )
            .map_err(FedError::Unsignable)?;
            Some(header)
        } else {
            None
        };
        let method = match outgoing.method {
            Method::Get => http_types::Method::Get,
            Method::Put => http_types::Method::Put,
            Method::Post => http_types::Method::Post,
            Method::Delete => http_types::Method::Delete,
            Method::Options => http_types::Method::Options,
            Method::Head => http_types::Method::Head,
        };
        Ok(Prepared {
            method,
            url,
            authorization,
            // INVARIANT: serialising a `Value` cannot fail.
            body: outgoing
                .body
                .map(|body| serde_json::to_vec(body).expect("Value always serialises")),
        })
    }

    /// Pools the connection if it can carry more.
    fn finish(
        &self,
        key: PoolKey,
        connection: Connection,
        response: RawResponse,
    ) -> Result<(u16, Vec<u8>), FedError> {
        if response.reusable {
            self.put_idle(key, connection);
        }
        Ok((response.status, response.body))
    }

    fn take_idle(&self, key: &PoolKey) -> Option<Connection> {
        let mut pool = self.pool.lock().ok()?;
        let idle = pool.get_mut(key)?;
        while let Some((connection, since)) = idle.pop() {
            if since.elapsed() < IDLE_TIMEOUT {
                return Some(connection);
            }
        }
        None
    }

    fn put_idle(&self, key: PoolKey, connection: Connection) {
        if let Ok(mut pool) = self.pool.lock() {
            let idle = pool.entry(key).or_default();
            idle.retain(|(_, since)| since.elapsed() < IDLE_TIMEOUT);
            if idle.len() < MAX_IDLE_PER_KEY {
                idle.push((connection, Instant::now()));
            }
        }
    }

    fn lock_backoffs(&self) -> std::sync::MutexGuard<'_, Backoffs> {
        // A poisoned lock only means a panic elsewhere mid-update of plain data.
        self.backoffs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A signed request, ready to go to any address of its destination.
struct Prepared {
    method: http_types::Method,
    url: http_types::Url,
    authorization: Option<String>,
    body: Option<Vec<u8>>,
}

impl Prepared {
    /// The wire request for `address`: `Host` from the resolution (checklist §1.1: the
    /// delegated name with its port, never the SRV target).
    fn request(&self, address: &Destination) -> http_types::Request {
        let mut request = http_types::Request::new(self.method, self.url.clone());
        request.insert_header("Host", address.host_header.as_str());
        request.insert_header("User-Agent", concat!("hearth/", env!("CARGO_PKG_VERSION")));
        if let Some(authorization) = &self.authorization {
            request.insert_header("Authorization", authorization.as_str());
        }
        if let Some(body) = &self.body {
            request.set_body(body.clone());
            request.insert_header("Content-Type", "application/json");
        }
        request
    }
}
