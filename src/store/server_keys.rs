//! The server's own retired signing keys, published as `old_verify_keys`.

use rusqlite::Connection;

use super::StoreError;

/// A signing key this server no longer signs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OldVerifyKey {
    pub key_id: String,
    pub public_key: String,
    pub expired_ts: i64,
}

/// Every retired key, oldest first.
pub fn old_verify_keys(connection: &Connection) -> Result<Vec<OldVerifyKey>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT key_id, public_key, expired_ts FROM old_verify_keys ORDER BY expired_ts",
    )?;
    let rows = statement.query_map([], |row| {
        Ok(OldVerifyKey {
            key_id: row.get(0)?,
            public_key: row.get(1)?,
            expired_ts: row.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}
