//! The client-server API (`/_matrix/client/*`) and client discovery (`/.well-known/matrix/*`).
//! One file per operation or small group of operations.

pub mod auth;
pub mod create_room;
pub mod format;
pub mod login;
pub mod membership;
pub mod messages;
pub mod password;
pub mod register;
pub mod room_read;
pub mod room_write;
pub mod send;
pub mod sync;
pub mod versions;
pub mod well_known;
