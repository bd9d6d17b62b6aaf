//! Room state as deduplicated groups: each group is a parent plus a delta of
//! (state key → event), at most `SNAPSHOT_DEPTH` deltas deep before a full snapshot.
//!
//! A message event shares its room's group; a state event adds one small delta. A joined
//! 10,000-member room costs one snapshot, never a copy per event (DESIGN: "State storage
//! that scales to big rooms").

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use super::events::{EVENT_COLUMNS, StoredEvent, event_by_nid, event_from_row};

/// After this many deltas in a chain, a group is written as a full snapshot, which bounds
/// how many rows a state lookup walks.
pub const SNAPSHOT_DEPTH: i64 = 32;

/// The numeric id of `(kind, state_key)`, created on first use.
pub fn state_key_nid(
    connection: &Connection,
    kind: &str,
    state_key: &str,
) -> Result<i64, StoreError> {
    if let Some(nid) = find_state_key_nid(connection, kind, state_key)? {
        return Ok(nid);
    }
    connection
        .prepare_cached("INSERT INTO state_keys (kind, state_key) VALUES (?1, ?2)")?
        .execute(params![kind, state_key])?;
    Ok(connection.last_insert_rowid())
}

pub fn find_state_key_nid(
    connection: &Connection,
    kind: &str,
    state_key: &str,
) -> Result<Option<i64>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT state_key_nid FROM state_keys WHERE kind = ?1 AND state_key = ?2",
    )?;
    Ok(statement
        .query_row(params![kind, state_key], |row| row.get(0))
        .optional()?)
}

/// `(kind, state_key)` of a numeric id.
pub fn state_key_of(
    connection: &Connection,
    state_key_nid: i64,
) -> Result<Option<(String, String)>, StoreError> {
    let mut statement = connection
        .prepare_cached("SELECT kind, state_key FROM state_keys WHERE state_key_nid = ?1")?;
    Ok(statement
        .query_row([state_key_nid], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?)
}

/// Writes a new group: `parent` plus `changes` (state key nid → event nid). Every
/// `SNAPSHOT_DEPTH` deltas the group is written in full instead.
pub fn new_state_group(
    connection: &Connection,
    room_nid: i64,
    parent: Option<i64>,
    changes: &[(i64, i64)],
) -> Result<i64, StoreError> {
    let parent_depth = match parent {
        Some(group) => connection
            .prepare_cached("SELECT chain_depth FROM state_groups WHERE group_nid = ?1")?
            .query_row([group], |row| row.get::<_, i64>(0))
            .optional()?,
        None => None,
    };
    let snapshot = match parent_depth {
        Some(depth) => depth + 1 >= SNAPSHOT_DEPTH,
        None => true,
    };
    let (stored_parent, chain_depth, entries) = if snapshot {
        let mut full = match parent {
            Some(group) => load_state_group(connection, group)?,
            None => HashMap::new(),
        };
        for (state_key_nid, event_nid) in changes {
            full.insert(*state_key_nid, *event_nid);
        }
        (None, 0, full.into_iter().collect::<Vec<_>>())
    } else {
        (parent, parent_depth.unwrap_or(0) + 1, changes.to_vec())
    };
    connection
        .prepare_cached(
            "INSERT INTO state_groups (room_nid, parent, chain_depth) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![room_nid, stored_parent, chain_depth])?;
    let group_nid = connection.last_insert_rowid();
    let mut rows: Vec<[i64; 3]> = entries
        .into_iter()
        .map(|(state_key_nid, event_nid)| [group_nid, state_key_nid, event_nid])
        .collect();
    sort_by_key_order(&mut rows, |row| row[1]);
    insert_rows(
        connection,
        "INSERT INTO state_group_entries (group_nid, state_key_nid, event_nid) VALUES",
        "",
        &rows,
    )?;
    Ok(group_nid)
}

/// Sorts rows into the order of the table's key (stably: of two rows for one key, the
/// later still wins an `ON CONFLICT` update). SQLite then appends to its B-tree pages
/// instead of splitting pages all over it: a 10,000-row insert in hash-map order touched
/// (and journalled) many times the pages.
fn sort_by_key_order<T, K: Ord>(rows: &mut [T], key: impl Fn(&T) -> K) {
    rows.sort_by_key(key);
}

/// Rows per statement in `insert_rows`: a joined 10,000-member room writes 10,000 at
/// once, and each statement costs a round of its own (and its own statement journal).
const ROWS_PER_STATEMENT: usize = 100;

/// `insert` (up to `VALUES`) for every row, many rows per statement, then `tail`.
fn insert_rows<T: rusqlite::ToSql, const N: usize>(
    connection: &Connection,
    insert: &str,
    tail: &str,
    rows: &[[T; N]],
) -> Result<(), StoreError> {
    let one = format!("({})", vec!["?"; N].join(", "));
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "{insert} {} {tail}",
            vec![one.as_str(); chunk.len()].join(", ")
        );
        connection
            .prepare_cached(&sql)?
            .execute(rusqlite::params_from_iter(chunk.iter().flatten()))?;
    }
    Ok(())
}

