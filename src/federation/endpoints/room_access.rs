//! Shared checks of the room endpoints: the authenticated origin, the room, whether the
//! room's server ACL lets the origin in, and whether the origin may see the room (one of
//! its users is or was in the room).

use crate::api::Request;
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::id::{RoomId, ServerName, UserId};
use crate::proto::server_acl::ServerAcl;
use crate::rooms::RoomError;
use crate::store::events::{self, StoredRoom};
use crate::store::{Connection, StoreError, state};

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

/// The room, if this server knows it and its server ACL allows `origin`.
pub fn allowed_room(
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
    Ok(acl_allows(connection, &room, origin)?.map(|()| room))
}

/// The room, if this server knows it, its server ACL allows `origin`, and `origin` has
/// (or had) a member in it.
pub fn visible_room(
    connection: &Connection,
    room_id: &str,
    origin: &ServerName,
) -> Result<Result<StoredRoom, MatrixError>, StoreError> {
    let room = match allowed_room(connection, room_id, origin)? {
        Ok(room) => room,
        Err(e) => return Ok(Err(e)),
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

/// Whether the room's current `m.room.server_acl` lets `origin` in: no ACL event allows
/// everyone. Spec: s2s "Server Access Control Lists (ACLs)": a denied server gets 403
/// `M_FORBIDDEN` from every room endpoint, and its PDUs in `/send` a per-PDU error.
pub fn acl_allows(
    connection: &Connection,
    room: &StoredRoom,
    origin: &ServerName,
) -> Result<Result<(), MatrixError>, StoreError> {
    let Some(event) =
        state::current_state_event(connection, room.room_nid, "m.room.server_acl", "")?
    else {
        return Ok(Ok(()));
    };
    // A redacted ACL keeps no content (spec: redaction algorithm), and so denies everyone,
    // as Synapse reads it.
    let content = serde_json::from_str::<serde_json::Value>(&event.pdu)
        .ok()
        .filter(|_| event.redacted_by.is_none())
        .and_then(|mut pdu| pdu.get_mut("content").map(serde_json::Value::take))
        .unwrap_or_default();
    if ServerAcl::from_content(&content).allows(origin) {
        Ok(Ok(()))
    } else {
        Ok(Err(MatrixError::new(
            403,
            ErrCode::Forbidden,
            format!(
                "the server ACL of {} denies {}",
                room.room_id,
                origin.host()
            ),
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
