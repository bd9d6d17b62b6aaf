//! Shared checks of the room endpoints: the authenticated origin, the room, and whether
//! the origin may see it (one of its users is or was in the room).

use crate::api::Request;
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::id::{RoomId, ServerName, UserId};
use crate::rooms::RoomError;
use crate::store::events::{self, StoredRoom};
use crate::store::{Connection, StoreError};

/// The origin the router authenticated (every room endpoint is a signed route).
pub fn origin(request: &Request) -> Result<ServerName, MatrixError> {
    request.origin.clone().ok_or_else(|| {
        MatrixError::new(
            401,
            ErrCode::Unauthorized,
            "this endpoint needs an X-Matrix signature",
        )
    })
}

pub fn room_id_param(text: &str) -> Result<RoomId, MatrixError> {
    RoomId::parse(text)
        .map_err(|e| MatrixError::new(400, ErrCode::InvalidParam, format!("invalid room ID: {e}")))
}

pub fn user_id_param(text: &str) -> Result<UserId, MatrixError> {
    UserId::parse(text)
        .map_err(|e| MatrixError::new(400, ErrCode::InvalidParam, format!("invalid user ID: {e}")))
}

/// The room, if this server knows it and `origin` has (or had) a member in it.
pub fn visible_room(
    connection: &Connection,
    room_id: &str,
    origin: &ServerName,
) -> Result<Result<StoredRoom, MatrixError>, StoreError> {
    let Some(room) = events::room_by_id(connection, room_id)? else {
        return Ok(Err(MatrixError::new(
            404,
            ErrCode::NotFound,
            "unknown room",
        )));
    };
    if events::server_has_member(connection, room.room_nid, origin.as_str())? {
        Ok(Ok(room))
    } else {
        Ok(Err(MatrixError::new(
            403,
            ErrCode::Forbidden,
            format!("{origin} is not in this room"),
        )))
    }
}

/// A room engine error as the remote server sees it.
pub fn room_error(error: RoomError) -> MatrixError {
    MatrixError::from(&error)
}

/// A store error as the remote server sees it: 500, details in the log only.
pub fn internal(error: &StoreError) -> MatrixError {
    crate::error!("federation endpoint: {error}");
    MatrixError::new(500, ErrCode::Unknown, "internal error")
}
