//! A PDU as the protocol core sees it: the event's JSON object plus its event ID, with
//! lazy accessors that read fields only when a rule needs them (STYLE 3.2: never reject
//! an event other servers accept because a strict struct could not hold it).

use serde_json::{Map, Value};

/// A room event (PDU) in federation format, with its event ID.
///
/// For room versions 1–2 the ID is the `event_id` field; for later versions it is computed
/// from the reference hash by the caller and carried here, since it is not in the JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Pdu {
    event_id: String,
    json: Map<String, Value>,
}

impl Pdu {
    /// Wraps an event object whose ID is already known.
    pub fn new(event_id: String, json: Map<String, Value>) -> Self {
        Pdu { event_id, json }
    }

    pub fn event_id(&self) -> &str {
        &self.event_id
    }

    /// The whole event object as received or built.
    pub fn json(&self) -> &Map<String, Value> {
        &self.json
    }

    pub fn into_json(self) -> Map<String, Value> {
        self.json
    }

    fn str_field(&self, name: &str) -> Option<&str> {
        self.json.get(name).and_then(Value::as_str)
    }

    /// The `type` field (`kind` because `type` is a keyword).
    pub fn kind(&self) -> &str {
        self.str_field("type").unwrap_or("")
    }

    /// `room_id`; absent in v12 create events.
    pub fn room_id(&self) -> Option<&str> {
        self.str_field("room_id")
    }

    pub fn sender(&self) -> &str {
        self.str_field("sender").unwrap_or("")
    }

    /// `state_key`, present only on state events (possibly empty).
    pub fn state_key(&self) -> Option<&str> {
        self.str_field("state_key")
    }

    pub fn is_state(&self) -> bool {
        self.state_key().is_some()
    }

    /// The `content` object; an empty object when absent or not an object.
    pub fn content(&self) -> &Map<String, Value> {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        self.json
            .get("content")
            .and_then(Value::as_object)
            .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
    }

    pub fn origin_server_ts(&self) -> i64 {
        self.json
            .get("origin_server_ts")
            .and_then(Value::as_i64)
            .unwrap_or(0)
    }

    pub fn depth(&self) -> i64 {
        self.json.get("depth").and_then(Value::as_i64).unwrap_or(0)
    }

    /// `prev_events` IDs, in either format: plain IDs (v3+) or `[id, hashes]` pairs (v1–2).
    pub fn prev_event_ids(&self) -> Vec<&str> {
        event_id_list(self.json.get("prev_events"))
    }

    /// `auth_events` IDs, in either format.
    pub fn auth_event_ids(&self) -> Vec<&str> {
        event_id_list(self.json.get("auth_events"))
    }
}

fn event_id_list(value: Option<&Value>) -> Vec<&str> {
    let Some(Value::Array(items)) = value else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| match item {
            Value::String(id) => Some(id.as_str()),
            Value::Array(pair) => pair.first().and_then(Value::as_str),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pdu(value: Value) -> Pdu {
        Pdu::new("$e".into(), value.as_object().unwrap().clone())
    }

    #[test]
    fn reads_both_reference_formats() {
        let v1 =
            pdu(json!({"prev_events": [["$a:x", {"sha256": "h"}]], "auth_events": [["$b:x", {}]]}));
        assert_eq!(v1.prev_event_ids(), vec!["$a:x"]);
        assert_eq!(v1.auth_event_ids(), vec!["$b:x"]);
        let v4 = pdu(json!({"prev_events": ["$a"], "auth_events": ["$b", "$c"]}));
        assert_eq!(v4.prev_event_ids(), vec!["$a"]);
        assert_eq!(v4.auth_event_ids(), vec!["$b", "$c"]);
    }

    #[test]
    fn missing_fields_read_as_empty() {
        let event = pdu(json!({"content": 5}));
        assert_eq!(event.kind(), "");
        assert!(event.content().is_empty());
        assert!(!event.is_state());
        assert!(event.prev_event_ids().is_empty());
    }
}
