//! Federation: the `/_matrix/federation/*` and `/_matrix/key/*` endpoints (and, in later
//! work, the resolver, the outbound client and the transaction sender).

pub mod client;
pub mod dns;
pub mod endpoints;
mod error;
pub mod resolve;

pub use error::FedError;
