//! The room state hearth computes from Synapse's events equals what Synapse reports: after
//! each merge event, and the current state on both servers. Events are applied in stream
//! order; where `prev_events` fork, hearth's state resolution merges the forks.

use std::collections::{BTreeSet, HashMap};

use hearth::proto::pdu::Pdu;
use hearth::proto::state_res::{self, StateMap};

use crate::fixture::{ROOMS, Room};

#[test]
fn state_matches_synapse() {
    for room in ROOMS.map(Room::load) {
        let served = room.served_events();
        let mut auth_chains: HashMap<String, BTreeSet<String>> = HashMap::new();
        let mut state_after: HashMap<String, StateMap> = HashMap::new();
        let mut referenced: BTreeSet<&str> = BTreeSet::new();
        let mut n_conflicted_merges = 0;
        for event in &room.events {
            let pdu = &event.original;
            let at = format!("{} {}", room.name, pdu.event_id());
            let chain = auth_chain(pdu, &auth_chains);
            auth_chains.insert(pdu.event_id().to_owned(), chain);
            let forks: Vec<StateMap> = pdu
                .prev_event_ids()
                .into_iter()
                .map(|id| {
                    state_after
                        .get(id)
                        .cloned()
                        .expect("prev event comes first")
                })
                .collect();
            referenced.extend(pdu.prev_event_ids());
            let mut state = match forks.as_slice() {
                [] => StateMap::new(),
                [only] => only.clone(),
                _ => {
                    if forks.iter().any(|fork| fork != &forks[0]) {
                        n_conflicted_merges += 1;
                    }
                    resolve(&room, &forks, &auth_chains, &served)
                }
            };
            if let (Some(state_key), false) = (pdu.state_key(), event.rejected) {
                let key = (pdu.kind().to_owned(), state_key.to_owned());
                state.insert(key, pdu.event_id().to_owned());
            }
            if let Some(expected) = room.state_at_merges.get(pdu.event_id()) {
                assert_eq!(&state, expected, "{at}: state after this merge");
            }
            state_after.insert(pdu.event_id().to_owned(), state);
        }
        // Forward extremities: events nothing refers to yet, that Synapse did not reject
        // or soft-fail (a soft-failed event is stored but never becomes an extremity).
        let extremities: Vec<StateMap> = room
            .events
            .iter()
            .filter(|event| !event.rejected && !event.soft_failed)
            .filter(|event| !referenced.contains(event.original.event_id()))
            .map(|event| state_after[event.original.event_id()].clone())
            .collect();
        let current = match extremities.as_slice() {
            [only] => only.clone(),
            _ => resolve(&room, &extremities, &auth_chains, &served),
        };
        assert_eq!(current, room.state, "{}: current state", room.name);
        // The second server kept zoe's rename (soft-failed only on the first) as a forward
        // extremity, so a resolution of that fork against alice's demotion of zoe is in its
        // current state, or in the state after a later event of its that merged the fork.
        for event in room.events.iter().filter(|event| event.soft_failed) {
            let id = event.original.event_id();
            let resolved =
                referenced.contains(id) || room.remote_extremities.iter().any(|e| e == id);
            assert!(
                resolved,
                "{}: no state merges the soft-failed {id}",
                room.name
            );
        }
        let remote_forks: Vec<StateMap> = room
            .remote_extremities
            .iter()
            .map(|id| {
                state_after
                    .get(id)
                    .cloned()
                    .expect("extremity is in the fixture")
            })
            .collect();
        let remote = resolve(&room, &remote_forks, &auth_chains, &served);
        assert_eq!(
            remote, room.remote_state,
            "{}: second server's state",
            room.name
        );
        assert!(
            n_conflicted_merges > 0,
            "{}: the fixture has no conflicting forks",
            room.name
        );
    }
}

fn resolve(
    room: &Room,
    forks: &[StateMap],
    auth_chains: &HashMap<String, BTreeSet<String>>,
    served: &HashMap<String, Pdu>,
) -> StateMap {
    let fork_chains: Vec<BTreeSet<String>> = forks
        .iter()
        .map(|fork| {
            fork.values()
                .flat_map(|id| auth_chains[id].iter().cloned())
                .collect()
        })
        .collect();
    let rejected: BTreeSet<&str> = room
        .events
        .iter()
        .filter(|event| event.rejected)
        .map(|event| event.original.event_id())
        .collect();
    state_res::resolve_with_rejected(
        &room.rules,
        forks,
        &fork_chains,
        |id| served.get(id),
        |id| rejected.contains(id),
    )
    .expect("resolution has every event it needs")
}

/// The auth chain of `pdu`: its auth events and theirs, recursively (events come in
/// stream order, so every auth event's chain is already known).
fn auth_chain(pdu: &Pdu, known: &HashMap<String, BTreeSet<String>>) -> BTreeSet<String> {
    let mut chain = BTreeSet::new();
    for id in pdu.auth_event_ids() {
        chain.insert(id.to_owned());
        chain.extend(
            known
                .get(id)
                .expect("auth event comes first")
                .iter()
                .cloned(),
        );
    }
    chain
}
