//! The federation outbox (`federation_outbox`, migration 4): PDUs and EDUs waiting to go
//! to other servers, one row per (destination, item). A row stays until the destination
//! acknowledged the transaction carrying it (or refused it for good), so what was queued
//! survives a restart.
//!
//! This module only stores rows; `federation::sender` decides what goes in which
//! transaction and when. `queue_nid` is the order of enqueueing: a row's nid is larger
//! than that of every row present when it was inserted (SQLite's rowid rule), which is the
//! order the sender keeps.

use rusqlite::{Connection, params};

use super::StoreError;
use crate::proto::id::ServerName;

/// What a row carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxItem {
    /// A PDU, by event ID: the sender reads the event as stored when it sends.
    Pdu(String),
    /// An EDU, as JSON text (`{"edu_type": …, "content": …}`).
    Edu(String),
}

/// One queued row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub queue_nid: i64,
    pub destination: ServerName,
    pub item: OutboxItem,
}

/// Queues the PDU `event_id` for each of `destinations` (in the caller's transaction, so
/// the event and its rows commit together). Returns the new rows, in `destinations` order.
pub fn enqueue_pdu(
    connection: &Connection,
    destinations: &[ServerName],
    event_id: &str,
    now_ms: i64,
) -> Result<Vec<OutboxRow>, StoreError> {
    let mut statement = connection.prepare_cached(
        "INSERT INTO federation_outbox (destination, pdu_event_id, created_ts) VALUES (?1, ?2, ?3)",
    )?;
    let mut rows = Vec::with_capacity(destinations.len());
    for destination in destinations {
        statement.execute(params![destination.as_str(), event_id, now_ms])?;
        rows.push(OutboxRow {
            queue_nid: connection.last_insert_rowid(),
            destination: destination.clone(),
            item: OutboxItem::Pdu(event_id.to_owned()),
        });
    }
    Ok(rows)
}

/// Queues the EDU `edu_json` for each of `destinations`. Returns the new rows.
pub fn enqueue_edu(
    connection: &Connection,
    destinations: &[ServerName],
    edu_json: &str,
    now_ms: i64,
) -> Result<Vec<OutboxRow>, StoreError> {
    let mut statement = connection.prepare_cached(
        "INSERT INTO federation_outbox (destination, edu, created_ts) VALUES (?1, ?2, ?3)",
    )?;
    let mut rows = Vec::with_capacity(destinations.len());
    for destination in destinations {
        statement.execute(params![destination.as_str(), edu_json, now_ms])?;
        rows.push(OutboxRow {
            queue_nid: connection.last_insert_rowid(),
            destination: destination.clone(),
            item: OutboxItem::Edu(edu_json.to_owned()),
        });
    }
    Ok(rows)
}

/// Up to `limit` rows for `destination` with a nid above `after_nid`, oldest first: the
/// next batch to load (pass the last nid read to page through a long backlog).
pub fn next_batch(
    connection: &Connection,
    destination: &ServerName,
    after_nid: i64,
    limit: usize,
) -> Result<Vec<OutboxRow>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT queue_nid, pdu_event_id, edu FROM federation_outbox
         WHERE destination = ?1 AND queue_nid > ?2 ORDER BY queue_nid LIMIT ?3",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = statement.query_map(params![destination.as_str(), after_nid, limit], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, Option<String>>(1)?,
            row.get::<_, Option<String>>(2)?,
        ))
    })?;
    let mut batch = Vec::new();
    for row in rows {
        let (queue_nid, pdu_event_id, edu) = row?;
        // A row has exactly one of the two; one with neither (never written by hearth)
        // is skipped rather than sent empty.
        let item = match (pdu_event_id, edu) {
            (Some(event_id), _) => OutboxItem::Pdu(event_id),
            (None, Some(edu)) => OutboxItem::Edu(edu),
            (None, None) => continue,
        };
        batch.push(OutboxRow {
            queue_nid,
            destination: destination.clone(),
            item,
        });
    }
    Ok(batch)
}

