//! A `send_join` answer checked before the writer sees it (spec: s2s "Joining Rooms": the
//! joining server "must validate the state and auth chain"). A 10,000-member room answers
//! with about 7 MB, so the answer is never held as one `Value`: each event is a slice of
//! the body, parsed on its own. A light first pass (`survey`) finds the keys to fetch and
//! the order (oldest first); then signatures, content hashes and event IDs are checked on
//! every core, a batch at a time, and each batch of good events (as the compact text to
//! store) goes to the writer (`ingest`, auth rules) while the next batch is checked.

use std::collections::HashSet;
use std::sync::mpsc::{self, Receiver, SyncSender};
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

    /// A light first pass over every event (on every core): the keys to fetch before the
    /// checks, the order to check and store in, the event IDs named as auth events.
    pub fn survey(&self, rules: &RoomRules) -> Survey {
        let per_event = on_every_core(&self.all(), |(raw, _)| {
            let mut wanted = WantedKeys::new();
            let Some(event) = key_fields(raw.get()) else {
                return (wanted, (true, 0), Vec::new());
            };
            add_wanted_keys(rules, &event, &mut wanted);
            let event = Pdu::new(String::new(), event);
            let is_create = event.kind() == "m.room.create" && event.state_key() == Some("");
            let auth_ids: Vec<String> = event
                .auth_event_ids()
                .into_iter()
                .map(str::to_owned)
                .collect();
            (wanted, (!is_create, event.depth()), auth_ids)
        });
        let mut survey = Survey {
            wanted: WantedKeys::new(),
            order: Vec::with_capacity(per_event.len()),
            auth_ids: HashSet::new(),
        };
        let mut sort_keys = Vec::with_capacity(per_event.len());
        for (index, (wanted, sort_key, auth_ids)) in per_event.into_iter().enumerate() {
            for (key, ts) in wanted {
                let at = survey.wanted.entry(key).or_insert(ts);
                *at = match (*at, ts) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            survey.auth_ids.extend(auth_ids);
            sort_keys.push(sort_key);
            survey.order.push(index);
        }
        // Oldest first, so that auth events come before what they authorise; the create
        // event before all (the auth rules of every event look it up).
        survey
            .order
            .sort_by_key(|index| sort_keys.get(*index).copied());
        survey
    }
}

/// What `SendJoinAnswer::survey` learnt.
pub struct Survey {
    /// The keys of every server that must sign an event of the answer.
    pub wanted: WantedKeys,
    /// Indexes into the events (auth chain, then state): create events, then by depth.
    order: Vec<usize>,
    /// Every event ID that an event of the answer names in its `auth_events`.
    auth_ids: HashSet<String>,
}

/// The fields of an event that say whose keys check it (`add_wanted_keys` reads no
/// others) and where it goes (depth, auth events, create), without building the rest:
/// `prev_events`, `hashes`, `room_id` are skipped.
#[derive(Deserialize)]
struct KeyFields {
    #[serde(rename = "type")]
    kind: Option<Value>,
    sender: Option<Value>,
    event_id: Option<Value>,
    state_key: Option<Value>,
    content: Option<Value>,
    origin_server_ts: Option<Value>,
    depth: Option<Value>,
    auth_events: Option<Value>,
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
        ("state_key", fields.state_key),
        ("content", fields.content),
        ("origin_server_ts", fields.origin_server_ts),
        ("depth", fields.depth),
        ("auth_events", fields.auth_events),
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
    /// The event (redacted when its content hash was wrong), parsed for the auth rules.
    pub pdu: Pdu,
    /// In the answer's `state` (else only in its auth chain).
    pub in_state: bool,
    pub is_create: bool,
    /// The event as stored: compact JSON.
    pub text: String,
}

/// What the checks hand to the writer, a batch at a time: the writer stores one batch
/// while the next is checked (the checks use every core but one writer job cannot wait).
pub enum Batch {
    /// Events that passed, in the survey's order; an event in both lists (or twice in
    /// one) comes each time, the writer keeps it once.
    Events(Vec<CheckedEvent>),
    /// All checked: how many events were dropped (malformed, badly signed, of another
    /// room). The checks died if the batches end without it.
    End { left_out: usize },
}

