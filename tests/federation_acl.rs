//! Server ACLs end to end against the real binary: a fake peer (its own key, served over
//! TLS as `127.0.0.1:<port>`) joins a hearth room; once the room's `m.room.server_acl`
//! denies it, every room endpoint answers it 403 `M_FORBIDDEN`, its PDUs in `/send` get a
//! per-PDU error and are not stored, and its typing and receipt EDUs are dropped; lifting
//! the ACL lets it back in. Nor can a room endpoint be made to answer about another room.

mod support;

use serde_json::{Value, json};

use hearth::proto::hashes::event_id_for;
use support::TestServer;
use support::client::{User, encode};
use support::fake_peer::{FakePeer, Joined, hearth_with_peers, join_as_peer, message_from_peer};

fn start(label: &str) -> (TestServer, FakePeer, User) {
    let (server, mut peers, alice) = hearth_with_peers(label, 1);
    (server, peers.remove(0), alice)
}

fn set_acl(server: &TestServer, alice: &User, room_id: &str, content: Value) -> (u16, Value) {
    let path = format!(
        "/_matrix/client/v3/rooms/{}/state/m.room.server_acl",
        encode(room_id)
    );
    alice.put(server, &path, content)
}

/// Every protected room endpoint, as (method, path, body).
fn room_endpoints(
    peer: &FakePeer,
    room_id: &str,
    joined: &Joined,
) -> Vec<(&'static str, String, Option<Value>)> {
    let (room, event) = (encode(room_id), encode(&joined.join_event_id));
    let bob = encode(&peer.user("bob"));
    let carol = encode(&peer.user("carol"));
    let f = "/_matrix/federation";
    vec![
        (
            "GET",
            format!("{f}/v1/make_join/{room}/{carol}?ver=10&ver=11&ver=12"),
            None,
        ),
        ("GET", format!("{f}/v1/make_leave/{room}/{bob}"), None),
        (
            "GET",
            format!("{f}/v1/make_knock/{room}/{carol}?ver=10&ver=11&ver=12"),
            None,
        ),
        (
            "PUT",
            format!("{f}/v2/send_join/{room}/{event}"),
            Some(json!({})),
        ),
        (
            "PUT",
            format!("{f}/v2/send_leave/{room}/{event}"),
            Some(json!({})),
        ),
        (
            "PUT",
            format!("{f}/v1/send_knock/{room}/{event}"),
            Some(json!({})),
        ),
        ("GET", format!("{f}/v1/state/{room}?event_id={event}"), None),
        (
            "GET",
            format!("{f}/v1/state_ids/{room}?event_id={event}"),
            None,
        ),
        ("GET", format!("{f}/v1/event_auth/{room}/{event}"), None),
        (
            "GET",
            format!("{f}/v1/backfill/{room}?v={event}&limit=5"),
            None,
        ),
        ("GET", format!("{f}/v1/event/{event}"), None),
        (
            "PUT",
            format!("{f}/v2/invite/{room}/{event}"),
            Some(json!({"room_version": "10", "event": {}})),
        ),
        (
            "POST",
            format!("{f}/v1/get_missing_events/{room}"),
            Some(
                json!({"earliest_events": [], "latest_events": [joined.join_event_id], "limit": 5}),
            ),
        ),
    ]
}

