//! The client-server API (`/_matrix/client/*`) and client discovery (`/.well-known/matrix/*`).

pub mod versions;
pub mod well_known;
