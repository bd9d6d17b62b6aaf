//! Membership templates from `make_join` / `make_leave`, turned into events this server
//! signs: the resident server built them, we stamp, hash and sign them (spec: s2s
//! "Joining Rooms" and "Leaving Rooms").

use serde_json::{Map, Value, json};

use crate::proto::hashes::{event_id_for, hash_and_sign_event};
use crate::proto::id::UserId;
use crate::proto::room_version::{EventIdFormat, RoomRules};
use crate::server::{Server, now_ms};

/// Our signed copy of the `event` of a make_* answer for `user`, with its event ID; an error
/// text when the answer has no event, is for someone else, or cannot be signed.
pub fn sign_membership_template(
    server: &Server,
    rules: &RoomRules,
    user: &UserId,
    answer: &Value,
) -> Result<(String, Map<String, Value>), String> {
    let mut event: Map<String, Value> = answer
        .get("event")
        .and_then(Value::as_object)
        .cloned()
        .ok_or("the answer has no event")?;
    let field = |name: &str| event.get(name).and_then(Value::as_str);
    if field("sender") != Some(user.as_str())
        || field("state_key") != Some(user.as_str())
        || field("type") != Some("m.room.member")
    {
        return Err("the template is for someone else".into());
    }
    for name in ["signatures", "hashes", "unsigned"] {
        event.remove(name);
    }
    event.insert("origin_server_ts".into(), json!(now_ms()));
    if rules.event_id_format == EventIdFormat::Explicit {
        // Room versions 1 and 2: the event ID is chosen by its server, not hashed.
        let mut random = [0u8; 12];
        getrandom::fill(&mut random).map_err(|_| "no randomness".to_owned())?;
        let id: String = random.iter().map(|b| format!("{b:02x}")).collect();
        event.insert(
            "event_id".into(),
            json!(format!("${id}:{}", server.server_name())),
        );
    }
    hash_and_sign_event(rules, &mut event, &server.name, &server.signing_key)
        .map_err(|e| format!("cannot sign it: {e}"))?;
    let event_id = event_id_for(rules, &event).map_err(|e| e.to_string())?;
    Ok((event_id, event))
}
