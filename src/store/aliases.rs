//! Room aliases of this server: `#name:server` → room ID.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

pub fn room_of_alias(connection: &Connection, alias: &str) -> Result<Option<String>, StoreError> {
    Ok(connection
        .prepare_cached("SELECT room_id FROM room_aliases WHERE alias = ?1")?
        .query_row([alias], |row| row.get(0))
        .optional()?)
}

/// `AlreadyExists` when the alias is taken.
pub fn create_alias(
    connection: &Connection,
    alias: &str,
    room_id: &str,
    creator: &str,
) -> Result<(), StoreError> {
    connection.execute(
        "INSERT INTO room_aliases (alias, room_id, creator) VALUES (?1, ?2, ?3)",
        params![alias, room_id, creator],
    )?;
    Ok(())
}

/// Returns whether the alias existed.
pub fn delete_alias(connection: &Connection, alias: &str) -> Result<bool, StoreError> {
    Ok(connection.execute("DELETE FROM room_aliases WHERE alias = ?1", [alias])? > 0)
}

/// The creator of an alias (who may delete it besides admins).
pub fn alias_creator(connection: &Connection, alias: &str) -> Result<Option<String>, StoreError> {
    Ok(connection
        .prepare_cached("SELECT creator FROM room_aliases WHERE alias = ?1")?
        .query_row([alias], |row| row.get(0))
        .optional()?)
}

pub fn aliases_of_room(connection: &Connection, room_id: &str) -> Result<Vec<String>, StoreError> {
    let mut statement = connection
        .prepare_cached("SELECT alias FROM room_aliases WHERE room_id = ?1 ORDER BY alias")?;
    let rows = statement.query_map(params![room_id], |row| row.get(0))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}
