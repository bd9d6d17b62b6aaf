//! Account data and filters as a client sees them through `/sync`: global and per-room
//! account data in their sections, only what changed since the token, syncs woken by a
//! change; filters stored by ID and inline, applied to rooms and timelines.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use support::client::{encode, open_server, register};

fn events_of(section: &Value) -> Vec<&Value> {
    section["events"].as_array().into_iter().flatten().collect()
}

fn sync_with(server: &support::TestServer, user: &support::client::User, query: &str) -> Value {
    let (status, answer) = user.get(server, &format!("/_matrix/client/v3/sync?{query}"));
    assert_eq!(status, 200, "sync {query}: {answer}");
    answer
}

#[test]
fn account_data_is_stored_and_synced_once() {
    let server = open_server("client-account-data");
    let alice = register(&server, "alice");
    let bob = register(&server, "bob");
    let user_path = format!("/_matrix/client/v3/user/{}", encode(&alice.user_id));
    let global = format!("{user_path}/account_data/org.example.settings");

    let (status, answer) = alice.get(&server, &global);
    assert_eq!(
        (status, answer["errcode"].clone()),
        (404, json!("M_NOT_FOUND"))
    );
    assert_eq!(alice.put(&server, &global, json!({"theme": "dark"})).0, 200);
    assert_eq!(alice.get(&server, &global), (200, json!({"theme": "dark"})));
    // Only the owner reads or writes it; two types are set through their own APIs.
    assert_eq!(bob.get(&server, &global).0, 403);
    assert_eq!(bob.put(&server, &global, json!({"theme": "light"})).0, 403);
    let (status, answer) = alice.put(
        &server,
        &format!("{user_path}/account_data/m.push_rules"),
        json!({}),
    );
    assert_eq!(
        (status, answer["errcode"].clone()),
        (405, json!("M_BAD_JSON"))
    );

    let room_id = alice.create_room(&server, json!({}));
    let quiet_room = alice.create_room(&server, json!({}));
    let room_data = format!(
        "{user_path}/rooms/{}/account_data/m.tag.example",
        encode(&room_id)
    );
    assert_eq!(
        alice.put(&server, &room_data, json!({"pinned": true})).0,
        200
    );
    assert_eq!(
        alice.get(&server, &room_data),
        (200, json!({"pinned": true}))
    );
    let (status, answer) = alice.get(
        &server,
        &format!("{user_path}/rooms/not-a-room/account_data/m.tag.example"),
    );
    assert_eq!(
        (status, answer["errcode"].clone()),
        (400, json!("M_INVALID_PARAM"))
    );

    // Initial sync: everything, in the right sections.
    let initial = alice.sync(&server, None, 0);
    let globals = events_of(&initial["account_data"]);
    assert!(
        globals.contains(&&json!({"type": "org.example.settings", "content": {"theme": "dark"}})),
        "{initial}"
    );
    assert_eq!(
        events_of(&initial["rooms"]["join"][&room_id]["account_data"]),
        vec![&json!({"type": "m.tag.example", "content": {"pinned": true}})]
    );
    assert!(events_of(&initial["rooms"]["join"][&quiet_room]["account_data"]).is_empty());
    let token = initial["next_batch"].as_str().unwrap().to_owned();

    // Nothing changed: an incremental sync repeats nothing (and waits out its timeout).
    let started = Instant::now();
    let quiet = alice.sync(&server, Some(&token), 300);
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert!(events_of(&quiet["account_data"]).is_empty(), "{quiet}");
    assert!(
        quiet["rooms"]["join"].as_object().unwrap().is_empty(),
        "{quiet}"
    );

    // A change wakes a waiting sync at once, and only the change is sent.
    let (woken, waited) = std::thread::scope(|scope| {
        let sync = scope.spawn(|| {
            let started = Instant::now();
            (alice.sync(&server, Some(&token), 20_000), started.elapsed())
        });
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            alice.put(&server, &room_data, json!({"pinned": false})).0,
            200
        );
        sync.join().unwrap()
    });
    assert!(waited < Duration::from_secs(10), "woken after {waited:?}");
    assert!(events_of(&woken["account_data"]).is_empty(), "{woken}");
    let rooms = woken["rooms"]["join"].as_object().unwrap();
    assert_eq!(rooms.len(), 1, "{woken}");
    let section = &rooms[&room_id];
    assert_eq!(
        events_of(&section["account_data"]),
        vec![&json!({"type": "m.tag.example", "content": {"pinned": false}})]
    );
    assert!(events_of(&section["timeline"]).is_empty());
    let next = woken["next_batch"].as_str().unwrap().to_owned();
    assert_ne!(next, token);

    // Global changes come alone too.
    assert_eq!(
        alice.put(&server, &global, json!({"theme": "light"})).0,
        200
    );
    let later = alice.sync(&server, Some(&next), 5000);
    assert_eq!(
        events_of(&later["account_data"]),
        vec![&json!({"type": "org.example.settings", "content": {"theme": "light"}})]
    );
    // full_state sends all of it again.
    let full = alice.get(
        &server,
        &format!(
            "/_matrix/client/v3/sync?full_state=true&since={}",
            encode(&next)
        ),
    );
    assert_eq!(full.0, 200);
    assert_eq!(
        events_of(&full.1["rooms"]["join"][&room_id]["account_data"]),
        vec![&json!({"type": "m.tag.example", "content": {"pinned": false}})]
    );
    assert!(
        events_of(&full.1["account_data"])
            .iter()
            .any(|e| e["type"] == "org.example.settings"),
        "{}",
        full.1
    );
    // Bob's sync never shows Alice's account data.
    let bobs = bob.sync(&server, None, 0);
    assert!(
        events_of(&bobs["account_data"])
            .iter()
            .all(|e| e["type"] != "org.example.settings"),
        "{bobs}"
    );
}

