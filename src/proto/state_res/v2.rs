//! State resolution v2 (room versions 2–11) and v2.1 (room version 12), which differ in two
//! places only: v2.1 starts the first iterative auth checks from an empty state map, and
//! adds the conflicted state subgraph to the full conflicted set.
//!
//! Spec: `rooms/fragments/v2-state-res.md` "Algorithm"; `rooms/v12.md` "State resolution".

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::{
    Conflicted, Events, StateMap, StateResError, mainline, merge_sorted, power_sort, state_key_of,
};
use crate::proto::pdu::Pdu;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Variant {
    V2,
    V2_1,
}

pub(super) fn resolve<'a>(
    events: &Events<'_, 'a>,
    forks: &[StateMap],
    auth_chains: &[BTreeSet<String>],
    unconflicted: StateMap,
    conflicted: &Conflicted,
    variant: Variant,
) -> Result<StateMap, StateResError> {
    let conflicted_ids: BTreeSet<&str> = conflicted
        .values()
        .flat_map(|ids| ids.iter().map(String::as_str))
        .collect();

    // Spec: "Full conflicted set" = conflicted state set ∪ auth difference
    // (∪ conflicted state subgraph in v2.1).
    let mut full_conflicted: BTreeSet<&str> = conflicted_ids.clone();
    full_conflicted.extend(auth_difference(events, forks, auth_chains));
    let subgraph;
    if variant == Variant::V2_1 {
        subgraph = conflicted_subgraph(events, &conflicted_ids);
        full_conflicted.extend(subgraph.iter().map(String::as_str));
    }
    let mut full_conflicted_events: BTreeMap<&str, &'a Pdu> = BTreeMap::new();
    for event_id in &full_conflicted {
        full_conflicted_events.insert(event_id, events.get(event_id)?);
    }

    // Step 1: the power events of the full conflicted set, plus the members of their auth
    // chains that are in the full conflicted set, in reverse topological power ordering.
    let power_events: Vec<&'a Pdu> = full_conflicted_events
        .values()
        .copied()
        .filter(|pdu| crate::proto::auth::is_power_event(pdu))
        .collect();
    let selected = with_auth_chain_members(events, &power_events, &full_conflicted_events);
    let sorted_power = power_sort::sort(events, &selected)?;

    // Step 2: iterative auth checks from the unconflicted state map (v2) or from an empty
    // map (v2.1: rooms/v12 "State resolution", change 1). The partial state is kept as
    // `changes` over `base`, so the (large) unconflicted map is never copied.
    let empty = StateMap::new();
    let base = match variant {
        Variant::V2 => &unconflicted,
        Variant::V2_1 => &empty,
    };
    let mut changes = StateMap::new();
    iterative_auth_checks(events, base, &mut changes, &sorted_power);

    // Step 3: everything else, in mainline ordering based on the resolved power levels.
    let selected_ids: HashSet<&str> = selected.iter().map(|pdu| pdu.event_id()).collect();
    let remaining: Vec<&'a Pdu> = full_conflicted_events
        .values()
        .copied()
        .filter(|pdu| !selected_ids.contains(pdu.event_id()))
        .collect();
    let power_levels_key = ("m.room.power_levels".to_owned(), String::new());
    let power_levels_id = changes
        .get(&power_levels_key)
        .or_else(|| base.get(&power_levels_key))
        .cloned();
    let sorted_remaining = mainline::sort(events, power_levels_id.as_deref(), remaining);

    // Step 4: iterative auth checks on top of the partially resolved state.
    iterative_auth_checks(events, base, &mut changes, &sorted_remaining);

    // Step 5: the unconflicted state map wins wherever it has the key.
    let mut resolved = unconflicted;
    for (key, event_id) in changes {
        resolved.entry(key).or_insert(event_id);
    }
    Ok(resolved)
}

/// Spec: "Auth difference" = ∪ Cᵢ − ∩ Cᵢ. Each Cᵢ is taken to include the state events of
/// fork i themselves, as Synapse's chain cover index does; this only keeps unconflicted
/// state events out of the difference (conflicted ones are in the full set anyway).
///
/// So an event is in the difference when some fork has it neither in its auth chain nor
/// as its state. Only events of some auth chain need a look: one that is only ever state
/// is either in every fork (unconflicted) or conflicted. The chains are merged in order,
/// so the (large) state maps are only consulted for events missing from some chain.
fn auth_difference<'s>(
    events: &Events<'_, '_>,
    forks: &[StateMap],
    auth_chains: &'s [BTreeSet<String>],
) -> Vec<&'s str> {
    let mut difference = Vec::new();
    let sources = auth_chains
        .iter()
        .map(|chain| chain.iter().map(|event_id| (event_id, ())))
        .collect();
    merge_sorted(sources, |event_id: &'s String, in_chain: &[Option<()>]| {
        let in_every_fork = forks
            .iter()
            .zip(in_chain)
            .all(|(fork, in_chain)| in_chain.is_some() || holds(events, fork, event_id));
        if !in_every_fork {
            difference.push(event_id.as_str());
        }
    });
    difference
}

