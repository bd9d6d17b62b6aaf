//! hearth: a Matrix homeserver in one small executable. See ARCHITECTURE.md for the map.
//!
//! The crate is a library plus a thin binary (`src/main.rs`) so that integration tests
//! and benchmarks can reach the protocol core and the store directly. Modules are listed
//! in layer order: a module uses only those above it.

#[macro_use]
pub mod log;
pub mod api;
pub mod client;
pub mod cmd;
pub mod config;
pub mod federation;
pub mod http;
pub mod proto;
pub mod rooms;
pub mod server;
pub mod store;
