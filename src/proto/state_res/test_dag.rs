//! The DAG harness for the state resolution tests: events are given a node name, a
//! sender, a type, a state key and content; edges are chains of prev_events. The harness
//! walks the DAG in topological order, resolving the state at every merge (and checking
//! that every order of the forks agrees), and picks auth events from the state before
//! each event. It orders and timestamps events as Synapse's tests/state/test_v2.py does,
//! so the tie-breaks of its scenarios come out the same.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Value, json};

use super::{StateMap, StateResError, resolve};
use crate::proto::pdu::Pdu;
use crate::proto::room_version::RoomRules;

pub(super) const ALICE: &str = "@alice:example.com";
pub(super) const BOB: &str = "@bob:example.com";
pub(super) const CHARLIE: &str = "@charlie:example.com";
pub(super) const EVELYN: &str = "@evelyn:example.com";
pub(super) const ZARA: &str = "@zara:example.com";

/// An event before it is placed in the DAG.
pub(super) struct Node {
    name: &'static str,
    sender: &'static str,
    kind: &'static str,
    state_key: Option<&'static str>,
    content: Value,
}

pub(super) fn state(
    name: &'static str,
    sender: &'static str,
    kind: &'static str,
    state_key: &'static str,
    content: Value,
) -> Node {
    Node {
        name,
        sender,
        kind,
        state_key: Some(state_key),
        content,
    }
}

pub(super) fn member(
    name: &'static str,
    sender: &'static str,
    target: &'static str,
    membership: &str,
) -> Node {
    state(
        name,
        sender,
        "m.room.member",
        target,
        json!({"membership": membership}),
    )
}

pub(super) fn power(name: &'static str, sender: &'static str, content: Value) -> Node {
    state(name, sender, "m.room.power_levels", "", content)
}

pub(super) fn topic(name: &'static str, sender: &'static str) -> Node {
    state(name, sender, "m.room.topic", "", json!({"topic": name}))
}

pub(super) fn message(name: &'static str, sender: &'static str) -> Node {
    Node {
        name,
        sender,
        kind: "m.room.message",
        state_key: None,
        content: json!({"body": name}),
    }
}

/// The event ID of a node: `$NAME:example.com`.
pub(super) fn id(name: &str) -> String {
    format!("${name}:example.com")
}

/// The room every scenario starts from (Synapse's INITIAL_EVENTS). In v12 Alice is a
/// creator and may not be listed in `users`.
fn initial_nodes(rules: &RoomRules) -> Vec<Node> {
    let users = if rules.creators_have_infinite_power {
        json!({})
    } else {
        json!({ALICE: 100})
    };
    vec![
        state(
            "CREATE",
            ALICE,
            "m.room.create",
            "",
            json!({"creator": ALICE, "room_version": rules.version}),
        ),
        member("IMA", ALICE, ALICE, "join"),
        power("IPOWER", ALICE, json!({"users": users})),
        state(
            "IJR",
            ALICE,
            "m.room.join_rules",
            "",
            json!({"join_rule": "public"}),
        ),
        member("IMB", BOB, BOB, "join"),
        member("IMC", CHARLIE, CHARLIE, "join"),
        member("IMZ", ZARA, ZARA, "join"),
        message("START", ZARA),
        message("END", ZARA),
    ]
}

const INITIAL_EDGES: &[&str] = &[
    "START", "IMZ", "IMC", "IMB", "IJR", "IPOWER", "IMA", "CREATE",
];

/// A built DAG: the events by ID and the state after each node.
pub(super) struct Dag {
    pub(super) rules: RoomRules,
    pub(super) events: HashMap<String, Pdu>,
    pub(super) state_after: HashMap<&'static str, StateMap>,
}

