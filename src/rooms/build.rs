//! Building local events: pick prev and auth events from the room's current state, hash,
//! sign, check against the auth rules, and persist — all inside one writer transaction, so
//! that two events of a room never claim the same position.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::RoomError;
use super::persist::{self, Accepted};
use crate::proto::auth;
use crate::proto::event_format::auth_event_types;
use crate::proto::hashes::reference_hash;
use crate::proto::id::{ServerName, UserId};
use crate::proto::local_event::{FinishError, finish_local_event};
use crate::proto::pdu::Pdu;
use crate::proto::room_version::{EventIdFormat, RoomRules};
use crate::proto::signing::{SigningKey, encode_base64};
use crate::store::events::{self, Extremity, StoredEvent, StoredRoom};
use crate::store::parsed::ParsedEvents;
use crate::store::state;
use crate::store::{Connection, Transaction};

/// Who signs the events this server creates, and the parsed auth events it builds them on.
pub struct Signer<'a> {
    pub server_name: &'a ServerName,
    pub key: &'a SigningKey,
    pub parsed: &'a ParsedEvents,
}

/// A new event as a client asks for it.
#[derive(Debug, Clone)]
pub struct LocalEvent {
    pub kind: String,
    pub state_key: Option<String>,
    pub content: Map<String, Value>,
    /// For `m.room.redaction`: the event redacted (top level before v11, in content from v11).
    pub redacts: Option<String>,
}

/// Spec: s2s "PDUs": at most 20 prev_events.
const MAX_PREV_EVENTS: usize = 20;

/// Builds, signs, authorises and stores `event` in `room`; the caller runs this inside a
/// writer job. Returns the accepted event with its stream position.
pub fn append_local_event(
    transaction: &Transaction<'_>,
    signer: &Signer<'_>,
    room: &StoredRoom,
    sender: &UserId,
    event: LocalEvent,
    now_ms: i64,
) -> Result<Accepted, RoomError> {
    let rules = rules_of(room)?;
    let prepared = prepare_event(
        transaction,
        &rules,
        room,
        sender,
        event,
        now_ms,
        Some(signer.parsed),
    )?;
    let mut json = prepared.json;
    if rules.event_id_format == EventIdFormat::Explicit {
        json.insert(
            "event_id".into(),
            json!(random_event_id(signer.server_name)?),
        );
    }
    let finished =
        finish_local_event(&rules, json, signer.server_name, signer.key).map_err(|e| match e {
            FinishError::NotCanonical(e) => RoomError::NotCanonical(e),
            FinishError::TooLarge(e) => RoomError::TooLarge(e.to_string()),
            other => RoomError::Invalid(other.to_string()),
        })?;
    let pdu = Pdu::new(finished.event_id, finished.json);

    let mut by_key: HashMap<(&str, &str), &Pdu> = HashMap::new();
    for auth_event in prepared.auth_events.iter().chain(prepared.create.iter()) {
        by_key.insert(
            (auth_event.kind(), auth_event.state_key().unwrap_or("")),
            &**auth_event,
        );
    }
    auth::check(&rules, &pdu, |kind, state_key| {
        by_key.get(&(kind, state_key)).copied()
    })
    .map_err(RoomError::Forbidden)?;

    let prev_nids: Vec<i64> = prepared.prev_events.iter().map(|e| e.event_nid).collect();
    persist::persist_new_timeline_event(transaction, room, pdu, &finished.text, &prev_nids)
}

/// An event ready to be signed: its JSON (no hashes, signatures or v1–2 event ID yet) and
/// what it was built on.
pub struct PreparedEvent {
    pub json: Map<String, Value>,
    pub prev_events: Vec<Extremity>,
    pub auth_events: Vec<Arc<Pdu>>,
    /// The create event, which v12 events do not list but the rules need.
    pub create: Option<Arc<Pdu>>,
}

