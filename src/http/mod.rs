//! HTTP: listeners (TLS via futures-rustls, or plain behind a proxy), async-h1 glue, the
//! router, limits and Matrix error bodies. The only server-side code that names
//! `async_h1` or `http_types`; handlers see `crate::api` types.

mod connection;
mod forwarded;
mod listener;
pub mod router;
mod stream;
mod tls;

pub use listener::{BoundListener, ListenError, bind_all};
pub use tls::{TlsError, load_tls_config};
