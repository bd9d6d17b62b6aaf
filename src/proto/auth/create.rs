//! The `m.room.create` event: its own auth rule (rule 1), and who the room's creators are
//! (the `creator` of v1–10, the create `sender` from v11, plus `additional_creators` in v12).
//!
//! Also the lenient reading of server names out of IDs that the rules compare.

use serde_json::Value;

use super::AuthError;
use crate::proto::id::UserId;
use crate::proto::pdu::Pdu;
use crate::proto::room_version::RoomRules;

/// Rule 1: an `m.room.create` event.
pub(super) fn check_create(rules: &RoomRules, event: &Pdu) -> Result<(), AuthError> {
    // Rule 1.1.
    if matches!(event.json().get("prev_events"), Some(Value::Array(prev)) if !prev.is_empty()) {
        return Err(AuthError::CreateHasPrevEvents);
    }
    if rules.room_id_is_create_event_hash {
        // Spec: rooms/v12 "Authorization rules", rule 1.2: the room ID is derived from the
        // create event, which therefore carries none.
        if event.json().contains_key("room_id") {
            return Err(AuthError::CreateHasRoomId);
        }
    } else {
        // Rule 1.2 (v1–11).
        let room_server = event.room_id().and_then(server_name_of);
        if room_server.is_none() || room_server != server_name_of(event.sender()) {
            return Err(AuthError::CreateRoomIdDomainMismatch);
        }
    }
    // Rule 1.3: absent means version "1".
    match event.content().get("room_version") {
        None => {}
        Some(Value::String(version)) if RoomRules::for_version(version).is_some() => {}
        Some(other) => return Err(AuthError::UnknownRoomVersion(other.to_string())),
    }
    // Rule 1.4 (v1–10); v11 dropped `creator` in favour of the sender.
    if !rules.use_room_create_sender && !event.content().contains_key("creator") {
        return Err(AuthError::CreateWithoutCreator);
    }
    // Spec: rooms/v12 rule 1.4: each additional creator passes the sender's validation.
    if rules.creators_have_infinite_power
        && let Some(additional) = event.content().get("additional_creators")
    {
        let valid = additional.as_array().is_some_and(|creators| {
            creators
                .iter()
                .all(|creator| creator.as_str().is_some_and(is_valid_user_id))
        });
        if !valid {
            return Err(AuthError::InvalidAdditionalCreators);
        }
    }
    Ok(())
}

/// Whether `user_id` is a room creator with infinite power (v12 only; always false before).
pub(super) fn is_creator(rules: &RoomRules, create: &Pdu, user_id: &str) -> bool {
    if !rules.creators_have_infinite_power {
        return false;
    }
    create.sender() == user_id
        || create
            .content()
            .get("additional_creators")
            .and_then(Value::as_array)
            .is_some_and(|creators| creators.iter().any(|c| c.as_str() == Some(user_id)))
}

/// "The creator" of rules 5.3.1 and of the default power levels: `content.creator` in
/// v1–10, the create event's sender from v11.
pub(super) fn creator_before_power_levels<'a>(
    rules: &RoomRules,
    create: &'a Pdu,
) -> Option<&'a str> {
    if rules.use_room_create_sender {
        Some(create.sender())
    } else {
        create.content().get("creator").and_then(Value::as_str)
    }
}

/// The server name of a user, room or v1–2 event ID: everything after the first `:`.
pub(super) fn server_name_of(id: &str) -> Option<&str> {
    id.split_once(':').map(|(_, server_name)| server_name)
}

/// A user ID as other servers may send it (spec: appendices, "Historical User IDs"),
/// the validation `sender` gets.
pub(super) fn is_valid_user_id(user_id: &str) -> bool {
    UserId::parse(user_id).is_ok()
}