/// Builds the unsigned event at the room's current extremities with the auth events the
/// rules name, as `make_join`/`make_leave` templates and local events need; the auth events
/// come parsed from `parsed` when given (local events on the writer), else parsed here.
pub fn prepare_event(
    transaction: &Connection,
    rules: &RoomRules,
    room: &StoredRoom,
    sender: &UserId,
    event: LocalEvent,
    now_ms: i64,
    parsed: Option<&ParsedEvents>,
) -> Result<PreparedEvent, RoomError> {
    let parse = |stored: &StoredEvent| -> Result<Arc<Pdu>, RoomError> {
        match parsed {
            Some(parsed) => parsed.pdu(stored).ok_or_else(|| {
                RoomError::Invalid(format!("stored event {} is not an object", stored.event_id))
            }),
            None => stored_to_pdu(stored).map(Arc::new),
        }
    };
    let prev_events: Vec<Extremity> = events::forward_extremity_refs(transaction, room.room_nid)?
        .into_iter()
        .take(MAX_PREV_EVENTS)
        .collect();
    let depth = prev_events.iter().map(|e| e.depth).max().unwrap_or(0) + 1;
    let wanted = auth_event_types(
        rules,
        &event.kind,
        sender,
        event.state_key.as_deref(),
        &event.content,
    );
    let mut auth_events: Vec<Arc<Pdu>> = Vec::new();
    for (kind, state_key) in &wanted {
        if let Some(stored) =
            state::current_state_event(transaction, room.room_nid, kind, state_key)?
        {
            auth_events.push(parse(&stored)?);
        }
    }
    // The create event is nearly always among the wanted auth events: parse it once.
    let create = match auth_events.iter().find(|pdu| pdu.kind() == "m.room.create") {
        Some(create) => Some(create.clone()),
        None => state::current_state_event(transaction, room.room_nid, "m.room.create", "")?
            .map(|stored| parse(&stored))
            .transpose()?,
    };

    let mut json = Map::new();
    json.insert("room_id".into(), json!(room.room_id));
    json.insert("sender".into(), json!(sender.as_str()));
    json.insert("type".into(), json!(event.kind));
    if let Some(state_key) = &event.state_key {
        json.insert("state_key".into(), json!(state_key));
    }
    json.insert("content".into(), Value::Object(event.content.clone()));
    if let Some(redacts) = &event.redacts {
        if rules.redacts_in_content {
            if let Some(Value::Object(content)) = json.get_mut("content") {
                content.insert("redacts".into(), json!(redacts));
            }
        } else {
            json.insert("redacts".into(), json!(redacts));
        }
    }
    json.insert("origin_server_ts".into(), json!(now_ms));
    json.insert("depth".into(), json!(depth));
    let explicit_ids = rules.event_id_format == EventIdFormat::Explicit;
    json.insert(
        "prev_events".into(),
        references(transaction, rules, explicit_ids, &prev_events)?,
    );
    let auth_refs: Vec<&Pdu> = auth_events
        .iter()
        .map(|pdu| &**pdu)
        .filter(|pdu| !(rules.room_id_is_create_event_hash && pdu.kind() == "m.room.create"))
        .collect();
    json.insert(
        "auth_events".into(),
        pdu_references(rules, explicit_ids, &auth_refs),
    );
    Ok(PreparedEvent {
        json,
        prev_events,
        auth_events,
        create,
    })
}

/// The rules of a stored room.
pub fn rules_of(room: &StoredRoom) -> Result<RoomRules, RoomError> {
    RoomRules::for_version(&room.room_version)
        .ok_or_else(|| RoomError::UnsupportedRoomVersion(room.room_version.clone()))
}

/// Parses a stored event back into a `Pdu`.
pub fn stored_to_pdu(stored: &StoredEvent) -> Result<Pdu, RoomError> {
    match serde_json::from_str::<Value>(&stored.pdu) {
        Ok(Value::Object(json)) => Ok(Pdu::new(stored.event_id.clone(), json)),
        _ => Err(RoomError::Invalid(format!(
            "stored event {} is not an object",
            stored.event_id
        ))),
    }
}

/// prev_events: plain IDs, or `[id, {"sha256": reference hash}]` pairs for v1–2.
fn references(
    connection: &Connection,
    rules: &RoomRules,
    explicit_ids: bool,
    prev_events: &[Extremity],
) -> Result<Value, RoomError> {
    if !explicit_ids {
        // Plain IDs need no reading of the referenced events.
        return Ok(Value::Array(
            prev_events.iter().map(|e| json!(e.event_id)).collect(),
        ));
    }
    let mut pdus = Vec::with_capacity(prev_events.len());
    for prev in prev_events {
        let stored = events::event_by_nid(connection, prev.event_nid)?.ok_or_else(|| {
            RoomError::Invalid(format!("extremity {} is not stored", prev.event_id))
        })?;
        pdus.push(stored_to_pdu(&stored)?);
    }
    let refs: Vec<&Pdu> = pdus.iter().collect();
    Ok(pdu_references(rules, explicit_ids, &refs))
}

fn pdu_references(rules: &RoomRules, explicit_ids: bool, pdus: &[&Pdu]) -> Value {
    Value::Array(
        pdus.iter()
            .map(|pdu| {
                if explicit_ids {
                    let hash = encode_base64(&reference_hash(rules, pdu.json()));
                    json!([pdu.event_id(), { "sha256": hash }])
                } else {
                    json!(pdu.event_id())
                }
            })
            .collect(),
    )
}

/// `$<random>:<server_name>` for room versions 1–2, where the event ID is chosen, not hashed.
fn random_event_id(server_name: &ServerName) -> Result<String, RoomError> {
    Ok(format!("${}:{}", random_token(18)?, server_name.as_str()))
}

/// URL-safe random text of `bytes` random bytes.
pub fn random_token(bytes: usize) -> Result<String, RoomError> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).map_err(|e| RoomError::Invalid(format!("no randomness: {e}")))?;
    use base64::Engine as _;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&buffer))
}
