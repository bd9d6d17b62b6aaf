//! The receive pipeline for PDUs from other servers (spec: s2s "Checks performed on
//! receipt of a PDU"): format, signatures, hashes (redact on mismatch), auth against its
//! auth events, against the state before it, soft-fail against the current state; then
//! persist and move the room's current state.
//!
//! It does no network I/O (STYLE 2.2): missing keys or events come back as `Need`, the
//! federation layer fetches them and calls again.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::RoomError;
use super::build::stored_to_pdu;
use super::persist::Accepted;
use super::state_at::{lookup_state_events, resolve_groups, state_after_events};
use crate::proto::auth;
use crate::proto::canonical_json::{SizeError, check_pdu_size_limits};
use crate::proto::event_format::{auth_event_types, pdu_from_object_signed};
use crate::proto::hashes::{
    check_content_hash, ed25519_signature_key_ids, servers_that_must_sign, signed_bytes,
    verify_event_signature_over,
};
use crate::proto::id::{ServerName, UserId};
use crate::proto::pdu::Pdu;
use crate::proto::redaction::redact;
use crate::proto::room_version::RoomRules;
use crate::store::events::{self, NewEvent, StoredRoom};
use crate::store::{Transaction, state};

/// A public key for (server, key ID), or `None` when it is not known (yet).
pub type KeyLookup<'a> = dyn Fn(&ServerName, &str) -> Option<String> + 'a;

/// What became of a PDU.
#[derive(Debug)]
pub enum Received {
    /// In the timeline.
    Accepted(Accepted),
    /// Stored, but not in the timeline: it fails against the current state.
    SoftFailed(String),
    /// Stored as rejected: it fails the auth rules.
    Rejected(String),
    /// Not stored: malformed or badly signed.
    Dropped(String),
    /// Already known.
    Duplicate,
    /// Keys or events must be fetched first.
    Need(Need),
}

#[derive(Debug, PartialEq, Eq)]
pub enum Need {
    Keys(Vec<(ServerName, String)>),
    /// prev_events or auth_events this server does not have.
    Events(Vec<String>),
}

/// How a peer or a client is told what became of a PDU (never Rust's debug form).
impl std::fmt::Display for Received {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Received::Accepted(accepted) => write!(f, "accepted {}", accepted.pdu.event_id()),
            Received::SoftFailed(why) => write!(f, "soft-failed: {why}"),
            Received::Rejected(why) => write!(f, "rejected: {why}"),
            Received::Dropped(why) => write!(f, "dropped: {why}"),
            Received::Duplicate => write!(f, "already known"),
            Received::Need(need) => write!(f, "{need}"),
        }
    }
}

impl std::fmt::Display for Need {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Need::Keys(keys) => {
                let keys: Vec<String> = keys.iter().map(|(s, k)| format!("{s} {k}")).collect();
                write!(f, "missing keys: {}", keys.join(", "))
            }
            Need::Events(ids) => write!(f, "missing events: {}", ids.join(", ")),
        }
    }
}

/// Runs the checks on `json` for `room` (read in this transaction) and stores the result.
pub fn receive_pdu(
    transaction: &Transaction<'_>,
    room: &StoredRoom,
    json: Map<String, Value>,
    keys: &KeyLookup<'_>,
) -> Result<Received, RoomError> {
    // A room known only from an invite, or whose join is not stored yet, has no state to
    // check against: checked now, its first events would be rejected for good (a /send
    // racing our own send_join did that). Ignore them, as Synapse ignores PDUs for rooms it
    // is not in; the join's state and get_missing_events bring back what is needed.
    if room.current_state_group.is_none() {
        return Ok(Received::Dropped(
            "this server has not joined the room (yet)".into(),
        ));
    }
    let rules = super::build::rules_of(room)?;
    let pdu = match checked_pdu(&rules, json, keys)? {
        Ok(pdu) => pdu,
        Err(outcome) => return Ok(outcome),
    };
    receive_checked_pdu(transaction, room, pdu)
}

