//! The format of a PDU per room version (spec: s2s "Checks performed on receipt of a PDU",
//! step 1; `pdu_v1.yaml`, `pdu_v3.yaml`, `pdu_v6.yaml`, `pdu_v11.yaml`, `pdu_v12.yaml`), and
//! which state events a new local event cites as its `auth_events` (spec: s2s "Auth
//! events selection").
//!
//! An event that fails `check_event_format` is dropped, not stored as rejected. So this
//! checks only what the spec's schemas require and what Synapse enforces on receipt
//! (`synapse/federation/federation_base.py`, `event_auth.validate_event_for_room_version`),
//! never more: a stricter check would split the room from servers that accept the event.
//! Size limits are a separate call (`canonical_json::check_pdu_size_limits`), because
//! Synapse stores some oversize events as rejected instead of dropping them.

use serde_json::{Map, Value};

use super::canonical_json::{self, JsonError, MAX_SAFE_INTEGER};
use super::hashes::{event_id_for, event_id_from_signed_bytes};
use super::id::{EventId, IdError, RoomId, UserId};
use super::pdu::Pdu;
use super::room_version::{EventIdFormat, RoomRules};

/// At most this many `prev_events` (spec: `auth_events_prev_events_v4.yaml`; Synapse
/// `_check_for_excessive_pdu_references`, applied to every room version).
pub const MAX_PREV_EVENTS: usize = 20;
/// At most this many `auth_events` (same sources).
pub const MAX_AUTH_EVENTS: usize = 10;

/// Why an event is not a well-formed PDU for its room version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// The bytes are not JSON (`parse_pdu` only), or not an object.
    Json(JsonError),
    /// v6+: a value with no canonical JSON form.
    NotCanonical(JsonError),
    /// A required field is absent.
    MissingField(&'static str),
    /// A field has the wrong JSON type or shape.
    WrongType(&'static str),
    /// An identifier field does not parse, or has the wrong form for the room version.
    InvalidId {
        field: &'static str,
        error: IdError,
    },
    /// `depth` below 0 or above the version's limit.
    DepthOutOfRange,
    TooManyPrevEvents(usize),
    TooManyAuthEvents(usize),
    /// v12: an `m.room.create` event must not have a `room_id`.
    CreateEventHasRoomId,
    /// v12: the create event is implied by the room ID and must not be in `auth_events`.
    CreateEventInAuthEvents,
}

impl std::fmt::Display for FormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FormatError::Json(e) | FormatError::NotCanonical(e) => write!(f, "{e}"),
            FormatError::MissingField(field) => write!(f, "missing field '{field}'"),
            FormatError::WrongType(field) => write!(f, "field '{field}' has the wrong type"),
            FormatError::InvalidId { field, error } => write!(f, "'{field}': {error}"),
            FormatError::DepthOutOfRange => write!(f, "depth out of range"),
            FormatError::TooManyPrevEvents(n) => {
                write!(f, "{n} prev_events, more than {MAX_PREV_EVENTS}")
            }
            FormatError::TooManyAuthEvents(n) => {
                write!(f, "{n} auth_events, more than {MAX_AUTH_EVENTS}")
            }
            FormatError::CreateEventHasRoomId => write!(f, "create event has a room_id"),
            FormatError::CreateEventInAuthEvents => {
                write!(f, "auth_events must not contain the create event")
            }
        }
    }
}

impl std::error::Error for FormatError {}

/// Parses a PDU as received over federation: JSON (strict from v6, lenient before), the
/// format check, and the event ID (computed from v3, the `event_id` field before).
///
/// Size limits are left to the caller (`canonical_json::check_pdu_size_limits`), because
/// some oversize events are stored as rejected rather than dropped; content hashes and
/// signatures to `hashes`.
pub fn parse_pdu(rules: &RoomRules, bytes: &[u8]) -> Result<Pdu, FormatError> {
    let parsed = match rules.strict_canonical_json {
        true => canonical_json::parse_strict(bytes),
        false => canonical_json::parse_lenient(bytes),
    };
    let event = match parsed {
        Ok(Value::Object(event)) => event,
        Ok(_) => return Err(FormatError::Json(JsonError::NotAnObject)),
        Err(JsonError::NumberNotCanonical(number)) => {
            return Err(FormatError::NotCanonical(JsonError::NumberNotCanonical(
                number,
            )));
        }
        Err(error) => return Err(FormatError::Json(error)),
    };
    pdu_from_object(rules, event)
}

/// `parse_pdu` for an event already parsed into a JSON object (for instance one PDU of a
/// transaction body parsed as a whole). The object must come from `parse_strict` or
/// `parse_lenient` as the room version requires.
pub fn pdu_from_object(rules: &RoomRules, event: Map<String, Value>) -> Result<Pdu, FormatError> {
    check_event_format(rules, &event)?;
    // INVARIANT: the format check required a string `event_id` where the ID is explicit.
    let event_id =
        event_id_for(rules, &event).map_err(|_| FormatError::MissingField("event_id"))?;
    Ok(Pdu::new(event_id, event))
}

