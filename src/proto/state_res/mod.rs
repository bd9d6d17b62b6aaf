//! State resolution: given the room states at the tips of a fork in the room DAG, compute
//! the state the room has where those forks meet (checklist §3.6).
//!
//! Three algorithms, picked by `RoomRules::state_res`:
//! - v1 (room version 1; spec `rooms/v1.md` "State resolution"), in `v1.rs`;
//! - v2 (versions 2–11; spec `rooms/fragments/v2-state-res.md`) and v2.1 (version 12; spec
//!   `rooms/v12.md` "State resolution", MSC4297), which share `v2.rs`, with the two
//!   orderings in `power_sort.rs` (reverse topological power ordering) and `mainline.rs`.
//!
//! Pure: the events come in through a `fetch` closure and the state map goes out. This
//! module never fetches missing events, never reads the clock and never stores anything.
//! It does not compute auth chains either: the caller (which has the store's auth chain
//! index) passes them in.

mod mainline;
mod power_sort;
mod sha1;
mod v1;
mod v2;

#[cfg(test)]
mod test_dag;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_synapse;
#[cfg(test)]
mod tests_v1;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::proto::pdu::Pdu;
use crate::proto::room_version::{RoomRules, StateResAlgorithm};

/// A room state: `(event type, state_key)` → event ID.
pub type StateMap = BTreeMap<(String, String), String>;

/// Why a resolution could not be computed. Either way the caller has not given this
/// module what it needs; no variant means "the forks are invalid".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateResError {
    /// `fetch` returned nothing for an event the algorithm must look at (an event of the
    /// conflicted state set or of the auth difference).
    MissingEvent(String),
    /// `forks` and `auth_chains` must have one entry per fork.
    AuthChainCountMismatch { forks: usize, auth_chains: usize },
    /// The `auth_events` links among the events to sort form a cycle. Event IDs that are
    /// hashes (v3+) make this impossible; v1–2 IDs are chosen by the sender.
    AuthEventCycle,
}

impl fmt::Display for StateResError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateResError::MissingEvent(event_id) => {
                write!(
                    f,
                    "state resolution needs event {event_id}, which was not supplied"
                )
            }
            StateResError::AuthChainCountMismatch { forks, auth_chains } => write!(
                f,
                "state resolution got {forks} forks but {auth_chains} auth chains"
            ),
            StateResError::AuthEventCycle => {
                write!(f, "the auth events of the conflicted events form a cycle")
            }
        }
    }
}

impl std::error::Error for StateResError {}

/// Resolves `forks` (the states after each `prev_event`) into one state.
///
/// Caller's obligations:
/// - `auth_chains[i]` is the full auth chain of the state `forks[i]`: the union of the
///   auth chains of its events (whether the state events themselves are included does not
///   matter: this function adds them, as Synapse's auth chain index does).
/// - `fetch` returns every event of the conflicted state set and of the auth difference,
///   and should return their auth events (a missing auth event is treated as absent).
///   Events that were rejected must still be returned; use [`resolve_with_rejected`] to
///   say which, so that they are not used as auth events.
///
/// The result does not depend on the order of `forks`.
pub fn resolve<'a>(
    rules: &RoomRules,
    forks: &[StateMap],
    auth_chains: &[BTreeSet<String>],
    fetch: impl Fn(&str) -> Option<&'a Pdu>,
) -> Result<StateMap, StateResError> {
    resolve_with_rejected(rules, forks, auth_chains, fetch, |_| false)
}

/// [`resolve`], told which events were rejected. Spec: v2-state-res "Rejected events": a
/// rejected event is not used as an auth event in the iterative auth checks, although a
/// rejected event in the conflicted set is checked like any other. (v1 has no such rule.)
pub fn resolve_with_rejected<'a>(
    rules: &RoomRules,
    forks: &[StateMap],
    auth_chains: &[BTreeSet<String>],
    fetch: impl Fn(&str) -> Option<&'a Pdu>,
    is_rejected: impl Fn(&str) -> bool,
) -> Result<StateMap, StateResError> {
    if forks.len() != auth_chains.len() {
        return Err(StateResError::AuthChainCountMismatch {
            forks: forks.len(),
            auth_chains: auth_chains.len(),
        });
    }
    let events = Events {
        rules,
        fetch: &fetch,
        is_rejected: &is_rejected,
    };
    // v1.md counts only differing event IDs as a conflict; v2 also counts a key missing
    // from some fork (see `separate`).
    let absence_conflicts = rules.state_res != StateResAlgorithm::V1;
    let (unconflicted, conflicted) = separate(forks, absence_conflicts);
    if conflicted.is_empty() {
        return Ok(unconflicted);
    }
    match rules.state_res {
        StateResAlgorithm::V1 => v1::resolve(&events, unconflicted, &conflicted),
        StateResAlgorithm::V2 => v2::resolve(
            &events,
            forks,
            auth_chains,
            unconflicted,
            &conflicted,
            v2::Variant::V2,
        ),
        StateResAlgorithm::V2_1 => v2::resolve(
            &events,
            forks,
            auth_chains,
            unconflicted,
            &conflicted,
            v2::Variant::V2_1,
        ),
    }
}

