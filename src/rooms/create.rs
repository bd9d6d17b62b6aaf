//! Creating a room: the create event, then the creator's join and the initial events, all
//! in one transaction, so a room is never half made.

use serde_json::{Map, Value, json};

use super::RoomError;
use super::build::{LocalEvent, Signer, append_local_event, random_token};
use super::persist::{Accepted, persist_new_timeline_event};
use crate::proto::auth;
use crate::proto::hashes::{event_id_for, hash_and_sign_event, room_id_for_create_event};
use crate::proto::id::UserId;
use crate::proto::pdu::Pdu;
use crate::proto::room_version::{EventIdFormat, RoomRules};
use crate::store::Transaction;
use crate::store::events;

/// A room just created: its ID and every event it starts with, in order.
pub struct CreatedRoom {
    pub room_id: String,
    pub events: Vec<Accepted>,
}

/// Creates a room of `rules`' version with `creator` joined, then appends `initial_events`
/// (power levels, join rules, name, invites...) in order. `creation_content` is merged into
/// the create event's content (e.g. `m.federate`, `type`, v12 `additional_creators`).
pub fn create_room(
    transaction: &Transaction<'_>,
    signer: &Signer<'_>,
    creator: &UserId,
    rules: &RoomRules,
    creation_content: Map<String, Value>,
    initial_events: Vec<LocalEvent>,
    now_ms: i64,
) -> Result<CreatedRoom, RoomError> {
    let mut content = creation_content;
    content.insert("room_version".into(), json!(rules.version));
    if rules.use_room_create_sender {
        // v11+: the creator is the sender; `creator` is no longer part of the content.
        content.remove("creator");
    } else {
        content.insert("creator".into(), json!(creator.as_str()));
    }
    let mut event = Map::new();
    if !rules.room_id_is_create_event_hash {
        let room_id = format!("!{}:{}", random_token(12)?, signer.server_name.as_str());
        event.insert("room_id".into(), json!(room_id));
    }
    event.insert("sender".into(), json!(creator.as_str()));
    event.insert("type".into(), json!("m.room.create"));
    event.insert("state_key".into(), json!(""));
    event.insert("content".into(), Value::Object(content));
    event.insert("origin_server_ts".into(), json!(now_ms));
    event.insert("depth".into(), json!(1));
    event.insert("prev_events".into(), json!([]));
    event.insert("auth_events".into(), json!([]));
    if rules.event_id_format == EventIdFormat::Explicit {
        event.insert(
            "event_id".into(),
            json!(format!(
                "${}:{}",
                random_token(18)?,
                signer.server_name.as_str()
            )),
        );
    }
    hash_and_sign_event(rules, &mut event, signer.server_name, signer.key)
        .map_err(RoomError::NotCanonical)?;
    let room_id = if rules.room_id_is_create_event_hash {
        room_id_for_create_event(rules, &event).map_err(|e| RoomError::Invalid(e.to_string()))?
    } else {
        event
            .get("room_id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| RoomError::Invalid("create event without room_id".into()))?
    };
    let event_id = event_id_for(rules, &event).map_err(|e| RoomError::Invalid(e.to_string()))?;
    let create = Pdu::new(event_id, event);
    auth::check(rules, &create, |_, _| None).map_err(RoomError::Forbidden)?;

    let room_nid = events::insert_room(transaction, &room_id, rules.version)?;
    let room = room_row(transaction, &room_id)?;
    debug_assert_eq!(room.room_nid, room_nid);
    let create_text =
        serde_json::to_string(create.json()).map_err(|e| RoomError::Invalid(e.to_string()))?;
    let mut created = vec![persist_new_timeline_event(
        transaction,
        &room,
        create,
        &create_text,
        &[],
    )?];

    let mut join = Map::new();
    join.insert("membership".into(), json!("join"));
    // The creator's join carries their profile, as every join does (client::profile).
    if let Some(profile) = crate::store::profiles::get(transaction, creator)? {
        if let Some(name) = profile.displayname {
            join.insert("displayname".into(), json!(name));
        }
        if let Some(url) = profile.avatar_url {
            join.insert("avatar_url".into(), json!(url));
        }
    }
    let first_events = std::iter::once(LocalEvent {
        kind: "m.room.member".into(),
        state_key: Some(creator.as_str().to_owned()),
        content: join,
        redacts: None,
    })
    .chain(initial_events);
    for local in first_events {
        let room = room_row(transaction, &room_id)?;
        created.push(append_local_event(
            transaction,
            signer,
            &room,
            creator,
            local,
            now_ms,
        )?);
    }
    Ok(CreatedRoom {
        room_id,
        events: created,
    })
}

fn room_row(transaction: &Transaction<'_>, room_id: &str) -> Result<events::StoredRoom, RoomError> {
    events::room_by_id(transaction, room_id)?.ok_or(RoomError::UnknownRoom)
}
