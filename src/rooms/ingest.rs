//! Joining a room that lives on another server: the `send_join` answer (state and auth
//! chain) is checked event by event and stored, then our join event goes on top of that
//! state (spec: s2s "Joining Rooms": "the joining server ... must validate the state and
//! auth chain"; events that fail are left out, never stored as valid).
//!
//! The state is stored once, as one snapshot group; every event is an outlier (no place in
//! the timeline) except our join, which starts the room's timeline here.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::RoomError;
use super::join_answer::{Batch, CheckedAnswer};
use super::persist::Accepted;
use super::receive::{apply_current_state, check_against, wanted_state};
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
    /// Events of the answer newly stored (each once; the rejected ones too).
    pub events: usize,
}

/// Stores the room `room_id` of `rules` from a checked `send_join` answer (its events
/// already passed signatures and hashes: `join_answer::check_answer`), then `join` (our
/// signed join event) with that state before it. One pass, oldest first: each event is
/// parsed from its text, checked against its auth events and stored; only the events that
/// others name as auth events (and the few the join is checked against) stay in memory.
pub fn ingest_send_join(
    transaction: &Transaction<'_>,
    rules: &RoomRules,
    room_id: &str,
    answer: CheckedAnswer,
    join: Pdu,
) -> Result<Joined, RoomError> {
    let room_nid = match events::room_by_id(transaction, room_id)? {
        Some(room) => room.room_nid,
        None => events::insert_room(transaction, room_id, rules.version)?,
    };
    let CheckedAnswer { auth_ids, batches } = answer;
    // The first create event checked: the survey puts create events first.
    let mut create: Option<Pdu> = None;
    let mut left_out = 0;
    let mut inserted = 0;
    // The state the join is checked against: what the auth rules look up for it.
    let join_wanted: HashSet<(String, String)> = wanted_state(rules, &join).into_iter().collect();
    let mut join_state: HashMap<(String, String), Pdu> = HashMap::new();
    // Accepted events that some event names as an auth event, by ID.
    let mut auth_events_by_id: HashMap<String, Pdu> = HashMap::new();
    // The state before our join: state key nid → that event, for each accepted state event.
    let mut entries: HashMap<i64, StateEntry> = HashMap::new();
    // New events wait here to be inserted many per statement (`flush`).
    let mut pending: Vec<Pending> = Vec::new();
    // Batches come as the checks finish them (`join_answer::Checker`).
    loop {
        let batch = match batches.recv() {
            Ok(Batch::Events(batch)) => batch,
            Ok(Batch::End { left_out: dropped }) => {
                left_out += dropped;
                break;
            }
            // The checks died half way: fail the job, so that none of it is kept.
            Err(_) => {
                let why = "the checks of the send_join answer stopped".to_owned();
                return Err(RoomError::Store(StoreError::CommitFailed(why)));
            }
        };
        for event in batch {
            let pdu = event.pdu;
            if event.is_create && create.is_none() {
                create = Some(pdu.clone());
            }
            // An event in both lists of the answer comes twice: the second finds the first
            // stored (and may put it in the state).
            if pending
                .iter()
                .any(|waiting| waiting.pdu.event_id() == pdu.event_id())
            {
                flush(transaction, room_nid, &mut pending, &mut entries)?;
            }
            let stored = events::event_by_id(transaction, pdu.event_id())?;
            let accepted = match &stored {
                Some(stored) => {
                    // Entries keep their order (the deepest wins): what waits goes in first.
                    flush(transaction, room_nid, &mut pending, &mut entries)?;
                    !stored.rejected
                }
                None => {
                    let auth_events: Vec<&Pdu> = pdu
                        .auth_event_ids()
                        .iter()
                        .filter_map(|id| auth_events_by_id.get(*id))
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
                    if !passes {
                        left_out += 1;
                        crate::info!(
                            "join of {room_id}: {} fails its auth events; stored as rejected",
                            pdu.event_id()
                        );
                    }
                    passes
                }
            };
            let mut state_entry = None;
            if accepted
                && event.in_state
                && let Some(state_key) = pdu.state_key()
            {
                let key_nid = state::state_key_nid(transaction, pdu.kind(), state_key)?;
                let membership = (pdu.kind() == "m.room.member").then(|| {
                    let membership = pdu.content().get("membership").and_then(Value::as_str);
                    (
                        state_key.to_owned(),
                        membership.unwrap_or("leave").to_owned(),
                    )
                });
                state_entry = Some((key_nid, membership));
                let key = (pdu.kind().to_owned(), state_key.to_owned());
                if join_wanted.contains(&key) {
                    join_state.insert(key, pdu.clone());
                }
            }
            if accepted && auth_ids.contains(pdu.event_id()) {
                auth_events_by_id.insert(pdu.event_id().to_owned(), pdu.clone());
            }
            match &stored {
                Some(stored) => {
                    if let Some((key_nid, membership)) = state_entry {
                        let entry = StateEntry {
                            event_nid: stored.event_nid,
                            position: stored.stream_ordering,
                            membership,
                        };
                        entries.insert(key_nid, entry);
                    }
                }
                None => {
                    inserted += 1;
                    pending.push(Pending {
                        pdu,
                        text: event.text,
                        rejected: !accepted,
                        state_entry,
                    });
                    if pending.len() >= PENDING_MAX {
                        flush(transaction, room_nid, &mut pending, &mut entries)?;
                    }
                }
            }
        }
    }
    flush(transaction, room_nid, &mut pending, &mut entries)?;
    drop(pending);
    drop(auth_events_by_id);
    let pairs: Vec<(i64, i64)> = entries.iter().map(|(k, e)| (*k, e.event_nid)).collect();
    let before = state::new_state_group(transaction, room_nid, None, &pairs)?;
    drop(pairs);
    check_against(rules, &join, join_state.values().chain(create.iter()))
        .map_err(RoomError::Forbidden)?;

    let stream_ordering = events::next_stream_ordering(transaction)?;
    let text = serde_json::to_string(join.json()).map_err(|e| RoomError::Invalid(e.to_string()))?;
    let join_nid = events::insert_event(
        transaction,
        &NewEvent {
            stream_ordering: Some(stream_ordering),
            state_group_before: Some(before),
            ..NewEvent::from_pdu(&join, room_nid, &text)
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
    if room.current_state_group.is_some() {
        apply_current_state(transaction, &room, after, stream_ordering)?;
    } else {
        entries.insert(
            member_key,
            StateEntry {
                event_nid: join_nid,
                position: Some(stream_ordering),
                membership: Some((join.sender().to_owned(), "join".to_owned())),
            },
        );
        set_first_current_state(transaction, room_nid, &entries, after, stream_ordering)?;
    }
    Ok(Joined {
        join: Accepted {
            event_nid: join_nid,
            stream_ordering,
            pdu: join,
        },
        left_out,
        events: inserted,
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

/// One entry of the state the join goes on, as the loop saw it.
struct StateEntry {
    event_nid: i64,
    /// The event's stream position, if it had one (outliers have none).
    position: Option<i64>,
    /// For a member event: (user ID, membership).
    membership: Option<(String, String)>,
}

/// The current state of a room this server had none of: what `apply_current_state` writes
/// (current state rows, memberships, the group), from what the join already holds
/// instead of reading 10,000 events back out of the store.
fn set_first_current_state(
    transaction: &Transaction<'_>,
    room_nid: i64,
    entries: &HashMap<i64, StateEntry>,
    group: i64,
    stream_ordering: i64,
) -> Result<(), StoreError> {
    let rows: Vec<(i64, i64)> = entries.iter().map(|(k, e)| (*k, e.event_nid)).collect();
    state::set_current_state_rows(transaction, room_nid, &rows)?;
    let members: Vec<(&str, &str, i64, i64)> = entries
        .values()
        .filter_map(|entry| {
            let (user_id, membership) = entry.membership.as_ref()?;
            let position = entry.position.unwrap_or(stream_ordering);
            Some((
                user_id.as_str(),
                membership.as_str(),
                entry.event_nid,
                position,
            ))
        })
        .collect();
    state::set_membership_rows(transaction, room_nid, &members)?;
    events::set_current_state_group(transaction, room_nid, group)
}

/// New events inserted per `flush`.
const PENDING_MAX: usize = 200;

/// A checked event of the answer, not stored yet.
struct Pending {
    pdu: Pdu,
    text: String,
    rejected: bool,
    /// Its state key nid and (for a member event) membership, if it goes in the state.
    state_entry: Option<(i64, Option<(String, String)>)>,
}

/// Inserts the `pending` events as outliers, many per statement, and puts those that go
/// in the state into `entries`.
fn flush(
    transaction: &Transaction<'_>,
    room_nid: i64,
    pending: &mut Vec<Pending>,
    entries: &mut HashMap<i64, StateEntry>,
) -> Result<(), StoreError> {
    let rows: Vec<NewEvent<'_>> = pending
        .iter()
        .map(|event| NewEvent {
            rejected: event.rejected,
            outlier: true,
            ..NewEvent::from_pdu(&event.pdu, room_nid, &event.text)
        })
        .collect();
    let nids = events::insert_new_events(transaction, &rows)?;
    drop(rows);
    for event in pending.drain(..) {
        if let (Some((key_nid, membership)), Some(event_nid)) =
            (event.state_entry, nids.get(event.pdu.event_id()))
        {
            let entry = StateEntry {
                event_nid: *event_nid,
                position: None,
                membership,
            };
            entries.insert(key_nid, entry);
        }
    }
    Ok(())
}