/// The conflicted state: each conflicted key with the event IDs the forks give it.
type Conflicted = BTreeMap<(String, String), BTreeSet<String>>;

/// Splits the forks into the unconflicted state map and the conflicted state set.
///
/// Spec: v2-state-res "Unconflicted state map and conflicted state set": a key is
/// unconflicted only if *every* fork has it with the same event, so a key missing from
/// some fork is conflicted (`absence_conflicts`). Spec: rooms/v1 "A conflict occurs
/// between states where those states have different event_ids for the same key": there a
/// key held by some forks only, all with one event, is unconflicted (Synapse's v1 agrees).
fn separate(forks: &[StateMap], absence_conflicts: bool) -> (StateMap, Conflicted) {
    let mut unconflicted: Vec<((String, String), String)> = Vec::new();
    let mut conflicted = Conflicted::new();
    let sources = forks.iter().map(|fork| fork.iter()).collect();
    merge_sorted(sources, |key, values: &[Option<&String>]| {
        let first = values.first().copied().flatten();
        if let Some(event_id) = first
            && values.iter().all(|value| *value == first)
        {
            unconflicted.push((key.clone(), event_id.clone()));
            return;
        }
        let present: BTreeSet<&String> = values.iter().flatten().copied().collect();
        match present.first() {
            Some(event_id) if present.len() == 1 && !absence_conflicts => {
                unconflicted.push((key.clone(), (*event_id).clone()));
            }
            _ => {
                conflicted.insert(key.clone(), present.into_iter().cloned().collect());
            }
        }
    });
    // Collecting sorted pairs builds the map in one pass.
    (unconflicted.into_iter().collect(), conflicted)
}

/// Walks sorted sequences side by side, calling `visit` once per distinct key, in order,
/// with the value each sequence has for it (`None` where it lacks the key). Linear in the
/// total length, without lookups or hashing: forks of a 10,000-member room are compared in
/// one pass.
fn merge_sorted<'s, K: Ord + 's, V: Copy + 's>(
    sources: Vec<impl Iterator<Item = (&'s K, V)>>,
    mut visit: impl FnMut(&'s K, &[Option<V>]),
) {
    let mut heads: Vec<_> = sources.into_iter().map(Iterator::peekable).collect();
    let mut values: Vec<Option<V>> = Vec::with_capacity(heads.len());
    while let Some(key) = heads
        .iter_mut()
        .filter_map(|head| head.peek().map(|(key, _)| *key))
        .min()
    {
        values.clear();
        for head in &mut heads {
            let value = head.next_if(|(head_key, _)| *head_key == key);
            values.push(value.map(|(_, value)| value));
        }
        visit(key, &values);
    }
}

/// Access to events for the algorithms: the caller's closures plus the room rules.
struct Events<'f, 'a> {
    rules: &'f RoomRules,
    fetch: &'f dyn Fn(&str) -> Option<&'a Pdu>,
    is_rejected: &'f dyn Fn(&str) -> bool,
}

impl<'a> Events<'_, 'a> {
    /// An event the algorithm cannot do without.
    fn get(&self, event_id: &str) -> Result<&'a Pdu, StateResError> {
        (self.fetch)(event_id).ok_or_else(|| StateResError::MissingEvent(event_id.to_owned()))
    }

    /// An event that is only consulted if known (auth events, state looked up for auth).
    fn find(&self, event_id: &str) -> Option<&'a Pdu> {
        (self.fetch)(event_id)
    }

    /// The IDs of an event's auth events. In v12 the create event is never listed
    /// (spec: rooms/v12 "Authorisation rules", rule 3.2) but is implied by the room ID
    /// (rule 2), so it is added here: the auth rules and the sender's power level need it.
    fn auth_event_ids(&self, pdu: &'a Pdu) -> Vec<String> {
        let mut ids: Vec<String> = pdu
            .auth_event_ids()
            .into_iter()
            .map(str::to_owned)
            .collect();
        if self.rules.room_id_is_create_event_hash
            && pdu.kind() != "m.room.create"
            && let Some(opaque) = pdu.room_id().and_then(|room_id| room_id.strip_prefix('!'))
        {
            let create_id = format!("${opaque}");
            if !ids.contains(&create_id) {
                ids.push(create_id);
            }
        }
        ids
    }

    /// The event's auth event with the given key, if supplied.
    fn auth_event(&self, pdu: &'a Pdu, kind: &str, state_key: &str) -> Option<&'a Pdu> {
        self.auth_event_ids(pdu)
            .iter()
            .filter_map(|event_id| self.find(event_id))
            .find(|auth| auth.kind() == kind && auth.state_key() == Some(state_key))
    }

    /// Spec: v2-state-res "Reverse topological power ordering": the sender's power level
    /// "when looking at their respective auth_events".
    fn sender_power_level(&self, pdu: &'a Pdu) -> i64 {
        let create = self.auth_event(pdu, "m.room.create", "");
        let power_levels = self.auth_event(pdu, "m.room.power_levels", "");
        crate::proto::auth::power_level_of_user(self.rules, create, power_levels, pdu.sender())
    }
}

/// The state key of a state event as a map key.
fn state_key_of(pdu: &Pdu) -> Option<(String, String)> {
    pdu.state_key()
        .map(|state_key| (pdu.kind().to_owned(), state_key.to_owned()))
}
