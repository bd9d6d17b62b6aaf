//! Federation: the `/_matrix/federation/*` and `/_matrix/key/*` endpoints (and, in later
//! work, the resolver, the outbound client and the transaction sender).

pub mod auth;
pub mod backfill;
pub mod check;
pub mod client;
pub mod dns;
pub mod edus;
pub mod endpoints;
mod error;
pub mod event_keys;
pub mod in_flight;
pub mod invite;
pub mod join;
pub mod keys;
pub mod leave;
pub mod resolve;
pub mod sender;
mod service;
pub mod template;

pub use error::FedError;
pub use service::Federation;
