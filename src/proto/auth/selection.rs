//! The auth events selection (spec: s2s "Auth events selection") and rule 2, which checks
//! an event's `auth_events` list against it: no duplicates, nothing unselected, the create
//! event present (v1–11) or absent (v12), and every entry of the same room.

use std::collections::HashSet;

use serde_json::Value;

use super::AuthError;
use crate::proto::pdu::Pdu;
use crate::proto::room_version::RoomRules;

/// The `(type, state_key)` pairs of the state that may authorise `event`: the pairs its
/// `auth_events` may cite, and the state [`super::check`] reads. Empty for a create event.
///
/// v12 leaves out `m.room.create`: the room ID names it instead (rooms/v12 rule 3.2).
pub fn auth_types_for_event(rules: &RoomRules, event: &Pdu) -> Vec<(String, String)> {
    if event.kind() == "m.room.create" {
        return Vec::new();
    }
    let mut types: Vec<(String, String)> = Vec::new();
    let mut add = |kind: &str, state_key: &str| {
        let pair = (kind.to_string(), state_key.to_string());
        if !types.contains(&pair) {
            types.push(pair);
        }
    };
    if !rules.room_id_is_create_event_hash {
        add("m.room.create", "");
    }
    add("m.room.power_levels", "");
    add("m.room.member", event.sender());
    if event.kind() == "m.room.member" {
        let content = event.content();
        let membership = content.get("membership").and_then(Value::as_str);
        if let Some(target) = event.state_key() {
            add("m.room.member", target);
        }
        if matches!(membership, Some("join" | "invite" | "knock")) {
            add("m.room.join_rules", "");
        }
        if membership == Some("invite") {
            let token = content
                .get("third_party_invite")
                .and_then(|invite| invite.get("signed"))
                .and_then(|signed| signed.get("token"))
                .and_then(Value::as_str);
            if let Some(token) = token {
                add("m.room.third_party_invite", token);
            }
        }
        if rules.restricted_join_rule && membership == Some("join") {
            let authoriser = content
                .get("join_authorised_via_users_server")
                .and_then(Value::as_str);
            if let Some(authoriser) = authoriser {
                add("m.room.member", authoriser);
            }
        }
    }
    types
}

/// Rule 2 (v12: rule 3) over the event's own `auth_events`, which the caller has fetched
/// (in any order). Rule 2.3, that none of them was rejected, is the caller's to check.
pub fn check_auth_events(rules: &RoomRules, event: &Pdu, auth_events: &[&Pdu]) -> Result<(), AuthError> {
    if event.kind() == "m.room.create" {
        return Ok(());
    }
    let expected = auth_types_for_event(rules, event);
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    // Rule 2.1. An entry without a `state_key` is not state and so never selected.
    for auth_event in auth_events {
        let key = (auth_event.kind(), auth_event.state_key().unwrap_or(""));
        if auth_event.is_state() && !seen.insert(key) {
            return Err(AuthError::DuplicateAuthEvent {
                kind: key.0.to_string(),
                state_key: key.1.to_string(),
            });
        }
    }
    // Rule 2.2.
    for auth_event in auth_events {
        let selected = auth_event.state_key().is_some_and(|state_key| {
            expected
                .iter()
                .any(|(kind, key)| kind == auth_event.kind() && key == state_key)
        });
        if !selected {
            return Err(AuthError::UnexpectedAuthEvent {
                kind: auth_event.kind().to_string(),
                state_key: auth_event.state_key().unwrap_or("").to_string(),
            });
        }
    }
    // Rule 2.4 (v1–11).
    if !rules.room_id_is_create_event_hash && !seen.contains(&("m.room.create", "")) {
        return Err(AuthError::MissingCreateEvent);
    }
    // Rule 2.5.
    if let Some(other_room) = auth_events.iter().find(|a| a.room_id() != event.room_id()) {
        return Err(AuthError::WrongRoom {
            event_id: other_room.event_id().to_string(),
        });
    }
    Ok(())
}
