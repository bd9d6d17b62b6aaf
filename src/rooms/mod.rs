//! The room engine: building local events, creating rooms, and (next) the receive pipeline
//! for remote PDUs. Works through the store; never calls federation (STYLE 2.2).

pub mod backfill;
pub mod build;
pub mod create;
mod error;
pub mod ingest;
pub mod join_answer;
pub mod persist;
pub mod receive;
pub mod remote;
pub mod state_at;

pub use build::{LocalEvent, Signer};
pub use error::RoomError;