#[test]
fn filters_are_stored_and_applied_to_sync() {
    let server = open_server("client-filters");
    let alice = register(&server, "alice");
    let bob = register(&server, "bob");
    let filter_path = format!("/_matrix/client/v3/user/{}/filter", encode(&alice.user_id));
    let definition = json!({
        "room": {
            "timeline": {"limit": 2, "types": ["m.room.message"]},
            "state": {"lazy_load_members": true},
        }
    });
    let (status, answer) = alice.post(&server, &filter_path, definition.clone());
    assert_eq!(status, 200, "{answer}");
    let filter_id = answer["filter_id"].as_str().unwrap().to_owned();
    assert_eq!(
        alice.get(&server, &format!("{filter_path}/{filter_id}")),
        (200, definition)
    );
    assert_eq!(
        bob.get(&server, &format!("{filter_path}/{filter_id}")).0,
        403
    );
    assert_eq!(alice.get(&server, &format!("{filter_path}/99")).0, 404);
    let (status, answer) = alice.post(
        &server,
        &filter_path,
        json!({"room": {"timeline": {"limit": "lots"}}}),
    );
    assert_eq!(
        (status, answer["errcode"].clone()),
        (400, json!("M_BAD_JSON"))
    );

    let room_id = alice.create_room(&server, json!({"preset": "public_chat"}));
    let other_room = alice.create_room(&server, json!({}));
    for n in 0..4 {
        alice.send_text(&server, &room_id, &format!("message {n}"));
    }
    bob.join(&server, &room_id);

    // The stored filter: two messages, the member event left out, limited.
    let filtered = sync_with(&server, &alice, &format!("filter={filter_id}"));
    let section = &filtered["rooms"]["join"][&room_id];
    let timeline = events_of(&section["timeline"]);
    let bodies: Vec<&str> = timeline
        .iter()
        .map(|e| e["content"]["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["message 2", "message 3"], "{section}");
    assert_eq!(section["timeline"]["limited"], true);
    assert!(
        events_of(&section["state"])
            .iter()
            .any(|e| e["type"] == "m.room.member" && e["state_key"] == bob.user_id),
        "the state holds what the timeline left out: {section}"
    );

    // Inline filters: rooms / not_rooms and not_types.
    let only_other = json!({"room": {"rooms": [other_room]}}).to_string();
    let answer = sync_with(&server, &alice, &format!("filter={}", encode(&only_other)));
    let joined: Vec<&String> = answer["rooms"]["join"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(joined, [&other_room]);
    let not_other = json!({"room": {"not_rooms": [other_room], "timeline": {"not_types": ["m.room.message"], "limit": 50}}}).to_string();
    let answer = sync_with(&server, &alice, &format!("filter={}", encode(&not_other)));
    let joined: Vec<&String> = answer["rooms"]["join"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(joined, [&room_id]);
    let timeline = events_of(&answer["rooms"]["join"][&room_id]["timeline"]);
    assert!(!timeline.is_empty());
    assert!(
        timeline.iter().all(|e| e["type"] != "m.room.message"),
        "{timeline:?}"
    );
    assert_eq!(
        answer["rooms"]["join"][&room_id]["timeline"]["limited"],
        false
    );

    // Unknown stored filters and broken inline ones are errors, not silently ignored.
    let (status, answer) = alice.get(&server, "/_matrix/client/v3/sync?filter=12345");
    assert_eq!(
        (status, answer["errcode"].clone()),
        (404, json!("M_NOT_FOUND"))
    );
    let (status, _) = alice.get(
        &server,
        &format!("/_matrix/client/v3/sync?filter={}", encode("{\"room\":")),
    );
    assert_eq!(status, 400);
}
