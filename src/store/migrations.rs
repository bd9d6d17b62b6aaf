//! Versioned schema migrations, applied in order at start; `PRAGMA user_version` records
//! how many have run. A migration is never edited once released: add a new one.

use rusqlite::Connection;

use super::StoreError;

/// Each entry moves the schema up by one version.
const MIGRATIONS: &[&str] = &[
    // 1: local accounts and the server's retired signing keys.
    "CREATE TABLE users (
        user_id TEXT PRIMARY KEY NOT NULL,
        password_hash TEXT,
        admin INTEGER NOT NULL DEFAULT 0,
        deactivated INTEGER NOT NULL DEFAULT 0,
        created_ts INTEGER NOT NULL
    );
    CREATE TABLE old_verify_keys (
        key_id TEXT PRIMARY KEY NOT NULL,
        public_key TEXT NOT NULL,
        expired_ts INTEGER NOT NULL
    );",
];

/// Applies every migration the database has not seen, each in its own transaction.
pub fn apply(connection: &mut Connection) -> Result<(), StoreError> {
    let known = MIGRATIONS.len() as i64;
    let found: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if found > known {
        return Err(StoreError::SchemaTooNew { found, known });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let transaction = connection.transaction()?;
        transaction.execute_batch(sql)?;
        transaction.pragma_update(None, "user_version", index as i64 + 1)?;
        transaction.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_once_and_refuses_newer_schemas() {
        let mut connection = Connection::open_in_memory().unwrap();
        apply(&mut connection).unwrap();
        apply(&mut connection).unwrap();
        let version: i64 = connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        connection.pragma_update(None, "user_version", 999).unwrap();
        assert!(matches!(
            apply(&mut connection),
            Err(StoreError::SchemaTooNew { found: 999, .. })
        ));
    }
}
