//! Sync filters uploaded by clients (spec: c2s "Filtering"), stored as the JSON text the
//! client sent and numbered per user from 0.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use crate::proto::id::UserId;

/// Stores a filter (JSON text) and returns its ID, the next free number for this user.
pub fn create(connection: &Connection, user_id: &UserId, filter: &str) -> Result<i64, StoreError> {
    let filter_id: i64 = connection
        .prepare_cached("SELECT COALESCE(MAX(filter_id) + 1, 0) FROM filters WHERE user_id = ?1")?
        .query_row([user_id.as_str()], |row| row.get(0))?;
    connection
        .prepare_cached("INSERT INTO filters (user_id, filter_id, filter) VALUES (?1, ?2, ?3)")?
        .execute(params![user_id.as_str(), filter_id, filter])?;
    Ok(filter_id)
}

/// The filter (JSON text) the user stored under `filter_id`.
pub fn get(
    connection: &Connection,
    user_id: &UserId,
    filter_id: i64,
) -> Result<Option<String>, StoreError> {
    let mut statement = connection
        .prepare_cached("SELECT filter FROM filters WHERE user_id = ?1 AND filter_id = ?2")?;
    Ok(statement
        .query_row(params![user_id.as_str(), filter_id], |row| row.get(0))
        .optional()?)
}