/// `set_current_state` for many state keys of a room at once.
pub fn set_current_state_rows(
    connection: &Connection,
    room_nid: i64,
    rows: &[(i64, i64)],
) -> Result<(), StoreError> {
    let mut rows: Vec<[i64; 3]> = rows
        .iter()
        .map(|(state_key_nid, event_nid)| [room_nid, *state_key_nid, *event_nid])
        .collect();
    sort_by_key_order(&mut rows, |row| row[1]);
    insert_rows(
        connection,
        "INSERT INTO current_state (room_nid, state_key_nid, event_nid) VALUES",
        "ON CONFLICT (room_nid, state_key_nid) DO UPDATE SET event_nid = excluded.event_nid",
        &rows,
    )
}

/// `events::set_membership` for many users of a room at once: (user ID, membership,
/// event nid, stream position).
pub fn set_membership_rows(
    connection: &Connection,
    room_nid: i64,
    rows: &[(&str, &str, i64, i64)],
) -> Result<(), StoreError> {
    use rusqlite::types::Value as Sql;
    let mut rows = rows.to_vec();
    sort_by_key_order(&mut rows, |row| row.0);
    let rows: Vec<[Sql; 5]> = rows
        .iter()
        .map(|(user_id, membership, event_nid, position)| {
            [
                Sql::Text((*user_id).to_owned()),
                Sql::Integer(room_nid),
                Sql::Text((*membership).to_owned()),
                Sql::Integer(*event_nid),
                Sql::Integer(*position),
            ]
        })
        .collect();
    insert_rows(
        connection,
        "INSERT INTO memberships (user_id, room_nid, membership, event_nid, stream_ordering) VALUES",
        "ON CONFLICT (user_id, room_nid) DO UPDATE SET membership = excluded.membership, \
         event_nid = excluded.event_nid, stream_ordering = excluded.stream_ordering",
        &rows,
    )
}

/// The full state of a group: state key nid → event nid.
pub fn load_state_group(
    connection: &Connection,
    group_nid: i64,
) -> Result<HashMap<i64, i64>, StoreError> {
    let mut state = HashMap::new();
    let mut parent_of =
        connection.prepare_cached("SELECT parent FROM state_groups WHERE group_nid = ?1")?;
    let mut entries_of = connection.prepare_cached(
        "SELECT state_key_nid, event_nid FROM state_group_entries WHERE group_nid = ?1",
    )?;
    let mut next = Some(group_nid);
    while let Some(group) = next {
        let rows = entries_of.query_map([group], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, Option<i64>>(1)?))
        })?;
        for row in rows {
            let (state_key_nid, event_nid) = row?;
            // Nearer deltas win over older ones; a NULL entry would mean "removed".
            if let Some(event_nid) = event_nid {
                state.entry(state_key_nid).or_insert(event_nid);
            }
        }
        next = parent_of
            .query_row([group], |row| row.get::<_, Option<i64>>(0))
            .optional()?
            .flatten();
    }
    Ok(state)
}

/// Looks one state key up in a group, walking the chain only as far as needed.
pub fn state_group_lookup(
    connection: &Connection,
    group_nid: i64,
    state_key_nid: i64,
) -> Result<Option<i64>, StoreError> {
    let mut parent_of =
        connection.prepare_cached("SELECT parent FROM state_groups WHERE group_nid = ?1")?;
    let mut entry = connection.prepare_cached(
        "SELECT event_nid FROM state_group_entries WHERE group_nid = ?1 AND state_key_nid = ?2",
    )?;
    let mut next = Some(group_nid);
    while let Some(group) = next {
        if let Some(event_nid) = entry
            .query_row(params![group, state_key_nid], |row| {
                row.get::<_, Option<i64>>(0)
            })
            .optional()?
        {
            return Ok(event_nid);
        }
        next = parent_of
            .query_row([group], |row| row.get::<_, Option<i64>>(0))
            .optional()?
            .flatten();
    }
    Ok(None)
}

