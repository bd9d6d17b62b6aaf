//! hearth: a Matrix homeserver in one small executable. See ARCHITECTURE.md for the map.
//!
//! The crate is a library plus a thin binary (`src/main.rs`) so that integration tests
//! and benchmarks can reach the protocol core and the store directly.

pub mod proto;
