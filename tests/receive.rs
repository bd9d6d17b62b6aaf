//! The receive pipeline with events signed by a second, simulated server: accepted,
//! rejected, dropped, soft-failed and forked events end up where the spec says.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use hearth::proto::hashes::{event_id_for, hash_and_sign_event};
use hearth::proto::id::{ServerName, UserId};
use hearth::proto::room_version::RoomRules;
use hearth::proto::signing::SigningKey;
use hearth::rooms::receive::{Need, Received, receive_pdu};
use hearth::rooms::{LocalEvent, Signer, build, create};
use hearth::store::{Store, StoreError, events};

struct Setup {
    store: Store,
    local: (ServerName, SigningKey),
    remote: (ServerName, SigningKey),
    room_id: String,
    rules: RoomRules,
}

fn store() -> Store {
    let dir = std::env::temp_dir().join(format!(
        "hearth-receive-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    Store::open(&dir.join("hearth.db")).unwrap()
}

fn setup(rules: RoomRules) -> Setup {
    let store = store();
    let local = (
        ServerName::parse("hearth.test").unwrap(),
        SigningKey::from_seed("a_1", [1; 32]).unwrap(),
    );
    let remote = (
        ServerName::parse("remote.test").unwrap(),
        SigningKey::from_seed("b_1", [2; 32]).unwrap(),
    );
    let (name, key) = local.clone();
    let room_id = smol::block_on(store.write(move |transaction| {
        let signer = Signer {
            server_name: &name,
            key: &key,
            parsed: &hearth::store::parsed::ParsedEvents::new(),
        };
        let alice = UserId::parse("@alice:hearth.test").unwrap();
        let join_rules = LocalEvent {
            kind: "m.room.join_rules".into(),
            state_key: Some(String::new()),
            content: json!({"join_rule": "public"}).as_object().unwrap().clone(),
            redacts: None,
        };
        let created = create::create_room(
            transaction,
            &signer,
            &alice,
            &rules,
            Map::new(),
            vec![join_rules],
            1_000,
        )
        .map_err(|e| StoreError::CommitFailed(e.to_string()))?;
        Ok(created.room_id)
    }))
    .unwrap();
    Setup {
        store,
        local,
        remote,
        room_id,
        rules,
    }
}

impl Setup {
    /// The current extremities and the IDs of the auth events for a remote user's event.
    fn heads(&self) -> (Vec<String>, i64, HashMap<String, String>) {
        let room_id = self.room_id.clone();
        smol::block_on(self.store.read(move |connection| {
            let room = events::room_by_id(connection, &room_id)?.unwrap();
            let extremities = events::forward_extremities(connection, room.room_nid)?;
            let depth = extremities.iter().map(|e| e.depth).max().unwrap_or(0);
            let mut state = HashMap::new();
            for event in hearth::store::state::current_state_events(connection, room.room_nid)? {
                state.insert(
                    format!(
                        "{}|{}",
                        event.kind,
                        event.state_key.clone().unwrap_or_default()
                    ),
                    event.event_id,
                );
            }
            Ok((
                extremities.into_iter().map(|e| e.event_id).collect(),
                depth,
                state,
            ))
        }))
        .unwrap()
    }

    /// A remote event signed with the remote server's key (or `signer_key` instead).
    fn remote_event(
        &self,
        kind: &str,
        state_key: Option<&str>,
        content: Value,
        auth: &[&str],
        prev: Option<Vec<String>>,
        signer_key: Option<&SigningKey>,
    ) -> Map<String, Value> {
        let (prev_events, depth, state) = self.heads();
        let mut auth_ids: Vec<String> =
            auth.iter().filter_map(|k| state.get(*k).cloned()).collect();
        if self.rules.room_id_is_create_event_hash {
            auth_ids.retain(|id| id[1..] != self.room_id[1..]);
        }
        let mut event = json!({
            "room_id": self.room_id,
            "sender": "@bob:remote.test",
            "type": kind,
            "content": content,
            "origin_server_ts": 2_000,
            "depth": depth + 1,
            "prev_events": prev.unwrap_or(prev_events),
            "auth_events": auth_ids,
        })
        .as_object()
        .unwrap()
        .clone();
        if let Some(state_key) = state_key {
            event.insert("state_key".into(), json!(state_key));
        }
        hash_and_sign_event(
            &self.rules,
            &mut event,
            &self.remote.0,
            signer_key.unwrap_or(&self.remote.1),
        )
        .unwrap();
        event
    }

    fn receive(&self, event: Map<String, Value>) -> Received {
        let room_id = self.room_id.clone();
        let remote_key = (self.remote.1.key_id(), self.remote.1.public_key_base64());
        smol::block_on(self.store.write(move |transaction| {
            let room = events::room_by_id(transaction, &room_id)?.unwrap();
            let keys = |server: &ServerName, key_id: &str| {
                (server.as_str() == "remote.test" && key_id == remote_key.0)
                    .then(|| remote_key.1.clone())
            };
            receive_pdu(transaction, &room, event, &keys)
                .map_err(|e| StoreError::CommitFailed(e.to_string()))
        }))
        .unwrap()
    }

    fn membership(&self, user: &str) -> Option<String> {
        let (room_id, user) = (self.room_id.clone(), user.to_owned());
        smol::block_on(self.store.read(move |connection| {
            let room = events::room_by_id(connection, &room_id)?.unwrap();
            events::membership_of(connection, &user, room.room_nid)
        }))
        .unwrap()
    }

    fn send_local(&self, body: &str) -> String {
        let (room_id, (name, key)) = (self.room_id.clone(), self.local.clone());
        let body = body.to_owned();
        smol::block_on(self.store.write(move |transaction| {
            let room = events::room_by_id(transaction, &room_id)?.unwrap();
            let signer = Signer {
                server_name: &name,
                key: &key,
                parsed: &hearth::store::parsed::ParsedEvents::new(),
            };
            let alice = UserId::parse("@alice:hearth.test").unwrap();
            let message = LocalEvent {
                kind: "m.room.message".into(),
                state_key: None,
                content: json!({"body": body}).as_object().unwrap().clone(),
                redacts: None,
            };
            let accepted =
                build::append_local_event(transaction, &signer, &room, &alice, message, 3_000)
                    .map_err(|e| StoreError::CommitFailed(e.to_string()))?;
            Ok(accepted.pdu.event_id().to_owned())
        }))
        .unwrap()
    }
}

const JOIN_AUTH: &[&str] = &[
    "m.room.create|",
    "m.room.power_levels|",
    "m.room.join_rules|",
];
const MESSAGE_AUTH: &[&str] = &[
    "m.room.create|",
    "m.room.power_levels|",
    "m.room.member|@bob:remote.test",
];

#[test]
fn a_remote_user_joins_and_speaks_in_every_modern_version() {
    for rules in [
        RoomRules::V6,
        RoomRules::V10,
        RoomRules::V11,
        RoomRules::V12,
    ] {
        let setup = setup(rules);
        // Before joining, bob may not speak: rejected, not in the timeline.
        let early = setup.remote_event(
            "m.room.message",
            None,
            json!({"body": "early"}),
            &["m.room.create|", "m.room.power_levels|"],
            None,
            None,
        );
        assert!(
            matches!(setup.receive(early), Received::Rejected(_)),
            "v{}",
            rules.version
        );
        let join = setup.remote_event(
            "m.room.member",
            Some("@bob:remote.test"),
            json!({"membership": "join"}),
            JOIN_AUTH,
            None,
            None,
        );
        let join_id = event_id_for(&rules, &join).unwrap();
        assert!(
            matches!(setup.receive(join.clone()), Received::Accepted(_)),
            "v{}",
            rules.version
        );
        assert_eq!(
            setup.membership("@bob:remote.test").as_deref(),
            Some("join")
        );
        assert!(matches!(setup.receive(join), Received::Duplicate));
        let hello = setup.remote_event(
            "m.room.message",
            None,
            json!({"body": "hello"}),
            MESSAGE_AUTH,
            None,
            None,
        );
        assert!(
            matches!(setup.receive(hello), Received::Accepted(_)),
            "v{}",
            rules.version
        );
        // Signed by a key that is not the remote server's: dropped, never stored.
        let forger = SigningKey::from_seed("b_1", [9; 32]).unwrap();
        let forged = setup.remote_event(
            "m.room.message",
            None,
            json!({"body": "forged"}),
            MESSAGE_AUTH,
            None,
            Some(&forger),
        );
        assert!(matches!(setup.receive(forged), Received::Dropped(_)));
        // An unknown prev event: the caller must fetch it first.
        let orphan = setup.remote_event(
            "m.room.message",
            None,
            json!({"body": "?"}),
            MESSAGE_AUTH,
            Some(vec!["$unknown".into()]),
            None,
        );
        assert_eq!(
            match setup.receive(orphan) {
                Received::Need(need) => need,
                other => panic!("{other:?}"),
            },
            Need::Events(vec!["$unknown".into()])
        );
        let _ = join_id;
    }
}

#[test]
fn concurrent_local_and_remote_events_fork_and_merge() {
    let rules = RoomRules::V11;
    let setup = setup(rules);
    let join = setup.remote_event(
        "m.room.member",
        Some("@bob:remote.test"),
        json!({"membership": "join"}),
        JOIN_AUTH,
        None,
        None,
    );
    assert!(matches!(setup.receive(join), Received::Accepted(_)));
    let (heads_before, _, _) = setup.heads();
    // Bob's message is built on the same heads as alice's.
    let remote = setup.remote_event(
        "m.room.message",
        None,
        json!({"body": "from bob"}),
        MESSAGE_AUTH,
        Some(heads_before.clone()),
        None,
    );
    let local = setup.send_local("from alice");
    assert!(matches!(
        setup.receive(remote.clone()),
        Received::Accepted(_)
    ));
    let (heads, _, _) = setup.heads();
    assert_eq!(heads.len(), 2, "two forward extremities after the fork");
    assert!(heads.contains(&local));
    assert!(heads.contains(&event_id_for(&rules, &remote).unwrap()));
    // The next local event merges both.
    let merge = setup.send_local("merged");
    let (heads, _, _) = setup.heads();
    assert_eq!(heads, vec![merge]);
}

#[test]
fn a_remote_ban_race_soft_fails_the_late_event() {
    let rules = RoomRules::V11;
    let setup = setup(rules);
    let join = setup.remote_event(
        "m.room.member",
        Some("@bob:remote.test"),
        json!({"membership": "join"}),
        JOIN_AUTH,
        None,
        None,
    );
    assert!(matches!(setup.receive(join), Received::Accepted(_)));
    // Bob sends on the heads he knows; alice's ban reaches the room first.
    let late = setup.remote_event(
        "m.room.message",
        None,
        json!({"body": "late"}),
        MESSAGE_AUTH,
        None,
        None,
    );
    let (room_id, (name, key)) = (setup.room_id.clone(), setup.local.clone());
    smol::block_on(setup.store.write(move |transaction| {
        let room = events::room_by_id(transaction, &room_id)?.unwrap();
        let signer = Signer {
            server_name: &name,
            key: &key,
            parsed: &hearth::store::parsed::ParsedEvents::new(),
        };
        let alice = UserId::parse("@alice:hearth.test").unwrap();
        let ban = LocalEvent {
            kind: "m.room.member".into(),
            state_key: Some("@bob:remote.test".into()),
            content: json!({"membership": "ban"}).as_object().unwrap().clone(),
            redacts: None,
        };
        build::append_local_event(transaction, &signer, &room, &alice, ban, 3_000)
            .map_err(|e| StoreError::CommitFailed(e.to_string()))?;
        Ok(())
    }))
    .unwrap();
    assert!(matches!(setup.receive(late), Received::SoftFailed(_)));
    assert_eq!(setup.membership("@bob:remote.test").as_deref(), Some("ban"));
}

#[test]
fn an_event_held_as_an_outlier_joins_the_timeline_when_it_arrives_as_a_room_event() {
    let rules = RoomRules::V11;
    let setup = setup(rules);
    let join = setup.remote_event(
        "m.room.member",
        Some("@bob:remote.test"),
        json!({"membership": "join"}),
        JOIN_AUTH,
        None,
        None,
    );
    let join_id = event_id_for(&rules, &join).unwrap();
    // Known first as an outlier, as the auth chain of a send_join answer leaves it.
    let (room_id, text, id) = (
        setup.room_id.clone(),
        Value::Object(join.clone()).to_string(),
        join_id.clone(),
    );
    smol::block_on(setup.store.write(move |transaction| {
        let room = events::room_by_id(transaction, &room_id)?.unwrap();
        events::insert_event(
            transaction,
            &events::NewEvent {
                event_id: &id,
                room_nid: room.room_nid,
                kind: "m.room.member",
                state_key: Some("@bob:remote.test"),
                sender: "@bob:remote.test",
                origin_server_ts: 2_000,
                depth: 5,
                stream_ordering: None,
                pdu: &text,
                rejected: false,
                soft_failed: false,
                outlier: true,
                state_group_before: None,
                state_group_after: None,
            },
        )
    }))
    .unwrap();
    assert_eq!(setup.membership("@bob:remote.test"), None);
    // Then it comes in a transaction: processed as a room event, not dropped as a duplicate.
    assert!(matches!(setup.receive(join.clone()), Received::Accepted(_)));
    assert_eq!(
        setup.membership("@bob:remote.test").as_deref(),
        Some("join")
    );
    let (heads, _, _) = setup.heads();
    assert_eq!(heads, vec![join_id.clone()]);
    let room_id = setup.room_id.clone();
    let timeline = smol::block_on(setup.store.read(move |connection| {
        let room = events::room_by_id(connection, &room_id)?.unwrap();
        events::timeline(connection, room.room_nid, 0, i64::MAX, 1, true)
    }))
    .unwrap();
    assert_eq!(timeline[0].event_id, join_id);
    assert!(!timeline[0].outlier);
    // Bob's membership now authorises his messages, and the join is a duplicate from now on.
    assert!(matches!(setup.receive(join), Received::Duplicate));
    let hello = setup.remote_event(
        "m.room.message",
        None,
        json!({"body": "hello"}),
        MESSAGE_AUTH,
        None,
        None,
    );
    assert!(matches!(setup.receive(hello), Received::Accepted(_)));
}

#[test]
fn a_pdu_for_a_room_known_only_from_an_invite_is_ignored_not_rejected() {
    let rules = RoomRules::V11;
    let setup = setup(rules);
    let join = setup.remote_event(
        "m.room.member",
        Some("@bob:remote.test"),
        json!({"membership": "join"}),
        JOIN_AUTH,
        None,
        None,
    );
    let join_id = event_id_for(&rules, &join).unwrap();
    // Another server's view: the room is known (from an invite), its join not stored yet.
    let invited = store();
    let room_id = setup.room_id.clone();
    let remote_key = (setup.remote.1.key_id(), setup.remote.1.public_key_base64());
    let (received, stored) = smol::block_on(invited.write(move |transaction| {
        events::insert_room(transaction, &room_id, "11")?;
        let room = events::room_by_id(transaction, &room_id)?.unwrap();
        let keys = |server: &ServerName, key_id: &str| {
            (server.as_str() == "remote.test" && key_id == remote_key.0)
                .then(|| remote_key.1.clone())
        };
        let received = receive_pdu(transaction, &room, join, &keys)
            .map_err(|e| StoreError::CommitFailed(e.to_string()))?;
        Ok((received, events::event_by_id(transaction, &join_id)?))
    }))
    .unwrap();
    assert!(matches!(received, Received::Dropped(_)), "{received:?}");
    assert!(
        stored.is_none(),
        "nothing is stored, so the join can bring it later"
    );
}
