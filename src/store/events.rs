//! Rooms and events: numeric ids, the event table, forward extremities, memberships.
//!
//! Every function takes the connection or transaction it runs on; the caller (the room
//! engine) decides what belongs in one transaction.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use crate::proto::pdu::Pdu;

/// An event as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub event_nid: i64,
    pub event_id: String,
    pub room_nid: i64,
    pub kind: String,
    pub state_key: Option<String>,
    pub sender: String,
    pub origin_server_ts: i64,
    pub depth: i64,
    pub stream_ordering: Option<i64>,
    /// The PDU's JSON text, as built or received.
    pub pdu: String,
    pub rejected: bool,
    pub soft_failed: bool,
    pub outlier: bool,
    pub state_group_before: Option<i64>,
    pub redacted_by: Option<String>,
    /// The state after this event (= before, for message events); `None` for outliers.
    pub state_group_after: Option<i64>,
}

pub(super) const EVENT_COLUMNS: &str = "event_nid, event_id, room_nid, kind, state_key, sender, origin_server_ts, depth, \
     stream_ordering, pdu, rejected, soft_failed, outlier, state_group_before, redacted_by, state_group_after";

pub(super) fn event_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEvent> {
    Ok(StoredEvent {
        event_nid: row.get(0)?,
        event_id: row.get(1)?,
        room_nid: row.get(2)?,
        kind: row.get(3)?,
        state_key: row.get(4)?,
        sender: row.get(5)?,
        origin_server_ts: row.get(6)?,
        depth: row.get(7)?,
        stream_ordering: row.get(8)?,
        pdu: row.get(9)?,
        rejected: row.get(10)?,
        soft_failed: row.get(11)?,
        outlier: row.get(12)?,
        state_group_before: row.get(13)?,
        redacted_by: row.get(14)?,
        state_group_after: row.get(15)?,
    })
}

/// A room as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRoom {
    pub room_nid: i64,
    pub room_id: String,
    pub room_version: String,
    pub current_state_group: Option<i64>,
    pub published: bool,
}

pub fn room_by_id(
    connection: &Connection,
    room_id: &str,
) -> Result<Option<StoredRoom>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT room_nid, room_id, room_version, current_state_group, published FROM rooms WHERE room_id = ?1",
    )?;
    Ok(statement
        .query_row([room_id], |row| {
            Ok(StoredRoom {
                room_nid: row.get(0)?,
                room_id: row.get(1)?,
                room_version: row.get(2)?,
                current_state_group: row.get(3)?,
                published: row.get(4)?,
            })
        })
        .optional()?)
}

pub fn room_id_of(connection: &Connection, room_nid: i64) -> Result<Option<String>, StoreError> {
    let mut statement =
        connection.prepare_cached("SELECT room_id FROM rooms WHERE room_nid = ?1")?;
    Ok(statement
        .query_row([room_nid], |row| row.get(0))
        .optional()?)
}

/// Creates the room row; `AlreadyExists` when the room ID is taken.
pub fn insert_room(
    connection: &Connection,
    room_id: &str,
    room_version: &str,
) -> Result<i64, StoreError> {
    connection.execute(
        "INSERT INTO rooms (room_id, room_version) VALUES (?1, ?2)",
        params![room_id, room_version],
    )?;
    Ok(connection.last_insert_rowid())
}

pub fn set_current_state_group(
    connection: &Connection,
    room_nid: i64,
    group_nid: i64,
) -> Result<(), StoreError> {
    connection
        .prepare_cached("UPDATE rooms SET current_state_group = ?2 WHERE room_nid = ?1")?
        .execute(params![room_nid, group_nid])?;
    Ok(())
}

pub fn set_published(
    connection: &Connection,
    room_nid: i64,
    published: bool,
) -> Result<(), StoreError> {
    connection.execute(
        "UPDATE rooms SET published = ?2 WHERE room_nid = ?1",
        params![room_nid, published],
    )?;
    Ok(())
}

/// The next position in the timeline stream (one writer: no race).
pub fn next_stream_ordering(connection: &Connection) -> Result<i64, StoreError> {
    let mut statement =
        connection.prepare_cached("SELECT COALESCE(MAX(stream_ordering), 0) + 1 FROM events")?;
    Ok(statement.query_row([], |row| row.get(0))?)
}

/// The last position in the timeline stream.
pub fn max_stream_ordering(connection: &Connection) -> Result<i64, StoreError> {
    let mut statement =
        connection.prepare_cached("SELECT COALESCE(MAX(stream_ordering), 0) FROM events")?;
    Ok(statement.query_row([], |row| row.get(0))?)
}