/// The rest of `receive_pdu` for a PDU that passed `checked_pdu` already (format,
/// signatures, hashes: work that needs no database, done off the writer thread and on
/// every core for a whole transaction).
pub fn receive_checked_pdu(
    transaction: &Transaction<'_>,
    room: &StoredRoom,
    pdu: Pdu,
) -> Result<Received, RoomError> {
    if room.current_state_group.is_none() {
        return Ok(Received::Dropped(
            "this server has not joined the room (yet)".into(),
        ));
    }
    let rules = super::build::rules_of(room)?;
    if pdu.room_id() != Some(room.room_id.as_str()) {
        return Ok(Received::Dropped("the event is for another room".into()));
    }
    // What checked_pdu let through breaks only a limit older Synapse versions did not
    // enforce: stored as rejected, as Synapse does, so that the room does not break.
    let oversized = check_pdu_size_limits(pdu.json()).err();
    // An event held only as an outlier (an invite, the auth chain of a join) goes on through
    // the pipeline: arriving now as a room event, it joins the timeline (stored in place).
    if events::event_by_id(transaction, pdu.event_id())?
        .is_some_and(|stored| !stored.outlier || stored.rejected)
    {
        return Ok(Received::Duplicate);
    }
    if let Some(e) = oversized {
        return store_rejected(transaction, room, &pdu, &e.to_string());
    }
    // Auth events must all be known and not rejected.
    let mut missing = Vec::new();
    let mut auth_events = Vec::new();
    for id in pdu.auth_event_ids() {
        match events::event_by_id(transaction, id)? {
            Some(stored) if stored.rejected => {
                return store_rejected(transaction, room, &pdu, "an auth event was rejected");
            }
            Some(stored) => auth_events.push(stored_to_pdu(&stored)?),
            None => missing.push(id.to_owned()),
        }
    }
    let mut prev_events = Vec::new();
    for id in pdu.prev_event_ids() {
        match events::event_by_id(transaction, id)? {
            Some(stored) => prev_events.push(stored),
            None => missing.push(id.to_owned()),
        }
    }
    if !missing.is_empty() {
        return Ok(Received::Need(Need::Events(missing)));
    }
    let create = state::current_state_event(transaction, room.room_nid, "m.room.create", "")?
        .map(|stored| stored_to_pdu(&stored))
        .transpose()?;
    let auth_refs: Vec<&Pdu> = auth_events.iter().collect();
    if let Err(e) = auth::check_auth_events(&rules, &pdu, &auth_refs) {
        return store_rejected(transaction, room, &pdu, &e.to_string());
    }
    if let Err(e) = check_against(&rules, &pdu, auth_events.iter().chain(create.iter())) {
        return store_rejected(
            transaction,
            room,
            &pdu,
            &format!("against its auth events: {e}"),
        );
    }
    // The state before the event: after its prev_events.
    let before = state_after_events(transaction, &rules, room.room_nid, &prev_events)?;
    let wanted = wanted_state(&rules, &pdu);
    let state_before = lookup_state_events(transaction, before, &wanted)?;
    if let Err(e) = check_against(&rules, &pdu, state_before.iter().chain(create.iter())) {
        return store_rejected(
            transaction,
            room,
            &pdu,
            &format!("against the state before it: {e}"),
        );
    }
    let current = lookup_state_events(transaction, room.current_state_group, &wanted)?;
    let soft_failed = check_against(&rules, &pdu, current.iter().chain(create.iter())).err();
    persist_received(
        transaction,
        room,
        &rules,
        &pdu,
        before,
        &prev_events,
        soft_failed,
    )
}

