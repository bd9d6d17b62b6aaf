//! Who may read what of a room: members read everything; users who left read up to the
//! event that made them leave (spec: c2s "History visibility", as `shared` rooms behave),
//! unless they forgot the room.

use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::id::{RoomId, UserId};
use crate::proto::room_version::RoomRules;
use crate::store::events::{self, StoredRoom};
use crate::store::{Connection, StoreError, room_directory};

/// A room the requester may read, up to `visible_until` (a stream position; `None` = all).
pub struct ReadableRoom {
    pub room: StoredRoom,
    pub rules: RoomRules,
    pub visible_until: Option<i64>,
}

/// Parses a room ID from a path parameter: 400 `M_INVALID_PARAM` when malformed.
pub fn parse_room_id(text: &str) -> Result<RoomId, MatrixError> {
    RoomId::parse(text).map_err(|e| {
        MatrixError::new(
            400,
            ErrCode::InvalidParam,
            format!("invalid room ID {text:?}: {e}"),
        )
    })
}

/// What `user_id` may read of `room_id`; 403 when they never were a member.
pub fn readable_room(
    connection: &Connection,
    user_id: &UserId,
    room_id: &str,
) -> Result<Result<ReadableRoom, MatrixError>, StoreError> {
    let forbidden = || MatrixError::new(403, ErrCode::Forbidden, "you are not in this room");
    let Some(room) = events::room_by_id(connection, room_id)? else {
        return Ok(Err(forbidden()));
    };
    let Some(rules) = RoomRules::for_version(&room.room_version) else {
        return Ok(Err(forbidden()));
    };
    let membership = events::memberships_of_user(connection, user_id.as_str())?
        .into_iter()
        .find(|m| m.room_nid == room.room_nid);
    let visible_until = match membership.as_ref().map(|m| m.membership.as_str()) {
        Some("join") => None,
        // Spec: c2s "Leaving rooms": a forgotten room's history is no longer served.
        Some("leave" | "ban")
            if room_directory::is_forgotten(connection, user_id.as_str(), room.room_nid)? =>
        {
            return Ok(Err(forbidden()));
        }
        Some("leave" | "ban") => membership.map(|m| m.stream_ordering),
        _ => return Ok(Err(forbidden())),
    };
    Ok(Ok(ReadableRoom {
        room,
        rules,
        visible_until,
    }))
}
