//! A `send_join` answer checked before the writer sees it (spec: s2s "Joining Rooms": the
//! joining server "must validate the state and auth chain"). A 10,000-member room answers
//! with about 7 MB, so the answer is never held as one `Value`: each event is a slice of
//! the body, parsed on its own; signatures, content hashes and event IDs are checked on
//! every core at once; what comes out is each good event once, as the compact text to
//! store, oldest first. Auth rules come later, in the writer (`ingest`).

use std::collections::{HashMap, HashSet};
use std::thread;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::ingest::belongs_to;
use super::receive::{Received, checked_pdu};
use crate::proto::hashes::{WantedKeys, add_wanted_keys};
use crate::proto::id::ServerName;
use crate::proto::pdu::Pdu;
use crate::proto::room_version::RoomRules;

/// More threads than this gain nothing on the small machines hearth is for.
const MAX_THREADS: usize = 8;
/// Below this many events one thread does it faster than starting others (a signature
/// check is ~0.1 ms, starting a thread ~0.02 ms: a 50-PDU transaction gains already).
const MIN_PARALLEL: usize = 16;

/// A v2 `send_join` answer read in place: each event is a slice of the body.
#[derive(Deserialize)]
pub struct SendJoinAnswer<'a> {
    #[serde(borrow, default)]
    pub state: Vec<&'a RawValue>,
    #[serde(borrow, default)]
    pub auth_chain: Vec<&'a RawValue>,
    /// The join event as the resident signed it too (restricted joins).
    #[serde(borrow, default)]
    pub event: Option<&'a RawValue>,
}