/// Format, signatures and hashes: a usable `Pdu` (redacted when its hash is wrong), or the
/// outcome that ends the pipeline.
pub fn checked_pdu(
    rules: &RoomRules,
    json: Map<String, Value>,
    keys: &KeyLookup<'_>,
) -> Result<Result<Pdu, Received>, RoomError> {
    // Spec: c2s "Size limits", checked before any signature work. Synapse drops what no
    // version of it ever accepted (the whole PDU, or a field over 255 code points).
    if let Err(
        e @ (SizeError::PduTooLarge(_)
        | SizeError::FieldTooLong {
            persist_as_rejected: false,
            ..
        }),
    ) = check_pdu_size_limits(&json)
    {
        return Ok(Err(Received::Dropped(e.to_string())));
    }
    let signers = match servers_that_must_sign(rules, &json) {
        Ok(signers) => signers,
        Err(e) => return Ok(Err(Received::Dropped(format!("bad sender or room: {e}")))),
    };
    // What every signature covers, and what the event ID hashes: encoded once.
    let signed = signed_bytes(rules, &json);
    let mut needed = Vec::new();
    for server_name in &signers {
        let signatures = ed25519_signature_key_ids(&json, server_name);
        if signatures.is_empty() {
            return Ok(Err(Received::Dropped(format!(
                "no signature from {server_name}"
            ))));
        }
        let mut verified = false;
        let mut unknown = Vec::new();
        for key_id in signatures {
            match keys(server_name, &key_id) {
                Some(public_key) => {
                    if verify_event_signature_over(
                        &signed,
                        &json,
                        server_name,
                        &key_id,
                        &public_key,
                    )
                    .is_ok()
                    {
                        verified = true;
                        break;
                    }
                }
                None => unknown.push((server_name.clone(), key_id)),
            }
        }
        if !verified {
            if unknown.is_empty() {
                return Ok(Err(Received::Dropped(format!(
                    "bad signature from {server_name}"
                ))));
            }
            needed.extend(unknown);
        }
    }
    if !needed.is_empty() {
        return Ok(Err(Received::Need(Need::Keys(needed))));
    }
    // Spec: a wrong content hash means the event is redacted, not dropped.
    let json = match check_content_hash(&json) {
        Ok(()) => json,
        Err(_) => redact(rules, &json),
    };
    // The signed bytes of the event and of its redaction are the same (redacting is
    // idempotent), so they give the ID either way.
    match pdu_from_object_signed(rules, json, &signed) {
        Ok(pdu) => Ok(Ok(pdu)),
        Err(e) => Ok(Err(Received::Dropped(format!("malformed event: {e}")))),
    }
}

/// The state keys the auth rules look at for `pdu`.
pub(super) fn wanted_state(rules: &RoomRules, pdu: &Pdu) -> Vec<(String, String)> {
    let Ok(sender) = UserId::parse(pdu.sender()) else {
        return Vec::new();
    };
    let mut wanted = auth_event_types(rules, pdu.kind(), &sender, pdu.state_key(), pdu.content());
    wanted.push(("m.room.create".into(), String::new()));
    wanted.push(("m.room.power_levels".into(), String::new()));
    wanted
}

pub fn check_against<'a>(
    rules: &RoomRules,
    pdu: &Pdu,
    state: impl Iterator<Item = &'a Pdu>,
) -> Result<(), auth::AuthError> {
    let by_key: HashMap<(&str, &str), &Pdu> = state
        .map(|event| ((event.kind(), event.state_key().unwrap_or("")), event))
        .collect();
    auth::check(rules, pdu, |kind, state_key| {
        by_key.get(&(kind, state_key)).copied()
    })
}

fn store_rejected(
    transaction: &Transaction<'_>,
    room: &StoredRoom,
    pdu: &Pdu,
    why: &str,
) -> Result<Received, RoomError> {
    insert(transaction, room, pdu, None, None, None, true, false)?;
    crate::info!("rejected {} in {}: {why}", pdu.event_id(), room.room_id);
    Ok(Received::Rejected(why.to_owned()))
}

#[allow(clippy::too_many_arguments)]
fn insert(
    transaction: &Transaction<'_>,
    room: &StoredRoom,
    pdu: &Pdu,
    stream_ordering: Option<i64>,
    before: Option<i64>,
    after: Option<i64>,
    rejected: bool,
    soft_failed: bool,
) -> Result<i64, RoomError> {
    let text = serde_json::to_string(pdu.json()).map_err(|e| RoomError::Invalid(e.to_string()))?;
    Ok(events::insert_event(
        transaction,
        &NewEvent {
            stream_ordering,
            rejected,
            soft_failed,
            state_group_before: before,
            state_group_after: after,
            ..NewEvent::from_pdu(pdu, room.room_nid, &text)
        },
    )?)
}

