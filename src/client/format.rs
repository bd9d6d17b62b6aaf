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
