//! The state of a room at a point of its DAG: after one event (its stored group), or after
//! several (their groups, resolved with the room version's state resolution when they
//! disagree). Results are stored as state groups, so the work is done once.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::RoomError;
use super::build::stored_to_pdu;
use crate::proto::pdu::Pdu;
use crate::proto::room_version::RoomRules;
use crate::proto::state_res::{self, StateMap};
use crate::store::events::{self, StoredEvent};
use crate::store::{Connection, state};

/// The state group after each of `prev_events`, merged into one group.
pub fn state_after_events(
    connection: &Connection,
    rules: &RoomRules,
    room_nid: i64,
    prev_events: &[StoredEvent],
) -> Result<Option<i64>, RoomError> {
    let groups: BTreeSet<i64> = prev_events
        .iter()
        .filter_map(|e| e.state_group_after)
        .collect();
    match groups.len() {
        0 => Ok(None),
        1 => Ok(groups.into_iter().next()),
        _ => {
            let groups: Vec<i64> = groups.into_iter().collect();
            resolve_groups(connection, rules, room_nid, &groups).map(Some)
        }
    }
}

/// Resolves several state groups into a new one (state resolution of the room version).
pub fn resolve_groups(
    connection: &Connection,
    rules: &RoomRules,
    room_nid: i64,
    groups: &[i64],
) -> Result<i64, RoomError> {
    let mut maps: Vec<HashMap<i64, i64>> = Vec::new();
    for group in groups {
        maps.push(state::load_state_group(connection, *group)?);
    }
    if maps.windows(2).all(|pair| pair[0] == pair[1]) {
        return groups
            .first()
            .copied()
            .ok_or(RoomError::Invalid("no state to resolve".into()));
    }
    // Numeric ids → (type, state_key) → event ID, as the protocol core expects.
    let mut key_names: HashMap<i64, (String, String)> = HashMap::new();
    let mut event_ids: HashMap<i64, String> = HashMap::new();
    let mut event_nids: HashMap<String, i64> = HashMap::new();
    let mut loaded: HashMap<String, Pdu> = HashMap::new();
    let mut forks: Vec<StateMap> = Vec::new();
    for map in &maps {
        let mut fork = BTreeMap::new();
        for (state_key_nid, event_nid) in map {
            let name = match key_names.get(state_key_nid) {
                Some(name) => name.clone(),
                None => {
                    let name = state::state_key_of(connection, *state_key_nid)?
                        .ok_or_else(|| RoomError::Invalid("unknown state key".into()))?;
                    key_names.insert(*state_key_nid, name.clone());
                    name
                }
            };
            let event_id = match event_ids.get(event_nid) {
                Some(id) => id.clone(),
                None => {
                    let stored = events::event_by_nid(connection, *event_nid)?
                        .ok_or(RoomError::UnknownEvent)?;
                    let id = stored.event_id.clone();
                    event_ids.insert(*event_nid, id.clone());
                    event_nids.insert(id.clone(), *event_nid);
                    loaded.insert(id.clone(), stored_to_pdu(&stored)?);
                    id
                }
            };
            fork.insert(name, event_id);
        }
        forks.push(fork);
    }
    // Auth chains of each fork, loading every event on the way (state resolution needs them).
    let mut rejected: BTreeSet<String> = BTreeSet::new();
    let mut auth_chains = Vec::new();
    for fork in &forks {
        let mut chain = BTreeSet::new();
        let mut todo: Vec<String> = fork.values().cloned().collect();
        while let Some(id) = todo.pop() {
            let pdu = match loaded.get(&id) {
                Some(pdu) => pdu.clone(),
                None => {
                    let Some(stored) = events::event_by_id(connection, &id)? else {
                        continue;
                    };
                    if stored.rejected {
                        rejected.insert(id.clone());
                    }
                    event_nids.insert(id.clone(), stored.event_nid);
                    let pdu = stored_to_pdu(&stored)?;
                    loaded.insert(id.clone(), pdu.clone());
                    pdu
                }
            };
            for auth_id in pdu.auth_event_ids() {
                if chain.insert(auth_id.to_owned()) {
                    todo.push(auth_id.to_owned());
                }
            }
        }
        auth_chains.push(chain);
    }
    let resolved = state_res::resolve_with_rejected(
        rules,
        &forks,
        &auth_chains,
        |id| loaded.get(id),
        |id| rejected.contains(id),
    )
    .map_err(|e| RoomError::Invalid(format!("state resolution failed: {e}")))?;
    let mut entries = Vec::with_capacity(resolved.len());
    for ((kind, state_key), event_id) in &resolved {
        let state_key_nid = state::state_key_nid(connection, kind, state_key)?;
        let event_nid = match event_nids.get(event_id) {
            Some(nid) => *nid,
            None => {
                events::event_by_id(connection, event_id)?
                    .ok_or(RoomError::UnknownEvent)?
                    .event_nid
            }
        };
        entries.push((state_key_nid, event_nid));
    }
    Ok(state::new_state_group(
        connection, room_nid, None, &entries,
    )?)
}

/// Loads the events of a state group for the given `(type, state_key)` pairs.
pub fn lookup_state_events(
    connection: &Connection,
    group: Option<i64>,
    keys: &[(String, String)],
) -> Result<Vec<Pdu>, RoomError> {
    let Some(group) = group else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for (kind, state_key) in keys {
        let Some(state_key_nid) = state::find_state_key_nid(connection, kind, state_key)? else {
            continue;
        };
        if let Some(event_nid) = state::state_group_lookup(connection, group, state_key_nid)?
            && let Some(stored) = events::event_by_nid(connection, event_nid)?
        {
            found.push(stored_to_pdu(&stored)?);
        }
    }
    Ok(found)
}
