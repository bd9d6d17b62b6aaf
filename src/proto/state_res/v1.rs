//! State resolution v1 (room version 1). Known to reset room state; kept for old rooms.
//!
//! Spec: `rooms/v1.md` "State resolution". R starts as the unconflicted state; conflicts
//! are resolved in passes, power levels first, then join rules, then memberships, each
//! pass walking its events by ascending `depth` then descending `sha1(event_id)` and
//! stopping at the first event the auth rules refuse in R; every other conflict takes the
//! event with the highest depth and lowest `sha1(event_id)` that passes auth in R.
//!
//! Where the spec is silent this follows Synapse's `synapse/state/v1.py`, so rooms keep
//! converging with it: each member key is resolved on its own against R as it was after
//! the join rules pass (members do not see each other's results), and a non-auth conflict
//! where every event fails auth takes the one with the lowest depth.

use std::cmp::Reverse;
use std::collections::BTreeSet;

use super::{Conflicted, Events, StateMap, StateResError, sha1};
use crate::proto::pdu::Pdu;

pub(super) fn resolve(
    events: &Events<'_, '_>,
    mut resolved: StateMap,
    conflicted: &Conflicted,
) -> Result<StateMap, StateResError> {
    let pass_order: [fn(&str) -> bool; 3] = [
        |kind| kind == "m.room.power_levels",
        |kind| kind == "m.room.join_rules",
        |kind| kind == "m.room.member",
    ];
    for in_pass in pass_order {
        let mut pass_result: Vec<((String, String), String)> = Vec::new();
        for (key, event_ids) in conflicted.iter().filter(|(key, _)| in_pass(&key.0)) {
            if let Some(winner) = resolve_auth_key(events, &resolved, key, event_ids)? {
                pass_result.push((key.clone(), winner));
            }
        }
        resolved.extend(pass_result);
    }

    let mut other_result: Vec<((String, String), String)> = Vec::new();
    for (key, event_ids) in conflicted
        .iter()
        .filter(|(key, _)| !pass_order.iter().any(|in_pass| in_pass(&key.0)))
    {
        if let Some(winner) = resolve_other_key(events, &resolved, event_ids)? {
            other_result.push((key.clone(), winner));
        }
    }
    resolved.extend(other_result);
    Ok(resolved)
}

/// One key of the power levels, join rules or member pass: the first event by (depth
/// ascending, sha1 descending) goes in, then each next one while the auth rules allow it.
fn resolve_auth_key(
    events: &Events<'_, '_>,
    state: &StateMap,
    key: &(String, String),
    event_ids: &BTreeSet<String>,
) -> Result<Option<String>, StateResError> {
    let mut ordered = fetch_all(events, event_ids)?;
    ordered.sort_by_key(|pdu| {
        (
            pdu.depth(),
            Reverse(sha1::digest(pdu.event_id().as_bytes())),
        )
    });
    let mut ordered = ordered.into_iter();
    let Some(mut current) = ordered.next() else {
        return Ok(None);
    };
    for next in ordered {
        let allowed = check_in(events, state, next, Some((key, current)));
        if !allowed {
            break;
        }
        current = next;
    }
    Ok(Some(current.event_id().to_owned()))
}

/// Any other key: the first event by (depth descending, sha1 ascending) that passes auth in
/// R; if none does, the last one (Synapse's choice; the spec does not say).
fn resolve_other_key(
    events: &Events<'_, '_>,
    state: &StateMap,
    event_ids: &BTreeSet<String>,
) -> Result<Option<String>, StateResError> {
    let mut ordered = fetch_all(events, event_ids)?;
    ordered.sort_by_key(|pdu| {
        (
            Reverse(pdu.depth()),
            sha1::digest(pdu.event_id().as_bytes()),
        )
    });
    let winner = ordered
        .iter()
        .find(|pdu| check_in(events, state, pdu, None))
        .or(ordered.last());
    Ok(winner.map(|pdu| pdu.event_id().to_owned()))
}

fn fetch_all<'a>(
    events: &Events<'_, 'a>,
    event_ids: &BTreeSet<String>,
) -> Result<Vec<&'a Pdu>, StateResError> {
    event_ids
        .iter()
        .map(|event_id| events.get(event_id))
        .collect()
}

/// Whether the auth rules allow `pdu` in `state`, with `overlay` (a key and the event
/// currently chosen for it) laid over the state. v1 uses only R, never the event's own
/// auth events (Synapse's v1 does the same).
fn check_in<'a>(
    events: &Events<'_, 'a>,
    state: &StateMap,
    pdu: &Pdu,
    overlay: Option<(&(String, String), &'a Pdu)>,
) -> bool {
    let lookup = |kind: &str, state_key: &str| -> Option<&'a Pdu> {
        if let Some((key, chosen)) = overlay
            && key.0 == kind
            && key.1 == state_key
        {
            return Some(chosen);
        }
        let event_id = state.get(&(kind.to_owned(), state_key.to_owned()))?;
        events.find(event_id)
    };
    crate::proto::auth::check(events.rules, pdu, lookup).is_ok()
}