/// Deletes the rows `queue_nids` of `destination` (sent and acknowledged, or refused).
/// Returns how many rows went.
pub fn delete_sent(
    connection: &Connection,
    destination: &ServerName,
    queue_nids: &[i64],
) -> Result<usize, StoreError> {
    let mut statement = connection.prepare_cached(
        "DELETE FROM federation_outbox WHERE destination = ?1 AND queue_nid = ?2",
    )?;
    let mut deleted = 0;
    for queue_nid in queue_nids {
        deleted += statement.execute(params![destination.as_str(), queue_nid])?;
    }
    Ok(deleted)
}

/// Every destination with queued rows (a sender starts for each at start-up). Names that
/// no longer parse (written by a buggy build) are left out.
pub fn destinations(connection: &Connection) -> Result<Vec<ServerName>, StoreError> {
    let mut statement =
        connection.prepare_cached("SELECT DISTINCT destination FROM federation_outbox")?;
    let names = statement.query_map([], |row| row.get::<_, String>(0))?;
    let mut destinations = Vec::new();
    for name in names {
        if let Ok(server_name) = ServerName::parse(&name?) {
            destinations.push(server_name);
        }
    }
    Ok(destinations)
}

/// How many rows wait for `destination`.
pub fn count(connection: &Connection, destination: &ServerName) -> Result<i64, StoreError> {
    Ok(connection
        .prepare_cached("SELECT count(*) FROM federation_outbox WHERE destination = ?1")?
        .query_row([destination.as_str()], |row| row.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection() -> Connection {
        let mut connection = Connection::open_in_memory().unwrap();
        super::super::migrations::apply(&mut connection).unwrap();
        connection
    }

    fn name(text: &str) -> ServerName {
        ServerName::parse(text).unwrap()
    }

    #[test]
    fn rows_come_back_per_destination_in_order_and_go_when_deleted() {
        let connection = connection();
        let (a, b) = (name("a.test"), name("b.test"));
        let first = enqueue_pdu(&connection, &[a.clone(), b.clone()], "$one", 1).unwrap();
        let edu = enqueue_edu(
            &connection,
            std::slice::from_ref(&a),
            r#"{"edu_type":"m.typing"}"#,
            2,
        )
        .unwrap();
        enqueue_pdu(&connection, std::slice::from_ref(&a), "$two", 3).unwrap();
        assert_eq!(first.len(), 2);
        assert!(first[0].queue_nid < edu[0].queue_nid);

        let batch = next_batch(&connection, &a, 0, 10).unwrap();
        let items: Vec<&OutboxItem> = batch.iter().map(|row| &row.item).collect();
        assert_eq!(
            items,
            [
                &OutboxItem::Pdu("$one".into()),
                &OutboxItem::Edu(r#"{"edu_type":"m.typing"}"#.into()),
                &OutboxItem::Pdu("$two".into()),
            ]
        );
        // Paging: limit and after_nid.
        let page = next_batch(&connection, &a, 0, 2).unwrap();
        assert_eq!(page.len(), 2);
        let rest = next_batch(&connection, &a, page[1].queue_nid, 10).unwrap();
        assert_eq!(rest, batch[2..]);
        assert_eq!(next_batch(&connection, &b, 0, 10).unwrap().len(), 1);

        let mut names: Vec<String> = destinations(&connection)
            .unwrap()
            .iter()
            .map(|n| n.as_str().to_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["a.test", "b.test"]);

        // Deleting is per destination: b's copy of $one stays.
        let nids: Vec<i64> = batch[..2].iter().map(|row| row.queue_nid).collect();
        assert_eq!(delete_sent(&connection, &a, &nids).unwrap(), 2);
        assert_eq!(
            delete_sent(&connection, &a, &[first[1].queue_nid]).unwrap(),
            0
        );
        assert_eq!(count(&connection, &a).unwrap(), 1);
        assert_eq!(count(&connection, &b).unwrap(), 1);
        delete_sent(&connection, &a, &[batch[2].queue_nid]).unwrap();
        assert_eq!(
            destinations(&connection).unwrap(),
            std::slice::from_ref(&b),
            "a has nothing left"
        );
    }
}
