//! Loading the fixture rooms of `tests/fixtures/synapse/` (format: the top of
//! `make_fixtures.py` there).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use hearth::proto::pdu::Pdu;
use hearth::proto::redaction::redact;
use hearth::proto::room_version::RoomRules;
use hearth::proto::state_res::StateMap;
use serde_json::{Map, Value};

pub const ROOMS: [&str; 6] = ["v1", "v6", "v9", "v10", "v11", "v12"];

/// One fixture room.
pub struct Room {
    pub name: &'static str,
    pub room_id: String,
    pub rules: RoomRules,
    pub events: Vec<FixtureEvent>,
    pub state: StateMap,
    pub state_at_merges: BTreeMap<String, StateMap>,
    /// The second server's forward extremities and current state.
    pub remote_extremities: Vec<String>,
    pub remote_state: StateMap,
}

pub struct FixtureEvent {
    /// The event as Synapse stored it (`event_json.json`), with its ID.
    pub original: Pdu,
    pub rejected: bool,
    pub soft_failed: bool,
    /// Synapse's pruned form, for events a redaction applies to.
    pub synapse_redacted: Option<Map<String, Value>>,
}

impl Room {
    pub fn load(name: &'static str) -> Room {
        let meta = read_json(&format!("{name}/meta.json"));
        let version = meta["room_version"]
            .as_str()
            .expect("meta names the version");
        let rules = RoomRules::for_version(version).expect("known room version");
        let events = read_json(&format!("{name}/events.json"))
            .as_array()
            .expect("events.json is a list")
            .iter()
            .map(|entry| FixtureEvent {
                original: Pdu::new(
                    entry["event_id"].as_str().expect("event_id").to_owned(),
                    entry["pdu"].as_object().expect("pdu").clone(),
                ),
                rejected: entry["rejected"].as_bool().expect("rejected flag"),
                soft_failed: entry
                    .get("soft_failed")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                synapse_redacted: entry
                    .get("redacted_pdu")
                    .and_then(Value::as_object)
                    .cloned(),
            })
            .collect();
        let merges = read_json(&format!("{name}/state_at_merges.json"));
        let state_at_merges = merges
            .as_object()
            .expect("state_at_merges.json is an object")
            .iter()
            .map(|(id, state)| (id.clone(), state_map(state)))
            .collect();
        let remote = read_json(&format!("{name}/remote.json"));
        let remote_extremities = remote["forward_extremities"]
            .as_array()
            .expect("extremities are a list")
            .iter()
            .map(|id| id.as_str().expect("event ID").to_owned())
            .collect();
        Room {
            name,
            remote_extremities,
            remote_state: state_map(&remote["state"]),
            room_id: meta["room_id"]
                .as_str()
                .expect("meta names the room")
                .to_owned(),
            rules,
            events,
            state: state_map(&read_json(&format!("{name}/state.json"))),
            state_at_merges,
        }
    }

    /// Every event as Synapse serves it: redacted where a redaction applies (in hearth's
    /// form, checked equal to Synapse's in `event_ids_hashes_and_signatures`).
    pub fn served_events(&self) -> HashMap<String, Pdu> {
        self.events
            .iter()
            .map(|event| {
                let pdu = &event.original;
                let json = match event.synapse_redacted {
                    Some(_) => redact(&self.rules, pdu.json()),
                    None => pdu.json().clone(),
                };
                (
                    pdu.event_id().to_owned(),
                    Pdu::new(pdu.event_id().to_owned(), json),
                )
            })
            .collect()
    }
}

/// `{"type|state_key": event_id}` as a state map.
fn state_map(value: &Value) -> StateMap {
    value
        .as_object()
        .expect("state is an object")
        .iter()
        .map(|(key, id)| {
            let (kind, state_key) = key.split_once('|').expect("key is type|state_key");
            let id = id.as_str().expect("event ID is a string").to_owned();
            ((kind.to_owned(), state_key.to_owned()), id)
        })
        .collect()
}

/// `server_keys.json`: server name → [(key ID, public key)].
pub fn server_keys() -> HashMap<String, Vec<(String, String)>> {
    let keys = read_json("server_keys.json");
    let servers = keys.as_object().expect("server_keys.json is an object");
    servers
        .iter()
        .map(|(server, keys)| {
            let keys = keys.as_object().expect("key map");
            let keys = keys
                .iter()
                .map(|(id, key)| (id.clone(), key.as_str().expect("key").into()));
            (server.clone(), keys.collect())
        })
        .collect()
}

fn read_json(relative: &str) -> Value {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests/fixtures/synapse",
        relative,
    ]
    .iter()
    .collect();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