/// The writer's end of the checks of an answer.
pub struct CheckedAnswer {
    /// Every event ID that some event of the answer names in its `auth_events` (events
    /// that failed their checks too: a few more kept in memory, nothing wrongly trusted).
    pub auth_ids: HashSet<String>,
    pub batches: Receiver<Batch>,
}

/// The checking end: `run` it (off the executor) while the writer reads the batches.
pub struct Checker {
    order: Vec<usize>,
    batches: SyncSender<Batch>,
}

/// Events checked per batch: small enough that the writer starts early, large enough
/// that starting threads per batch costs nothing.
const BATCH: usize = 500;

/// Batches checked ahead of the writer at most.
const IN_FLIGHT: usize = 4;

/// Splits checking an answer from storing it: the writer's end and the checker's.
pub fn check_channel(survey: Survey) -> (CheckedAnswer, Checker) {
    // Bounded: when the writer falls behind, the checks wait instead of holding every
    // parsed event of a big room in memory at once.
    channel_of(survey, IN_FLIGHT)
}

fn channel_of(survey: Survey, in_flight: usize) -> (CheckedAnswer, Checker) {
    let (sender, receiver) = mpsc::sync_channel(in_flight);
    let checked = CheckedAnswer {
        auth_ids: survey.auth_ids,
        batches: receiver,
    };
    let checker = Checker {
        order: survey.order,
        batches: sender,
    };
    (checked, checker)
}

impl Checker {
    /// Checks every event of `answer` for room `room_id`, a batch at a time on every
    /// core, and sends what passed. `keys` gives public keys (fetched before: see
    /// `Survey::wanted`). Stops early when the writer has gone.
    pub fn run(
        self,
        rules: &RoomRules,
        room_id: &str,
        answer: &SendJoinAnswer<'_>,
        keys: &(dyn Fn(&ServerName, &str) -> Option<String> + Sync),
    ) {
        let all = answer.all();
        let mut left_out = 0;
        for part in self.order.chunks(BATCH) {
            let items: Vec<(&RawValue, bool)> =
                part.iter().filter_map(|i| all.get(*i).copied()).collect();
            let outcomes = on_every_core(&items, |(raw, in_state)| {
                check_one(rules, room_id, raw.get(), *in_state, keys)
            });
            let mut events = Vec::with_capacity(outcomes.len());
            for outcome in outcomes {
                match outcome {
                    Ok(event) => events.push(event),
                    Err(why) => {
                        crate::info!("join of {room_id}: left out an event: {why}");
                        left_out += 1;
                    }
                }
            }
            if self.batches.send(Batch::Events(events)).is_err() {
                return;
            }
        }
        let _ = self.batches.send(Batch::End { left_out });
    }
}

/// Checks every event of `answer` before storing any (tests; a join overlaps the two).
pub fn check_answer(
    rules: &RoomRules,
    room_id: &str,
    answer: &SendJoinAnswer<'_>,
    keys: &(dyn Fn(&ServerName, &str) -> Option<String> + Sync),
) -> CheckedAnswer {
    let survey = answer.survey(rules);
    // Room for every batch and the end: nothing reads them until all are checked.
    let batches = survey.order.len().div_ceil(BATCH) + 1;
    let (checked, checker) = channel_of(survey, batches);
    checker.run(rules, room_id, answer, keys);
    checked
}

/// Format, signatures and content hash of one event (`receive::checked_pdu`), and that it
/// is of this room.
fn check_one(
    rules: &RoomRules,
    room_id: &str,
    raw: &str,
    in_state: bool,
    keys: &(dyn Fn(&ServerName, &str) -> Option<String> + Sync),
) -> Result<CheckedEvent, String> {
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
    let text = serde_json::to_string(pdu.json()).map_err(|e| e.to_string())?;
    Ok(CheckedEvent {
        in_state,
        is_create: pdu.kind() == "m.room.create" && pdu.state_key() == Some(""),
        pdu,
        text,
    })
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
