//! Local users' profiles (display name and avatar URL, columns of `users`), presence, and
//! the account changes that go with devices: a new password hash, deactivation.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use crate::proto::id::UserId;

/// A local user's profile; either field may be unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub displayname: Option<String>,
    pub avatar_url: Option<String>,
}

/// The profile of a local user; `None` when there is no such (active) user.
pub fn get(connection: &Connection, user_id: &UserId) -> Result<Option<Profile>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT displayname, avatar_url FROM users WHERE user_id = ?1 AND deactivated = 0",
    )?;
    Ok(statement
        .query_row([user_id.as_str()], |row| {
            Ok(Profile {
                displayname: row.get(0)?,
                avatar_url: row.get(1)?,
            })
        })
        .optional()?)
}

/// Replaces the display name (`None` removes it); false when the user does not exist.
pub fn set_displayname(
    connection: &Connection,
    user_id: &UserId,
    displayname: Option<&str>,
) -> Result<bool, StoreError> {
    let changed = connection.execute(
        "UPDATE users SET displayname = ?2 WHERE user_id = ?1",
        params![user_id.as_str(), displayname],
    )?;
    Ok(changed > 0)
}

/// Replaces the avatar URL (`None` removes it); false when the user does not exist.
pub fn set_avatar_url(
    connection: &Connection,
    user_id: &UserId,
    avatar_url: Option<&str>,
) -> Result<bool, StoreError> {
    let changed = connection.execute(
        "UPDATE users SET avatar_url = ?2 WHERE user_id = ?1",
        params![user_id.as_str(), avatar_url],
    )?;
    Ok(changed > 0)
}

/// Stores a new password hash.
pub fn set_password_hash(
    connection: &Connection,
    user_id: &UserId,
    password_hash: &str,
) -> Result<(), StoreError> {
    connection.execute(
        "UPDATE users SET password_hash = ?2 WHERE user_id = ?1",
        params![user_id.as_str(), password_hash],
    )?;
    Ok(())
}

/// Marks the account deactivated and forgets its password and profile.
pub fn deactivate(connection: &Connection, user_id: &UserId) -> Result<(), StoreError> {
    connection.execute(
        "UPDATE users SET deactivated = 1, password_hash = NULL, displayname = NULL, \
         avatar_url = NULL WHERE user_id = ?1",
        params![user_id.as_str()],
    )?;
    Ok(())
}

/// A user's presence as last set (spec: c2s "Presence").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    pub presence: String,
    pub status_msg: Option<String>,
    pub last_active_ts: i64,
}

pub fn set_presence(
    connection: &Connection,
    user_id: &UserId,
    presence: &str,
    status_msg: Option<&str>,
    now_ms: i64,
) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "INSERT INTO presence (user_id, presence, status_msg, last_active_ts) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (user_id) DO UPDATE SET \
             presence = excluded.presence, status_msg = excluded.status_msg, \
             last_active_ts = excluded.last_active_ts",
        )?
        .execute(params![user_id.as_str(), presence, status_msg, now_ms])?;
    Ok(())
}

pub fn get_presence(
    connection: &Connection,
    user_id: &UserId,
) -> Result<Option<Presence>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT presence, status_msg, last_active_ts FROM presence WHERE user_id = ?1",
    )?;
    Ok(statement
        .query_row([user_id.as_str()], |row| {
            Ok(Presence {
                presence: row.get(0)?,
                status_msg: row.get(1)?,
                last_active_ts: row.get(2)?,
            })
        })
        .optional()?)
}
