//! A bad peer sending to the real binary: PDUs with bad signatures, bad content hashes,
//! over 65536 bytes or malformed, transactions over the spec's limits, bodies over the
//! route's limit, and a flood of concurrent transactions. Each gets the right per-PDU
//! error or status, nothing wrong is stored, and the server keeps answering.

mod support;

use serde_json::{Value, json};

use hearth::proto::hashes::event_id_for;
use hearth::proto::signing::SigningKey;
use support::TestServer;
use support::client::{User, encode};
use support::fake_peer::{
    FakePeer, Joined, hearth_with_peers, join_as_peer, message_from_peer, message_with,
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
