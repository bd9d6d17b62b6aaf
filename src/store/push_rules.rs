//! Each user's push ruleset once they edited it, as the JSON of `proto::push::Ruleset`
//! (a compatibility boundary: changing its shape needs a migration). Users who never edited
//! their rules have no row and get the server defaults.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use crate::proto::id::UserId;

/// The stored ruleset (JSON text), if the user ever edited one.
pub fn get(connection: &Connection, user_id: &UserId) -> Result<Option<String>, StoreError> {
    Ok(connection
        .prepare_cached("SELECT rules FROM push_rules WHERE user_id = ?1")?
        .query_row([user_id.as_str()], |row| row.get(0))
        .optional()?)
}

pub fn put(connection: &Connection, user_id: &UserId, rules: &str) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "INSERT INTO push_rules (user_id, rules) VALUES (?1, ?2) \
             ON CONFLICT (user_id) DO UPDATE SET rules = excluded.rules",
        )?
        .execute(params![user_id.as_str(), rules])?;
    Ok(())
}
