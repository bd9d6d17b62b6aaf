//! Backfill offline: hearth joins a room whose history lives on a simulated remote server
//! (events signed with its key, a `backfill` and `state_ids` answered from memory), then
//! walks the history back batch by batch as `federation::backfill` does, down to the
//! room's creation. Checked: the order of the timeline, that nothing is asked for twice,
//! that the present (current state, memberships, the newest stream position) does not
//! move, and what history visibility lets the joined user see.

use std::collections::{HashMap, HashSet, VecDeque};

use serde_json::{Map, Value, json};

use hearth::client::history_visibility::Viewer;
use hearth::proto::hashes::{event_id_for, hash_and_sign_event};
use hearth::proto::id::ServerName;
use hearth::proto::pdu::Pdu;
use hearth::proto::room_version::RoomRules;
use hearth::proto::signing::SigningKey;
use hearth::rooms::backfill::{
    Backfilled, events_needing_state, frontier, missing_auth_events, store_backfilled,
};
use hearth::rooms::ingest::ingest_send_join;
use hearth::rooms::join_answer::{SendJoinAnswer, check_answer, check_channel};
use hearth::store::{Store, StoreError, events, state};

const RULES: RoomRules = RoomRules::V11;
const ROOM: &str = "!history:remote.test";
const BOB: &str = "@bob:remote.test";
const CAROL: &str = "@carol:hearth.test";

/// The room as the remote server holds it: a line of events, oldest first.
struct Remote {
    key: SigningKey,
    events: Vec<(String, Map<String, Value>)>,
    /// (type, state_key) → event ID, as of the newest event.
    state: HashMap<(String, String), String>,
    /// Every event ID a `backfill` answer carried.
    served: Vec<String>,
}

impl Remote {
    fn new() -> Remote {
        let mut remote = Remote {
            key: SigningKey::from_seed("r_1", [7; 32]).unwrap(),
            events: Vec::new(),
            state: HashMap::new(),
            served: Vec::new(),
        };
        remote.add(
            "m.room.create",
            Some(""),
            json!({"room_version": "11"}),
            &[],
        );
        remote.add(
            "m.room.member",
            Some(BOB),
            json!({"membership": "join"}),
            &["c"],
        );
        let levels = json!({"users": {BOB: 100}, "events_default": 0, "state_default": 50});
        remote.add("m.room.power_levels", Some(""), levels, &["c", "b"]);
        remote.add(
            "m.room.join_rules",
            Some(""),
            json!({"join_rule": "public"}),
            &["c", "p", "b"],
        );
        remote.history_visibility("shared");
        for n in 0..10 {
            remote.message(n);
        }
        remote.history_visibility("joined");
        for n in 10..20 {
            remote.message(n);
        }
        // Redacts m3, which comes back in a later answer than the redaction.
        let m3 = remote.events[8].0.clone();
        remote.add(
            "m.room.redaction",
            None,
            json!({"redacts": m3}),
            &["c", "p", "b"],
        );
        remote
    }

    fn history_visibility(&mut self, value: &str) {
        let content = json!({"history_visibility": value});
        self.add(
            "m.room.history_visibility",
            Some(""),
            content,
            &["c", "p", "b"],
        );
    }

    fn message(&mut self, n: usize) {
        let content = json!({"msgtype": "m.text", "body": format!("m{n}")});
        self.add("m.room.message", None, content, &["c", "p", "b"]);
    }

    /// `auth`: `c` create, `p` power levels, `b` bob's membership.
    fn add(&mut self, kind: &str, state_key: Option<&str>, content: Value, auth: &[&str]) {
        let key_of = |short: &str| match short {
            "c" => ("m.room.create".to_owned(), String::new()),
            "p" => ("m.room.power_levels".to_owned(), String::new()),
            _ => ("m.room.member".to_owned(), BOB.to_owned()),
        };
        // Room version 11 still lists the create event among the auth events.
        let auth_events: Vec<&String> = auth.iter().map(|s| &self.state[&key_of(s)]).collect();
        let prev_events: Vec<&String> = self.events.last().map(|(id, _)| id).into_iter().collect();
        let mut event = json!({
            "room_id": ROOM,
            "sender": BOB,
            "type": kind,
            "content": content,
            "origin_server_ts": 1_000 + self.events.len() as i64,
            "depth": self.events.len() as i64 + 1,
            "prev_events": prev_events,
            "auth_events": auth_events,
        })
        .as_object()
        .unwrap()
        .clone();
        if let Some(state_key) = state_key {
            event.insert("state_key".into(), json!(state_key));
        }
        let origin = ServerName::parse("remote.test").unwrap();
        hash_and_sign_event(&RULES, &mut event, &origin, &self.key).unwrap();
        let id = event_id_for(&RULES, &event).unwrap();
        if let Some(state_key) = state_key {
            self.state
                .insert((kind.to_owned(), state_key.to_owned()), id.clone());
        }
        self.events.push((id, event));
    }

