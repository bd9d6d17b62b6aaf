//! Server-server endpoints, one file per operation of the spec.

pub mod key_query;
pub mod query_profile;
pub mod server_keys;
pub mod version;
