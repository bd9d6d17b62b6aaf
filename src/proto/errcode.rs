//! Matrix error bodies as plain data: the HTTP status, the `errcode` and the `error` text.
//!
//! Each layer maps its own error enum into a [`MatrixError`] with one exhaustive match;
//! the HTTP layer only serialises it.

use serde_json::json;

/// The error codes of the client-server and server-server specifications that hearth sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrCode {
    Forbidden,
    UnknownToken,
    MissingToken,
    BadJson,
    NotJson,
    NotFound,
    LimitExceeded,
    Unknown,
    Unrecognized,
    Unauthorized,
    UserInUse,
    InvalidUsername,
    InvalidParam,
    MissingParam,
    TooLarge,
    RoomInUse,
    UnsupportedRoomVersion,
    IncompatibleRoomVersion,
    BadState,
    GuestAccessForbidden,
}

impl ErrCode {
    /// The wire name, e.g. `M_FORBIDDEN`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrCode::Forbidden => "M_FORBIDDEN",
            ErrCode::UnknownToken => "M_UNKNOWN_TOKEN",
            ErrCode::MissingToken => "M_MISSING_TOKEN",
            ErrCode::BadJson => "M_BAD_JSON",
            ErrCode::NotJson => "M_NOT_JSON",
            ErrCode::NotFound => "M_NOT_FOUND",
            ErrCode::LimitExceeded => "M_LIMIT_EXCEEDED",
            ErrCode::Unknown => "M_UNKNOWN",
            ErrCode::Unrecognized => "M_UNRECOGNIZED",
            ErrCode::Unauthorized => "M_UNAUTHORIZED",
            ErrCode::UserInUse => "M_USER_IN_USE",
            ErrCode::InvalidUsername => "M_INVALID_USERNAME",
            ErrCode::InvalidParam => "M_INVALID_PARAM",
            ErrCode::MissingParam => "M_MISSING_PARAM",
            ErrCode::TooLarge => "M_TOO_LARGE",
            ErrCode::RoomInUse => "M_ROOM_IN_USE",
            ErrCode::UnsupportedRoomVersion => "M_UNSUPPORTED_ROOM_VERSION",
            ErrCode::IncompatibleRoomVersion => "M_INCOMPATIBLE_ROOM_VERSION",
            ErrCode::BadState => "M_BAD_STATE",
            ErrCode::GuestAccessForbidden => "M_GUEST_ACCESS_FORBIDDEN",
        }
    }
}

/// A Matrix error as a client or a remote server sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixError {
    pub status: u16,
    pub errcode: ErrCode,
    pub error: String,
}

impl MatrixError {
    pub fn new(status: u16, errcode: ErrCode, error: impl Into<String>) -> Self {
        MatrixError {
            status,
            errcode,
            error: error.into(),
        }
    }

    /// The JSON body: `{"errcode": ..., "error": ...}`.
    pub fn body(&self) -> serde_json::Value {
        json!({ "errcode": self.errcode.as_str(), "error": self.error })
    }
}

impl std::fmt::Display for MatrixError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status,
            self.errcode.as_str(),
            self.error
        )
    }
}
