//! History from before this server joined a room (spec: s2s "Backfilling and retrieving
//! missing events"): where the history held here begins (the frontier: earlier events that
//! held events refer to), and storing a `backfill` answer as history. Each event is checked
//! like a received PDU (format, signatures, hashes, auth against its auth events and, when
//! its prev events are held, against the state before it) and stored with its state, but
//! the room's current state, forward extremities and memberships stay as they are: history
//! changes nothing of the present, and wakes no sync (its stream positions are below every
//! other, counting down, so it sorts before the join and pagination tokens keep working).
//!
//! Like the receive pipeline it does no network I/O: `federation::backfill` fetches the
//! events and the auth events they miss first.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde_json::{Map, Value};

use super::RoomError;
use super::build::{rules_of, stored_to_pdu};
use super::ingest::belongs_to;
use super::receive::{KeyLookup, check_against, checked_pdu, wanted_state};
use super::state_at::{lookup_state_events, state_after_events};
use crate::proto::auth;
use crate::proto::hashes::event_id_for;
use crate::proto::pdu::Pdu;
use crate::proto::room_version::RoomRules;
use crate::store::backfill::{
    earliest_timeline, lowest_stream_ordering, redaction_targets, set_stream_ordering,
};
use crate::store::events::{self, NewEvent, StoredEvent, StoredRoom};
use crate::store::{Connection, Transaction, state};

/// How many of the earliest timeline events are looked at for references to earlier ones.
/// Backfilled events are placed in depth order, so the frontier is among the last batch.
const FRONTIER_SCAN: i64 = 200;

/// What came of a backfill answer.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Backfilled {
    /// Events now in the timeline, before what was held.
    pub added: usize,
    /// Events stored as rejected (they fail the auth rules).
    pub rejected: usize,
    /// Events not stored (malformed, badly signed, of another room).
    pub dropped: usize,
}

/// The IDs of events that the earliest held events refer to as prev events but that are not
/// in the timeline here (unknown, or held only as outliers): what to ask `backfill` for.
/// Empty when the history here reaches the room's creation. A rejected event ends a path.
pub fn frontier(connection: &Connection, room_nid: i64) -> Result<Vec<String>, RoomError> {
    let earliest = earliest_timeline(connection, room_nid, FRONTIER_SCAN)?;
    // A room whose timeline here starts at its creation (every room created here, and
    // joined rooms once backfilled to the end) has nothing more to fetch.
    if earliest.first().is_some_and(|first| {
        first.kind == "m.room.create" && first.state_key.as_deref() == Some("")
    }) {
        return Ok(Vec::new());
    }
    let mut wanted = BTreeSet::new();
    for stored in earliest {
        for prev in stored_to_pdu(&stored)?.prev_event_ids() {
            match events::event_by_id(connection, prev)? {
                Some(known) if !known.outlier || known.rejected => {}
                _ => {
                    wanted.insert(prev.to_owned());
                }
            }
        }
    }
    Ok(wanted.into_iter().collect())
}

/// The auth events of `batch` that are neither held nor in `batch`: to fetch before
/// `store_backfilled` can decide on the events that need them.
pub fn missing_auth_events(
    connection: &Connection,
    rules: &RoomRules,
    batch: &[Map<String, Value>],
) -> Result<Vec<String>, RoomError> {
    let in_batch: HashSet<String> = batch
        .iter()
        .filter_map(|json| event_id_for(rules, json).ok())
        .collect();
    let mut missing = BTreeSet::new();
    for json in batch {
        let pdu = Pdu::new(String::new(), json.clone());
        for id in pdu.auth_event_ids() {
            if !in_batch.contains(id)
                && !missing.contains(id)
                && events::event_by_id(connection, id)?.is_none()
            {
                missing.insert(id.to_owned());
            }
        }
    }
    Ok(missing.into_iter().collect())
}

/// The events of `batch` none of whose prev events is in the batch or held with its state:
/// the state before them must come from the server (`/state_ids` at the event).
pub fn events_needing_state(
    connection: &Connection,
    rules: &RoomRules,
    batch: &[Map<String, Value>],
) -> Result<Vec<String>, RoomError> {
    let ids: Vec<Option<String>> = batch
        .iter()
        .map(|json| event_id_for(rules, json).ok())
        .collect();
    let in_batch: HashSet<&str> = ids.iter().flatten().map(String::as_str).collect();
    let mut needing = Vec::new();
    for (json, id) in batch.iter().zip(&ids) {
        let Some(id) = id else { continue };
        let pdu = Pdu::new(id.clone(), json.clone());
        let prevs = pdu.prev_event_ids();
        let mut known = prevs.is_empty();
        for prev in prevs {
            if in_batch.contains(prev)
                || events::event_by_id(connection, prev)?
                    .is_some_and(|held| held.state_group_after.is_some())
            {
                known = true;
                break;
            }
        }
        if !known && events::event_by_id(connection, id)?.is_none_or(|held| held.outlier) {
            needing.push(id.clone());
        }
    }
    Ok(needing)
}

