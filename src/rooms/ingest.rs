//! Joining a room that lives on another server: the `send_join` answer (state and auth
//! chain) is checked event by event and stored, then our join event goes on top of that
//! state (spec: s2s "Joining Rooms": "the joining server ... must validate the state and
//! auth chain"; events that fail are left out, never stored as valid).
//!
//! The state is stored once, as one snapshot group; every event is an outlier (no place in
//! the timeline) except our join, which starts the room's timeline here.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::RoomError;
use super::persist::Accepted;
use super::receive::{KeyLookup, Received, apply_current_state, check_against, checked_pdu};
use crate::proto::auth;
use crate::proto::pdu::Pdu;
use crate::proto::room_version::RoomRules;
use crate::store::events::{self, NewEvent};
use crate::store::{StoreError, Transaction, state};

/// What came of a join.
pub struct Joined {
    pub join: Accepted,
    /// Events of the answer that were left out (bad signature, failed auth).
    pub left_out: usize,
}

/// Stores the room `room_id` of `rules` from a `send_join` answer: `state` and `auth_chain`
/// (event objects), then `join` (our signed join event) with that state before it.
pub fn ingest_send_join(
    transaction: &Transaction<'_>,
    rules: &RoomRules,
    room_id: &str,
    state_events: Vec<Map<String, Value>>,
    auth_chain: Vec<Map<String, Value>>,
    join: Pdu,
    keys: &KeyLookup<'_>,
) -> Result<Joined, RoomError> {
    let room_nid = match events::room_by_id(transaction, room_id)? {
        Some(room) => room.room_nid,
        None => events::insert_room(transaction, room_id, rules.version)?,
    };
    let state_ids: HashSet<String> = state_events
        .iter()
        .filter_map(|e| crate::proto::hashes::event_id_for(rules, e).ok())
        .collect();
    // Check every event once: signatures and hashes, then auth against its own auth events,
    // oldest first so that auth events are decided before the events they authorise.
    let mut candidates: Vec<Pdu> = Vec::new();
    let mut left_out = 0;
    let mut seen = HashSet::new();
    for json in auth_chain.into_iter().chain(state_events) {
        match checked_pdu(rules, json, keys)? {
            Ok(pdu) => {
                if !belongs_to(rules, &pdu, room_id) {
                    left_out += 1;
                } else if seen.insert(pdu.event_id().to_owned()) {
                    candidates.push(pdu);
                }
            }
            Err(Received::Dropped(why)) => {
                crate::info!("join of {room_id}: left out an event: {why}");
                left_out += 1;
            }
            Err(other) => {
                crate::info!("join of {room_id}: left out an event: {other:?}");
                left_out += 1;
            }
        }
    }
    candidates.sort_by_key(|pdu| pdu.depth());
    let mut accepted: HashMap<String, Pdu> = HashMap::new();
    let mut nids: HashMap<String, i64> = HashMap::new();
    let create = candidates
        .iter()
        .find(|pdu| pdu.kind() == "m.room.create" && pdu.state_key() == Some(""))
        .cloned();
    for pdu in candidates {
        if let Some(stored) = events::event_by_id(transaction, pdu.event_id())? {
            nids.insert(pdu.event_id().to_owned(), stored.event_nid);
            if !stored.rejected {
                accepted.insert(pdu.event_id().to_owned(), pdu);
            }
            continue;
        }
        let auth_events: Vec<&Pdu> = pdu
            .auth_event_ids()
            .iter()
            .filter_map(|id| accepted.get(*id))
            .collect();
        let complete = auth_events.len() == pdu.auth_event_ids().len();
        let passes = complete
            && auth::check_auth_events(rules, &pdu, &auth_events).is_ok()
            && check_against(
                rules,
                &pdu,
                auth_events.iter().copied().chain(create.iter()),
            )
            .is_ok();
        let event_nid = insert_outlier(transaction, room_nid, &pdu, !passes)?;
        nids.insert(pdu.event_id().to_owned(), event_nid);
        if passes {
            accepted.insert(pdu.event_id().to_owned(), pdu);
        } else {
            left_out += 1;
            crate::info!(
                "join of {room_id}: {} fails its auth events; stored as rejected",
                pdu.event_id()
            );
        }
    }
    // The state before our join: every accepted state event of the answer.
    let mut entries = Vec::new();
    for id in &state_ids {
        if let (Some(pdu), Some(nid)) = (accepted.get(id), nids.get(id))
            && let Some(state_key) = pdu.state_key()
        {
            entries.push((
                state::state_key_nid(transaction, pdu.kind(), state_key)?,
                *nid,
            ));
        }
    }
    let before = state::new_state_group(transaction, room_nid, None, &entries)?;
    let state_pdus: Vec<&Pdu> = state_ids.iter().filter_map(|id| accepted.get(id)).collect();
    check_against(
        rules,
        &join,
        state_pdus.iter().copied().chain(create.iter()),
    )
    .map_err(RoomError::Forbidden)?;

    let stream_ordering = events::next_stream_ordering(transaction)?;
    let text = serde_json::to_string(join.json()).map_err(|e| RoomError::Invalid(e.to_string()))?;
    let join_nid = events::insert_event(
        transaction,
        &NewEvent {
            event_id: join.event_id(),
            room_nid,
            kind: join.kind(),
            state_key: join.state_key(),
            sender: join.sender(),
            origin_server_ts: join.origin_server_ts(),
            depth: join.depth(),
            stream_ordering: Some(stream_ordering),
            pdu: &text,
            rejected: false,
            soft_failed: false,
            outlier: false,
            state_group_before: Some(before),
            state_group_after: None,
        },
    )?;
    let member_key = state::state_key_nid(transaction, "m.room.member", join.sender())?;
    let after = state::new_state_group(
        transaction,
        room_nid,
        Some(before),
        &[(member_key, join_nid)],
    )?;
    events::set_state_group_after(transaction, join_nid, after)?;
    events::advance_forward_extremities(transaction, room_nid, &[], join_nid)?;
    let room = events::room_by_id(transaction, room_id)?.ok_or(RoomError::UnknownRoom)?;
    apply_current_state(transaction, &room, after, stream_ordering)?;
    Ok(Joined {
        join: Accepted {
            event_nid: join_nid,
            stream_ordering,
            pdu: join,
        },
        left_out,
    })
}

/// Whether `pdu` is an event of `room_id`; a v12 create event has no `room_id`: the room
/// ID is made from its event ID.
pub(super) fn belongs_to(rules: &RoomRules, pdu: &Pdu, room_id: &str) -> bool {
    match pdu.room_id() {
        Some(id) => id == room_id,
        None => {
            rules.room_id_is_create_event_hash
                && pdu.kind() == "m.room.create"
                && pdu.event_id().get(1..) == room_id.get(1..)
        }
    }
}

fn insert_outlier(
    transaction: &Transaction<'_>,
    room_nid: i64,
    pdu: &Pdu,
    rejected: bool,
) -> Result<i64, StoreError> {
    let text = serde_json::to_string(pdu.json()).unwrap_or_default();
    events::insert_event(
        transaction,
        &NewEvent {
            event_id: pdu.event_id(),
            room_nid,
            kind: pdu.kind(),
            state_key: pdu.state_key(),
            sender: pdu.sender(),
            origin_server_ts: pdu.origin_server_ts(),
            depth: pdu.depth(),
            stream_ordering: None,
            pdu: &text,
            rejected,
            soft_failed: false,
            outlier: true,
            state_group_before: None,
            state_group_after: None,
        },
    )
}
