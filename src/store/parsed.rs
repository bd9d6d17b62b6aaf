//! Parsed copies of stored events that are read again and again: the auth events of a
//! room's current state (its create event, power levels, join rules, the sender's
//! membership), which every local event is built and checked against on the writer's
//! thread. Parsing them anew each time was a tenth of the writer's time per message.
//!
//! Why this is safe: an entry is used only when the stored text is byte for byte the text
//! it was parsed from, so a changed row (an outlier promoted, a row rolled back and its
//! ID reused) is parsed again, never served stale.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::events::StoredEvent;
use crate::proto::pdu::Pdu;

/// Above this many bytes of event text held, the cache starts over (a power levels
/// event of a large room can be hundreds of kilobytes).
const MAX_HELD_BYTES: usize = 2 << 20;

#[derive(Default)]
pub struct ParsedEvents {
    inner: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    by_event_id: HashMap<String, (String, Arc<Pdu>)>,
    bytes: usize,
}

impl ParsedEvents {
    pub fn new() -> ParsedEvents {
        ParsedEvents::default()
    }

    /// `stored` as a `Pdu`, parsed once per distinct text; `None` when its text is not a
    /// JSON object.
    pub fn pdu(&self, stored: &StoredEvent) -> Option<Arc<Pdu>> {
        if let Some(pdu) = self.with_held(|held| {
            held.by_event_id
                .get(&stored.event_id)
                .filter(|(text, _)| *text == stored.pdu)
                .map(|(_, pdu)| pdu.clone())
        }) {
            return Some(pdu);
        }
        let Ok(Value::Object(json)) = serde_json::from_str::<Value>(&stored.pdu) else {
            return None;
        };
        let pdu = Arc::new(Pdu::new(stored.event_id.clone(), json));
        self.with_held(|held| {
            if held.bytes + stored.pdu.len() > MAX_HELD_BYTES {
                held.by_event_id.clear();
                held.bytes = 0;
            }
            held.bytes += stored.pdu.len();
            let entry = (stored.pdu.clone(), pdu.clone());
            if let Some((old, _)) = held.by_event_id.insert(stored.event_id.clone(), entry) {
                held.bytes = held.bytes.saturating_sub(old.len());
            }
        });
        Some(pdu)
    }

    fn with_held<T>(&self, f: impl FnOnce(&mut Held) -> T) -> T {
        match self.inner.lock() {
            Ok(mut held) => f(&mut held),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(event_id: &str, text: &str) -> StoredEvent {
        StoredEvent {
            event_nid: 1,
            event_id: event_id.into(),
            room_nid: 1,
            kind: "m.room.power_levels".into(),
            state_key: Some(String::new()),
            sender: "@a:x".into(),
            origin_server_ts: 0,
            depth: 1,
            stream_ordering: Some(1),
            pdu: text.into(),
            rejected: false,
            soft_failed: false,
            outlier: false,
            state_group_before: None,
            redacted_by: None,
            state_group_after: None,
        }
    }

    #[test]
    fn a_changed_text_is_parsed_again_and_garbage_is_none() {
        let cache = ParsedEvents::new();
        let first = cache
            .pdu(&stored("$e", r#"{"content":{"ban":50}}"#))
            .unwrap();
        let again = cache
            .pdu(&stored("$e", r#"{"content":{"ban":50}}"#))
            .unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        let changed = cache
            .pdu(&stored("$e", r#"{"content":{"ban":0}}"#))
            .unwrap();
        assert_eq!(changed.content().get("ban"), Some(&serde_json::json!(0)));
        assert!(cache.pdu(&stored("$f", "[1]")).is_none());
        assert!(cache.pdu(&stored("$g", "{")).is_none());
    }
}
