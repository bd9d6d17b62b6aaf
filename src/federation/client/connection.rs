//! One outbound HTTPS connection that carries many requests in turn (keep-alive).
//!
//! `async_h1::connect` sends one request and gives the stream away with the response body
//! (STACK-NOTES gotcha 3), so this layer drives async-h1's client encoder and decoder
//! itself over a shared handle of the TLS stream: after a response body has been read to
//! its end, the connection is clean and can carry the next request. Only one request is
//! in flight at a time, so the decoder's read-ahead never swallows another response.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt, FutureExt};
use futures_rustls::TlsConnector;
use futures_rustls::client::TlsStream;
use futures_rustls::rustls;
use rustls_pki_types::ServerName as TlsServerName;
use smol::net::TcpStream;

use crate::federation::resolve::Destination;

type Shared = async_dup::Arc<async_dup::Mutex<TlsStream<TcpStream>>>;

/// An open connection to one destination.
pub struct Connection {
    stream: Shared,
}

/// A response read to its end.
pub struct RawResponse {
    pub status: u16,
    pub body: Vec<u8>,
    /// Whether the connection may carry another request.
    pub reusable: bool,
}

/// Why an exchange on a connection failed.
#[derive(Debug)]
pub enum ExchangeError {
    Io(String),
    /// The response is not HTTP/1.1 as async-h1 reads it.
    Http(String),
    TooLarge,
    Timeout,
}

impl Connection {
    /// Opens TCP and TLS to `destination`; the certificate must be valid for its
    /// `tls_server_name` (sent as SNI), or for the IP address when there is none (no SNI
    /// for IP literals: rustls sends none for an IP server name).
    pub async fn open(
        tls: &Arc<rustls::ClientConfig>,
        destination: &Destination,
        timeout: Duration,
    ) -> Result<Connection, String> {
        let server_name = match &destination.tls_server_name {
            Some(name) => TlsServerName::try_from(name.clone())
                .map_err(|e| format!("{name} is not a TLS server name: {e}"))?,
            None => TlsServerName::IpAddress(destination.addr.ip().into()),
        };
        let work = async {
            let tcp = TcpStream::connect(destination.addr)
                .await
                .map_err(|e| format!("TCP connect to {}: {e}", destination.addr))?;
            // STACK-NOTES gotcha 2: async-h1 writes head and body separately.
            let _ = tcp.set_nodelay(true);
            let stream = TlsConnector::from(tls.clone())
                .connect(server_name, tcp)
                .await
                .map_err(|e| format!("TLS with {}: {e}", describe(destination)))?;
            Ok(Connection {
                stream: async_dup::Arc::new(async_dup::Mutex::new(stream)),
            })
        };
        work.or(async {
            smol::Timer::after(timeout).await;
            Err(format!(
                "no connection to {} within {}s",
                describe(destination),
                timeout.as_secs()
            ))
        })
        .await
    }

    /// Sends `request` and reads the whole response, at most `limit` body bytes, all
    /// within `timeout`.
    pub async fn exchange(
        &self,
        request: http_types::Request,
        limit: usize,
        timeout: Duration,
    ) -> Result<RawResponse, ExchangeError> {
        let work = async {
            let mut writer = self.stream.clone();
            futures_lite::io::copy(async_h1::client::Encoder::new(request), &mut writer)
                .await
                .map_err(|e| ExchangeError::Io(e.to_string()))?;
            writer
                .flush()
                .await
                .map_err(|e| ExchangeError::Io(e.to_string()))?;
            let mut response = async_h1::client::decode(self.stream.clone())
                .await
                .map_err(|e| ExchangeError::Http(e.to_string()))?;
            let delimited = response.header("content-length").is_some()
                || response
                    .header("transfer-encoding")
                    .is_some_and(|v| v.last().as_str().eq_ignore_ascii_case("chunked"));
            let close = response
                .header("connection")
                .is_some_and(|v| v.as_str().eq_ignore_ascii_case("close"));
            // Room for the declared length up front: growing by doubling would hold two
            // copies of a large body (a big room's send_join) at the moment of each copy.
            let mut body = Vec::with_capacity(response.len().unwrap_or(0).min(limit + 1));
            response
                .take_body()
                .take(limit as u64 + 1)
                .read_to_end(&mut body)
                .await
                .map_err(|e| ExchangeError::Io(e.to_string()))?;
            if body.len() > limit {
                return Err(ExchangeError::TooLarge);
            }
            Ok(RawResponse {
                status: u16::from(response.status()),
                body,
                // A body that ends with the connection cannot be followed by another
                // response; async-h1 reads such a body as empty, so the response is also
                // unusable beyond its status.
                reusable: delimited && !close,
            })
        };
        work.or(async {
            smol::Timer::after(timeout).await;
            Err(ExchangeError::Timeout)
        })
        .await
    }
}

impl std::fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExchangeError::Io(e) => write!(f, "connection failed: {e}"),
            ExchangeError::Http(e) => write!(f, "bad HTTP response: {e}"),
            ExchangeError::TooLarge => write!(f, "response body too large"),
            ExchangeError::Timeout => write!(f, "no complete response in time"),
        }
    }
}

/// `name (addr)` for messages.
pub fn describe(destination: &Destination) -> String {
    match &destination.tls_server_name {
        Some(name) => format!("{name} ({})", destination.addr),
        None => destination.addr.to_string(),
    }
}

/// The key of the connection pool: connections are shared by requests that would open
/// the same TCP and TLS connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PoolKey {
    pub addr: SocketAddr,
    pub tls_server_name: Option<String>,
}

impl PoolKey {
    pub fn of(destination: &Destination) -> PoolKey {
        PoolKey {
            addr: destination.addr,
            tls_server_name: destination.tls_server_name.clone(),
        }
    }
}