/// Stores `outliers` (auth and state events fetched for the batch) as outliers, then
/// `batch` (a `backfill` answer) as history before the timeline held. `states` gives the
/// state before events whose prev events are not held (event ID → state event IDs, all
/// held by then). `room` must be read in this transaction.
pub fn store_backfilled(
    transaction: &Transaction<'_>,
    room: &StoredRoom,
    batch: Vec<Map<String, Value>>,
    outliers: Vec<Map<String, Value>>,
    states: &HashMap<String, Vec<String>>,
    keys: &KeyLookup<'_>,
) -> Result<Backfilled, RoomError> {
    let rules = rules_of(room)?;
    let mut outcome = Backfilled::default();
    let create = state::current_state_event(transaction, room.room_nid, "m.room.create", "")?
        .map(|stored| stored_to_pdu(&stored))
        .transpose()?;
    for pdu in checked_oldest_first(&rules, room, outliers, keys, &mut outcome)? {
        if events::event_by_id(transaction, pdu.event_id())?.is_none() {
            let passes = authorised_by_auth_events(transaction, &rules, &pdu, create.as_ref())?;
            insert(transaction, room, &pdu, true, passes.is_err(), (None, None))?;
        }
    }
    // The state of events whose prev events are not held, when the server did not give it:
    // the state before the earliest event held, an approximation.
    let fallback = earliest_timeline(transaction, room.room_nid, 1)?
        .first()
        .and_then(|earliest| earliest.state_group_before);
    // Redactions come back before the (older) events they redact.
    let redacted: HashMap<String, String> = redaction_targets(transaction, room.room_nid)?
        .into_iter()
        .collect();
    let mut placed = Vec::new();
    for pdu in checked_oldest_first(&rules, room, batch, keys, &mut outcome)? {
        if let Some(stored) = events::event_by_id(transaction, pdu.event_id())?
            && (!stored.outlier || stored.rejected)
        {
            continue;
        }
        if let Err(why) = authorised_by_auth_events(transaction, &rules, &pdu, create.as_ref())? {
            reject(transaction, room, &pdu, &why, &mut outcome)?;
            continue;
        }
        let mut prev_events: Vec<StoredEvent> = Vec::new();
        for id in pdu.prev_event_ids() {
            if let Some(stored) = events::event_by_id(transaction, id)?
                && stored.state_group_after.is_some()
            {
                prev_events.push(stored);
            }
        }
        let given = states.get(pdu.event_id());
        let before = if !prev_events.is_empty() {
            state_after_events(transaction, &rules, room.room_nid, &prev_events)?
        } else if pdu.prev_event_ids().is_empty() {
            None
        } else if let Some(state_ids) = given {
            Some(state_group_of(transaction, room.room_nid, state_ids)?)
        } else {
            fallback
        };
        // Spec: s2s "Checks performed on receipt of a PDU", step 5, when the state is known.
        if !prev_events.is_empty() || pdu.prev_event_ids().is_empty() || given.is_some() {
            let state_before =
                lookup_state_events(transaction, before, &wanted_state(&rules, &pdu))?;
            if let Err(e) = check_against(&rules, &pdu, state_before.iter().chain(create.iter())) {
                reject(
                    transaction,
                    room,
                    &pdu,
                    &format!("against the state before it: {e}"),
                    &mut outcome,
                )?;
                continue;
            }
        }
        let event_nid = insert(transaction, room, &pdu, false, false, (before, before))?;
        if let Some(state_key) = pdu.state_key() {
            let state_key_nid = state::state_key_nid(transaction, pdu.kind(), state_key)?;
            let after = state::new_state_group(
                transaction,
                room.room_nid,
                before,
                &[(state_key_nid, event_nid)],
            )?;
            events::set_state_group_after(transaction, event_nid, after)?;
        }
        if pdu.kind() == "m.room.redaction"
            && let Some(target) = redacted_event(&pdu)
        {
            events::set_redacted_by(transaction, target, pdu.event_id())?;
        }
        if let Some(redaction) = redacted.get(pdu.event_id()) {
            events::set_redacted_by(transaction, pdu.event_id(), redaction)?;
        }
        placed.push(event_nid);
    }
    // Oldest first in `placed`: the newest goes right below everything held.
    let top = lowest_stream_ordering(transaction)? - 1;
    for (offset, event_nid) in placed.iter().rev().enumerate() {
        set_stream_ordering(transaction, *event_nid, top - offset as i64)?;
    }
    outcome.added = placed.len();
    Ok(outcome)
}

