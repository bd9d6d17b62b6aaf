//! `FedError`, the federation layer's error, and its one mapping to a Matrix error
//! (STYLE 4.1): details go to the log, the peer or client gets a fixed message.

use crate::federation::resolve::ResolveError;
use crate::proto::canonical_json::JsonError;
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::id::ServerName;
use crate::proto::x_matrix::XMatrixError;
use crate::store::StoreError;

/// What went wrong talking to, or about, another server.
#[derive(Debug)]
pub enum FedError {
    /// The server name led to no address.
    Resolve(ServerName, ResolveError),
    /// The destination failed lately and is in backoff for this many more seconds.
    BackingOff(ServerName, u64),
    /// No address of the destination accepted a TCP and TLS connection.
    Unreachable(ServerName, String),
    /// The connection broke, the answer was not HTTP, too large or too late.
    Exchange(ServerName, String),
    /// The destination answered with a body that is not JSON.
    NotJson(ServerName, u16),
    /// The request body has no canonical JSON form, so it cannot be signed.
    Unsignable(JsonError),
    /// The server's key document is missing, malformed or not signed by it.
    BadKeys(ServerName, String),
    /// The server has no key with that ID valid at the time asked about.
    KeyNotFound(ServerName, String),
    /// An inbound request's `X-Matrix` authentication failed.
    Unauthorized(XMatrixError),
    Store(StoreError),
}

impl std::fmt::Display for FedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FedError::Resolve(name, e) => write!(f, "{name}: {e}"),
            FedError::BackingOff(name, secs) => {
                write!(f, "{name}: not retrying for {secs}s after failures")
            }
            FedError::Unreachable(name, e) => write!(f, "{name}: unreachable: {e}"),
            FedError::Exchange(name, e) => write!(f, "{name}: {e}"),
            FedError::NotJson(name, status) => {
                write!(f, "{name}: answered {status} with a body that is not JSON")
            }
            FedError::Unsignable(e) => write!(f, "request body cannot be signed: {e}"),
            FedError::BadKeys(name, e) => write!(f, "{name}: bad key document: {e}"),
            FedError::KeyNotFound(name, key_id) => {
                write!(f, "{name}: no valid key {key_id}")
            }
            FedError::Unauthorized(e) => write!(f, "{e}"),
            FedError::Store(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for FedError {}

impl From<StoreError> for FedError {
    fn from(e: StoreError) -> Self {
        FedError::Store(e)
    }
}

impl From<&FedError> for MatrixError {
    fn from(error: &FedError) -> MatrixError {
        match error {
            // Spec: s2s "Request Authentication": a request that fails authentication is
            // answered 401; say why, the sender's admin needs it.
            FedError::Unauthorized(e) => {
                MatrixError::new(401, ErrCode::Unauthorized, e.to_string())
            }
            FedError::KeyNotFound(name, key_id) => MatrixError::new(
                401,
                ErrCode::Unauthorized,
                format!("no valid key {key_id} could be fetched for {name}"),
            ),
            FedError::BadKeys(name, _) => MatrixError::new(
                401,
                ErrCode::Unauthorized,
                format!("the key document of {name} could not be verified"),
            ),
            FedError::Resolve(name, _)
            | FedError::BackingOff(name, _)
            | FedError::Unreachable(name, _)
            | FedError::Exchange(name, _)
            | FedError::NotJson(name, _) => MatrixError::new(
                502,
                ErrCode::Unknown,
                format!("could not get an answer from {name}"),
            ),
            FedError::Unsignable(_) | FedError::Store(_) => {
                crate::error!("federation: {error}");
                MatrixError::new(500, ErrCode::Unknown, "internal error")
            }
        }
    }
}
