//! Who may read what of a room: members read everything; users who left read up to the
//! event that ended their membership (spec: c2s "History visibility"), unless they forgot
//! the room. Within that, `client::history_visibility` decides per event.

use super::history_visibility::{MembershipEnd, Viewer, membership_end};
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::id::{RoomId, UserId};
use crate::proto::room_version::RoomRules;
use crate::store::events::{self, StoredEvent, StoredRoom};
use crate::store::{Connection, StoreError, room_directory, state};

/// A room the requester may read, up to `visible_until` (a stream position; `None` = all).
pub struct ReadableRoom {
    pub room: StoredRoom,
    pub rules: RoomRules,
    pub visible_until: Option<i64>,
    /// Where the requester's membership ended (the default while they are joined).
    pub end: MembershipEnd,
}

impl ReadableRoom {
    /// The room's state as the requester may see it: the current state while they are
    /// joined; after they left, the state after the event that ended their membership
    /// (spec: c2s `GET /rooms/{roomId}/state`: "the state of the room when they left").
    pub fn state(&self, connection: &Connection) -> Result<Vec<StoredEvent>, StoreError> {
        let Some(event_nid) = self.end.event_nid else {
            return state::current_state_events(connection, self.room.room_nid);
        };
        match events::event_by_nid(connection, event_nid)?.and_then(|e| e.state_group_after) {
            Some(group) => state::state_group_events(connection, group),
            None => Ok(Vec::new()),
        }
    }

    /// Decides per event what `user_id` (the requester) sees of this room's history.
    pub fn viewer<'a>(&self, user_id: &'a str) -> Viewer<'a> {
        Viewer::new(user_id, self.end)
    }
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
    let end = match membership
        .as_ref()
        .map(|m| (m.membership.as_str(), m.event_nid))
    {
        Some(("join", _)) => MembershipEnd::default(),
        // Spec: c2s "Leaving rooms": a forgotten room's history is no longer served.
        Some(("leave" | "ban", _))
            if room_directory::is_forgotten(connection, user_id.as_str(), room.room_nid)? =>
        {
            return Ok(Err(forbidden()));
        }
        Some(("leave" | "ban", event_nid)) => {
            match membership_end(connection, user_id.as_str(), event_nid)? {
                Some(end) => end,
                None => return Ok(Err(forbidden())),
            }
        }
        _ => return Ok(Err(forbidden())),
    };
    Ok(Ok(ReadableRoom {
        room,
        rules,
        visible_until: end.until,
        end,
    }))
}