/// `pdu_from_object` for a caller that holds the event's `hashes::signed_bytes` already
/// (it checked the signatures over them): the event ID is their hash, not encoded again.
pub fn pdu_from_object_signed(
    rules: &RoomRules,
    event: Map<String, Value>,
    signed_bytes: &str,
) -> Result<Pdu, FormatError> {
    check_event_format(rules, &event)?;
    // INVARIANT: the format check required a string `event_id` where the ID is explicit.
    let event_id = event_id_from_signed_bytes(rules, &event, signed_bytes)
        .map_err(|_| FormatError::MissingField("event_id"))?;
    Ok(Pdu::new(event_id, event))
}

/// Checks that `event` has the fields its room version requires, with the right types.
///
/// Run `canonical_json::check_pdu_size_limits` first: an ID over 255 bytes fails to parse
/// here (a drop), while the size check says when Synapse would store it as rejected.
///
/// Identifier fields are parsed (`sender`, `room_id`, v1–2 `event_id`); the entries of
/// `prev_events`/`auth_events` are only checked to be strings (an unknown ID is a matter
/// for fetching, not format). Content is not inspected beyond being an object, except the
/// type of `redacts`.
pub fn check_event_format(
    rules: &RoomRules,
    event: &Map<String, Value>,
) -> Result<(), FormatError> {
    if rules.strict_canonical_json {
        // Spec: rooms/fragments/v6-canonical-json: the whole PDU, `unsigned` included.
        event
            .values()
            .try_for_each(canonical_json::check_canonical)
            .map_err(FormatError::NotCanonical)?;
    }
    let kind = required_str(event, "type")?;
    let sender = required_str(event, "sender")?;
    UserId::parse(sender).map_err(|error| FormatError::InvalidId {
        field: "sender",
        error,
    })?;
    let room_id = check_room_id(rules, event, kind)?;
    let content = match event.get("content") {
        Some(Value::Object(content)) => content,
        Some(_) => return Err(FormatError::WrongType("content")),
        None => return Err(FormatError::MissingField("content")),
    };
    if event.get("state_key").is_some_and(|v| !v.is_string()) {
        return Err(FormatError::WrongType("state_key"));
    }
    check_depth(rules, event)?;
    if !required(event, "origin_server_ts")?.is_i64() {
        return Err(FormatError::WrongType("origin_server_ts"));
    }
    if !required(event, "hashes")?.is_object() {
        return Err(FormatError::WrongType("hashes"));
    }
    let signatures_ok = required(event, "signatures")?
        .as_object()
        .is_some_and(|by_server| by_server.values().all(Value::is_object));
    if !signatures_ok {
        return Err(FormatError::WrongType("signatures"));
    }
    let prev_events = check_references(rules, event, "prev_events")?;
    if prev_events.len() > MAX_PREV_EVENTS {
        return Err(FormatError::TooManyPrevEvents(prev_events.len()));
    }
    let auth_events = check_references(rules, event, "auth_events")?;
    if auth_events.len() > MAX_AUTH_EVENTS {
        return Err(FormatError::TooManyAuthEvents(auth_events.len()));
    }
    if let Some(create_event_id) = room_id.as_ref().and_then(RoomId::create_event_id)
        && auth_events.contains(&create_event_id.as_str())
    {
        // Spec: rooms/v12 "Authorization rules" note; Synapse drops such events as BAD_JSON.
        return Err(FormatError::CreateEventInAuthEvents);
    }
    if rules.event_id_format == EventIdFormat::Explicit {
        let event_id = required_str(event, "event_id")?;
        let parsed = EventId::parse(event_id).map_err(|error| FormatError::InvalidId {
            field: "event_id",
            error,
        })?;
        if parsed.server_name().is_none() {
            let error = IdError::MissingServerName;
            return Err(FormatError::InvalidId {
                field: "event_id",
                error,
            });
        }
    }
    if kind == "m.room.redaction" {
        // Spec: pdu_v11.yaml moves `redacts` into content. It stays optional: Synapse
        // accepts redactions without it.
        let redacts = match rules.redacts_in_content {
            true => content.get("redacts"),
            false => event.get("redacts"),
        };
        if redacts.is_some_and(|v| !v.is_string()) {
            return Err(FormatError::WrongType("redacts"));
        }
    }
    Ok(())
}

