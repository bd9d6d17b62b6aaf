//! The room directory and other room-level reads the client API needs beyond `events`:
//! published rooms, forgotten memberships, and members as of a timeline position.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use super::events::{StoredEvent, event_by_nid};

/// Rooms published in this server's public room list: (room_nid, room_id).
pub fn published_rooms(connection: &Connection) -> Result<Vec<(i64, String)>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT room_nid, room_id FROM rooms WHERE published = 1 ORDER BY room_nid",
    )?;
    let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Marks the user's current membership event of the room as forgotten; false when they
/// have no membership there.
pub fn forget(connection: &Connection, user_id: &str, room_nid: i64) -> Result<bool, StoreError> {
    Ok(connection
        .prepare_cached(
            "UPDATE memberships SET forgotten_event_nid = event_nid WHERE user_id = ?1 AND room_nid = ?2",
        )?
        .execute(params![user_id, room_nid])?
        > 0)
}

/// Whether the user forgot the room since their last membership change.
pub fn is_forgotten(
    connection: &Connection,
    user_id: &str,
    room_nid: i64,
) -> Result<bool, StoreError> {
    Ok(connection
        .prepare_cached(
            "SELECT forgotten_event_nid = event_nid FROM memberships WHERE user_id = ?1 AND room_nid = ?2",
        )?
        .query_row(params![user_id, room_nid], |row| row.get::<_, Option<bool>>(0))
        .optional()?
        .flatten()
        .unwrap_or(false))
}

/// The membership events of a room as of timeline position `at`: for each user, their
/// last `m.room.member` event at or before it. Last in the timeline, not by row: history
/// fetched later (backfill) has newer rows at older positions. (SQLite takes the bare
/// `event_nid` from the row holding the `MAX`.)
pub fn members_at(
    connection: &Connection,
    room_nid: i64,
    at: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT event_nid, MAX(stream_ordering) FROM events WHERE room_nid = ?1 \
         AND kind = 'm.room.member' AND state_key IS NOT NULL AND stream_ordering <= ?2 \
         AND rejected = 0 AND soft_failed = 0 AND outlier = 0 GROUP BY state_key",
    )?;
    let nids = statement
        .query_map(params![room_nid, at], |row| row.get::<_, i64>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    let mut members = Vec::with_capacity(nids.len());
    for nid in nids {
        if let Some(event) = event_by_nid(connection, nid)? {
            members.push(event);
        }
    }
    Ok(members)
}
