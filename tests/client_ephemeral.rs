//! Typing, receipts, read markers and unread counts as a client sees them through `/sync`
//! on the real binary.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::TestServer;
use support::client::{User, encode, open_server, register};

fn room_section<'a>(sync: &'a Value, room_id: &str) -> &'a Value {
    &sync["rooms"]["join"][room_id]
}

/// The content of the room's ephemeral event of `kind` in a sync, if any.
fn ephemeral(sync: &Value, room_id: &str, kind: &str) -> Option<Value> {
    room_section(sync, room_id)["ephemeral"]["events"]
        .as_array()?
        .iter()
        .find(|event| event["type"] == kind)
        .map(|event| event["content"].clone())
}

fn public_room(server: &TestServer, owner: &User, others: &[&User]) -> String {
    let room_id = owner.create_room(server, json!({"preset": "public_chat"}));
    for user in others {
        user.join(server, &room_id);
    }
    room_id
}

fn typing(server: &TestServer, user: &User, room_id: &str, body: Value) -> (u16, Value) {
    let path = format!(
        "/_matrix/client/v3/rooms/{}/typing/{}",
        encode(room_id),
        encode(&user.user_id)
    );
    user.put(server, &path, body)
}

#[test]
fn typing_wakes_long_polls_and_expires() {
    let server = open_server("typing");
    let alice = register(&server, "alice");
    let bob = register(&server, "bob");
    let room_id = public_room(&server, &alice, &[&bob]);
    let since = bob.sync(&server, None, 0)["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();

    // Bob waits; Alice starts typing: Bob's sync answers at once with her as a typer.
    let started = Instant::now();
    let waiting = std::thread::scope(|scope| {
        let handle = scope.spawn(|| bob.sync(&server, Some(&since), 20_000));
        std::thread::sleep(Duration::from_millis(300));
        let (status, body) = typing(
            &server,
            &alice,
            &room_id,
            json!({"typing": true, "timeout": 30000}),
        );
        assert_eq!(status, 200, "{body}");
        handle.join().unwrap()
    });
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        ephemeral(&waiting, &room_id, "m.typing"),
        Some(json!({"user_ids": [alice.user_id]}))
    );
    let since = waiting["next_batch"].as_str().unwrap().to_owned();
    // Nothing new since: the typing event is not repeated.
    let quiet = bob.sync(&server, Some(&since), 0);
    assert_eq!(ephemeral(&quiet, &room_id, "m.typing"), None, "{quiet}");

    // Stopping is reported as an empty list.
    typing(&server, &alice, &room_id, json!({"typing": false}));
    let stopped = bob.sync(&server, Some(&since), 5_000);
    assert_eq!(
        ephemeral(&stopped, &room_id, "m.typing"),
        Some(json!({"user_ids": []}))
    );
    let since = stopped["next_batch"].as_str().unwrap().to_owned();

    // A short timeout expires by itself and wakes the waiting sync when it does.
    typing(
        &server,
        &alice,
        &room_id,
        json!({"typing": true, "timeout": 800}),
    );
    let typing_now = bob.sync(&server, Some(&since), 5_000);
    assert_eq!(
        ephemeral(&typing_now, &room_id, "m.typing"),
        Some(json!({"user_ids": [alice.user_id]}))
    );
    let since = typing_now["next_batch"].as_str().unwrap().to_owned();
    let started = Instant::now();
    let expired = bob.sync(&server, Some(&since), 20_000);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        ephemeral(&expired, &room_id, "m.typing"),
        Some(json!({"user_ids": []}))
    );

    // Someone who leaves while typing is no longer shown as typing.
    let carol = register(&server, "carol");
    carol.join(&server, &room_id);
    let since = expired["next_batch"].as_str().unwrap().to_owned();
    typing(
        &server,
        &carol,
        &room_id,
        json!({"typing": true, "timeout": 30000}),
    );
    let carol_types = bob.sync(&server, Some(&since), 5_000);
    assert_eq!(
        ephemeral(&carol_types, &room_id, "m.typing"),
        Some(json!({"user_ids": [carol.user_id]}))
    );
    let leave = format!("/_matrix/client/v3/rooms/{}/leave", encode(&room_id));
    assert_eq!(carol.post(&server, &leave, json!({})).0, 200);
    typing(
        &server,
        &alice,
        &room_id,
        json!({"typing": true, "timeout": 30000}),
    );
    let after_leave = bob.sync(&server, None, 0);
    assert_eq!(
        ephemeral(&after_leave, &room_id, "m.typing"),
        Some(json!({"user_ids": [alice.user_id]}))
    );
    typing(&server, &alice, &room_id, json!({"typing": false}));

    // An initial sync shows only rooms where someone types now.
    typing(
        &server,
        &bob,
        &room_id,
        json!({"typing": true, "timeout": 30000}),
    );
    let initial = alice.sync(&server, None, 0);
    assert_eq!(
        ephemeral(&initial, &room_id, "m.typing"),
        Some(json!({"user_ids": [bob.user_id]}))
    );
}

