//! Server-server endpoints, one file per operation of the spec (or a small group).

pub mod invite;
pub mod key_query;
pub mod make_membership;
pub mod query_directory;
pub mod query_profile;
pub mod room_access;
pub mod room_events;
pub mod send_membership;
pub mod server_keys;
pub mod transaction;
pub mod version;