#[test]
fn a_denied_server_is_refused_by_every_room_endpoint_and_lifting_the_acl_lets_it_back() {
    let (server, peer, alice) = start("acl");
    let room_id = alice.create_room(&server, json!({"preset": "public_chat"}));
    let joined = join_as_peer(&server, &peer, &room_id);

    // Allowed by an ACL that names someone else: the reads work.
    let (status, answer) = set_acl(
        &server,
        &alice,
        &room_id,
        json!({"allow": ["*"], "deny": ["evil.example"]}),
    );
    assert_eq!(status, 200, "{answer}");
    let f = "/_matrix/federation/v1";
    let state_ids = format!(
        "{f}/state_ids/{}?event_id={}",
        encode(&room_id),
        encode(&joined.join_event_id)
    );
    assert_eq!(peer.call(&server, "GET", &state_ids, None).status, 200);
    let backfill = format!(
        "{f}/backfill/{}?v={}&limit=5",
        encode(&room_id),
        encode(&joined.join_event_id)
    );
    assert_eq!(peer.call(&server, "GET", &backfill, None).status, 200);

    // An ACL that would shut hearth out of its own room is refused.
    let (status, answer) = set_acl(
        &server,
        &alice,
        &room_id,
        json!({"allow": ["*"], "deny": ["hearth.test"]}),
    );
    assert_eq!(
        (status, answer["errcode"].as_str()),
        (400, Some("M_BAD_JSON")),
        "{answer}"
    );

    // Deny the peer by name (its port is not considered): every endpoint says 403.
    let (status, answer) = set_acl(
        &server,
        &alice,
        &room_id,
        json!({"allow": ["*"], "deny": ["127.0.0.1"]}),
    );
    assert_eq!(status, 200, "{answer}");
    for (method, path, body) in room_endpoints(&peer, &room_id, &joined) {
        let response = peer.call(&server, method, &path, body.as_ref());
        assert_eq!(
            response.status,
            403,
            "{method} {path}: {:?}",
            response.json()
        );
        let body = response.json();
        assert_eq!(body["errcode"], "M_FORBIDDEN", "{method} {path}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains("server ACL"),
            "{body}"
        );
    }

    // A PDU in /send gets a per-PDU error and is not stored; the transaction is a 200.
    let message = message_from_peer(&peer, &room_id, &joined, "while denied");
    let message_id = event_id_for(&joined.rules, message.as_object().unwrap()).unwrap();
    let send = |txn: &str, pdus, edus| peer.send_txn(&server, txn, pdus, edus);
    let typing = json!({"edu_type": "m.typing", "content": {
        "room_id": room_id, "user_id": peer.user("bob"), "typing": true}});
    let receipt = json!({"edu_type": "m.receipt", "content": {room_id.clone(): {"m.read": {
        peer.user("bob"): {"event_ids": [joined.join_event_id], "data": {"ts": 6_000}}}}}});
    let edus = vec![typing, receipt];
    let response = send("denied1", vec![message.clone()], edus.clone());
    assert_eq!(response.status, 200);
    let error = response.json()["pdus"][&message_id]["error"].clone();
    assert!(error.as_str().unwrap().contains("server ACL"), "{error}");
    let event_path = format!(
        "/_matrix/client/v3/rooms/{}/event/{}",
        encode(&room_id),
        encode(&message_id)
    );
    assert_eq!(
        alice.get(&server, &event_path).0,
        404,
        "a denied PDU is not stored"
    );
    let sync = alice.sync(&server, None, 0);
    let ephemeral = &sync["rooms"]["join"][&room_id]["ephemeral"]["events"];
    assert!(
        !ephemeral.to_string().contains(&peer.user("bob")),
        "a denied server's typing and receipts are dropped: {ephemeral}"
    );

    // IP literals refused as a class.
    let (status, _) = set_acl(
        &server,
        &alice,
        &room_id,
        json!({"allow": ["*"], "allow_ip_literals": false}),
    );
    assert_eq!(status, 200);
    peer.call(&server, "GET", &state_ids, None)
        .assert_error(403, "M_FORBIDDEN");

    // Lifted: the peer is back, its PDU, its typing and its receipt go through.
    let (status, _) = set_acl(&server, &alice, &room_id, json!({"allow": ["*"]}));
    assert_eq!(status, 200);
    assert_eq!(peer.call(&server, "GET", &state_ids, None).status, 200);
    assert_eq!(peer.call(&server, "GET", &backfill, None).status, 200);
    let response = send("allowed1", vec![message], edus);
    assert_eq!(response.status, 200);
    assert_eq!(
        response.json()["pdus"][&message_id],
        json!({}),
        "{:?}",
        response.json()
    );
    let (status, event) = alice.get(&server, &event_path);
    assert_eq!(status, 200, "{event}");
    assert_eq!(event["content"]["body"], "while denied");
    let sync = alice.sync(&server, None, 0);
    let ephemeral = &sync["rooms"]["join"][&room_id]["ephemeral"]["events"];
    for kind in ["m.typing", "m.receipt"] {
        let events = ephemeral.as_array().unwrap();
        let event = events.iter().find(|e| e["type"] == kind);
        assert!(
            event.is_some_and(|e| e.to_string().contains(&peer.user("bob"))),
            "{kind}: {ephemeral}"
        );
    }
}

#[test]
fn an_acl_that_allows_only_named_servers_denies_the_rest() {
    let (server, peer, alice) = start("acl-empty");
    let room_id = alice.create_room(&server, json!({"preset": "public_chat"}));
    // `{}` would deny hearth.test too: refused as such.
    let (status, _) = set_acl(&server, &alice, &room_id, json!({"deny": []}));
    assert_eq!(status, 400);
    // Allow only hearth.test: the peer is denied by step 5 (matched by nothing).
    let (status, _) = set_acl(&server, &alice, &room_id, json!({"allow": ["hearth.test"]}));
    assert_eq!(status, 200);
    let path = format!(
        "/_matrix/federation/v1/make_join/{}/{}?ver=10&ver=11&ver=12",
        encode(&room_id),
        encode(&peer.user("bob"))
    );
    peer.call(&server, "GET", &path, None)
        .assert_error(403, "M_FORBIDDEN");
}

#[test]
fn room_endpoints_never_answer_about_another_rooms_events() {
    let (server, peer, alice) = start("acl-cross-room");
    let open_room = alice.create_room(&server, json!({"preset": "public_chat"}));
    let joined = join_as_peer(&server, &peer, &open_room);
    // A room the peer is not in, and one whose ACL denies it: its events stay hidden even
    // when asked for under the room the peer is in.
    let closed_room = alice.create_room(&server, json!({"preset": "private_chat"}));
    let secret = alice.send_text(&server, &closed_room, "secret");
    let (room, event) = (encode(&open_room), encode(&secret));
    let f = "/_matrix/federation/v1";
    for path in [
        format!("{f}/state/{room}?event_id={event}"),
        format!("{f}/state_ids/{room}?event_id={event}"),
        format!("{f}/event_auth/{room}/{event}"),
    ] {
        peer.call(&server, "GET", &path, None)
            .assert_error(404, "M_NOT_FOUND");
    }
    let backfill = format!("{f}/backfill/{room}?v={event}&limit=10");
    let answer = peer.call(&server, "GET", &backfill, None);
    assert_eq!(answer.status, 200);
    assert!(
        !answer.json().to_string().contains("secret"),
        "{:?}",
        answer.json()
    );
    let missing = json!({"earliest_events": [], "latest_events": [secret], "limit": 10});
    let path = format!("{f}/get_missing_events/{room}");
    let answer = peer.call(&server, "POST", &path, Some(&missing));
    assert_eq!(answer.status, 200);
    assert!(
        !answer.json().to_string().contains("secret"),
        "{:?}",
        answer.json()
    );
    // The room's own events are still answered.
    let own = format!(
        "{f}/state_ids/{room}?event_id={}",
        encode(&joined.join_event_id)
    );
    assert_eq!(peer.call(&server, "GET", &own, None).status, 200);
}
