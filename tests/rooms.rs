//! The room engine against a real SQLite store: rooms of every version are created, events
//! appended and authorised, and what is stored verifies with the protocol core.

use serde_json::{Map, Value, json};

use hearth::proto::hashes::{check_content_hash, event_id_for, verify_event_signature};
use hearth::proto::id::{ServerName, UserId};
use hearth::proto::room_version::RoomRules;
use hearth::proto::signing::SigningKey;
use hearth::rooms::{LocalEvent, RoomError, Signer, build, create};
use hearth::store::{Store, events, state};

fn store() -> Store {
    let dir = std::env::temp_dir().join(format!(
        "hearth-rooms-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    Store::open(&dir.join("hearth.db")).unwrap()
}

fn content(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

fn state_event(kind: &str, state_key: &str, body: Value) -> LocalEvent {
    LocalEvent {
        kind: kind.into(),
        state_key: Some(state_key.into()),
        content: content(body),
        redacts: None,
    }
}

#[test]
fn rooms_of_every_version_are_created_and_verify() {
    let store = store();
    let server_name = ServerName::parse("hearth.test").unwrap();
    let key = SigningKey::from_seed("a_1", [7; 32]).unwrap();
    for rules in RoomRules::ALL {
        let alice = UserId::parse("@alice:hearth.test").unwrap();
        let bob = UserId::parse("@bob:hearth.test").unwrap();
        let (job_server_name, job_key) = (server_name.clone(), key.clone());
        let result = smol::block_on(store.write(move |transaction| {
            let signer = Signer {
                server_name: &job_server_name,
                key: &job_key,
                parsed: &hearth::store::parsed::ParsedEvents::new(),
            };
            // v12 creators have infinite power and must not be listed.
            let power_levels = if rules.creators_have_infinite_power {
                json!({"users": {}})
            } else {
                json!({"users": {alice.as_str(): 100}})
            };
            let created = create::create_room(
                transaction,
                &signer,
                &alice,
                &rules,
                Map::new(),
                vec![
                    state_event("m.room.power_levels", "", power_levels),
                    state_event("m.room.join_rules", "", json!({"join_rule": "public"})),
                ],
                1_700_000_000_000,
            )
            .map_err(|e| hearth::store::StoreError::CommitFailed(e.to_string()))?;
            let room = events::room_by_id(transaction, &created.room_id)?.unwrap();
            // Bob joins a public room, then speaks.
            let join = build::append_local_event(
                transaction,
                &signer,
                &room,
                &bob,
                state_event("m.room.member", bob.as_str(), json!({"membership": "join"})),
                1_700_000_000_001,
            )
            .map_err(|e| hearth::store::StoreError::CommitFailed(e.to_string()))?;
            let room = events::room_by_id(transaction, &created.room_id)?.unwrap();
            let message = build::append_local_event(
                transaction,
                &signer,
                &room,
                &bob,
                LocalEvent {
                    kind: "m.room.message".into(),
                    state_key: None,
                    content: content(json!({"msgtype": "m.text", "body": "hi"})),
                    redacts: None,
                },
                1_700_000_000_002,
            )
            .map_err(|e| hearth::store::StoreError::CommitFailed(e.to_string()))?;
            // Carol never joined: she may not speak.
            let carol = UserId::parse("@carol:hearth.test").unwrap();
            let room = events::room_by_id(transaction, &created.room_id)?.unwrap();
            let refused = build::append_local_event(
                transaction,
                &signer,
                &room,
                &carol,
                LocalEvent {
                    kind: "m.room.message".into(),
                    state_key: None,
                    content: content(json!({"body": "let me in"})),
                    redacts: None,
                },
                1_700_000_000_003,
            );
            assert!(
                matches!(refused, Err(RoomError::Forbidden(_))),
                "v{}",
                rules.version
            );
            Ok((created, join, message))
        }));
        let (created, join, message) = result.unwrap();
        assert_eq!(
            created.events.len(),
            4,
            "create, join, power levels, join rules"
        );
        if rules.room_id_is_create_event_hash {
            assert_eq!(
                &created.room_id[1..],
                &created.events[0].pdu.event_id()[1..]
            );
        } else {
            assert!(created.room_id.ends_with(":hearth.test"));
        }
        let all: Vec<_> = created.events.iter().chain([&join, &message]).collect();
        for (index, accepted) in all.iter().enumerate() {
            let json = accepted.pdu.json();
            assert_eq!(event_id_for(&rules, json).unwrap(), accepted.pdu.event_id());
            check_content_hash(json).unwrap();
            verify_event_signature(
                &rules,
                json,
                &server_name,
                "ed25519:a_1",
                &key.public_key_base64(),
            )
            .unwrap();
            assert_eq!(accepted.pdu.depth(), index as i64 + 1, "v{}", rules.version);
            if index > 0 {
                assert_eq!(
                    accepted.pdu.prev_event_ids(),
                    vec![all[index - 1].pdu.event_id()]
                );
            }
        }
        let (room_id, members) = (
            created.room_id.clone(),
            store_members(&store, &created.room_id),
        );
        assert_eq!(
            members,
            vec![
                "@alice:hearth.test".to_owned(),
                "@bob:hearth.test".to_owned()
            ],
            "{room_id}"
        );
    }
}

fn store_members(store: &Store, room_id: &str) -> Vec<String> {
    let room_id = room_id.to_owned();
    let mut members = smol::block_on(store.read(move |connection| {
        let room = events::room_by_id(connection, &room_id)?.unwrap();
        let member = state::current_state_event(
            connection,
            room.room_nid,
            "m.room.member",
            "@bob:hearth.test",
        )?;
        assert!(member.is_some());
        events::members_with(connection, room.room_nid, "join")
    }))
    .unwrap();
    members.sort();
    members
}
