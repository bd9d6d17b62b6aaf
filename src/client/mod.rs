//! The client-server API (`/_matrix/client/*`) and client discovery (`/.well-known/matrix/*`).
//! One file per operation or small group of operations.

pub mod account;
pub mod account_data;
pub mod auth;
pub mod capabilities;
pub mod create_room;
pub mod devices;
pub mod filter;
pub mod format;
pub mod joined_rooms;
pub mod login;
pub mod membership;
pub mod messages;
pub mod password;
pub mod presence;
pub mod profile;
pub mod rate_limit;
pub mod register;
pub mod room_read;
pub mod room_write;
pub mod send;
pub mod stubs;
pub mod sync;
pub mod uia;
pub mod versions;
pub mod well_known;