/// The `(type, state_key)` pairs of the current state events a new event must cite in
/// `auth_events` (spec: s2s "Auth events selection"). The caller looks each up in the
/// current state and cites those that exist.
///
/// `m.room.create` cites nothing, and from v12 no event cites it (the room ID implies it).
pub fn auth_event_types(
    rules: &RoomRules,
    kind: &str,
    sender: &UserId,
    state_key: Option<&str>,
    content: &Map<String, Value>,
) -> Vec<(String, String)> {
    if kind == "m.room.create" {
        return Vec::new();
    }
    let mut types: Vec<(String, String)> = Vec::new();
    let mut add = |kind: &str, state_key: &str| {
        let pair = (kind.to_owned(), state_key.to_owned());
        if !types.contains(&pair) {
            types.push(pair);
        }
    };
    if !rules.room_id_is_create_event_hash {
        add("m.room.create", "");
    }
    add("m.room.power_levels", "");
    add("m.room.member", sender.as_str());
    if kind == "m.room.member" {
        let membership = content.get("membership").and_then(Value::as_str);
        if let Some(target) = state_key {
            add("m.room.member", target);
        }
        if matches!(membership, Some("join" | "invite" | "knock")) {
            add("m.room.join_rules", "");
        }
        let token = content
            .get("third_party_invite")
            .and_then(|invite| invite.get("signed"))
            .and_then(|signed| signed.get("token"))
            .and_then(Value::as_str);
        if membership == Some("invite")
            && let Some(token) = token
        {
            add("m.room.third_party_invite", token);
        }
        let authoriser = content
            .get("join_authorised_via_users_server")
            .and_then(Value::as_str);
        if rules.restricted_join_rule
            && membership == Some("join")
            && let Some(authoriser) = authoriser
        {
            add("m.room.member", authoriser);
        }
    }
    types
}

fn required<'a>(
    event: &'a Map<String, Value>,
    field: &'static str,
) -> Result<&'a Value, FormatError> {
    event.get(field).ok_or(FormatError::MissingField(field))
}

fn required_str<'a>(
    event: &'a Map<String, Value>,
    field: &'static str,
) -> Result<&'a str, FormatError> {
    required(event, field)?
        .as_str()
        .ok_or(FormatError::WrongType(field))
}

/// Checks `room_id` for the version: `!opaque:server` up to v11; from v12 the hash form,
/// and none at all on the create event. Returns the parsed room ID when there is one.
fn check_room_id(
    rules: &RoomRules,
    event: &Map<String, Value>,
    kind: &str,
) -> Result<Option<RoomId>, FormatError> {
    if rules.room_id_is_create_event_hash && kind == "m.room.create" {
        return match event.contains_key("room_id") {
            true => Err(FormatError::CreateEventHasRoomId),
            false => Ok(None),
        };
    }
    let invalid = |error| FormatError::InvalidId {
        field: "room_id",
        error,
    };
    let room_id = RoomId::parse(required_str(event, "room_id")?).map_err(invalid)?;
    match (
        rules.room_id_is_create_event_hash,
        room_id.is_create_event_hash(),
    ) {
        (true, false) => Err(invalid(IdError::InvalidHash)),
        (false, true) => Err(invalid(IdError::MissingServerName)),
        _ => Ok(Some(room_id)),
    }
}

/// Spec: pdu_v1.yaml/pdu_v3.yaml: depth at most 2^63 - 1; depth_v6.yaml: at most 2^53 - 1
/// (Synapse applies 2^53 - 1 to every version). Never negative.
fn check_depth(rules: &RoomRules, event: &Map<String, Value>) -> Result<(), FormatError> {
    let depth = required(event, "depth")?;
    if !depth.is_i64() && !depth.is_u64() {
        return Err(FormatError::WrongType("depth"));
    }
    let limit = if rules.strict_canonical_json {
        MAX_SAFE_INTEGER
    } else {
        i64::MAX
    };
    match depth.as_i64() {
        Some(depth) if (0..=limit).contains(&depth) => Ok(()),
        _ => Err(FormatError::DepthOutOfRange),
    }
}

/// Checks `prev_events`/`auth_events`: `[[id, {hashes}], …]` in v1–2, `[id, …]` from v3.
/// Returns the IDs.
fn check_references<'a>(
    rules: &RoomRules,
    event: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Vec<&'a str>, FormatError> {
    let Value::Array(items) = required(event, field)? else {
        return Err(FormatError::WrongType(field));
    };
    items
        .iter()
        .map(|item| match (rules.event_id_format, item) {
            (EventIdFormat::Explicit, Value::Array(pair)) => match pair.as_slice() {
                [Value::String(id), Value::Object(_)] => Ok(id.as_str()),
                _ => Err(FormatError::WrongType(field)),
            },
            (EventIdFormat::Base64 | EventIdFormat::UrlSafeBase64, Value::String(id)) => {
                Ok(id.as_str())
            }
            _ => Err(FormatError::WrongType(field)),
        })
        .collect()
}

#[cfg(test)]
#[path = "event_format_tests.rs"]
mod tests;
