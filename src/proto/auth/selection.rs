//! Rule 2, which checks an event's `auth_events` list against the auth events selection
//! (spec: s2s "Auth events selection", implemented by `event_format::auth_event_types`):
//! no duplicates, nothing unselected, the create event present (v1–11) or absent (v12),
//! and every entry of the same room.

use std::collections::HashSet;

use super::AuthError;
use crate::proto::event_format::auth_event_types;
use crate::proto::id::UserId;
use crate::proto::pdu::Pdu;
use crate::proto::room_version::RoomRules;

/// Rule 2 (v12: rule 3) over the event's own `auth_events`, which the caller has fetched
/// (in any order). Rule 2.3, that none of them was rejected, is the caller's to check.
pub fn check_auth_events(
    rules: &RoomRules,
    event: &Pdu,
    auth_events: &[&Pdu],
) -> Result<(), AuthError> {
    if event.kind() == "m.room.create" {
        return Ok(());
    }
    // A sender that is not a user ID fails the format check before any auth rule.
    let sender = UserId::parse(event.sender()).map_err(|_| AuthError::InvalidSender)?;
    let expected = auth_event_types(
        rules,
        event.kind(),
        &sender,
        event.state_key(),
        event.content(),
    );
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
