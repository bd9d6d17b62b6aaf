//! The redaction algorithm (spec: rooms/fragments v1-, v6-, v9-, v11-redactions; rooms/v8
//! "Redactions"; rooms/v12): which top-level keys and which `content` keys survive.
//!
//! Redaction is used for hashing and signing (the reference hash and signatures cover the
//! redacted form) as well as for serving redacted events, so it must match other servers
//! byte for byte. Where the spec's words leave room, this follows Synapse
//! (`rust/src/events/utils.rs`, `redact`), noted at each place.
//!
//! `unsigned` is dropped, as the spec's list says. Synapse keeps `age_ts` and
//! `replaces_state` there for its own bookkeeping; a caller that serves the redacted event
//! adds `unsigned.redacted_because` itself.

use serde_json::{Map, Value};

use super::room_version::{RedactionRules, RoomRules};

/// Returns the redacted copy of `event` under `rules`. Never fails: a missing or non-object
/// `content` redacts to `{}` (the event format check rejects such events anyway).
pub fn redact(rules: &RoomRules, event: &Map<String, Value>) -> Map<String, Value> {
    let kind = event.get("type").and_then(Value::as_str).unwrap_or("");
    let content = event.get("content").and_then(Value::as_object);
    let mut redacted = Map::new();
    for (key, value) in event {
        if keeps_top_level_key(rules, kind, key) {
            redacted.insert(key.clone(), value.clone());
        }
    }
    let new_content = content.map_or_else(Map::new, |content| redact_content(rules, kind, content));
    redacted.insert("content".to_owned(), Value::Object(new_content));
    redacted
}

/// Whether a top-level key survives redaction.
fn keeps_top_level_key(rules: &RoomRules, kind: &str, key: &str) -> bool {
    // `content` is rebuilt by `redact_content`.
    const ALWAYS: [&str; 10] = [
        "event_id",
        "type",
        "room_id",
        "sender",
        "state_key",
        "hashes",
        "signatures",
        "depth",
        "prev_events",
        "auth_events",
    ];
    if key == "room_id" && kind == "m.room.create" && rules.room_id_is_create_event_hash {
        // Synapse (MSC4291): a v12 create event has no room ID, and a stray one is not
        // kept, so it cannot change the hash that becomes the room ID.
        return false;
    }
    if ALWAYS.contains(&key) || key == "origin_server_ts" {
        return true;
    }
    // Spec: rooms/fragments/v11-redactions drops `origin`, `membership` and `prev_state`.
    let before_v11 = rules.redaction != RedactionRules::V11;
    before_v11 && matches!(key, "origin" | "membership" | "prev_state")
}

/// The `content` keys kept for `kind`.
fn redact_content(
    rules: &RoomRules,
    kind: &str,
    content: &Map<String, Value>,
) -> Map<String, Value> {
    let level = rules.redaction;
    let v11 = level == RedactionRules::V11;
    let mut kept = Map::new();
    let mut keep = |key: &str| {
        if let Some(value) = content.get(key) {
            kept.insert(key.to_owned(), value.clone());
        }
    };
    match kind {
        "m.room.member" => {
            keep("membership");
            if matches!(level, RedactionRules::V9 | RedactionRules::V11) {
                keep("join_authorised_via_users_server");
            }
            if v11 && let Some(Value::Object(invite)) = content.get("third_party_invite") {
                // Spec: v11 keeps `third_party_invite.signed`. Synapse keeps an empty
                // `third_party_invite` object when `signed` is absent; do the same so the
                // hashes agree.
                let mut kept_invite = Map::new();
                if let Some(signed) = invite.get("signed") {
                    kept_invite.insert("signed".to_owned(), signed.clone());
                }
                kept.insert("third_party_invite".to_owned(), Value::Object(kept_invite));
            }
        }
        "m.room.create" => {
            if v11 {
                // Spec: rooms/fragments/v11-redactions: the create event keeps all content.
                return content.clone();
            }
            keep("creator");
        }
        "m.room.join_rules" => {
            keep("join_rule");
            if level != RedactionRules::V1 && level != RedactionRules::V6 {
                keep("allow");
            }
        }
        "m.room.power_levels" => {
            for key in [
                "ban",
                "events",
                "events_default",
                "kick",
                "redact",
                "state_default",
                "users",
                "users_default",
            ] {
                keep(key);
            }
            if v11 {
                keep("invite");
            }
        }
        "m.room.aliases" if level == RedactionRules::V1 => keep("aliases"),
        "m.room.history_visibility" => keep("history_visibility"),
        "m.room.redaction" if v11 => keep("redacts"),
        _ => {}
    }
    kept
}

#[cfg(test)]
#[path = "redaction_tests.rs"]
mod tests;
