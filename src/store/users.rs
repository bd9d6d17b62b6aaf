//! Local accounts: creation and look-up.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::StoreError;

/// A local account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub user_id: String,
    pub password_hash: Option<String>,
    pub admin: bool,
    pub deactivated: bool,
}

/// Creates an account; `AlreadyExists` when the user ID is taken.
pub fn create(
    transaction: &Transaction<'_>,
    user_id: &str,
    password_hash: Option<&str>,
    admin: bool,
    now_ms: i64,
) -> Result<(), StoreError> {
    transaction.execute(
        "INSERT INTO users (user_id, password_hash, admin, created_ts) VALUES (?1, ?2, ?3, ?4)",
        params![user_id, password_hash, admin, now_ms],
    )?;
    Ok(())
}

/// Looks an account up by its full user ID.
pub fn get(connection: &Connection, user_id: &str) -> Result<Option<UserRecord>, StoreError> {
    Ok(connection
        .query_row(
            "SELECT user_id, password_hash, admin, deactivated FROM users WHERE user_id = ?1",
            [user_id],
            |row| {
                Ok(UserRecord {
                    user_id: row.get(0)?,
                    password_hash: row.get(1)?,
                    admin: row.get(2)?,
                    deactivated: row.get(3)?,
                })
            },
        )
        .optional()?)
}
