//! Account data (spec: c2s "Client Config"): per user, global (`room_id` stored as "") or
//! per room, one JSON object per type. Each write takes the next position of the
//! account-data stream, so `/sync` can send only what changed since its token.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use crate::proto::id::UserId;

/// One stored entry; `room_id` is `None` for global account data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountDataEntry {
    pub room_id: Option<String>,
    pub kind: String,
    /// The content as JSON text.
    pub content: String,
    pub stream_id: i64,
}

/// Stores `content` (JSON text) for (user, room or global, type); returns its stream position.
pub fn put(
    connection: &Connection,
    user_id: &UserId,
    room_id: Option<&str>,
    kind: &str,
    content: &str,
) -> Result<i64, StoreError> {
    // Rows are replaced, never deleted, so the maximum only grows: it is the stream position.
    let stream_id = max_stream_id(connection)? + 1;
    connection
        .prepare_cached(
            "INSERT INTO account_data (user_id, room_id, kind, content, stream_id) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (user_id, room_id, kind) DO UPDATE SET \
             content = excluded.content, stream_id = excluded.stream_id",
        )?
        .execute(params![
            user_id.as_str(),
            room_id.unwrap_or(""),
            kind,
            content,
            stream_id
        ])?;
    Ok(stream_id)
}

/// The content (JSON text) stored for (user, room or global, type).
pub fn get(
    connection: &Connection,
    user_id: &UserId,
    room_id: Option<&str>,
    kind: &str,
) -> Result<Option<String>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT content FROM account_data WHERE user_id = ?1 AND room_id = ?2 AND kind = ?3",
    )?;
    Ok(statement
        .query_row(
            params![user_id.as_str(), room_id.unwrap_or(""), kind],
            |row| row.get(0),
        )
        .optional()?)
}

/// Every entry of the user written after stream position `since` (all of them for 0),
/// global and per room, in stream order.
pub fn changed_since(
    connection: &Connection,
    user_id: &UserId,
    since: i64,
) -> Result<Vec<AccountDataEntry>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT room_id, kind, content, stream_id FROM account_data \
         WHERE user_id = ?1 AND stream_id > ?2 ORDER BY stream_id",
    )?;
    let rows = statement.query_map(params![user_id.as_str(), since], |row| {
        let room_id: String = row.get(0)?;
        Ok(AccountDataEntry {
            room_id: (!room_id.is_empty()).then_some(room_id),
            kind: row.get(1)?,
            content: row.get(2)?,
            stream_id: row.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// The latest position of the account-data stream (0 when empty).
pub fn max_stream_id(connection: &Connection) -> Result<i64, StoreError> {
    let mut statement =
        connection.prepare_cached("SELECT COALESCE(MAX(stream_id), 0) FROM account_data")?;
    Ok(statement.query_row([], |row| row.get(0))?)
}
