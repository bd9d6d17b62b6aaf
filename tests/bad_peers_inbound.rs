//! A bad peer sending to the real binary: PDUs with bad signatures, bad content hashes,
//! over 65536 bytes or malformed, transactions over the spec's limits, bodies over the
//! route's limit, and a flood of concurrent transactions. Each gets the right per-PDU
//! error or status, nothing wrong is stored, and the server keeps answering.

mod support;

use serde_json::{Value, json};

use hearth::proto::hashes::{event_id_for, hash_and_sign_event};
use hearth::proto::signing::SigningKey;
use support::TestServer;
use support::client::{User, encode};
use support::fake_peer::{
    Answer, FakePeer, Joined, hearth_with_peers, join_as_peer, message_from_peer, message_with,
};

struct Room {
    server: TestServer,
    peer: FakePeer,
    alice: User,
    room_id: String,
    joined: Joined,
}

/// alice's public room, which bob of the fake peer joined.
fn room(label: &str) -> Room {
    let (server, mut peers, alice) = hearth_with_peers(label, 1);
    let peer = peers.remove(0);
    let room_id = alice.create_room(&server, json!({"preset": "public_chat"}));
    let joined = join_as_peer(&server, &peer, &room_id);
    Room {
        server,
        peer,
        alice,
        room_id,
        joined,
    }
}

impl Room {
    fn event_id(&self, event: &Value) -> String {
        event_id_for(&self.joined.rules, event.as_object().unwrap()).unwrap()
    }

    /// alice's view of an event: (status, event).
    fn event(&self, event_id: &str) -> (u16, Value) {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/event/{}",
            encode(&self.room_id),
            encode(event_id)
        );
        self.alice.get(&self.server, &path)
    }

    fn message(&self, content: Value, key: &SigningKey) -> Value {
        Value::Object(message_with(
            &self.peer,
            &self.room_id,
            &self.joined,
            content,
            key,
            true,
        ))
    }
}

#[test]
fn bad_pdus_get_per_pdu_errors_and_nothing_wrong_is_stored() {
    let room = room("bad-pdus");
    let (server, peer) = (&room.server, &room.peer);

    let good = message_from_peer(peer, &room.room_id, &room.joined, "good");
    // Signed under the peer's key ID by another key.
    let version = peer
        .key
        .key_id()
        .strip_prefix("ed25519:")
        .unwrap()
        .to_owned();
    let impostor = SigningKey::from_seed(&version, [99; 32]).unwrap();
    let forged = room.message(json!({"msgtype": "m.text", "body": "forged"}), &impostor);
    // The content changed after hashing and signing: the signature (over the redacted
    // event) holds, the content hash does not.
    let mut tampered = room.message(json!({"msgtype": "m.text", "body": "original"}), &peer.key);
    tampered["content"]["body"] = json!("tampered");
    // Over 65536 bytes once encoded.
    let huge = room.message(
        json!({"msgtype": "m.text", "body": "x".repeat(70_000)}),
        &peer.key,
    );
    let ids: Vec<String> = [&good, &forged, &tampered, &huge]
        .iter()
        .map(|e| room.event_id(e))
        .collect();
    let pdus = vec![
        good.clone(),
        forged,
        tampered,
        huge,
        // Malformed: no answer is possible without an event ID, but nothing breaks.
        json!("not an object"),
        json!(42),
        json!([1, 2]),
        json!({}),
        json!({"room_id": room.room_id}),
        json!({"room_id": 7, "type": "m.room.message"}),
        json!({"room_id": "!unknown:elsewhere.test", "type": "m.room.message"}),
    ];
    let response = peer.send_txn(server, "bad-pdus", pdus, vec![]);
    assert_eq!(response.status, 200, "{:?}", response.json());
    let results = response.json()["pdus"].clone();
    assert_eq!(results[&ids[0]], json!({}), "{results}");
    let error = |id: &str| results[id]["error"].as_str().unwrap_or("").to_owned();
    assert!(error(&ids[1]).contains("signature"), "{results}");
    assert_eq!(
        results[&ids[2]],
        json!({}),
        "a bad hash is redacted, not refused: {results}"
    );
    assert!(error(&ids[3]).contains("65536"), "{results}");
    assert!(!results.to_string().contains("{:?}"), "{results}");

    assert_eq!(room.event(&ids[0]).1["content"]["body"], "good");
    assert_eq!(room.event(&ids[1]).0, 404, "a forged PDU is not stored");
    assert_eq!(room.event(&ids[3]).0, 404, "an oversized PDU is not stored");
    // Spec: s2s "Checks performed on receipt of a PDU": stored redacted.
    let (status, tampered) = room.event(&ids[2]);
    assert_eq!(status, 200, "{tampered}");
    assert_eq!(tampered["content"], json!({}), "{tampered}");

    // The same PDUs again under a new transaction: duplicates are fine, the verdicts hold.
    let response = peer.send_txn(server, "again", vec![good], vec![]);
    assert_eq!(response.json()["pdus"][&ids[0]], json!({}));
}

