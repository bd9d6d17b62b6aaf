//! Mainline ordering (state resolution v2 and v2.1, step 3).
//!
//! Spec: `rooms/fragments/v2-state-res.md` "Mainline ordering". The mainline of the
//! resolved power levels event P₀ is P₀, the power levels event among P₀'s auth events, and
//! so on. An event's mainline position is the index i of the first Pᵢ met walking down its
//! chain of power levels auth events (the event itself not counted), or ∞. Events sort by
//! *greater* position first, then smaller `origin_server_ts`, then smaller event ID.

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};

use super::Events;
use crate::proto::pdu::Pdu;

/// Sorts `remaining` by mainline ordering based on `power_levels_id` (the power levels
/// event of the partially resolved state, if any: without one every position is ∞).
pub(super) fn sort<'a>(
    events: &Events<'_, 'a>,
    power_levels_id: Option<&str>,
    mut remaining: Vec<&'a Pdu>,
) -> Vec<&'a Pdu> {
    if remaining.is_empty() {
        return remaining;
    }
    let mut mainline_index: HashMap<String, usize> = HashMap::new();
    let mut next = power_levels_id.and_then(|event_id| events.find(event_id));
    while let Some(power_levels) = next {
        if mainline_index.contains_key(power_levels.event_id()) {
            break; // a cycle (possible only with sender-chosen v1–2 event IDs)
        }
        mainline_index.insert(power_levels.event_id().to_owned(), mainline_index.len());
        next = power_levels_auth_event(events, power_levels);
    }

    // Many events cite the same power levels event, so positions are remembered per
    // power levels event.
    let mut position_of_power_levels: HashMap<String, Option<usize>> = HashMap::new();
    let mut keys: HashMap<&'a str, (Reverse<usize>, i64)> = HashMap::new();
    for pdu in &remaining {
        let position =
            mainline_position(events, pdu, &mainline_index, &mut position_of_power_levels);
        // ∞ (`None`) sorts first, then the greatest index.
        let position_key = Reverse(position.unwrap_or(usize::MAX));
        keys.insert(pdu.event_id(), (position_key, pdu.origin_server_ts()));
    }
    remaining.sort_by(|x, y| {
        let x_key = keys.get(x.event_id());
        let y_key = keys.get(y.event_id());
        x_key
            .cmp(&y_key)
            .then_with(|| x.event_id().cmp(y.event_id()))
    });
    remaining
}

/// The first power levels event (`m.room.power_levels`, state key "") among the auth
/// events, as Synapse takes it.
fn power_levels_auth_event<'a>(events: &Events<'_, 'a>, pdu: &'a Pdu) -> Option<&'a Pdu> {
    pdu.auth_event_ids()
        .into_iter()
        .filter_map(|event_id| events.find(event_id))
        .find(|auth| auth.kind() == "m.room.power_levels" && auth.state_key() == Some(""))
}

/// The mainline position of `pdu`, or `None` for ∞.
fn mainline_position<'a>(
    events: &Events<'_, 'a>,
    pdu: &'a Pdu,
    mainline_index: &HashMap<String, usize>,
    cache: &mut HashMap<String, Option<usize>>,
) -> Option<usize> {
    let mut walked: Vec<&'a Pdu> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut next = power_levels_auth_event(events, pdu);
    let position = loop {
        let Some(power_levels) = next else {
            break None;
        };
        if let Some(index) = mainline_index.get(power_levels.event_id()) {
            break Some(*index);
        }
        if let Some(known) = cache.get(power_levels.event_id()) {
            break *known;
        }
        if !seen.insert(power_levels.event_id()) {
            break None; // a cycle (possible only with sender-chosen v1–2 event IDs)
        }
        walked.push(power_levels);
        next = power_levels_auth_event(events, power_levels);
    };
    for power_levels in walked {
        cache.insert(power_levels.event_id().to_owned(), position);
    }
    position
}
