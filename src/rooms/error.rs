//! The room engine's errors, and their one exhaustive mapping to Matrix errors.

use crate::proto::auth::AuthError;
use crate::proto::canonical_json::JsonError;
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::store::StoreError;

#[derive(Debug)]
pub enum RoomError {
    /// No such room on this server.
    UnknownRoom,
    /// The room's version is not one hearth supports.
    UnsupportedRoomVersion(String),
    /// The event is not allowed by the room's authorization rules.
    Forbidden(AuthError),
    /// The content has no canonical JSON form (floats, huge integers).
    NotCanonical(JsonError),
    /// The event is over the spec's size limits.
    TooLarge(String),
    /// A request that makes no sense for this room (bad state key, missing field...).
    Invalid(String),
    /// The event to act on (redact, reply) does not exist.
    UnknownEvent,
    Store(StoreError),
}

impl From<StoreError> for RoomError {
    fn from(e: StoreError) -> Self {
        RoomError::Store(e)
    }
}

impl std::fmt::Display for RoomError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RoomError::UnknownRoom => write!(f, "unknown room"),
            RoomError::UnsupportedRoomVersion(v) => write!(f, "room version {v} is not supported"),
            RoomError::Forbidden(e) => write!(f, "{e}"),
            RoomError::NotCanonical(e) => write!(f, "{e}"),
            RoomError::TooLarge(why) => write!(f, "{why}"),
            RoomError::Invalid(why) => write!(f, "{why}"),
            RoomError::UnknownEvent => write!(f, "unknown event"),
            RoomError::Store(e) => write!(f, "{e}"),
        }
    }
}

impl From<&RoomError> for MatrixError {
    fn from(error: &RoomError) -> MatrixError {
        match error {
            RoomError::UnknownRoom => MatrixError::new(404, ErrCode::NotFound, "unknown room"),
            RoomError::UnsupportedRoomVersion(version) => MatrixError::new(
                400,
                ErrCode::UnsupportedRoomVersion,
                format!("room version {version} is not supported by this server"),
            ),
            RoomError::Forbidden(auth) => MatrixError::from(auth),
            RoomError::NotCanonical(e) => MatrixError::new(400, ErrCode::BadJson, e.to_string()),
            RoomError::TooLarge(why) => MatrixError::new(413, ErrCode::TooLarge, why.clone()),
            RoomError::Invalid(why) => MatrixError::new(400, ErrCode::InvalidParam, why.clone()),
            RoomError::UnknownEvent => MatrixError::new(404, ErrCode::NotFound, "unknown event"),
            RoomError::Store(e) => {
                crate::error!("room engine: {e}");
                MatrixError::new(500, ErrCode::Unknown, "internal error")
            }
        }
    }
}