/// What is needed to insert an event.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub event_id: &'a str,
    pub room_nid: i64,
    pub kind: &'a str,
    pub state_key: Option<&'a str>,
    pub sender: &'a str,
    pub origin_server_ts: i64,
    pub depth: i64,
    pub stream_ordering: Option<i64>,
    pub pdu: &'a str,
    pub rejected: bool,
    pub soft_failed: bool,
    pub outlier: bool,
    pub state_group_before: Option<i64>,
    pub state_group_after: Option<i64>,
}

impl<'a> NewEvent<'a> {
    /// The row of `pdu` (stored as `text`) in `room_nid`, with no stream position or state
    /// groups yet, accepted and not an outlier: callers override what differs.
    pub fn from_pdu(pdu: &'a Pdu, room_nid: i64, text: &'a str) -> NewEvent<'a> {
        NewEvent {
            event_id: pdu.event_id(),
            room_nid,
            kind: pdu.kind(),
            state_key: pdu.state_key(),
            sender: pdu.sender(),
            origin_server_ts: pdu.origin_server_ts(),
            depth: pdu.depth(),
            stream_ordering: None,
            pdu: text,
            rejected: false,
            soft_failed: false,
            outlier: false,
            state_group_before: None,
            state_group_after: None,
        }
    }
}

/// Inserts an event; an event stored only as an outlier is instead promoted in place (same
/// `event_nid`) when it comes back as a timeline event (`outlier: false`). Any other event
/// ID that is taken already is `AlreadyExists`.
pub fn insert_event(connection: &Connection, event: &NewEvent<'_>) -> Result<i64, StoreError> {
    connection
        .prepare_cached(
            "INSERT INTO events (event_id, room_nid, kind, state_key, sender, origin_server_ts, depth, \
             stream_ordering, pdu, rejected, soft_failed, outlier, state_group_before, state_group_after) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
             ON CONFLICT (event_id) DO UPDATE SET stream_ordering = excluded.stream_ordering, \
             pdu = excluded.pdu, rejected = excluded.rejected, soft_failed = excluded.soft_failed, \
             outlier = 0, state_group_before = excluded.state_group_before, \
             state_group_after = excluded.state_group_after \
             WHERE events.outlier = 1 AND events.rejected = 0 AND excluded.outlier = 0 \
             RETURNING event_nid",
        )?
        .query_row(params![
            event.event_id,
            event.room_nid,
            event.kind,
            event.state_key,
            event.sender,
            event.origin_server_ts,
            event.depth,
            event.stream_ordering,
            event.pdu,
            event.rejected,
            event.soft_failed,
            event.outlier,
            event.state_group_before,
            event.state_group_after,
        ], |row| row.get(0))
        .optional()?
        .ok_or(StoreError::AlreadyExists)
}

/// Inserts events none of which is stored yet (a joined room's state: 10,000 at once),
/// many per statement; returns each one's `event_nid` by event ID.
pub fn insert_new_events(
    connection: &Connection,
    events: &[NewEvent<'_>],
) -> Result<HashMap<String, i64>, StoreError> {
    const PER_STATEMENT: usize = 50;
    let mut nids = HashMap::with_capacity(events.len());
    for chunk in events.chunks(PER_STATEMENT) {
        let values = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
        let mut statement = connection.prepare_cached(&format!(
            "INSERT INTO events (event_id, room_nid, kind, state_key, sender, origin_server_ts, \
             depth, stream_ordering, pdu, rejected, soft_failed, outlier, state_group_before, \
             state_group_after) VALUES {values} RETURNING event_id, event_nid"
        ))?;
        let params: Vec<&dyn rusqlite::ToSql> = chunk
            .iter()
            .flat_map(|event| -> [&dyn rusqlite::ToSql; 14] {
                [
                    &event.event_id,
                    &event.room_nid,
                    &event.kind,
                    &event.state_key,
                    &event.sender,
                    &event.origin_server_ts,
                    &event.depth,
                    &event.stream_ordering,
                    &event.pdu,
                    &event.rejected,
                    &event.soft_failed,
                    &event.outlier,
                    &event.state_group_before,
                    &event.state_group_after,
                ]
            })
            .collect();
        let rows = statement.query_map(params.as_slice(), |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })?;
        for row in rows {
            let (event_id, event_nid) = row?;
            nids.insert(event_id, event_nid);
        }
    }
    Ok(nids)
}