#[test]
fn typing_refusals() {
    let server = open_server("typing-refusals");
    let alice = register(&server, "alice");
    let bob = register(&server, "bob");
    let room_id = public_room(&server, &alice, &[]);
    // Someone else's typing state.
    let path = format!(
        "/_matrix/client/v3/rooms/{}/typing/{}",
        encode(&room_id),
        encode(&alice.user_id)
    );
    let (status, body) = bob.put(&server, &path, json!({"typing": true}));
    assert_eq!(
        (status, body["errcode"].as_str()),
        (403, Some("M_FORBIDDEN"))
    );
    // Not in the room.
    let (status, body) = typing(&server, &bob, &room_id, json!({"typing": true}));
    assert_eq!(
        (status, body["errcode"].as_str()),
        (403, Some("M_FORBIDDEN"))
    );
    // Malformed body.
    let (status, body) = typing(&server, &alice, &room_id, json!({"typing": "yes"}));
    assert_eq!(
        (status, body["errcode"].as_str()),
        (400, Some("M_BAD_JSON"))
    );
}

fn receipt(
    server: &TestServer,
    user: &User,
    room_id: &str,
    kind: &str,
    event_id: &str,
    body: Value,
) -> (u16, Value) {
    let path = format!(
        "/_matrix/client/v3/rooms/{}/receipt/{kind}/{}",
        encode(room_id),
        encode(event_id)
    );
    user.post(server, &path, body)
}

fn unread(sync: &Value, room_id: &str) -> (i64, i64) {
    let counts = &room_section(sync, room_id)["unread_notifications"];
    (
        counts["notification_count"].as_i64().unwrap(),
        counts["highlight_count"].as_i64().unwrap(),
    )
}