#[test]
fn transactions_over_the_limits_are_refused_whole() {
    let room = room("txn-limits");
    let (server, peer) = (&room.server, &room.peer);
    let message = message_from_peer(peer, &room.room_id, &room.joined, "once");
    let message_id = room.event_id(&message);

    // Spec: at most 50 PDUs and 100 EDUs; more is a 400 and nothing of it is processed.
    let too_many = vec![message.clone(); 51];
    peer.send_txn(server, "pdus51", too_many, vec![])
        .assert_error(400, "M_BAD_JSON");
    let typing = json!({"edu_type": "m.typing", "content": {
        "room_id": room.room_id, "user_id": peer.user("bob"), "typing": true}});
    peer.send_txn(server, "edus101", vec![], vec![typing.clone(); 101])
        .assert_error(400, "M_BAD_JSON");
    assert_eq!(room.event(&message_id).0, 404);

    // A body over the route's limit: 413 before it is read.
    let filler = "y".repeat(9 * 1024 * 1024);
    let response = peer.send_txn(
        server,
        "huge",
        vec![],
        vec![json!({"edu_type": "x", "content": {"f": filler}})],
    );
    response.assert_error(413, "M_TOO_LARGE");

    // Not JSON, or JSON that is not an object.
    let mut connection = server.connect();
    connection.send(
        "PUT",
        "/_matrix/federation/v1/send/garbage",
        &[],
        b"<html>no</html>",
    );
    let response = connection.read_response(false);
    assert!(
        response.status == 400 || response.status == 401,
        "{response:?}"
    );
    let response = peer.call(
        server,
        "PUT",
        "/_matrix/federation/v1/send/array",
        Some(&json!([1])),
    );
    response.assert_error(400, "M_BAD_JSON");

    // Exactly at the limits: fine; the same transaction ID again gets the same answer.
    let response = peer.send_txn(
        server,
        "limits",
        vec![message.clone()],
        vec![typing.clone(); 100],
    );
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["pdus"][&message_id], json!({}));
    let again = peer.send_txn(server, "limits", vec![], vec![]);
    assert_eq!(
        again.json(),
        response.json(),
        "deduplicated by (origin, txn ID)"
    );
    assert_eq!(room.event(&message_id).1["content"]["body"], "once");
}

#[test]
fn one_transaction_per_origin_at_a_time_and_a_flood_leaves_the_server_responsive() {
    let room = room("flood");
    let (server, peer) = (&room.server, &room.peer);
    // A PDU whose prev event is unknown: hearth asks the peer for the gap, and the peer
    // takes its time answering, which keeps this transaction in progress.
    let mut gap = json!({
        "room_id": room.room_id,
        "sender": peer.user("bob"),
        "type": "m.room.message",
        "content": {"msgtype": "m.text", "body": "after a gap"},
        "origin_server_ts": 5_000,
        "depth": room.joined.join_depth + 2,
        "prev_events": ["$unknownunknownunknownunknownunknownunknown00"],
        "auth_events": [room.joined.power_levels_id, room.joined.join_event_id],
    })
    .as_object()
    .unwrap()
    .clone();
    if !room.joined.rules.room_id_is_create_event_hash {
        gap["auth_events"]
            .as_array_mut()
            .unwrap()
            .push(json!(room.joined.create_id));
    }
    hash_and_sign_event(&room.joined.rules, &mut gap, &peer.server_name, &peer.key).unwrap();
    let gap = Value::Object(gap);
    let (asked, asked_rx) = std::sync::mpsc::channel();
    let asked = std::sync::Mutex::new(asked);
    peer.set_handler(move |request| {
        request.path.contains("/get_missing_events/").then(|| {
            let _ = asked.lock().unwrap().send(());
            std::thread::sleep(std::time::Duration::from_secs(2));
            Answer::Json(200, json!({"events": []}))
        })
    });
    std::thread::scope(|scope| {
        let first = scope.spawn(|| peer.send_txn(server, "slow", vec![gap.clone()], vec![]));
        asked_rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .unwrap();
        // In progress: another transaction of the origin is told to come back later...
        let other = message_from_peer(peer, &room.room_id, &room.joined, "other");
        peer.send_txn(server, "other", vec![other], vec![])
            .assert_error(429, "M_LIMIT_EXCEEDED");
        // ...a retry of the same one waits for its answer...
        let retry = scope.spawn(|| peer.send_txn(server, "slow", vec![], vec![]));
        // ...and local clients are served meanwhile.
        assert_eq!(room.alice.get(server, "/_matrix/client/versions").0, 200);
        let first = first.join().unwrap();
        let retry = retry.join().unwrap();
        assert_eq!(first.status, 200);
        assert_eq!(retry.status, 200);
        assert_eq!(retry.json(), first.json(), "the retry gets the same answer");
    });
    peer.set_handler(|_| None);

    // A flood: 24 threads of 4 transactions each, every one a new message. Each answer is
    // 200 or 429, local clients are served throughout, and what was refused goes
    // through when sent again one at a time.
    let messages: Vec<Value> = (0..96)
        .map(|n| message_from_peer(peer, &room.room_id, &room.joined, &format!("flood {n}")))
        .collect();
    let refused = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for (thread, chunk) in messages.chunks(4).enumerate() {
            let refused = &refused;
            scope.spawn(move || {
                for (n, message) in chunk.iter().enumerate() {
                    let txn = format!("flood-{thread}-{n}");
                    let response = peer.send_txn(server, &txn, vec![message.clone()], vec![]);
                    match response.status {
                        200 => {}
                        429 => refused.lock().unwrap().push((txn, message.clone())),
                        other => panic!("{other}: {:?}", response.json()),
                    }
                }
            });
        }
        for _ in 0..10 {
            assert_eq!(room.alice.get(server, "/_matrix/client/versions").0, 200);
        }
    });
    for (txn, message) in refused.into_inner().unwrap() {
        assert_eq!(
            peer.send_txn(server, &txn, vec![message], vec![]).status,
            200
        );
    }
    for message in &messages {
        let (status, event) = room.event(&room.event_id(message));
        assert_eq!(status, 200, "{event}");
    }
}
