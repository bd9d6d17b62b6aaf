//! What other servers ask of a room hearth takes part in: membership templates
//! (`make_join`, `make_leave`), the state and auth chain at a point, events by ID, and the
//! servers in the room.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde_json::{Map, Value, json};

use super::RoomError;
use super::build::{LocalEvent, prepare_event, rules_of, stored_to_pdu};
use crate::proto::auth;
use crate::proto::id::UserId;
use crate::proto::pdu::Pdu;
use crate::store::events::{self, StoredEvent, StoredRoom};
use crate::store::{Connection, StoreError, state};

/// An unsigned membership event for `user_id` at the room's current extremities, after
/// checking that the rules would allow it (spec: s2s `make_join` / `make_leave` / `make_knock`).
pub fn membership_template(
    transaction: &Connection,
    room: &StoredRoom,
    user_id: &UserId,
    membership: &str,
    now_ms: i64,
) -> Result<Map<String, Value>, RoomError> {
    let rules = rules_of(room)?;
    let mut content = Map::new();
    content.insert("membership".into(), json!(membership));
    let event = LocalEvent {
        kind: "m.room.member".into(),
        state_key: Some(user_id.as_str().to_owned()),
        content,
        redacts: None,
    };
    let prepared = prepare_event(transaction, &rules, room, user_id, event, now_ms, None)?;
    let candidate = Pdu::new("$template".into(), prepared.json.clone());
    let by_key: HashMap<(&str, &str), &Pdu> = prepared
        .auth_events
        .iter()
        .chain(prepared.create.iter())
        .map(|event| ((event.kind(), event.state_key().unwrap_or("")), &**event))
        .collect();
    auth::check(&rules, &candidate, |kind, state_key| {
        by_key.get(&(kind, state_key)).copied()
    })
    .map_err(RoomError::Forbidden)?;
    Ok(prepared.json)
}

/// The full auth chain of `events`: every event reachable through `auth_events`.
pub fn auth_chain(connection: &Connection, events: &[&Pdu]) -> Result<Vec<StoredEvent>, RoomError> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut todo: Vec<String> = events
        .iter()
        .flat_map(|pdu| pdu.auth_event_ids())
        .map(str::to_owned)
        .collect();
    let mut chain = Vec::new();
    while let Some(id) = todo.pop() {
        if !seen.insert(id.clone()) {
            continue;
        }
        let Some(stored) = events::event_by_id(connection, &id)? else {
            continue;
        };
        let pdu = stored_to_pdu(&stored)?;
        todo.extend(pdu.auth_event_ids().into_iter().map(str::to_owned));
        chain.push(stored);
    }
    chain.sort_by_key(|event| (event.depth, event.event_nid));
    Ok(chain)
}

/// The state events of a group, as PDUs.
pub fn state_pdus(connection: &Connection, group: Option<i64>) -> Result<Vec<Pdu>, RoomError> {
    let Some(group) = group else {
        return Ok(Vec::new());
    };
    state::state_group_events(connection, group)?
        .iter()
        .map(stored_to_pdu)
        .collect()
}

/// Server names of the joined members, sorted (this server included).
pub fn servers_in_room(connection: &Connection, room_nid: i64) -> Result<Vec<String>, RoomError> {
    let servers: BTreeSet<String> = events::members_with(connection, room_nid, "join")?
        .into_iter()
        .filter_map(|user| {
            UserId::parse(&user)
                .ok()
                .map(|u| u.server_name().as_str().to_owned())
        })
        .collect();
    Ok(servers.into_iter().collect())
}

/// The PDU of a stored event as it goes over federation (no `unsigned` from our storage).
pub fn federation_pdu(stored: &StoredEvent) -> Result<Value, RoomError> {
    let mut pdu = stored_to_pdu(stored)?.into_json();
    pdu.remove("unsigned");
    Ok(Value::Object(pdu))
}

/// Keeps a membership event of a room this server is not in (an invite from another
/// server, or our leave through a resident server) as an outlier with a stream position,
/// so that it ends or starts the user's membership here and shows in their sync. Creates
/// the room row on first sight. Returns the room's numeric id.
pub fn store_outlier_membership(
    transaction: &Connection,
    room_id: &str,
    room_version: &str,
    event_id: &str,
    event: &Map<String, Value>,
) -> Result<i64, StoreError> {
    let field = |name: &str| event.get(name).and_then(Value::as_str).unwrap_or_default();
    let (target, sender) = (field("state_key"), field("sender"));
    let membership = event
        .get("content")
        .and_then(|content| content.get("membership"))
        .and_then(Value::as_str)
        .unwrap_or("leave");
    let room_nid = match events::room_by_id(transaction, room_id)? {
        Some(room) => room.room_nid,
        None => events::insert_room(transaction, room_id, room_version)?,
    };
    let stream_ordering = events::next_stream_ordering(transaction)?;
    let text = Value::Object(event.clone()).to_string();
    let event_nid = events::insert_event(
        transaction,
        &events::NewEvent {
            event_id,
            room_nid,
            kind: "m.room.member",
            state_key: Some(target),
            sender,
            origin_server_ts: event
                .get("origin_server_ts")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            depth: event.get("depth").and_then(Value::as_i64).unwrap_or(0),
            stream_ordering: Some(stream_ordering),
            pdu: &text,
            rejected: false,
            soft_failed: false,
            outlier: true,
            state_group_before: None,
            state_group_after: None,
        },
    )?;
    events::set_membership(
        transaction,
        target,
        room_nid,
        membership,
        event_nid,
        stream_ordering,
    )?;
    Ok(room_nid)
}
