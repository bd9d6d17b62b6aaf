//! Server-server endpoints, one file per operation of the spec.

pub mod server_keys;
pub mod version;