/// Whether `event_id` is part of the state `fork`.
fn holds(events: &Events<'_, '_>, fork: &StateMap, event_id: &str) -> bool {
    let key = events.find(event_id).and_then(state_key_of);
    key.is_some_and(|key| fork.get(&key).map(String::as_str) == Some(event_id))
}

/// Spec (v2.1): "Conflicted state subgraph": every event on an `auth_events` path from one
/// conflicted event to another, endpoints included. An event is on such a path exactly
/// when it is reachable from a conflicted event and a conflicted event is reachable from
/// it, so: walk down from the conflicted events, then back up from them over the edges seen.
pub(super) fn conflicted_subgraph(
    events: &Events<'_, '_>,
    conflicted_ids: &BTreeSet<&str>,
) -> BTreeSet<String> {
    // Down: everything reachable from the conflicted events, with reversed edges.
    let mut reached: HashSet<String> = HashSet::new();
    let mut referenced_by: HashMap<String, Vec<String>> = HashMap::new();
    let mut stack: Vec<String> = conflicted_ids.iter().map(|id| (*id).to_owned()).collect();
    while let Some(event_id) = stack.pop() {
        if !reached.insert(event_id.clone()) {
            continue;
        }
        let Some(pdu) = events.find(&event_id) else {
            continue;
        };
        for auth_id in events.auth_event_ids(pdu) {
            referenced_by
                .entry(auth_id.clone())
                .or_default()
                .push(event_id.clone());
            stack.push(auth_id);
        }
    }
    // Up: from each conflicted event back towards the conflicted events that reach it.
    let mut subgraph: BTreeSet<String> = BTreeSet::new();
    let mut stack: Vec<String> = conflicted_ids.iter().map(|id| (*id).to_owned()).collect();
    while let Some(event_id) = stack.pop() {
        if !subgraph.insert(event_id.clone()) {
            continue;
        }
        if let Some(parents) = referenced_by.get(&event_id) {
            stack.extend(parents.iter().cloned());
        }
    }
    subgraph
}

/// Spec step 1: "For each such power event P, enlarge X by adding the events in the auth
/// chain of P which also belong to the full conflicted set." The whole auth chain is
/// walked (not only through conflicted events), so no member of it is missed.
fn with_auth_chain_members<'a>(
    events: &Events<'_, 'a>,
    power_events: &[&'a Pdu],
    full_conflicted: &BTreeMap<&str, &'a Pdu>,
) -> Vec<&'a Pdu> {
    let mut selected: Vec<&'a Pdu> = power_events.to_vec();
    let mut selected_ids: HashSet<String> = power_events
        .iter()
        .map(|pdu| pdu.event_id().to_owned())
        .collect();
    let mut visited: HashSet<String> = HashSet::new();
    let mut stack: Vec<&'a Pdu> = power_events.to_vec();
    while let Some(pdu) = stack.pop() {
        for auth_id in events.auth_event_ids(pdu) {
            if !visited.insert(auth_id.clone()) {
                continue;
            }
            let Some(auth) = events.find(&auth_id) else {
                continue;
            };
            if let Some(member) = full_conflicted.get(auth_id.as_str())
                && selected_ids.insert(auth_id.clone())
            {
                selected.push(member);
            }
            stack.push(auth);
        }
    }
    selected
}

/// Spec: "Iterative auth checks": apply each state event in turn if the auth rules allow
/// it against the state so far; a key the rules need that the state lacks is taken from
/// the event's own auth events, unless that auth event was rejected.
///
/// The state is `changes` laid over `base`; accepted events are recorded in `changes`.
fn iterative_auth_checks<'a>(
    events: &Events<'_, 'a>,
    base: &StateMap,
    changes: &mut StateMap,
    sorted: &[&'a Pdu],
) {
    for pdu in sorted {
        let Some(key) = state_key_of(pdu) else {
            continue;
        };
        let auth_events: Vec<&'a Pdu> = events
            .auth_event_ids(pdu)
            .iter()
            .filter(|event_id| !(events.is_rejected)(event_id))
            .filter_map(|event_id| events.find(event_id))
            .collect();
        let lookup = |kind: &str, state_key: &str| -> Option<&'a Pdu> {
            let key = (kind.to_owned(), state_key.to_owned());
            match changes.get(&key).or_else(|| base.get(&key)) {
                Some(event_id) => events.find(event_id),
                None => auth_events
                    .iter()
                    .copied()
                    .find(|auth| auth.kind() == kind && auth.state_key() == Some(state_key)),
            }
        };
        if crate::proto::auth::check(events.rules, pdu, lookup).is_ok() {
            changes.insert(key, pdu.event_id().to_owned());
        }
    }
}
