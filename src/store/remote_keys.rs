//! Other servers' signing keys, as fetched and checked by `federation::keys`, and their
//! last key documents (kept whole for notary answers).

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::StoreError;
use crate::proto::id::ServerName;
use crate::proto::server_keys::{ServerKey, ServerKeys};

/// A stored key document: the JSON exactly as the server signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDocument {
    pub document: String,
    pub valid_until_ts: i64,
    pub fetched_ts: i64,
}

/// Stores a checked document and its keys. Keys the server no longer lists keep their
/// rows: they still verify what they signed before.
pub fn save(
    transaction: &Transaction<'_>,
    keys: &ServerKeys,
    document: &str,
    fetched_ts: i64,
) -> Result<(), StoreError> {
    let server_name = keys.server_name.as_str();
    let mut statement = transaction.prepare_cached(
        "INSERT OR REPLACE INTO remote_server_keys
         (server_name, key_id, public_key, valid_until_ts, expired_ts)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for key in &keys.keys {
        statement.execute(params![
            server_name,
            key.key_id,
            key.public_key,
            key.valid_until_ts,
            key.expired_ts
        ])?;
    }
    transaction.execute(
        "INSERT OR REPLACE INTO remote_key_documents
         (server_name, document, valid_until_ts, fetched_ts) VALUES (?1, ?2, ?3, ?4)",
        params![server_name, document, keys.valid_until_ts, fetched_ts],
    )?;
    Ok(())
}

/// The key `key_id` of `server_name`, whatever its validity.
pub fn get_key(
    connection: &Connection,
    server_name: &ServerName,
    key_id: &str,
) -> Result<Option<ServerKey>, StoreError> {
    Ok(connection
        .query_row(
            "SELECT key_id, public_key, valid_until_ts, expired_ts FROM remote_server_keys
             WHERE server_name = ?1 AND key_id = ?2",
            params![server_name.as_str(), key_id],
            |row| {
                Ok(ServerKey {
                    key_id: row.get(0)?,
                    public_key: row.get(1)?,
                    valid_until_ts: row.get(2)?,
                    expired_ts: row.get(3)?,
                })
            },
        )
        .optional()?)
}

/// The last document stored for `server_name`.
pub fn get_document(
    connection: &Connection,
    server_name: &ServerName,
) -> Result<Option<StoredDocument>, StoreError> {
    Ok(connection
        .query_row(
            "SELECT document, valid_until_ts, fetched_ts FROM remote_key_documents
             WHERE server_name = ?1",
            [server_name.as_str()],
            |row| {
                Ok(StoredDocument {
                    document: row.get(0)?,
                    valid_until_ts: row.get(1)?,
                    fetched_ts: row.get(2)?,
                })
            },
        )
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(key_id: &str, valid_until_ts: i64, expired_ts: Option<i64>) -> ServerKey {
        ServerKey {
            key_id: key_id.into(),
            public_key: format!("public-{key_id}"),
            valid_until_ts,
            expired_ts,
        }
    }

    #[test]
    fn save_replaces_listed_keys_and_keeps_the_others() {
        let mut connection = Connection::open_in_memory().unwrap();
        super::super::migrations::apply(&mut connection).unwrap();
        let server_name = ServerName::parse("remote.test").unwrap();
        let first = ServerKeys {
            server_name: server_name.clone(),
            valid_until_ts: 100,
            keys: vec![key("ed25519:a", 100, None)],
        };
        let second = ServerKeys {
            server_name: server_name.clone(),
            valid_until_ts: 200,
            keys: vec![key("ed25519:b", 200, None)],
        };
        let transaction = connection.transaction().unwrap();
        save(&transaction, &first, "{\"one\":1}", 10).unwrap();
        save(&transaction, &second, "{\"two\":2}", 20).unwrap();
        transaction.commit().unwrap();
        assert_eq!(
            get_key(&connection, &server_name, "ed25519:a").unwrap(),
            Some(key("ed25519:a", 100, None))
        );
        assert_eq!(
            get_key(&connection, &server_name, "ed25519:b").unwrap(),
            Some(key("ed25519:b", 200, None))
        );
        assert_eq!(
            get_key(&connection, &server_name, "ed25519:c").unwrap(),
            None
        );
        assert_eq!(
            get_document(&connection, &server_name).unwrap(),
            Some(StoredDocument {
                document: "{\"two\":2}".into(),
                valid_until_ts: 200,
                fetched_ts: 20,
            })
        );
    }
}
