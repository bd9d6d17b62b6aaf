//! The inbound transaction endpoint, `PUT /send/{txnId}`, in-process: a full transaction of
//! 50 PDUs is received in one go, PDUs that arrive before the events they follow are
//! received once those are in, a PDU with a broken signature is refused on its own, and a
//! repeated transaction ID is answered from memory without storing anything twice.

mod support;

#[path = "support/remote_room.rs"]
mod remote_room;

use serde_json::Value;

use hearth::federation::endpoints::transaction;
use hearth::store::events;
use remote_room::RemoteRoom;
use support::temp_dir;

fn send(room: &RemoteRoom, txn_id: &str, pdus: Vec<Value>) -> Value {
    let request = room.send_request(txn_id, pdus);
    let response = smol::block_on(transaction::handle(&room.server, request)).expect("200");
    assert_eq!(response.status, 200);
    serde_json::from_slice(&response.body).expect("json")
}

fn event_id(pdu: &Value) -> String {
    hearth::proto::hashes::event_id_for(&remote_room::RULES, pdu.as_object().expect("object"))
        .expect("event id")
}

/// The room's timeline as bob's message bodies, oldest first.
fn bodies(room: &RemoteRoom) -> Vec<String> {
    let room_id = room.room_id.clone();
    let stored = smol::block_on(room.server.store.read(move |connection| {
        let room = events::room_by_id(connection, &room_id)?.expect("room");
        events::timeline(connection, room.room_nid, 0, i64::MAX, 1_000, false)
    }))
    .expect("timeline");
    let mut bodies: Vec<(i64, String)> = stored
        .into_iter()
        .filter(|e| e.kind == "m.room.message")
        .map(|e| {
            let pdu: Value = serde_json::from_str(&e.pdu).expect("stored json");
            let body = pdu["content"]["body"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            (e.stream_ordering.unwrap_or_default(), body)
        })
        .collect();
    bodies.sort();
    bodies.into_iter().map(|(_, body)| body).collect()
}

#[test]
fn a_full_transaction_is_received_in_order_and_only_once() {
    let dir = temp_dir("txn-full");
    let mut room = RemoteRoom::start(&dir);
    let pdus = room.messages(50);
    let expected: Vec<String> = pdus
        .iter()
        .map(|p| p["content"]["body"].as_str().unwrap_or_default().to_owned())
        .collect();
    let ids: Vec<String> = pdus.iter().map(event_id).collect();
    let answer = send(&room, "t1", pdus.clone());
    for id in &ids {
        assert_eq!(answer["pdus"][id], serde_json::json!({}), "{id}: {answer}");
    }
    assert_eq!(bodies(&room), expected);

    // The same transaction again: the same answer, nothing stored twice.
    let again = send(&room, "t1", pdus);
    assert_eq!(again, answer);
    assert_eq!(bodies(&room).len(), 50);
}

#[test]
fn out_of_order_pdus_wait_for_their_predecessors_and_a_forgery_is_refused_alone() {
    let dir = temp_dir("txn-order");
    let mut room = RemoteRoom::start(&dir);
    let mut pdus = room.messages(3);
    let mut forged = room.messages(1).remove(0);
    // Another server's signature bytes under bob's server's key ID: a forgery.
    let key_id = room.remote_key.key_id();
    forged["signatures"]["remote.test"][&key_id] = Value::String("A".repeat(86));
    // The newest first: each PDU arrives before the one it follows.
    pdus.reverse();
    let ids: Vec<String> = pdus.iter().map(event_id).collect();
    let forged_id = event_id(&forged);
    pdus.push(forged);
    let answer = send(&room, "t2", pdus);
    for id in &ids {
        assert_eq!(answer["pdus"][id], serde_json::json!({}), "{id}: {answer}");
    }
    let error = answer["pdus"][&forged_id]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(error.contains("signature"), "{answer}");
    assert_eq!(bodies(&room).len(), 3, "the forgery is not in the timeline");
}