    fn event(&self, id: &str) -> Option<Map<String, Value>> {
        self.events
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, e)| e.clone())
    }

    /// Spec: s2s `GET /backfill`: from `v` (included) back through prev events.
    fn backfill(&mut self, from: &[String], limit: usize) -> Vec<Map<String, Value>> {
        let mut queue: VecDeque<String> = from.iter().cloned().collect();
        let mut seen = HashSet::new();
        let mut found = Vec::new();
        while let Some(id) = queue.pop_front() {
            if found.len() >= limit || !seen.insert(id.clone()) {
                continue;
            }
            let Some(event) = self.event(&id) else {
                continue;
            };
            let pdu = Pdu::new(id.clone(), event.clone());
            queue.extend(pdu.prev_event_ids().into_iter().map(str::to_owned));
            self.served.push(id);
            found.push(event);
        }
        found
    }

    /// Spec: s2s `GET /state_ids?event_id=`: the state before the event.
    fn state_ids(&self, event_id: &str) -> Vec<String> {
        let mut state = HashMap::new();
        for (id, event) in &self.events {
            if id == event_id {
                break;
            }
            if let Some(state_key) = event.get("state_key").and_then(Value::as_str) {
                state.insert((event["type"].as_str().unwrap().to_owned(), state_key), id);
            }
        }
        state.into_values().cloned().collect()
    }

    fn keys(&self) -> (String, String) {
        (self.key.key_id(), self.key.public_key_base64())
    }
}

