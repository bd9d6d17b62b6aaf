//! Listening sockets: bind every `[[listen]]` entry, accept connections, do the TLS
//! handshake, and hand each connection to its own task.

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_lite::FutureExt;
use futures_rustls::TlsAcceptor;
use smol::Executor;
use smol::net::{TcpListener, TcpStream};

use super::connection;
use super::tls::{self, TlsError};
use crate::config::Config;
use crate::server::Server;

/// At most this many connections at once; more are closed at accept.
const MAX_CONNECTIONS: usize = 4096;
/// A client gets this long to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

/// A bound listener, ready to accept.
pub struct BoundListener {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    addr: SocketAddr,
    x_forwarded: bool,
}

/// Why a listener could not start; names the config key.
#[derive(Debug)]
pub enum ListenError {
    Bind {
        key: String,
        addr: SocketAddr,
        error: std::io::Error,
    },
    Tls {
        key: String,
        error: TlsError,
    },
}

impl std::fmt::Display for ListenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenError::Bind { key, addr, error } => {
                write!(f, "key `{key}`: cannot listen on {addr}: {error}")
            }
            ListenError::Tls { key, error } => write!(f, "key `{key}`: {error}"),
        }
    }
}

impl std::error::Error for ListenError {}

/// Loads certificates and binds every listener of `config`; nothing is served yet.
pub fn bind_all(config: &Config) -> Result<Vec<BoundListener>, ListenError> {
    let mut bound = Vec::new();
    for (index, listen) in config.listeners.iter().enumerate() {
        let tls = match &listen.tls {
            Some(files) => {
                let tls_config = tls::load_tls_config(files).map_err(|error| {
                    let field = match error {
                        TlsError::Certificate(..) => "tls_cert",
                        TlsError::Key(..) | TlsError::KeyPermissions(..) => "tls_key",
                    };
                    ListenError::Tls {
                        key: format!("listen[{index}].{field}"),
                        error,
                    }
                })?;
                Some(TlsAcceptor::from(tls_config))
            }
            None => None,
        };
        let bind_error = |error| ListenError::Bind {
            key: format!("listen[{index}].addr"),
            addr: listen.addr,
            error,
        };
        let std_listener = std::net::TcpListener::bind(listen.addr).map_err(bind_error)?;
        let addr = std_listener.local_addr().map_err(bind_error)?;
        let listener = TcpListener::try_from(std_listener).map_err(bind_error)?;
        bound.push(BoundListener {
            listener,
            tls,
            addr,
            x_forwarded: listen.x_forwarded,
        });
    }
    Ok(bound)
}

impl BoundListener {
    /// The address actually bound (port 0 in the config becomes a real port).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Whether the client address comes from `X-Forwarded-For` (`x_forwarded = true`).
    pub fn is_x_forwarded(&self) -> bool {
        self.x_forwarded
    }

    /// Accepts connections forever, each in its own task on `executor`.
    pub async fn run(self, server: Arc<Server>, executor: Arc<Executor<'static>>) {
        let open = Arc::new(AtomicUsize::new(0));
        loop {
            let (stream, peer) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Typically EMFILE: back off instead of spinning.
                    crate::warn!("accept on {}: {e}", self.addr);
                    smol::Timer::after(Duration::from_millis(100)).await;
                    continue;
                }
            };
            if open.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
                crate::warn!("{peer}: refused, {MAX_CONNECTIONS} connections already open");
                continue;
            }
            // Without TCP_NODELAY every response waits ~40 ms for Nagle (STACK-NOTES gotcha 2).
            let _ = stream.set_nodelay(true);
            let guard = OpenConnection::new(open.clone());
            let server = server.clone();
            let tls = self.tls.clone();
            let x_forwarded = self.x_forwarded;
            let task = async move {
                let _guard = guard;
                serve_stream(server, stream, peer, tls, x_forwarded).await;
            };
            executor
                .spawn(async move {
                    if AssertUnwindSafe(task).catch_unwind().await.is_err() {
                        crate::error!("{peer}: connection task panicked; the server goes on");
                    }
                })
                .detach();
        }
    }
}

async fn serve_stream(
    server: Arc<Server>,
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    x_forwarded: bool,
) {
    let Some(acceptor) = tls else {
        connection::serve(server, stream, peer, x_forwarded).await;
        return;
    };
    let handshake = async { Some(acceptor.accept(stream).await) };
    let timeout = async {
        smol::Timer::after(HANDSHAKE_TIMEOUT).await;
        None
    };
    match handshake.or(timeout).await {
        Some(Ok(tls_stream)) => {
            // async-h1 needs a Clone stream; a TLS stream is not (STACK-NOTES gotcha 1).
            let shared = async_dup::Arc::new(async_dup::Mutex::new(tls_stream));
            connection::serve(server, shared, peer, x_forwarded).await;
        }
        Some(Err(e)) => crate::debug!("{peer}: TLS handshake failed: {e}"),
        None => crate::debug!("{peer}: TLS handshake timed out"),
    }
}

/// Counts an open connection for as long as it lives.
struct OpenConnection(Arc<AtomicUsize>);

impl OpenConnection {
    fn new(counter: Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        OpenConnection(counter)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
