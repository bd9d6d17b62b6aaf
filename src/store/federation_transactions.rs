//! Inbound federation transaction IDs per origin: a retried transaction gets the same
//! answer and is not applied twice (spec: s2s "Transactions").

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::StoreError;

pub fn response(
    connection: &Connection,
    origin: &str,
    txn_id: &str,
) -> Result<Option<Value>, StoreError> {
    let text: Option<String> = connection
        .prepare_cached("SELECT response FROM federation_inbound_transactions WHERE origin = ?1 AND txn_id = ?2")?
        .query_row(params![origin, txn_id], |row| row.get(0))
        .optional()?;
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
}

pub fn record(
    connection: &Connection,
    origin: &str,
    txn_id: &str,
    response: &Value,
    now_ms: i64,
) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "INSERT OR REPLACE INTO federation_inbound_transactions (origin, txn_id, response, received_ts) \
             VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![origin, txn_id, response.to_string(), now_ms])?;
    Ok(())
}
