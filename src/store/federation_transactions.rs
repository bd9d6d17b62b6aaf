//! Inbound federation transaction IDs per origin: a retried transaction gets the same
//! answer and is not applied twice (spec: s2s "Transactions"). Kept a day, as Synapse
//! keeps them: a sender retries within minutes, and a flood of transactions must not
//! grow the database for ever.

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
    connection
        .prepare_cached("DELETE FROM federation_inbound_transactions WHERE received_ts < ?1")?
        .execute([now_ms.saturating_sub(KEEP_MS)])?;
    Ok(())
}

/// How long an answer is kept for a retry.
const KEEP_MS: i64 = 24 * 3600 * 1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_kept_a_day() {
        let mut connection = Connection::open_in_memory().unwrap();
        super::super::migrations::apply(&mut connection).unwrap();
        let answer = serde_json::json!({"pdus": {}});
        record(&connection, "a.test", "t1", &answer, 1_000).unwrap();
        record(&connection, "a.test", "t2", &answer, 1_000 + KEEP_MS).unwrap();
        assert_eq!(
            response(&connection, "a.test", "t1").unwrap(),
            Some(answer.clone())
        );
        record(&connection, "b.test", "t1", &answer, 1_001 + KEEP_MS).unwrap();
        assert_eq!(response(&connection, "a.test", "t1").unwrap(), None);
        assert_eq!(response(&connection, "a.test", "t2").unwrap(), Some(answer));
    }
}