/// A new state group (a snapshot) of the held, not rejected state events among `state_ids`.
fn state_group_of(
    transaction: &Transaction<'_>,
    room_nid: i64,
    state_ids: &[String],
) -> Result<i64, RoomError> {
    let mut entries = BTreeMap::new();
    for id in state_ids {
        if let Some(held) = events::event_by_id(transaction, id)?
            && !held.rejected
            && held.room_nid == room_nid
            && let Some(state_key) = &held.state_key
        {
            entries.insert(
                state::state_key_nid(transaction, &held.kind, state_key)?,
                held.event_nid,
            );
        }
    }
    let entries: Vec<(i64, i64)> = entries.into_iter().collect();
    Ok(state::new_state_group(
        transaction,
        room_nid,
        None,
        &entries,
    )?)
}

/// Format, signatures and hashes of each event (dropping those that fail or belong to
/// another room), without duplicates, in depth order so that events come after their
/// auth and prev events.
fn checked_oldest_first(
    rules: &RoomRules,
    room: &StoredRoom,
    events: Vec<Map<String, Value>>,
    keys: &KeyLookup<'_>,
    outcome: &mut Backfilled,
) -> Result<Vec<Pdu>, RoomError> {
    let mut seen = HashSet::new();
    let mut checked = Vec::new();
    for json in events {
        match checked_pdu(rules, json, keys)? {
            Ok(pdu) if belongs_to(rules, &pdu, &room.room_id) => {
                if seen.insert(pdu.event_id().to_owned()) {
                    checked.push(pdu);
                }
            }
            Ok(pdu) => {
                crate::info!(
                    "backfill of {}: {} is of another room",
                    room.room_id,
                    pdu.event_id()
                );
                outcome.dropped += 1;
            }
            Err(why) => {
                crate::info!("backfill of {}: left out an event: {why:?}", room.room_id);
                outcome.dropped += 1;
            }
        }
    }
    checked.sort_by(|a, b| (a.depth(), a.event_id()).cmp(&(b.depth(), b.event_id())));
    Ok(checked)
}

/// Spec: s2s "Checks performed on receipt of a PDU", step 4: auth against its auth events,
/// which must all be held and not rejected. `Err` carries the reason.
fn authorised_by_auth_events(
    connection: &Connection,
    rules: &RoomRules,
    pdu: &Pdu,
    create: Option<&Pdu>,
) -> Result<Result<(), String>, RoomError> {
    let mut auth_events = Vec::new();
    for id in pdu.auth_event_ids() {
        match events::event_by_id(connection, id)? {
            Some(stored) if !stored.rejected => auth_events.push(stored_to_pdu(&stored)?),
            Some(_) => return Ok(Err("an auth event was rejected".into())),
            None => return Ok(Err(format!("its auth event {id} could not be had"))),
        }
    }
    let refs: Vec<&Pdu> = auth_events.iter().collect();
    if let Err(e) = auth::check_auth_events(rules, pdu, &refs) {
        return Ok(Err(e.to_string()));
    }
    Ok(check_against(rules, pdu, auth_events.iter().chain(create))
        .map_err(|e| format!("against its auth events: {e}")))
}

fn reject(
    transaction: &Transaction<'_>,
    room: &StoredRoom,
    pdu: &Pdu,
    why: &str,
    outcome: &mut Backfilled,
) -> Result<(), RoomError> {
    crate::info!(
        "backfill of {}: rejected {}: {why}",
        room.room_id,
        pdu.event_id()
    );
    insert(transaction, room, pdu, false, true, (None, None))?;
    outcome.rejected += 1;
    Ok(())
}

/// Inserts (or promotes an outlier to) an event without a stream position yet.
fn insert(
    transaction: &Transaction<'_>,
    room: &StoredRoom,
    pdu: &Pdu,
    outlier: bool,
    rejected: bool,
    (before, after): (Option<i64>, Option<i64>),
) -> Result<i64, RoomError> {
    let text = serde_json::to_string(pdu.json()).map_err(|e| RoomError::Invalid(e.to_string()))?;
    Ok(events::insert_event(
        transaction,
        &NewEvent {
            rejected,
            outlier,
            state_group_before: before,
            state_group_after: after,
            ..NewEvent::from_pdu(pdu, room.room_nid, &text)
        },
    )?)
}

fn redacted_event(pdu: &Pdu) -> Option<&str> {
    pdu.json()
        .get("redacts")
        .or_else(|| pdu.content().get("redacts"))
        .and_then(Value::as_str)
}
