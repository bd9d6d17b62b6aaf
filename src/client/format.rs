//! Events as clients see them (spec: c2s "Room Event Format"): the PDU without its
//! federation fields, redacted content for redacted events, and `unsigned` extras.

use serde_json::{Map, Value, json};

use crate::proto::redaction::redact;
use crate::proto::room_version::RoomRules;
use crate::store::events::StoredEvent;

/// The client form of a stored event of a room with `rules`. `now_ms` gives `unsigned.age`.
pub fn client_event(stored: &StoredEvent, room_id: &str, rules: &RoomRules, now_ms: i64) -> Value {
    let pdu: Map<String, Value> = match serde_json::from_str(&stored.pdu) {
        Ok(Value::Object(object)) => object,
        _ => Map::new(),
    };
    let pdu = match &stored.redacted_by {
        Some(_) => redact(rules, &pdu),
        None => pdu,
    };
    let mut event = Map::new();
    for key in [
        "content",
        "origin_server_ts",
        "sender",
        "type",
        "state_key",
        "redacts",
    ] {
        if let Some(value) = pdu.get(key) {
            event.insert(key.to_owned(), value.clone());
        }
    }
    if !event.contains_key("content") {
        event.insert("content".into(), json!({}));
    }
    copy_redacts(&mut event);
    event.insert("event_id".into(), json!(stored.event_id));
    event.insert("room_id".into(), json!(room_id));
    let mut unsigned = Map::new();
    unsigned.insert(
        "age".into(),
        json!((now_ms - stored.origin_server_ts).max(0)),
    );
    if let Some(redacted_by) = &stored.redacted_by {
        unsigned.insert(
            "redacted_because".into(),
            json!({ "event_id": redacted_by }),
        );
    }
    event.insert("unsigned".into(), Value::Object(unsigned));
    Value::Object(event)
}

/// Spec: rooms/v11 "Client considerations" (MSC2174): `redacts` moved into `content`, and
/// servers serve it in both places whatever the room version, so that clients written for
/// either layout (matrix-nio 0.26 requires the top-level key) read every redaction.
fn copy_redacts(event: &mut Map<String, Value>) {
    if event.get("type").and_then(Value::as_str) != Some("m.room.redaction") {
        return;
    }
    let in_content = event
        .get("content")
        .and_then(|content| content.get("redacts"))
        .filter(|redacts| redacts.is_string())
        .cloned();
    let top_level = event.get("redacts").filter(|r| r.is_string()).cloned();
    match (top_level, in_content) {
        (None, Some(redacts)) => {
            event.insert("redacts".into(), redacts);
        }
        (Some(redacts), None) => {
            if let Some(Value::Object(content)) = event.get_mut("content") {
                content.insert("redacts".into(), redacts);
            }
        }
        _ => {}
    }
}

/// Stripped state (spec: c2s "Stripped state"): type, state_key, content, sender.
pub fn stripped_state(stored: &StoredEvent) -> Value {
    let pdu: Value = serde_json::from_str(&stored.pdu).unwrap_or(Value::Null);
    json!({
        "type": stored.kind,
        "state_key": stored.state_key.clone().unwrap_or_default(),
        "content": pdu.get("content").cloned().unwrap_or_else(|| json!({})),
        "sender": stored.sender,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pdu: Value, expect_top: Option<&str>, expect_content: Option<&str>) {
        let mut event = pdu.as_object().cloned().unwrap_or_default();
        copy_redacts(&mut event);
        assert_eq!(event.get("redacts").and_then(Value::as_str), expect_top);
        let content = event.get("content").and_then(|c| c.get("redacts"));
        assert_eq!(content.and_then(Value::as_str), expect_content);
    }

    #[test]
    fn redacts_is_served_in_both_places() {
        let v11 = json!({"type": "m.room.redaction", "content": {"redacts": "$a"}});
        check(v11, Some("$a"), Some("$a"));
        let v10 = json!({"type": "m.room.redaction", "redacts": "$b", "content": {}});
        check(v10, Some("$b"), Some("$b"));
        let other = json!({"type": "m.room.message", "content": {"redacts": "$c"}});
        check(other, None, Some("$c"));
        let redacted = json!({"type": "m.room.redaction", "content": {}});
        check(redacted, None, None);
    }
}
