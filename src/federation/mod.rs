//! Federation: the `/_matrix/federation/*` and `/_matrix/key/*` endpoints (and, in later
//! work, the resolver, the outbound client and the transaction sender).

pub mod dns;
pub mod endpoints;
pub mod resolve;
