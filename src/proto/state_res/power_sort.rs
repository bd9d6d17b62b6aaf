//! Reverse topological power ordering (state resolution v2 and v2.1, step 1).
//!
//! Spec: `rooms/fragments/v2-state-res.md` "Reverse topological power ordering": the
//! lexicographically smallest topological ordering of the auth-event DAG, earliest first,
//! found with Kahn's algorithm, taking at each step the smallest ready event where
//! x < y if x's sender has *greater* power (from x's auth events), then smaller
//! `origin_server_ts`, then smaller event ID.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet};

use super::{Events, StateResError};
use crate::proto::pdu::Pdu;

/// Sorts `selected` (which holds no event twice). An edge runs from each event to the
/// selected events in its auth chain that are reachable without passing through another
/// selected event, so the order also respects auth-event paths that leave the set.
pub(super) fn sort<'a>(
    events: &Events<'_, 'a>,
    selected: &[&'a Pdu],
) -> Result<Vec<&'a Pdu>, StateResError> {
    let by_id: HashMap<&str, &'a Pdu> = selected.iter().map(|pdu| (pdu.event_id(), *pdu)).collect();

    // For each event, how many selected events must come before it, and which selected
    // events wait for it.
    let mut n_waiting_on: HashMap<&str, usize> = HashMap::new();
    let mut waiting_for: HashMap<&str, Vec<&'a Pdu>> = HashMap::new();
    for pdu in selected {
        let before = selected_ancestors(events, pdu, &by_id);
        n_waiting_on.insert(pdu.event_id(), before.len());
        for ancestor in before {
            waiting_for.entry(ancestor).or_default().push(pdu);
        }
    }

    // `BinaryHeap` pops the greatest item, so the key is wrapped in `Reverse` to pop the
    // spec's smallest event first.
    let order_key = |pdu: &'a Pdu| {
        Reverse((
            Reverse(events.sender_power_level(pdu)),
            pdu.origin_server_ts(),
            pdu.event_id(),
        ))
    };
    let mut ready: BinaryHeap<Reverse<(Reverse<i64>, i64, &'a str)>> = selected
        .iter()
        .filter(|pdu| n_waiting_on.get(pdu.event_id()) == Some(&0))
        .map(|pdu| order_key(pdu))
        .collect();
    let mut sorted: Vec<&'a Pdu> = Vec::with_capacity(selected.len());
    while let Some(Reverse((_, _, event_id))) = ready.pop() {
        let Some(pdu) = by_id.get(event_id).copied() else {
            continue;
        };
        sorted.push(pdu);
        for waiting in waiting_for.get(event_id).into_iter().flatten() {
            if let Some(count) = n_waiting_on.get_mut(waiting.event_id()) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    ready.push(order_key(waiting));
                }
            }
        }
    }
    if sorted.len() == selected.len() {
        Ok(sorted)
    } else {
        Err(StateResError::AuthEventCycle)
    }
}

/// The selected events reachable from `pdu` through auth events, stopping at each
/// selected event found (its own ancestors are ordered through it).
fn selected_ancestors<'a>(
    events: &Events<'_, 'a>,
    pdu: &'a Pdu,
    selected: &HashMap<&str, &'a Pdu>,
) -> BTreeSet<&'a str> {
    let mut found: BTreeSet<&'a str> = BTreeSet::new();
    let mut visited: HashSet<String> = HashSet::new();
    let mut stack: Vec<&'a Pdu> = vec![pdu];
    while let Some(current) = stack.pop() {
        for auth_id in events.auth_event_ids(current) {
            if !visited.insert(auth_id.clone()) {
                continue;
            }
            if let Some(ancestor) = selected.get(auth_id.as_str()) {
                found.insert(ancestor.event_id());
            } else if let Some(auth) = events.find(&auth_id) {
                stack.push(auth);
            }
        }
    }
    found
}
