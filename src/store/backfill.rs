//! The bottom of a room's timeline, for backfill: the earliest events held, and stream
//! positions below every other (backfilled history gets negative positions, counting down,
//! so that it sorts before the join and pagination tokens keep working).

use rusqlite::{Connection, params};

use super::StoreError;
use super::events::{EVENT_COLUMNS, StoredEvent, event_from_row};

/// The `limit` earliest timeline events of a room (by stream position, oldest first).
pub fn earliest_timeline(
    connection: &Connection,
    room_nid: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut statement = connection.prepare_cached(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE room_nid = ?1 AND stream_ordering IS NOT NULL \
         ORDER BY stream_ordering ASC LIMIT ?2"
    ))?;
    let rows = statement.query_map(params![room_nid, limit], event_from_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// The lowest stream position in use (over all rooms), or 1 when there is none below it:
/// positions of new history count down from here.
pub fn lowest_stream_ordering(connection: &Connection) -> Result<i64, StoreError> {
    let mut statement = connection
        .prepare_cached("SELECT MIN(COALESCE(MIN(stream_ordering), 1), 1) FROM events")?;
    Ok(statement.query_row([], |row| row.get(0))?)
}

/// Gives a stored event its place in the timeline.
pub fn set_stream_ordering(
    connection: &Connection,
    event_nid: i64,
    stream_ordering: i64,
) -> Result<(), StoreError> {
    connection
        .prepare_cached("UPDATE events SET stream_ordering = ?2 WHERE event_nid = ?1")?
        .execute(params![event_nid, stream_ordering])?;
    Ok(())
}

/// (redacted event ID, redaction event ID) of every redaction held for a room, so that
/// history older than its redaction is stored redacted (room versions before 11 name the
/// target at the top level, later ones in the content).
pub fn redaction_targets(
    connection: &Connection,
    room_nid: i64,
) -> Result<Vec<(String, String)>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT COALESCE(json_extract(pdu, '$.redacts'), json_extract(pdu, '$.content.redacts')), \
         event_id FROM events WHERE room_nid = ?1 AND kind = 'm.room.redaction' AND rejected = 0",
    )?;
    let rows = statement.query_map([room_nid], |row| {
        Ok((row.get::<_, Option<String>>(0)?, row.get::<_, String>(1)?))
    })?;
    let mut targets = Vec::new();
    for row in rows {
        if let (Some(target), redaction) = row? {
            targets.push((target, redaction));
        }
    }
    Ok(targets)
}