impl Dag {
    /// Builds the initial events plus `nodes`, linked by `edges` (chains `[A, B, C]` mean
    /// A's prev_events include B and B's include C).
    pub(super) fn build(rules: RoomRules, nodes: Vec<Node>, edges: &[&[&'static str]]) -> Dag {
        let mut prevs: BTreeMap<&'static str, BTreeSet<&'static str>> = BTreeMap::new();
        let mut by_name: HashMap<&'static str, Node> = HashMap::new();
        for node in initial_nodes(&rules).into_iter().chain(nodes) {
            prevs.insert(node.name, BTreeSet::new());
            by_name.insert(node.name, node);
        }
        for chain in std::iter::once(INITIAL_EDGES).chain(edges.iter().copied()) {
            for pair in chain.windows(2) {
                prevs.entry(pair[0]).or_default().insert(pair[1]);
            }
        }
        let mut dag = Dag {
            rules,
            events: HashMap::new(),
            state_after: HashMap::new(),
        };
        // Topological order, smallest name first among the ready nodes (as Synapse's
        // harness does); the timestamp is the position in this order.
        let mut done: BTreeSet<&'static str> = BTreeSet::new();
        let mut timestamp = 0;
        while done.len() < prevs.len() {
            let ready = prevs
                .iter()
                .find(|(name, before)| {
                    !done.contains(*name) && before.iter().all(|p| done.contains(p))
                })
                .map(|(name, _)| *name)
                .expect("test DAG has a cycle");
            let node = by_name.remove(ready).expect("every node is defined");
            let before = dag.state_before(&prevs[ready]);
            dag.add(node, &prevs[ready], before, timestamp);
            done.insert(ready);
            timestamp += 1;
        }
        dag
    }

    fn state_before(&self, prev_names: &BTreeSet<&'static str>) -> StateMap {
        let forks: Vec<StateMap> = prev_names
            .iter()
            .map(|name| self.state_after[name].clone())
            .collect();
        match forks.len() {
            0 => StateMap::new(),
            1 => forks[0].clone(),
            _ => self
                .resolve(&forks)
                .expect("resolution inside the test DAG"),
        }
    }

    /// Resolves `forks` and checks that every order of the forks gives the same state.
    pub(super) fn resolve(&self, forks: &[StateMap]) -> Result<StateMap, StateResError> {
        let chains: Vec<BTreeSet<String>> =
            forks.iter().map(|fork| self.auth_chain(fork)).collect();
        let fetch = |event_id: &str| self.events.get(event_id);
        let result = resolve(&self.rules, forks, &chains, fetch);
        for order in permutations(forks.len()) {
            let permuted: Vec<StateMap> = order.iter().map(|&i| forks[i].clone()).collect();
            let permuted_chains: Vec<BTreeSet<String>> =
                order.iter().map(|&i| chains[i].clone()).collect();
            let again = resolve(&self.rules, &permuted, &permuted_chains, fetch);
            assert_eq!(again, result, "fork order {order:?} changed the result");
        }
        result
    }

    /// The full auth chain of a state: every event reachable through auth_events.
    pub(super) fn auth_chain(&self, fork: &StateMap) -> BTreeSet<String> {
        let mut chain = BTreeSet::new();
        let mut stack: Vec<&str> = fork.values().map(String::as_str).collect();
        while let Some(event_id) = stack.pop() {
            for auth_id in self.events[event_id].auth_event_ids() {
                if chain.insert(auth_id.to_owned()) {
                    stack.push(auth_id);
                }
            }
        }
        chain
    }

    fn add(
        &mut self,
        node: Node,
        prevs: &BTreeSet<&'static str>,
        before: StateMap,
        timestamp: i64,
    ) {
        let create_id = id("CREATE");
        let v12 = self.rules.room_id_is_create_event_hash;
        // Spec: s2s "Auth events selection" (the create event left out in v12).
        let mut keys = vec![("m.room.power_levels", ""), ("m.room.member", node.sender)];
        if !v12 {
            keys.push(("m.room.create", ""));
        }
        if node.kind == "m.room.member" {
            let target = node.state_key.unwrap_or("");
            keys.push(("m.room.member", target));
            if matches!(
                node.content["membership"].as_str(),
                Some("join" | "invite" | "knock")
            ) {
                keys.push(("m.room.join_rules", ""));
            }
        }
        let auth_events: BTreeSet<String> = keys
            .iter()
            .filter_map(|(kind, key)| before.get(&(kind.to_string(), key.to_string())).cloned())
            .collect();
        let depth = prevs
            .iter()
            .map(|p| self.events[&id(p)].depth())
            .max()
            .unwrap_or(0)
            + 1;
        let prev_ids: Vec<String> = prevs.iter().map(|p| id(p)).collect();
        let mut object = json!({
            "type": node.kind,
            "sender": node.sender,
            "content": node.content,
            "origin_server_ts": timestamp,
            "depth": depth,
            "prev_events": prev_ids,
            "auth_events": auth_events,
        });
        // v12 room IDs are the create event's ID with `!`; the create event has none.
        if node.name != "CREATE" || !v12 {
            let room_id = if v12 {
                create_id.replacen('$', "!", 1)
            } else {
                "!room:example.com".to_owned()
            };
            object["room_id"] = json!(room_id);
        }
        if let Some(state_key) = node.state_key {
            object["state_key"] = json!(state_key);
        }
        let event_id = id(node.name);
        let mut after = before;
        if let Some(state_key) = node.state_key {
            after.insert(
                (node.kind.to_owned(), state_key.to_owned()),
                event_id.clone(),
            );
        }
        let Value::Object(map) = object else {
            unreachable!("built as an object")
        };
        self.events
            .insert(event_id.clone(), Pdu::new(event_id, map));
        self.state_after.insert(node.name, after);
    }

    /// The state at END minus what is unchanged since START, plus the `expected` keys.
    pub(super) fn end_changes(
        &self,
        expected: &BTreeMap<(String, String), String>,
    ) -> BTreeMap<(String, String), String> {
        let start = &self.state_after["START"];
        self.state_after["END"]
            .iter()
            .filter(|(key, value)| expected.contains_key(*key) || start.get(*key) != Some(*value))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect()
    }

    /// The `(type, state_key)` of a node, mapped to its ID.
    pub(super) fn entries(&self, names: &[&str]) -> BTreeMap<(String, String), String> {
        names
            .iter()
            .map(|name| {
                let pdu = &self.events[&id(name)];
                let key = (
                    pdu.kind().to_owned(),
                    pdu.state_key().unwrap_or_default().to_owned(),
                );
                (key, id(name))
            })
            .collect()
    }
}

/// Power levels content with `users`, plus Alice at 100 where she is not a creator with
/// infinite power (v12 forbids listing creators).
pub(super) fn users_with_alice(rules: &RoomRules, mut users: Value) -> Value {
    if !rules.creators_have_infinite_power {
        users[ALICE] = json!(100);
    }
    json!({ "users": users })
}

/// Builds the DAG and asserts that the state at END changed exactly in `expected`.
pub(super) fn check(
    rules: RoomRules,
    nodes: Vec<Node>,
    edges: &[&[&'static str]],
    expected: &[&str],
) {
    let dag = Dag::build(rules, nodes, edges);
    let expected = dag.entries(expected);
    assert_eq!(dag.end_changes(&expected), expected);
}

/// Every ordering of `0..n` (Heap's algorithm, iteratively).
pub(super) fn permutations(n: usize) -> Vec<Vec<usize>> {
    let mut current: Vec<usize> = (0..n).collect();
    let mut out = vec![current.clone()];
    let mut counters = vec![0; n];
    let mut i = 1;
    while i < n {
        if counters[i] < i {
            let swap_with = if i % 2 == 0 { 0 } else { counters[i] };
            current.swap(swap_with, i);
            out.push(current.clone());
            counters[i] += 1;
            i = 1;
        } else {
            counters[i] = 0;
            i += 1;
        }
    }
    out
}
