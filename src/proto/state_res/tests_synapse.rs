//! Cross-check against Synapse 1.163.2: replay the rooms in `tests/fixtures/synapse/v*/`
//! (two federating Synapses, forks from concurrent sends; see make_fixtures.py there) and
//! compare the state after every merge event with the state Synapse stored for it.
//!
//! The state after an event is the resolution of the states after its prev_events, plus
//! the event itself if it is an accepted state event, exactly as Synapse computes it.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use super::{StateMap, resolve};
use crate::proto::pdu::Pdu;
use crate::proto::room_version::RoomRules;

struct Fixture {
    version: &'static str,
    events: &'static str,
    state_at_merges: &'static str,
}

macro_rules! fixture {
    ($version:literal) => {
        Fixture {
            version: $version,
            events: include_str!(concat!(
                "../../../tests/fixtures/synapse/v",
                $version,
                "/events.json"
            )),
            state_at_merges: include_str!(concat!(
                "../../../tests/fixtures/synapse/v",
                $version,
                "/state_at_merges.json"
            )),
        }
    };
}

fn fixtures() -> [Fixture; 6] {
    [
        fixture!("1"),
        fixture!("6"),
        fixture!("9"),
        fixture!("10"),
        fixture!("11"),
        fixture!("12"),
    ]
}

/// The room's events, in an order where every event follows its prev_events, with
/// whether Synapse rejected each.
fn load_events(text: &str) -> Vec<(Pdu, bool)> {
    let Value::Array(entries) = serde_json::from_str(text).expect("events.json is JSON") else {
        panic!("events.json is an array");
    };
    let mut pending: Vec<(Pdu, bool)> = entries
        .into_iter()
        .map(|entry| {
            let event_id = entry["event_id"].as_str().expect("event_id").to_owned();
            let rejected = entry["rejected"].as_bool().unwrap_or(false);
            let Value::Object(pdu) = entry["pdu"].clone() else {
                panic!("pdu is an object")
            };
            (Pdu::new(event_id, pdu), rejected)
        })
        .collect();
    let mut ordered: Vec<(Pdu, bool)> = Vec::new();
    let mut placed: BTreeSet<String> = BTreeSet::new();
    while !pending.is_empty() {
        let before = pending.len();
        let mut still_pending = Vec::new();
        for (pdu, rejected) in pending {
            if pdu
                .prev_event_ids()
                .iter()
                .all(|prev| placed.contains(*prev))
            {
                placed.insert(pdu.event_id().to_owned());
                ordered.push((pdu, rejected));
            } else {
                still_pending.push((pdu, rejected));
            }
        }
        assert!(
            still_pending.len() < before,
            "events.json has an event whose prev_events are missing"
        );
        pending = still_pending;
    }
    ordered
}

fn auth_chain(events: &HashMap<String, Pdu>, fork: &StateMap) -> BTreeSet<String> {
    let mut chain = BTreeSet::new();
    let mut stack: Vec<&str> = fork.values().map(String::as_str).collect();
    while let Some(event_id) = stack.pop() {
        for auth_id in events[event_id].auth_event_ids() {
            if chain.insert(auth_id.to_owned()) {
                stack.push(auth_id);
            }
        }
    }
    chain
}

/// Synapse's `{"type|state_key": event_id}` as a state map.
fn parse_state(value: &Value) -> StateMap {
    value
        .as_object()
        .expect("a state is an object")
        .iter()
        .map(|(key, event_id)| {
            let (kind, state_key) = key.split_once('|').expect("type|state_key");
            let event_id = event_id.as_str().expect("event IDs are strings").to_owned();
            ((kind.to_owned(), state_key.to_owned()), event_id)
        })
        .collect()
}

#[test]
fn state_at_every_merge_matches_synapse() {
    for fixture in fixtures() {
        let rules = RoomRules::for_version(fixture.version).expect("known version");
        let ordered = load_events(fixture.events);
        let events: HashMap<String, Pdu> = ordered
            .iter()
            .map(|(pdu, _)| (pdu.event_id().to_owned(), pdu.clone()))
            .collect();
        let fetch = |event_id: &str| events.get(event_id);

        let mut state_after: HashMap<String, StateMap> = HashMap::new();
        let mut n_resolutions = 0;
        for (pdu, rejected) in &ordered {
            let forks: Vec<StateMap> = pdu
                .prev_event_ids()
                .iter()
                .map(|prev| state_after[*prev].clone())
                .collect();
            let mut state = if forks.len() > 1 {
                n_resolutions += 1;
                let chains: Vec<BTreeSet<String>> =
                    forks.iter().map(|fork| auth_chain(&events, fork)).collect();
                resolve(&rules, &forks, &chains, fetch).expect("Synapse's room resolves")
            } else {
                forks.into_iter().next().unwrap_or_default()
            };
            if !rejected && let Some(state_key) = pdu.state_key() {
                state.insert(
                    (pdu.kind().to_owned(), state_key.to_owned()),
                    pdu.event_id().to_owned(),
                );
            }
            state_after.insert(pdu.event_id().to_owned(), state);
        }

        let Value::Object(merges) = serde_json::from_str(fixture.state_at_merges).expect("JSON")
        else {
            panic!("state_at_merges.json is an object");
        };
        assert!(!merges.is_empty() && n_resolutions >= merges.len());
        for (event_id, synapse_state) in &merges {
            assert_eq!(
                state_after[event_id],
                parse_state(synapse_state),
                "room version {}: state after merge event {event_id}",
                fixture.version
            );
        }
    }
}