impl<'a> SendJoinAnswer<'a> {
    /// Reads `body`; an error text when it is not a JSON object of the v2 shape.
    pub fn parse(body: &'a [u8]) -> Result<SendJoinAnswer<'a>, String> {
        serde_json::from_slice(body).map_err(|e| format!("not a send_join answer: {e}"))
    }

    /// Every event of the answer: the auth chain, then the state (true: in the state).
    fn all(&self) -> Vec<(&'a RawValue, bool)> {
        let chain = self.auth_chain.iter().map(|raw| (*raw, false));
        chain
            .chain(self.state.iter().map(|raw| (*raw, true)))
            .collect()
    }

    /// The keys of every server that must sign an event of the answer.
    pub fn wanted_keys(&self, rules: &RoomRules) -> WantedKeys {
        let per_event = on_every_core(&self.all(), |(raw, _)| {
            let mut wanted = WantedKeys::new();
            if let Some(event) = key_fields(raw.get()) {
                add_wanted_keys(rules, &event, &mut wanted);
            }
            wanted
        });
        let mut wanted = WantedKeys::new();
        for (key, ts) in per_event.into_iter().flatten() {
            let at = wanted.entry(key).or_insert(ts);
            *at = match (*at, ts) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        wanted
    }
}

/// The fields of an event that say whose keys check it (`add_wanted_keys` reads no
/// others), without building the rest: `prev_events`, `auth_events`, `hashes` are skipped.
#[derive(Deserialize)]
struct KeyFields {
    #[serde(rename = "type")]
    kind: Option<Value>,
    sender: Option<Value>,
    event_id: Option<Value>,
    content: Option<Value>,
    origin_server_ts: Option<Value>,
    signatures: Option<Value>,
}

/// `raw` as an object of only its `KeyFields`; an event those cannot be read from (a key
/// twice, say) is parsed whole, so that the keys wanted are exactly what the check reads.
fn key_fields(raw: &str) -> Option<Map<String, Value>> {
    // A derived struct would read an array too.
    if !raw.trim_start().starts_with('{') {
        return None;
    }
    let Ok(fields) = serde_json::from_str::<KeyFields>(raw) else {
        return serde_json::from_str(raw).ok();
    };
    let named = [
        ("type", fields.kind),
        ("sender", fields.sender),
        ("event_id", fields.event_id),
        ("content", fields.content),
        ("origin_server_ts", fields.origin_server_ts),
        ("signatures", fields.signatures),
    ];
    Some(
        named
            .into_iter()
            .filter_map(|(key, value)| Some((key.to_owned(), value?)))
            .collect(),
    )
}

/// One event of the answer that passed format, signature and hash checks.
pub struct CheckedEvent {
    pub event_id: String,
    pub depth: i64,
    /// In the answer's `state` (else only in its auth chain).
    pub in_state: bool,
    pub is_create: bool,
    /// The event as stored: compact JSON, redacted when its content hash was wrong.
    pub text: String,
}

impl CheckedEvent {
    /// The event parsed again from its text, for the auth rules.
    pub fn pdu(&self) -> Result<Pdu, serde_json::Error> {
        Ok(Pdu::new(
            self.event_id.clone(),
            serde_json::from_str(&self.text)?,
        ))
    }
}

/// What the checks leave of an answer.
pub struct CheckedAnswer {
    /// Each good event once, lowest depth first (auth events before what they authorise).
    pub events: Vec<CheckedEvent>,
    /// Every event ID that some event of the answer names in its `auth_events`.
    pub auth_ids: HashSet<String>,
    /// Events dropped: malformed, badly signed, of another room.
    pub left_out: usize,
}

/// Checks every event of `answer` for room `room_id`, spread over the machine's cores.
/// `keys` gives public keys (fetched before: see `SendJoinAnswer::wanted_keys`).
pub fn check_answer(
    rules: &RoomRules,
    room_id: &str,
    answer: &SendJoinAnswer<'_>,
    keys: &(dyn Fn(&ServerName, &str) -> Option<String> + Sync),
) -> CheckedAnswer {
    let outcomes = on_every_core(&answer.all(), |(raw, in_state)| {
        check_one(rules, room_id, raw.get(), *in_state, keys)
    });
    let mut events: Vec<CheckedEvent> = Vec::with_capacity(outcomes.len());
    let mut index: HashMap<String, usize> = HashMap::with_capacity(outcomes.len());
    let mut auth_ids = HashSet::new();
    let mut left_out = 0;
    for outcome in outcomes {
        match outcome {
            Ok((event, ids)) => {
                auth_ids.extend(ids);
                match index.get(&event.event_id) {
                    // In both lists (or twice in one): kept once, in the state if either says so.
                    Some(&at) => {
                        if let Some(kept) = events.get_mut(at) {
                            kept.in_state |= event.in_state;
                        }
                    }
                    None => {
                        index.insert(event.event_id.clone(), events.len());
                        events.push(event);
                    }
                }
            }
            Err(why) => {
                crate::info!("join of {room_id}: left out an event: {why}");
                left_out += 1;
            }
        }
    }
    events.sort_by_key(|event| event.depth);
    CheckedAnswer {
        events,
        auth_ids,
        left_out,
    }
}

/// Format, signatures and content hash of one event (`receive::checked_pdu`), and that it
/// is of this room; the event and the auth event IDs it names.
fn check_one(
    rules: &RoomRules,
    room_id: &str,
    raw: &str,
    in_state: bool,
    keys: &(dyn Fn(&ServerName, &str) -> Option<String> + Sync),
) -> Result<(CheckedEvent, Vec<String>), String> {
    let json: Map<String, Value> =
        serde_json::from_str(raw).map_err(|e| format!("not a JSON object: {e}"))?;
    let pdu = match checked_pdu(rules, json, keys) {
        Ok(Ok(pdu)) => pdu,
        Ok(Err(Received::Dropped(why))) => return Err(why),
        Ok(Err(other)) => return Err(format!("{other:?}")),
        Err(e) => return Err(e.to_string()),
    };
    if !belongs_to(rules, &pdu, room_id) {
        return Err(format!("{} is of another room", pdu.event_id()));
    }
    let auth_ids = pdu
        .auth_event_ids()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let text = serde_json::to_string(pdu.json()).map_err(|e| e.to_string())?;
    let event = CheckedEvent {
        depth: pdu.depth(),
        in_state,
        is_create: pdu.kind() == "m.room.create" && pdu.state_key() == Some(""),
        event_id: pdu.event_id().to_owned(),
        text,
    };
    Ok((event, auth_ids))
}

/// `work` over `items` on every core (scoped threads over contiguous chunks), results in
/// the order of `items`. A panic in a thread is passed on to the caller.
pub(crate) fn on_every_core<T: Sync, R: Send>(
    items: &[T],
    work: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let threads = thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_THREADS);
    if threads <= 1 || items.len() < MIN_PARALLEL {
        return items.iter().map(work).collect();
    }
    let work = &work;
    let chunk = items.len().div_ceil(threads);
    thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(work).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}
