//! Benchmark (not a test) for state resolution: two forks of a 10,000-member room state
//! with 100 conflicting keys (Alice bans 100 members on one fork while the same members
//! change their display names on the other), resolved under v2 (room version 11) and v2.1
//! (room version 12). The target is under 200 ms per resolution.
//!
//! Run with `cargo run --release --example bench_state_res`. Building the room and its auth
//! chains is not timed; only `state_res::resolve` is.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use hearth::proto::pdu::Pdu;
use hearth::proto::room_version::RoomRules;
use hearth::proto::state_res::{StateMap, resolve};
use serde_json::{Value, json};

const N_MEMBERS: usize = 10_000;
const N_CONFLICTS: usize = 100;
const N_RUNS: usize = 5;
const ALICE: &str = "@alice:example.com";

fn main() {
    for rules in [RoomRules::V11, RoomRules::V12] {
        let room = Room::build(rules);
        let chains: Vec<BTreeSet<String>> = room
            .forks
            .iter()
            .map(|fork| room.auth_chain(fork))
            .collect();
        let mut times: Vec<Duration> = Vec::with_capacity(N_RUNS);
        let mut resolved = StateMap::new();
        for _ in 0..N_RUNS {
            let started = Instant::now();
            resolved = resolve(&rules, &room.forks, &chains, |event_id| {
                room.events.get(event_id)
            })
            .expect("the benchmark room resolves");
            times.push(started.elapsed());
        }
        times.sort();
        let n_banned = resolved
            .values()
            .filter(|event_id| event_id.starts_with("$ban-"))
            .count();
        println!(
            "room version {:>2}: {} state entries, {} conflicted keys, {} bans kept: \
             min {:.1} ms, median {:.1} ms over {} runs (target < 200 ms)",
            rules.version,
            resolved.len(),
            N_CONFLICTS,
            n_banned,
            millis(times.first()),
            millis(times.get(N_RUNS / 2)),
            N_RUNS,
        );
    }
}

fn millis(duration: Option<&Duration>) -> f64 {
    duration.map_or(f64::NAN, |duration| duration.as_secs_f64() * 1000.0)
}

struct Room {
    rules: RoomRules,
    events: HashMap<String, Pdu>,
    forks: Vec<StateMap>,
    timestamp: i64,
}

impl Room {
    fn build(rules: RoomRules) -> Room {
        let mut room = Room {
            rules,
            events: HashMap::new(),
            forks: Vec::new(),
            timestamp: 0,
        };
        let mut base = StateMap::new();
        let users = if rules.creators_have_infinite_power {
            json!({})
        } else {
            json!({ALICE: 100})
        };
        let create_content = json!({"creator": ALICE, "room_version": rules.version});
        room.add(
            &mut base,
            "create",
            ALICE,
            "m.room.create",
            "",
            create_content,
            &[],
        );
        let create_keys: &[(&str, &str)] = &[("m.room.create", "")];
        room.add(
            &mut base,
            "alice",
            ALICE,
            "m.room.member",
            ALICE,
            json!({"membership": "join"}),
            create_keys,
        );
        let alice_keys: &[(&str, &str)] = &[("m.room.create", ""), ("m.room.member", ALICE)];
        room.add(
            &mut base,
            "power",
            ALICE,
            "m.room.power_levels",
            "",
            json!({"users": users}),
            alice_keys,
        );
        let power_keys: &[(&str, &str)] = &[
            ("m.room.create", ""),
            ("m.room.member", ALICE),
            ("m.room.power_levels", ""),
        ];
        room.add(
            &mut base,
            "join_rules",
            ALICE,
            "m.room.join_rules",
            "",
            json!({"join_rule": "public"}),
            power_keys,
        );
        for index in 0..N_MEMBERS {
            let user = user_id(index);
            let keys = [
                ("m.room.create", ""),
                ("m.room.power_levels", ""),
                ("m.room.join_rules", ""),
            ];
            let content = json!({"membership": "join"});
            room.add(
                &mut base,
                &format!("join-{index}"),
                &user,
                "m.room.member",
                &user,
                content,
                &keys,
            );
        }
        let mut banned = base.clone();
        let mut renamed = base;
        for index in 0..N_CONFLICTS {
            let user = user_id(index);
            let ban_keys = [
                ("m.room.create", ""),
                ("m.room.power_levels", ""),
                ("m.room.member", ALICE),
                ("m.room.member", user.as_str()),
            ];
            let ban = json!({"membership": "ban"});
            room.add(
                &mut banned,
                &format!("ban-{index}"),
                ALICE,
                "m.room.member",
                &user,
                ban,
                &ban_keys,
            );
            let rename_keys = [
                ("m.room.create", ""),
                ("m.room.power_levels", ""),
                ("m.room.join_rules", ""),
                ("m.room.member", user.as_str()),
            ];
            let rename = json!({"membership": "join", "displayname": format!("user {index}")});
            room.add(
                &mut renamed,
                &format!("rename-{index}"),
                &user,
                "m.room.member",
                &user,
                rename,
                &rename_keys,
            );
        }
        room.forks = vec![banned, renamed];
        room
    }

    /// Adds an event whose auth events are `auth_keys` looked up in `state`, then applies
    /// it to `state`. In v12 the create event is implied by the room ID, not listed.
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        state: &mut StateMap,
        name: &str,
        sender: &str,
        kind: &str,
        state_key: &str,
        content: Value,
        auth_keys: &[(&str, &str)],
    ) {
        let v12 = self.rules.room_id_is_create_event_hash;
        let auth_events: Vec<&String> = auth_keys
            .iter()
            .filter(|(kind, _)| !(v12 && *kind == "m.room.create"))
            .filter_map(|(kind, key)| state.get(&(kind.to_string(), key.to_string())))
            .collect();
        self.timestamp += 1;
        let mut object = json!({
            "type": kind,
            "state_key": state_key,
            "sender": sender,
            "content": content,
            "origin_server_ts": self.timestamp,
            "depth": self.timestamp,
            "prev_events": [],
            "auth_events": auth_events,
        });
        if !(v12 && kind == "m.room.create") {
            object["room_id"] = json!(if v12 { "!create" } else { "!bench:example.com" });
        }
        let event_id = format!("${name}");
        let Value::Object(map) = object else {
            unreachable!("built as an object")
        };
        self.events
            .insert(event_id.clone(), Pdu::new(event_id.clone(), map));
        state.insert((kind.to_owned(), state_key.to_owned()), event_id);
    }

    /// The auth chain of a state, as the store's auth chain index would give it.
    fn auth_chain(&self, fork: &StateMap) -> BTreeSet<String> {
        let mut chain = BTreeSet::new();
        let mut stack: Vec<&str> = fork.values().map(String::as_str).collect();
        while let Some(event_id) = stack.pop() {
            let Some(pdu) = self.events.get(event_id) else {
                continue;
            };
            for auth_id in pdu.auth_event_ids() {
                if chain.insert(auth_id.to_owned()) {
                    stack.push(auth_id);
                }
            }
        }
        chain
    }
}

fn user_id(index: usize) -> String {
    format!("@user{index}:example.com")
}