/// Sets one entry of the room's materialised current state.
pub fn set_current_state(
    connection: &Connection,
    room_nid: i64,
    state_key_nid: i64,
    event_nid: i64,
) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "INSERT INTO current_state (room_nid, state_key_nid, event_nid) VALUES (?1, ?2, ?3) \
             ON CONFLICT (room_nid, state_key_nid) DO UPDATE SET event_nid = excluded.event_nid",
        )?
        .execute(params![room_nid, state_key_nid, event_nid])?;
    Ok(())
}

/// The current state event for `(kind, state_key)` in a room.
pub fn current_state_event(
    connection: &Connection,
    room_nid: i64,
    kind: &str,
    state_key: &str,
) -> Result<Option<StoredEvent>, StoreError> {
    // One statement, not a lookup and then a read by nid: local events need three or four
    // of these each, on the writer's thread.
    let mut statement = connection.prepare_cached(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE event_nid = \
         (SELECT c.event_nid FROM current_state c JOIN state_keys k ON k.state_key_nid = c.state_key_nid \
          WHERE c.room_nid = ?1 AND k.kind = ?2 AND k.state_key = ?3)"
    ))?;
    Ok(statement
        .query_row(params![room_nid, kind, state_key], event_from_row)
        .optional()?)
}

/// Every current state event of a room.
pub fn current_state_events(
    connection: &Connection,
    room_nid: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut statement =
        connection.prepare_cached("SELECT event_nid FROM current_state WHERE room_nid = ?1")?;
    let nids = statement
        .query_map([room_nid], |row| row.get::<_, i64>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    let mut events = Vec::with_capacity(nids.len());
    for nid in nids {
        if let Some(event) = event_by_nid(connection, nid)? {
            events.push(event);
        }
    }
    Ok(events)
}

/// The room's current state events that entered the stream with `after < position < before`:
/// what an incremental sync reports as state changed in the gap before its timeline.
/// Found from the stream (usually a handful of events), never by loading the whole state.
pub fn current_state_changed_between(
    connection: &Connection,
    room_nid: i64,
    after: i64,
    before: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut statement = connection.prepare_cached(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE event_nid IN (\
         SELECT e.event_nid FROM events e \
         JOIN state_keys k ON k.kind = e.kind AND k.state_key = e.state_key \
         JOIN current_state c ON c.room_nid = e.room_nid AND c.state_key_nid = k.state_key_nid \
         WHERE e.room_nid = ?1 AND e.stream_ordering > ?2 AND e.stream_ordering < ?3 \
         AND e.state_key IS NOT NULL AND c.event_nid = e.event_nid) \
         ORDER BY stream_ordering"
    ))?;
    let rows = statement.query_map(params![room_nid, after, before], event_from_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Every event of a state group, loaded.
pub fn state_group_events(
    connection: &Connection,
    group_nid: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let state = load_state_group(connection, group_nid)?;
    let mut events = Vec::with_capacity(state.len());
    for event_nid in state.values() {
        if let Some(event) = event_by_nid(connection, *event_nid)? {
            events.push(event);
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> Connection {
        let mut connection = Connection::open_in_memory().unwrap();
        super::super::migrations::apply(&mut connection).unwrap();
        connection
            .execute(
                "INSERT INTO rooms (room_id, room_version) VALUES ('!r:x', '11')",
                [],
            )
            .unwrap();
        connection
    }

    #[test]
    fn deltas_chain_and_snapshots_bound_the_chain() {
        let connection = database();
        let topic = state_key_nid(&connection, "m.room.topic", "").unwrap();
        let name = state_key_nid(&connection, "m.room.name", "").unwrap();
        assert_eq!(
            state_key_nid(&connection, "m.room.topic", "").unwrap(),
            topic
        );
        let first = new_state_group(&connection, 1, None, &[(topic, 10), (name, 11)]).unwrap();
        let mut group = first;
        for event in 0..(SNAPSHOT_DEPTH * 2) {
            group = new_state_group(&connection, 1, Some(group), &[(topic, 100 + event)]).unwrap();
        }
        let state = load_state_group(&connection, group).unwrap();
        assert_eq!(state.get(&topic), Some(&(100 + SNAPSHOT_DEPTH * 2 - 1)));
        assert_eq!(state.get(&name), Some(&11));
        assert_eq!(
            state_group_lookup(&connection, group, name).unwrap(),
            Some(11)
        );
        assert_eq!(
            state_group_lookup(&connection, first, topic).unwrap(),
            Some(10)
        );
        let depth: i64 = connection
            .query_row("SELECT MAX(chain_depth) FROM state_groups", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert!(depth < SNAPSHOT_DEPTH);
        // The original group is unchanged by later ones.
        assert_eq!(load_state_group(&connection, first).unwrap().len(), 2);
    }
}
