//! Sending on the real binary: a retried `send` or `redact` (same device, same txnId, same
//! path) gets the first event's ID and adds nothing; the same txnId on another path is
//! another request.

mod support;

use serde_json::json;
use support::client::{encode, open_server, register};

#[test]
fn retried_sends_and_redactions_are_answered_with_the_first_event() {
    let server = open_server("client-send");
    let alice = register(&server, "alice");
    let room_id = alice.create_room(&server, json!({}));
    let room = encode(&room_id);
    let send = format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/t1");
    let (status, first) = alice.put(&server, &send, json!({"msgtype": "m.text", "body": "once"}));
    assert_eq!(status, 200, "{first}");
    let (status, again) = alice.put(&server, &send, json!({"msgtype": "m.text", "body": "once"}));
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["event_id"], first["event_id"]);

    // The same txnId for another event type is another request.
    let other = format!("/_matrix/client/v3/rooms/{room}/send/m.room.other/t1");
    let (status, third) = alice.put(&server, &other, json!({"body": "other"}));
    assert_eq!(status, 200, "{third}");
    assert_ne!(third["event_id"], first["event_id"]);

    let target = encode(first["event_id"].as_str().unwrap_or_default());
    let redact = format!("/_matrix/client/v3/rooms/{room}/redact/{target}/r1");
    let (status, redaction) = alice.put(&server, &redact, json!({"reason": "typo"}));
    assert_eq!(status, 200, "{redaction}");
    let (status, redaction_again) = alice.put(&server, &redact, json!({"reason": "typo"}));
    assert_eq!(status, 200, "{redaction_again}");
    assert_eq!(redaction_again["event_id"], redaction["event_id"]);

    let (status, page) = alice.get(
        &server,
        &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=50"),
    );
    assert_eq!(status, 200, "{page}");
    let kinds: Vec<&str> = page["chunk"]
        .as_array()
        .map(|chunk| chunk.iter().filter_map(|e| e["type"].as_str()).collect())
        .unwrap_or_default();
    let count = |kind: &str| kinds.iter().filter(|k| **k == kind).count();
    assert_eq!(count("m.room.message"), 1, "{kinds:?}");
    assert_eq!(count("m.room.other"), 1, "{kinds:?}");
    assert_eq!(count("m.room.redaction"), 1, "{kinds:?}");
}

/// Under both durabilities, a message whose send was answered survives `hearth serve`
/// being killed (SIGKILL, no shutdown) right after: the write-ahead log is in the
/// operating system's hands once the commit returns, and is found again at the restart.
#[test]
fn answered_sends_survive_a_killed_server() {
    for durability in ["written", "flushed"] {
        let label = format!("client-send-kill-{durability}");
        let server = open_server(&label);
        let config = std::fs::read_to_string(&server.config_path).unwrap_or_default();
        let config = format!("{config}\n[database]\ndurability = \"{durability}\"\n");
        let dir = server.dir.clone();
        drop(server);
        let server = support::TestServer::start(&dir, &config, None);
        let alice = register(&server, "alice");
        let room_id = alice.create_room(&server, json!({}));
        let sent: Vec<String> = (0..60)
            .map(|n| alice.send_text(&server, &room_id, &format!("message {n}")))
            .collect();
        drop(server); // SIGKILL, then wait for the process to be gone

        let server = support::TestServer::start(&dir, &config, None);
        let room = encode(&room_id);
        let (status, page) = alice.get(
            &server,
            &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=100"),
        );
        assert_eq!(status, 200, "{durability}: {page}");
        let held: Vec<&str> = page["chunk"]
            .as_array()
            .map(|chunk| {
                chunk
                    .iter()
                    .filter_map(|e| e["event_id"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        for event_id in &sent {
            assert!(
                held.contains(&event_id.as_str()),
                "{durability}: {event_id} lost"
            );
        }
    }
}
