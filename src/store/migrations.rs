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
    // 2: rooms, events and state. State is stored as groups: a group is its parent plus a
    // delta (at most STATE_SNAPSHOT_DEPTH deep, then a full snapshot), keyed by numeric ids,
    // so a 10,000-member room costs one snapshot, not a copy per event.
    "CREATE TABLE rooms (
        room_nid INTEGER PRIMARY KEY,
        room_id TEXT NOT NULL UNIQUE,
        room_version TEXT NOT NULL,
        current_state_group INTEGER,
        published INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE state_keys (
        state_key_nid INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        state_key TEXT NOT NULL,
        UNIQUE (kind, state_key)
    );
    CREATE TABLE events (
        event_nid INTEGER PRIMARY KEY,
        event_id TEXT NOT NULL UNIQUE,
        room_nid INTEGER NOT NULL REFERENCES rooms(room_nid),
        kind TEXT NOT NULL,
        state_key TEXT,
        sender TEXT NOT NULL,
        origin_server_ts INTEGER NOT NULL,
        depth INTEGER NOT NULL,
        stream_ordering INTEGER UNIQUE,
        pdu TEXT NOT NULL,
        rejected INTEGER NOT NULL DEFAULT 0,
        soft_failed INTEGER NOT NULL DEFAULT 0,
        outlier INTEGER NOT NULL DEFAULT 0,
        state_group_before INTEGER,
        redacted_by TEXT
    );
    CREATE INDEX events_by_room_stream ON events (room_nid, stream_ordering);
    CREATE TABLE state_groups (
        group_nid INTEGER PRIMARY KEY,
        room_nid INTEGER NOT NULL,
        parent INTEGER REFERENCES state_groups(group_nid),
        chain_depth INTEGER NOT NULL
    );
    CREATE TABLE state_group_entries (
        group_nid INTEGER NOT NULL,
        state_key_nid INTEGER NOT NULL,
        event_nid INTEGER,
        PRIMARY KEY (group_nid, state_key_nid)
    ) WITHOUT ROWID;
    CREATE TABLE current_state (
        room_nid INTEGER NOT NULL,
        state_key_nid INTEGER NOT NULL,
        event_nid INTEGER NOT NULL,
        PRIMARY KEY (room_nid, state_key_nid)
    ) WITHOUT ROWID;
    CREATE TABLE forward_extremities (
        room_nid INTEGER NOT NULL,
        event_nid INTEGER NOT NULL,
        PRIMARY KEY (room_nid, event_nid)
    ) WITHOUT ROWID;
    CREATE TABLE memberships (
        user_id TEXT NOT NULL,
        room_nid INTEGER NOT NULL,
        membership TEXT NOT NULL,
        event_nid INTEGER NOT NULL,
        stream_ordering INTEGER NOT NULL,
        PRIMARY KEY (user_id, room_nid)
    ) WITHOUT ROWID;
    CREATE INDEX memberships_by_room ON memberships (room_nid, membership);
    CREATE TABLE room_aliases (
        alias TEXT PRIMARY KEY NOT NULL,
        room_id TEXT NOT NULL,
        creator TEXT NOT NULL
    );
    CREATE TABLE devices (
        user_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        display_name TEXT,
        token_hash TEXT NOT NULL UNIQUE,
        created_ts INTEGER NOT NULL,
        last_seen_ts INTEGER,
        last_seen_ip TEXT,
        PRIMARY KEY (user_id, device_id)
    );
    CREATE TABLE transaction_ids (
        user_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        txn_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        PRIMARY KEY (user_id, device_id, txn_id)
    ) WITHOUT ROWID;
    ALTER TABLE users ADD COLUMN displayname TEXT;
    ALTER TABLE users ADD COLUMN avatar_url TEXT;",
    // 3: other servers' signing keys (federation::keys). One row per key, with the time
    // up to which it may verify signatures; and each server's last key document as
    // received, which hearth passes on, countersigned, when it answers as a notary.
    "CREATE TABLE remote_server_keys (
        server_name TEXT NOT NULL,
        key_id TEXT NOT NULL,
        public_key TEXT NOT NULL,
        valid_until_ts INTEGER NOT NULL,
        expired_ts INTEGER,
        PRIMARY KEY (server_name, key_id)
    ) WITHOUT ROWID;
    CREATE TABLE remote_key_documents (
        server_name TEXT PRIMARY KEY NOT NULL,
        document TEXT NOT NULL,
        valid_until_ts INTEGER NOT NULL,
        fetched_ts INTEGER NOT NULL
    );",
    // 4: federation of rooms. The state after each event (for state at prev_events without
    // recomputing), the per-destination outbound queue (survives restarts), and inbound
    // transaction IDs per origin (a retried transaction is answered, not re-applied).
    "ALTER TABLE events ADD COLUMN state_group_after INTEGER;
    CREATE TABLE federation_outbox (
        queue_nid INTEGER PRIMARY KEY,
        destination TEXT NOT NULL,
        pdu_event_id TEXT,
        edu TEXT,
        created_ts INTEGER NOT NULL
    );
    CREATE INDEX federation_outbox_by_destination ON federation_outbox (destination, queue_nid);
    CREATE TABLE federation_inbound_transactions (
        origin TEXT NOT NULL,
        txn_id TEXT NOT NULL,
        response TEXT NOT NULL,
        received_ts INTEGER NOT NULL,
        PRIMARY KEY (origin, txn_id)
    ) WITHOUT ROWID;",
    // 5: read receipts (one row per user, type and thread, with its position in the
    // receipts stream of sync), each user's push rules once edited (the spec's default
    // set until then), and forgotten rooms (the membership event that was forgotten, so a
    // later membership is not forgotten).
    "CREATE TABLE receipts (
        room_nid INTEGER NOT NULL,
        user_id TEXT NOT NULL,
        receipt_type TEXT NOT NULL,
        thread_id TEXT NOT NULL DEFAULT '',
        event_id TEXT NOT NULL,
        event_stream_ordering INTEGER NOT NULL,
        ts INTEGER NOT NULL,
        stream_position INTEGER NOT NULL,
        PRIMARY KEY (room_nid, user_id, receipt_type, thread_id)
    ) WITHOUT ROWID;
    CREATE INDEX receipts_by_position ON receipts (stream_position);
    CREATE TABLE push_rules (
        user_id TEXT PRIMARY KEY NOT NULL,
        rules TEXT NOT NULL
    );
    ALTER TABLE memberships ADD COLUMN forgotten_event_nid INTEGER;",
    // 6: account data (global rows have room_id ''; stream_id is the position in the
    // account-data stream of sync), uploaded sync filters, and local presence.
    "CREATE TABLE account_data (
        user_id TEXT NOT NULL,
        room_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        content TEXT NOT NULL,
        stream_id INTEGER NOT NULL,
        PRIMARY KEY (user_id, room_id, kind)
    ) WITHOUT ROWID;
    CREATE INDEX account_data_by_user_stream ON account_data (user_id, stream_id);
    CREATE INDEX account_data_by_stream ON account_data (stream_id);
    CREATE TABLE filters (
        user_id TEXT NOT NULL,
        filter_id INTEGER NOT NULL,
        filter TEXT NOT NULL,
        PRIMARY KEY (user_id, filter_id)
    ) WITHOUT ROWID;
    CREATE TABLE presence (
        user_id TEXT PRIMARY KEY NOT NULL,
        presence TEXT NOT NULL,
        status_msg TEXT,
        last_active_ts INTEGER NOT NULL
    );",
    // 7: invites from other servers: the stripped state the inviting server sent, shown
    // to the invitee until they join or decline (spec: s2s "Inviting to a room").
    "CREATE TABLE invite_room_state (
        user_id TEXT NOT NULL,
        room_nid INTEGER NOT NULL,
        stripped_state TEXT NOT NULL,
        PRIMARY KEY (user_id, room_nid)
    ) WITHOUT ROWID;",
    // 8: inbound transaction IDs are kept a day (as Synapse), pruned by age.
    "CREATE INDEX federation_inbound_transactions_by_age
        ON federation_inbound_transactions (received_ts);",
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
