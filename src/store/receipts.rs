//! Read receipts (spec: c2s "Receipts"): one row per (room, user, type, thread), moved
//! forward only, each write taking the next position of the receipts stream that sync
//! tokens carry. `thread_id` is "" for unthreaded receipts.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

/// One stored receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub user_id: String,
    pub receipt_type: String,
    /// "" when unthreaded.
    pub thread_id: String,
    pub event_id: String,
    pub ts: i64,
    pub stream_position: i64,
}

/// What a new receipt says.
#[derive(Debug, Clone)]
pub struct NewReceipt<'a> {
    pub room_nid: i64,
    pub user_id: &'a str,
    pub receipt_type: &'a str,
    pub thread_id: &'a str,
    pub event_id: &'a str,
    /// The receipted event's position in the timeline.
    pub event_stream_ordering: i64,
    pub ts: i64,
}

/// Stores a receipt; returns its stream position, or `None` when the user's receipt of
/// that type and thread already points at the same or a later event (receipts only move
/// forward, as Synapse keeps them).
pub fn put(connection: &Connection, receipt: &NewReceipt<'_>) -> Result<Option<i64>, StoreError> {
    let current: Option<i64> = connection
        .prepare_cached(
            "SELECT event_stream_ordering FROM receipts WHERE room_nid = ?1 AND user_id = ?2 \
             AND receipt_type = ?3 AND thread_id = ?4",
        )?
        .query_row(
            params![
                receipt.room_nid,
                receipt.user_id,
                receipt.receipt_type,
                receipt.thread_id
            ],
            |row| row.get(0),
        )
        .optional()?;
    if current.is_some_and(|current| current >= receipt.event_stream_ordering) {
        return Ok(None);
    }
    let position = max_position(connection)? + 1;
    connection
        .prepare_cached(
            "INSERT INTO receipts (room_nid, user_id, receipt_type, thread_id, event_id, \
             event_stream_ordering, ts, stream_position) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
             ON CONFLICT (room_nid, user_id, receipt_type, thread_id) DO UPDATE SET \
             event_id = excluded.event_id, event_stream_ordering = excluded.event_stream_ordering, \
             ts = excluded.ts, stream_position = excluded.stream_position",
        )?
        .execute(params![
            receipt.room_nid,
            receipt.user_id,
            receipt.receipt_type,
            receipt.thread_id,
            receipt.event_id,
            receipt.event_stream_ordering,
            receipt.ts,
            position
        ])?;
    Ok(Some(position))
}

/// The last position of the receipts stream (0 before any receipt).
pub fn max_position(connection: &Connection) -> Result<i64, StoreError> {
    Ok(connection
        .prepare_cached("SELECT COALESCE(MAX(stream_position), 0) FROM receipts")?
        .query_row([], |row| row.get(0))?)
}

/// Receipts of a room written after position `since` (0: all of them).
pub fn changed_since(
    connection: &Connection,
    room_nid: i64,
    since: i64,
) -> Result<Vec<Receipt>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT user_id, receipt_type, thread_id, event_id, ts, stream_position FROM receipts \
         WHERE room_nid = ?1 AND stream_position > ?2 ORDER BY stream_position",
    )?;
    let rows = statement.query_map(params![room_nid, since], |row| {
        Ok(Receipt {
            user_id: row.get(0)?,
            receipt_type: row.get(1)?,
            thread_id: row.get(2)?,
            event_id: row.get(3)?,
            ts: row.get(4)?,
            stream_position: row.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Whether any receipt of a room was written after `since`.
pub fn room_changed_since(
    connection: &Connection,
    room_nid: i64,
    since: i64,
) -> Result<bool, StoreError> {
    Ok(connection
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM receipts WHERE room_nid = ?1 AND stream_position > ?2)",
        )?
        .query_row(params![room_nid, since], |row| row.get(0))?)
}

/// The timeline position up to which the user has read the room's main timeline: the later
/// of their `m.read` and `m.read.private` receipts, unthreaded or for `main` (spec: c2s
/// "Marking notifications as read").
pub fn read_up_to(
    connection: &Connection,
    room_nid: i64,
    user_id: &str,
) -> Result<Option<i64>, StoreError> {
    Ok(connection
        .prepare_cached(
            "SELECT MAX(event_stream_ordering) FROM receipts WHERE room_nid = ?1 AND user_id = ?2 \
             AND receipt_type IN ('m.read', 'm.read.private') AND thread_id IN ('', 'main')",
        )?
        .query_row(params![room_nid, user_id], |row| row.get(0))?)
}