pub fn event_by_id(
    connection: &Connection,
    event_id: &str,
) -> Result<Option<StoredEvent>, StoreError> {
    let mut statement = connection.prepare_cached(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE event_id = ?1"
    ))?;
    Ok(statement.query_row([event_id], event_from_row).optional()?)
}

pub fn event_by_nid(
    connection: &Connection,
    event_nid: i64,
) -> Result<Option<StoredEvent>, StoreError> {
    let mut statement = connection.prepare_cached(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE event_nid = ?1"
    ))?;
    Ok(statement
        .query_row([event_nid], event_from_row)
        .optional()?)
}

/// Timeline events of a room with `from < stream_ordering <= to`, newest first when
/// `backwards`, at most `limit`. Rejected and soft-failed events are not in the timeline.
pub fn timeline(
    connection: &Connection,
    room_nid: i64,
    after: i64,
    up_to: i64,
    limit: i64,
    backwards: bool,
) -> Result<Vec<StoredEvent>, StoreError> {
    let order = if backwards { "DESC" } else { "ASC" };
    let mut statement = connection.prepare_cached(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE room_nid = ?1 AND stream_ordering > ?2 \
         AND stream_ordering <= ?3 AND rejected = 0 AND soft_failed = 0 \
         ORDER BY stream_ordering {order} LIMIT ?4"
    ))?;
    let rows = statement.query_map(params![room_nid, after, up_to, limit], event_from_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub fn forward_extremities(
    connection: &Connection,
    room_nid: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut statement = connection.prepare_cached(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE event_nid IN \
         (SELECT event_nid FROM forward_extremities WHERE room_nid = ?1) ORDER BY depth DESC, event_nid DESC"
    ))?;
    let rows = statement.query_map([room_nid], event_from_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// A forward extremity as a new event names it: no need to read its PDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extremity {
    pub event_nid: i64,
    pub event_id: String,
    pub depth: i64,
}

/// The room's forward extremities, deepest first (as [`forward_extremities`] orders them).
pub fn forward_extremity_refs(
    connection: &Connection,
    room_nid: i64,
) -> Result<Vec<Extremity>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT e.event_nid, e.event_id, e.depth FROM forward_extremities f \
         JOIN events e ON e.event_nid = f.event_nid WHERE f.room_nid = ?1 \
         ORDER BY e.depth DESC, e.event_nid DESC",
    )?;
    let rows = statement.query_map([room_nid], |row| {
        Ok(Extremity {
            event_nid: row.get(0)?,
            event_id: row.get(1)?,
            depth: row.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Replaces the events `referenced` by a new event with that event as an extremity.
pub fn advance_forward_extremities(
    connection: &Connection,
    room_nid: i64,
    referenced: &[i64],
    new_event_nid: i64,
) -> Result<(), StoreError> {
    let mut delete = connection
        .prepare_cached("DELETE FROM forward_extremities WHERE room_nid = ?1 AND event_nid = ?2")?;
    for event_nid in referenced {
        delete.execute(params![room_nid, event_nid])?;
    }
    connection
        .prepare_cached(
            "INSERT OR IGNORE INTO forward_extremities (room_nid, event_nid) VALUES (?1, ?2)",
        )?
        .execute(params![room_nid, new_event_nid])?;
    Ok(())
}

/// Records the state group after an event, once it is known.
pub fn set_state_group_after(
    connection: &Connection,
    event_nid: i64,
    group_nid: i64,
) -> Result<(), StoreError> {
    connection
        .prepare_cached("UPDATE events SET state_group_after = ?2 WHERE event_nid = ?1")?
        .execute(params![event_nid, group_nid])?;
    Ok(())
}

pub fn set_redacted_by(
    connection: &Connection,
    event_id: &str,
    redaction_id: &str,
) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "UPDATE events SET redacted_by = ?2 WHERE event_id = ?1 AND redacted_by IS NULL",
        )?
        .execute(params![event_id, redaction_id])?;
    Ok(())
}

/// A user's membership of a room, as of the current state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub room_nid: i64,
    pub room_id: String,
    pub membership: String,
    pub event_nid: i64,
    pub stream_ordering: i64,
}

pub fn set_membership(
    connection: &Connection,
    user_id: &str,
    room_nid: i64,
    membership: &str,
    event_nid: i64,
    stream_ordering: i64,
) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "INSERT INTO memberships (user_id, room_nid, membership, event_nid, stream_ordering) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (user_id, room_nid) DO UPDATE SET \
             membership = excluded.membership, event_nid = excluded.event_nid, \
             stream_ordering = excluded.stream_ordering",
        )?
        .execute(params![
            user_id,
            room_nid,
            membership,
            event_nid,
            stream_ordering
        ])?;
    Ok(())
}

