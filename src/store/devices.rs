//! Devices and their access tokens (stored as SHA-256 hashes: a leaked database does not
//! leak usable tokens), and the transaction IDs that make `send` idempotent per device.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub user_id: String,
    pub device_id: String,
    pub display_name: Option<String>,
    pub last_seen_ts: Option<i64>,
    pub last_seen_ip: Option<String>,
}

/// Creates or replaces a device with a new token hash (a re-login on the same device ID
/// replaces its token, as Synapse does).
pub fn upsert_device(
    connection: &Connection,
    user_id: &str,
    device_id: &str,
    display_name: Option<&str>,
    token_hash: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    connection.execute(
        "INSERT INTO devices (user_id, device_id, display_name, token_hash, created_ts) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (user_id, device_id) DO UPDATE SET token_hash = excluded.token_hash, \
         display_name = COALESCE(excluded.display_name, devices.display_name)",
        params![user_id, device_id, display_name, token_hash, now_ms],
    )?;
    Ok(())
}

/// The (user, device) a token hash belongs to.
pub fn device_by_token_hash(
    connection: &Connection,
    token_hash: &str,
) -> Result<Option<(String, String)>, StoreError> {
    let mut statement = connection
        .prepare_cached("SELECT user_id, device_id FROM devices WHERE token_hash = ?1")?;
    Ok(statement
        .query_row([token_hash], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?)
}

pub fn devices_of(connection: &Connection, user_id: &str) -> Result<Vec<Device>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT user_id, device_id, display_name, last_seen_ts, last_seen_ip FROM devices WHERE user_id = ?1 ORDER BY device_id",
    )?;
    let rows = statement.query_map([user_id], |row| {
        Ok(Device {
            user_id: row.get(0)?,
            device_id: row.get(1)?,
            display_name: row.get(2)?,
            last_seen_ts: row.get(3)?,
            last_seen_ip: row.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Deletes a device; returns the token hash it had, to drop from caches.
pub fn delete_device(
    connection: &Connection,
    user_id: &str,
    device_id: &str,
) -> Result<Option<String>, StoreError> {
    let hash: Option<String> = connection
        .query_row(
            "SELECT token_hash FROM devices WHERE user_id = ?1 AND device_id = ?2",
            params![user_id, device_id],
            |row| row.get(0),
        )
        .optional()?;
    connection.execute(
        "DELETE FROM devices WHERE user_id = ?1 AND device_id = ?2",
        params![user_id, device_id],
    )?;
    Ok(hash)
}

pub fn set_device_display_name(
    connection: &Connection,
    user_id: &str,
    device_id: &str,
    display_name: Option<&str>,
) -> Result<bool, StoreError> {
    let changed = connection.execute(
        "UPDATE devices SET display_name = ?3 WHERE user_id = ?1 AND device_id = ?2",
        params![user_id, device_id, display_name],
    )?;
    Ok(changed > 0)
}

/// The event a (user, device, txnId) produced before, if any.
pub fn transaction_event(
    connection: &Connection,
    user_id: &str,
    device_id: &str,
    txn_id: &str,
) -> Result<Option<String>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT event_id FROM transaction_ids WHERE user_id = ?1 AND device_id = ?2 AND txn_id = ?3",
    )?;
    Ok(statement
        .query_row(params![user_id, device_id, txn_id], |row| row.get(0))
        .optional()?)
}

pub fn record_transaction(
    connection: &Connection,
    user_id: &str,
    device_id: &str,
    txn_id: &str,
    event_id: &str,
) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "INSERT OR IGNORE INTO transaction_ids (user_id, device_id, txn_id, event_id) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![user_id, device_id, txn_id, event_id])?;
    Ok(())
}
