//! The protocol core: pure functions over data, no I/O, no clock, no randomness.
//!
//! Everything here takes data and returns data (see DESIGN.md, "Sans-I/O core"), so that
//! the rules of the Matrix specification can be tested exhaustively without a server.

pub mod auth;
pub mod canonical_json;
pub mod errcode;
pub mod event_format;
pub mod hashes;
pub mod id;
pub mod local_event;
pub mod pdu;
pub mod push;
pub mod rate_limit;
pub mod redaction;
#[cfg(test)]
mod robustness_tests;
pub mod room_version;
pub mod server_acl;
pub mod server_keys;
pub mod signing;
pub mod state_res;
pub mod typing;
pub mod x_matrix;