#[test]
fn receipts_and_read_markers_show_in_sync() {
    let server = open_server("receipts");
    let alice = register(&server, "alice");
    let bob = register(&server, "bob");
    let room_id = public_room(&server, &alice, &[&bob]);
    let first = alice.send_text(&server, &room_id, "one");
    let second = alice.send_text(&server, &room_id, "two");
    let since = alice.sync(&server, None, 0)["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();

    // Bob's public receipt reaches Alice; his private one does not, but reaches him.
    let (status, body) = receipt(&server, &bob, &room_id, "m.read", &second, json!({}));
    assert_eq!(status, 200, "{body}");
    let (status, _) = receipt(&server, &bob, &room_id, "m.read.private", &first, json!({}));
    assert_eq!(status, 200);
    let seen = alice.sync(&server, Some(&since), 5_000);
    let receipts = ephemeral(&seen, &room_id, "m.receipt").expect("m.receipt");
    assert!(
        receipts[&second]["m.read"][&bob.user_id]["ts"].is_i64(),
        "{receipts}"
    );
    assert!(
        receipts.get(&first).is_none(),
        "private receipt leaked: {receipts}"
    );
    let own = bob.sync(&server, None, 0);
    let own_receipts = ephemeral(&own, &room_id, "m.receipt").expect("m.receipt");
    assert!(
        own_receipts[&first]["m.read.private"][&bob.user_id].is_object(),
        "{own_receipts}"
    );

    // A threaded receipt keeps its thread_id.
    let since = seen["next_batch"].as_str().unwrap().to_owned();
    let (status, _) = receipt(
        &server,
        &bob,
        &room_id,
        "m.read",
        &second,
        json!({"thread_id": "main"}),
    );
    assert_eq!(status, 200);
    let threaded = alice.sync(&server, Some(&since), 5_000);
    let receipts = ephemeral(&threaded, &room_id, "m.receipt").expect("m.receipt");
    assert_eq!(
        receipts[&second]["m.read"][&bob.user_id]["thread_id"],
        "main"
    );

    // Read markers: m.fully_read becomes room account data, m.read a receipt.
    let path = format!("/_matrix/client/v3/rooms/{}/read_markers", encode(&room_id));
    let (status, body) = alice.post(
        &server,
        &path,
        json!({"m.fully_read": second, "m.read": second}),
    );
    assert_eq!(status, 200, "{body}");
    let path = format!(
        "/_matrix/client/v3/user/{}/rooms/{}/account_data/m.fully_read",
        encode(&alice.user_id),
        encode(&room_id)
    );
    let (status, body) = alice.get(&server, &path);
    assert_eq!(
        (status, body["event_id"].as_str()),
        (200, Some(second.as_str())),
        "{body}"
    );

    // Refusals: an unknown event, an unknown receipt type, thread_id on m.fully_read.
    let (status, body) = receipt(&server, &bob, &room_id, "m.read", "$nope", json!({}));
    assert_eq!(
        (status, body["errcode"].as_str()),
        (404, Some("M_NOT_FOUND"))
    );
    let (status, body) = receipt(&server, &bob, &room_id, "m.seen", &second, json!({}));
    assert_eq!(
        (status, body["errcode"].as_str()),
        (400, Some("M_INVALID_PARAM"))
    );
    let (status, _) = receipt(
        &server,
        &bob,
        &room_id,
        "m.fully_read",
        &second,
        json!({"thread_id": "main"}),
    );
    assert_eq!(status, 400);
}

#[test]
fn unread_counts_follow_push_rules_and_receipts() {
    let server = open_server("unread");
    let alice = register(&server, "alice");
    let bob = register(&server, "bob");
    let carol = register(&server, "carol");
    let room_id = public_room(&server, &alice, &[&bob, &carol]);
    alice.send_text(&server, &room_id, "hello all");
    alice.send_text(&server, &room_id, "still here");
    let last = alice.send_text(&server, &room_id, "hey bob, look");
    let sync = bob.sync(&server, None, 0);
    // Three messages notify (.m.rule.message); the one naming Bob highlights
    // (.m.rule.contains_user_name). Bob's own join does not count.
    assert_eq!(
        unread(&sync, &room_id),
        (3, 1),
        "{}",
        room_section(&sync, &room_id)
    );
    // Alice's own messages never count for her.
    assert_eq!(unread(&alice.sync(&server, None, 0), &room_id), (0, 0));
    // A notice does not notify (.m.rule.suppress_notices).
    let path = format!(
        "/_matrix/client/v3/rooms/{}/send/m.room.message/n1",
        encode(&room_id)
    );
    alice.put(
        &server,
        &path,
        json!({"msgtype": "m.notice", "body": "bot"}),
    );
    let since = sync["next_batch"].as_str().unwrap().to_owned();
    let sync = bob.sync(&server, Some(&since), 5_000);
    assert_eq!(unread(&sync, &room_id), (3, 1));
    // Reading up to the last message clears the counts.
    receipt(&server, &bob, &room_id, "m.read", &last, json!({}));
    let since = sync["next_batch"].as_str().unwrap().to_owned();
    let sync = bob.sync(&server, Some(&since), 5_000);
    assert_eq!(unread(&sync, &room_id), (0, 0));
    // Sending a message counts as reading everything before it.
    alice.send_text(&server, &room_id, "anyone?");
    let since = sync["next_batch"].as_str().unwrap().to_owned();
    let sync = bob.sync(&server, Some(&since), 5_000);
    assert_eq!(unread(&sync, &room_id), (1, 0));
    bob.send_text(&server, &room_id, "yes, me");
    let since = sync["next_batch"].as_str().unwrap().to_owned();
    let sync = bob.sync(&server, Some(&since), 5_000);
    assert_eq!(unread(&sync, &room_id), (0, 0));
    // A private receipt clears too.
    let next = carol.send_text(&server, &room_id, "carol speaks");
    let since = sync["next_batch"].as_str().unwrap().to_owned();
    let sync = bob.sync(&server, Some(&since), 5_000);
    assert_eq!(unread(&sync, &room_id), (1, 0));
    receipt(&server, &bob, &room_id, "m.read.private", &next, json!({}));
    let since = sync["next_batch"].as_str().unwrap().to_owned();
    let sync = bob.sync(&server, Some(&since), 5_000);
    assert_eq!(unread(&sync, &room_id), (0, 0));
}