fn persist_received(
    transaction: &Transaction<'_>,
    room: &StoredRoom,
    rules: &RoomRules,
    pdu: &Pdu,
    before: Option<i64>,
    prev_events: &[events::StoredEvent],
    soft_failed: Option<auth::AuthError>,
) -> Result<Received, RoomError> {
    if let Some(reason) = soft_failed {
        // Stored with its state, so later events may still reference it; not in the timeline.
        let event_nid = insert(transaction, room, pdu, None, before, before, false, true)?;
        if let Some(after) = group_after(transaction, room, pdu, before, event_nid)? {
            events::set_state_group_after(transaction, event_nid, after)?;
        }
        return Ok(Received::SoftFailed(reason.to_string()));
    }
    let stream_ordering = events::next_stream_ordering(transaction)?;
    let event_nid = insert(
        transaction,
        room,
        pdu,
        Some(stream_ordering),
        before,
        before,
        false,
        false,
    )?;
    let after = group_after(transaction, room, pdu, before, event_nid)?;
    if let Some(after) = after {
        events::set_state_group_after(transaction, event_nid, after)?;
    }
    let prev_nids: Vec<i64> = prev_events.iter().map(|e| e.event_nid).collect();
    events::advance_forward_extremities(transaction, room.room_nid, &prev_nids, event_nid)?;
    if pdu.kind() == "m.room.redaction" {
        let target = pdu
            .json()
            .get("redacts")
            .or_else(|| pdu.content().get("redacts"))
            .and_then(Value::as_str);
        if let Some(target) = target {
            events::set_redacted_by(transaction, target, pdu.event_id())?;
        }
    }
    // The room's new current state: after the one extremity, or the resolution of several.
    let extremities = events::forward_extremities(transaction, room.room_nid)?;
    let groups: Vec<i64> = {
        let mut seen = HashSet::new();
        extremities
            .iter()
            .filter_map(|e| e.state_group_after)
            .filter(|g| seen.insert(*g))
            .collect()
    };
    let new_current = match groups.as_slice() {
        [] => None,
        [one] => Some(*one),
        many => Some(resolve_groups(transaction, rules, room.room_nid, many)?),
    };
    if let Some(group) = new_current
        && Some(group) != room.current_state_group
    {
        apply_current_state(transaction, room, group, stream_ordering)?;
    }
    Ok(Received::Accepted(Accepted {
        event_nid,
        stream_ordering,
        pdu: pdu.clone(),
    }))
}

/// The group after `pdu`: a new delta for a state event, else the group before.
fn group_after(
    transaction: &Transaction<'_>,
    room: &StoredRoom,
    pdu: &Pdu,
    before: Option<i64>,
    event_nid: i64,
) -> Result<Option<i64>, RoomError> {
    match pdu.state_key() {
        Some(state_key) => {
            let state_key_nid = state::state_key_nid(transaction, pdu.kind(), state_key)?;
            Ok(Some(state::new_state_group(
                transaction,
                room.room_nid,
                before,
                &[(state_key_nid, event_nid)],
            )?))
        }
        None => Ok(before),
    }
}

/// Makes `group` the room's current state: the materialised table and memberships follow.
pub fn apply_current_state(
    transaction: &Transaction<'_>,
    room: &StoredRoom,
    group: i64,
    stream_ordering: i64,
) -> Result<(), RoomError> {
    let new_state = state::load_state_group(transaction, group)?;
    let old_state = match room.current_state_group {
        Some(old) => state::load_state_group(transaction, old)?,
        None => HashMap::new(),
    };
    for (state_key_nid, event_nid) in &new_state {
        if old_state.get(state_key_nid) == Some(event_nid) {
            continue;
        }
        state::set_current_state(transaction, room.room_nid, *state_key_nid, *event_nid)?;
        let Some((kind, state_key)) = state::state_key_of(transaction, *state_key_nid)? else {
            continue;
        };
        if kind == "m.room.member"
            && let Some(stored) = events::event_by_nid(transaction, *event_nid)?
        {
            let pdu = stored_to_pdu(&stored)?;
            let membership = pdu
                .content()
                .get("membership")
                .and_then(Value::as_str)
                .unwrap_or("leave");
            let position = stored.stream_ordering.unwrap_or(stream_ordering);
            events::set_membership(
                transaction,
                &state_key,
                room.room_nid,
                membership,
                *event_nid,
                position,
            )?;
        }
    }
    events::set_current_state_group(transaction, room.room_nid, group)?;
    Ok(())
}