fn store() -> Store {
    let dir = std::env::temp_dir().join(format!(
        "hearth-backfill-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    Store::open(&dir.join("hearth.db")).unwrap()
}

fn lookup(keys: &(String, String)) -> impl Fn(&ServerName, &str) -> Option<String> + '_ {
    move |server: &ServerName, key_id: &str| {
        (server.as_str() == "remote.test" && key_id == keys.0).then(|| keys.1.clone())
    }
}

/// Carol of hearth joins with the send_join answer the remote would give.
/// `checks_die`: the checks of the answer stop before any event is checked.
fn join(store: &Store, remote: &Remote, checks_die: bool) -> String {
    let state_events: Vec<Map<String, Value>> = remote
        .state
        .values()
        .map(|id| remote.event(id).unwrap())
        .collect();
    let mut join = json!({
        "room_id": ROOM,
        "sender": CAROL,
        "state_key": CAROL,
        "type": "m.room.member",
        "content": {"membership": "join"},
        "origin_server_ts": 5_000,
        "depth": remote.events.len() as i64 + 1,
        "prev_events": [remote.events.last().unwrap().0],
        "auth_events": [
            remote.state[&("m.room.create".to_owned(), String::new())],
            remote.state[&("m.room.power_levels".to_owned(), String::new())],
            remote.state[&("m.room.join_rules".to_owned(), String::new())],
        ],
    })
    .as_object()
    .unwrap()
    .clone();
    let local = ServerName::parse("hearth.test").unwrap();
    let local_key = SigningKey::from_seed("h_1", [3; 32]).unwrap();
    hash_and_sign_event(&RULES, &mut join, &local, &local_key).unwrap();
    let join_id = event_id_for(&RULES, &join).unwrap();
    let keys = remote.keys();
    let pdu = Pdu::new(join_id.clone(), join);
    let body = json!({"state": state_events, "auth_chain": state_events}).to_string();
    let answer = SendJoinAnswer::parse(body.as_bytes()).unwrap();
    let checked = if checks_die {
        // The checks stop before sending anything: the writer must keep nothing.
        let (checked, checker) = check_channel(answer.survey(&RULES));
        drop(checker);
        checked
    } else {
        check_answer(&RULES, ROOM, &answer, &lookup(&keys))
    };
    let stored = smol::block_on(store.write(move |transaction| {
        ingest_send_join(transaction, &RULES, ROOM, checked, pdu)
            .map_err(|e| StoreError::CommitFailed(e.to_string()))?;
        Ok(())
    }));
    assert_eq!(stored.is_err(), checks_die, "{stored:?}");
    join_id
}

/// One round as `federation::backfill` runs it, with the remote answering from memory.
fn backfill_once(store: &Store, remote: &mut Remote, limit: usize) -> Option<Backfilled> {
    let wanted = smol::block_on(store.read(|connection| {
        let room = events::room_by_id(connection, ROOM)?.unwrap();
        frontier(connection, room.room_nid).map_err(|e| StoreError::CommitFailed(e.to_string()))
    }))
    .unwrap();
    if wanted.is_empty() {
        return None;
    }
    let batch = remote.backfill(&wanted, limit);
    let known = batch.clone();
    let needing = smol::block_on(store.read(move |connection| {
        events_needing_state(connection, &RULES, &known)
            .map_err(|e| StoreError::CommitFailed(e.to_string()))
    }))
    .unwrap();
    let states: HashMap<String, Vec<String>> = needing
        .iter()
        .map(|id| (id.clone(), remote.state_ids(id)))
        .collect();
    let mut wanted_events: Vec<String> = states.values().flatten().cloned().collect();
    let known = batch.clone();
    wanted_events.extend(
        smol::block_on(store.read(move |connection| {
            missing_auth_events(connection, &RULES, &known)
                .map_err(|e| StoreError::CommitFailed(e.to_string()))
        }))
        .unwrap(),
    );
    let outliers: Vec<Map<String, Value>> = wanted_events
        .iter()
        .filter_map(|id| remote.event(id))
        .collect();
    let keys = remote.keys();
    Some(
        smol::block_on(store.write(move |transaction| {
            let room = events::room_by_id(transaction, ROOM)?.unwrap();
            store_backfilled(transaction, &room, batch, outliers, &states, &lookup(&keys))
                .map_err(|e| StoreError::CommitFailed(e.to_string()))
        }))
        .unwrap(),
    )
}

#[test]
fn a_join_whose_checks_stop_half_way_keeps_nothing() {
    let store = store();
    let remote = Remote::new();
    let join_id = join(&store, &remote, true);
    let (room, stored_join) = smol::block_on(store.read(move |connection| {
        Ok((
            events::room_by_id(connection, ROOM)?,
            events::event_by_id(connection, &join_id)?,
        ))
    }))
    .unwrap();
    assert!(room.is_none() && stored_join.is_none());
    // The same answer, checked, joins.
    join(&store, &remote, false);
}

#[test]
fn history_is_walked_back_to_the_creation_in_order_and_shown_per_visibility() {
    let store = store();
    let mut remote = Remote::new();
    let join_id = join(&store, &remote, false);
    let present = || {
        smol::block_on(store.read(|connection| {
            let room = events::room_by_id(connection, ROOM)?.unwrap();
            let mut current: Vec<String> = state::current_state_events(connection, room.room_nid)?
                .into_iter()
                .map(|e| e.event_id)
                .collect();
            current.sort();
            Ok((
                room.current_state_group,
                current,
                events::members_with(connection, room.room_nid, "join")?,
                events::max_stream_ordering(connection)?,
            ))
        }))
        .unwrap()
    };
    let before = present();

    let mut rounds = 0;
    while let Some(outcome) = backfill_once(&store, &mut remote, 8) {
        assert_eq!((outcome.rejected, outcome.dropped), (0, 0), "{outcome:?}");
        assert!(outcome.added > 0);
        rounds += 1;
        assert!(rounds < 10, "backfill never reached the creation");
    }
    assert_eq!(rounds, 4, "26 events in answers of 8");
    let served: HashSet<&String> = remote.served.iter().collect();
    assert_eq!(
        served.len(),
        remote.served.len(),
        "an event was asked for twice"
    );
    assert_eq!(served.len(), remote.events.len());
    assert_eq!(present(), before, "history moved the present");

    // The timeline, newest first: carol's join, then the remote's history back to creation.
    let timeline = smol::block_on(store.read(|connection| {
        let room = events::room_by_id(connection, ROOM)?.unwrap();
        let timeline = events::timeline(connection, room.room_nid, i64::MIN, i64::MAX, 100, true)?;
        let mut shown = Vec::new();
        let mut viewer = Viewer::member(CAROL);
        for event in &timeline {
            shown.push((event.event_id.clone(), viewer.sees(connection, event)?));
        }
        Ok(shown)
    }))
    .unwrap();
    let mut expected: Vec<String> = vec![join_id];
    expected.extend(remote.events.iter().rev().map(|(id, _)| id.clone()));
    let ids: Vec<&String> = timeline.iter().map(|(id, _)| id).collect();
    assert_eq!(ids, expected.iter().collect::<Vec<_>>());

    // `joined` hides what follows it from carol, who joined later; the change itself and
    // everything before it (`shared`) stay visible, batch edges included.
    let change = remote
        .events
        .iter()
        .rposition(|(_, e)| e["type"] == "m.room.history_visibility")
        .unwrap();
    for (id, visible) in &timeline {
        let hidden = remote
            .events
            .iter()
            .position(|(i, _)| i == id)
            .is_some_and(|at| at > change);
        assert_eq!(
            *visible,
            !hidden,
            "{id} at {:?}",
            remote.event(id).map(|e| e["content"].clone())
        );
    }
    // The redaction came back first; m3, which came later, is stored redacted.
    let (m3, redaction) = (
        remote.events[8].0.clone(),
        remote.events.last().unwrap().0.clone(),
    );
    assert_eq!(remote.event(&m3).unwrap()["content"]["body"], "m3");
    let held = smol::block_on(store.read(move |connection| events::event_by_id(connection, &m3)))
        .unwrap()
        .unwrap();
    assert_eq!(held.redacted_by, Some(redaction));
}