/// Every room the user has a membership in (any membership), with the room ID.
pub fn memberships_of_user(
    connection: &Connection,
    user_id: &str,
) -> Result<Vec<Membership>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT m.room_nid, r.room_id, m.membership, m.event_nid, m.stream_ordering \
         FROM memberships m JOIN rooms r ON r.room_nid = m.room_nid WHERE m.user_id = ?1",
    )?;
    let rows = statement.query_map([user_id], |row| {
        Ok(Membership {
            room_nid: row.get(0)?,
            room_id: row.get(1)?,
            membership: row.get(2)?,
            event_nid: row.get(3)?,
            stream_ordering: row.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub fn membership_of(
    connection: &Connection,
    user_id: &str,
    room_nid: i64,
) -> Result<Option<String>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT membership FROM memberships WHERE user_id = ?1 AND room_nid = ?2",
    )?;
    Ok(statement
        .query_row(params![user_id, room_nid], |row| row.get(0))
        .optional()?)
}

/// Users with `membership` in the room.
pub fn members_with(
    connection: &Connection,
    room_nid: i64,
    membership: &str,
) -> Result<Vec<String>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT user_id FROM memberships WHERE room_nid = ?1 AND membership = ?2",
    )?;
    let rows = statement.query_map(params![room_nid, membership], |row| row.get(0))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// How many users have `membership` in the room.
pub fn member_count(
    connection: &Connection,
    room_nid: i64,
    membership: &str,
) -> Result<i64, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT COUNT(*) FROM memberships WHERE room_nid = ?1 AND membership = ?2",
    )?;
    Ok(statement.query_row(params![room_nid, membership], |row| row.get(0))?)
}

/// Up to `limit` users with `membership` in the room, in user ID order.
pub fn some_members_with(
    connection: &Connection,
    room_nid: i64,
    membership: &str,
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT user_id FROM memberships WHERE room_nid = ?1 AND membership = ?2 \
         ORDER BY user_id LIMIT ?3",
    )?;
    let rows = statement.query_map(params![room_nid, membership, limit], |row| row.get(0))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Whether any user of `server_name` has (or had) a membership in the room.
pub fn server_has_member(
    connection: &Connection,
    room_nid: i64,
    server_name: &str,
) -> Result<bool, StoreError> {
    let escaped = server_name
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    let suffix = format!("%:{escaped}");
    let mut statement = connection.prepare_cached(
        "SELECT user_id FROM memberships WHERE room_nid = ?1 AND user_id LIKE ?2 ESCAPE '\\'",
    )?;
    let users = statement
        .query_map(params![room_nid, suffix], |row| row.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    // LIKE is only a prefilter: the part after the first ':' must be the server name exactly.
    Ok(users.iter().any(|user| {
        user.split_once(':')
            .is_some_and(|(_, server)| server == server_name)
    }))
}

/// Whether a user of `server_name` is joined to the room now.
pub fn server_has_joined_member(
    connection: &Connection,
    room_nid: i64,
    server_name: &str,
) -> Result<bool, StoreError> {
    Ok(members_with(connection, room_nid, "join")?
        .iter()
        .any(|user| {
            user.split_once(':')
                .is_some_and(|(_, server)| server == server_name)
        }))
}

/// Stores the stripped state an inviting server sent for `user_id`'s invite.
pub fn set_invite_room_state(
    connection: &Connection,
    user_id: &str,
    room_nid: i64,
    stripped: &str,
) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "INSERT INTO invite_room_state (user_id, room_nid, stripped_state) VALUES (?1, ?2, ?3) \
             ON CONFLICT (user_id, room_nid) DO UPDATE SET stripped_state = excluded.stripped_state",
        )?
        .execute(params![user_id, room_nid, stripped])?;
    Ok(())
}

/// The stripped state an inviting server sent, if the invite came over federation.
pub fn invite_room_state(
    connection: &Connection,
    user_id: &str,
    room_nid: i64,
) -> Result<Option<String>, StoreError> {
    Ok(connection
        .prepare_cached(
            "SELECT stripped_state FROM invite_room_state WHERE user_id = ?1 AND room_nid = ?2",
        )?
        .query_row(params![user_id, room_nid], |row| row.get(0))
        .optional()?)
}
