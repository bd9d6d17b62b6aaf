//! State resolution v1 tests (spec: rooms/v1 "State resolution"), the v2.1 conflicted
//! state subgraph, rejected auth events, errors, and the fork-order property test.
//! The DAG harness is in `tests.rs`.

use std::collections::BTreeSet;

use serde_json::json;

use super::test_dag::{
    ALICE, BOB, CHARLIE, Dag, EVELYN, ZARA, check, id, member, message, power, state, topic,
    users_with_alice,
};
use super::{StateMap, StateResError, resolve, resolve_with_rejected, v2};
use crate::proto::room_version::RoomRules;

// The power levels pass walks by ascending depth and stops at the first refused change:
// Charlie's PC (deepest) is refused against PA, so v1 keeps PA where v2 keeps PC (the
// "state reset" that rooms/v1 warns about; compare `offtopic_power_levels`).
#[test]
fn v1_power_levels_pass_stops_at_first_refused_event() {
    let nodes = vec![
        power("PA", ALICE, json!({"users": {ALICE: 100, BOB: 50}})),
        power(
            "PB",
            BOB,
            json!({"users": {ALICE: 100, BOB: 50, CHARLIE: 50}}),
        ),
        power(
            "PC",
            CHARLIE,
            json!({"users": {ALICE: 100, BOB: 50, CHARLIE: 0}}),
        ),
    ];
    let edges: &[&[&str]] = &[&["END", "PC", "PB", "PA", "START"], &["END", "PA"]];
    check(RoomRules::V1, nodes, edges, &["PA"]);
}

// Power levels, then members, then other events: the ban goes in, so Bob's deeper topic
// fails auth in R and the older topic is kept.
#[test]
fn v1_topic_reset_keeps_ban_and_power() {
    let nodes = vec![
        topic("T1", ALICE),
        power("PA", ALICE, json!({"users": {ALICE: 100, BOB: 50}})),
        topic("T2", BOB),
        member("MB", ALICE, BOB, "ban"),
    ];
    let edges: &[&[&str]] = &[&["END", "MB", "T2", "PA", "T1", "START"], &["END", "T1"]];
    check(RoomRules::V1, nodes, edges, &["T1", "MB", "PA"]);
}

// Other events: at equal depth the lowest sha1(event_id) wins. sha1("$TE:example.com")
// starts 298e…, below sha1("$TA:example.com") 29b6…, though "TA" < "TE" by name.
#[test]
fn v1_other_events_tie_break_on_lowest_sha1() {
    let nodes = vec![topic("TA", ALICE), topic("TE", ALICE)];
    let edges: &[&[&str]] = &[&["END", "TA", "START"], &["END", "TE", "START"]];
    check(RoomRules::V1, nodes, edges, &["TE"]);
}

// Other events: the deepest event that passes auth wins over an earlier one.
#[test]
fn v1_other_events_prefer_greatest_depth() {
    let nodes = vec![topic("TE", ALICE), message("M", ZARA), topic("TA", ALICE)];
    let edges: &[&[&str]] = &[&["END", "TE", "START"], &["END", "TA", "M", "START"]];
    check(RoomRules::V1, nodes, edges, &["TA"]);
}

// Power levels at equal depth go by *descending* sha1: PA (6135…) goes in first, then PB
// (2e35…) is allowed on top and wins. Ordering by name would have picked PA.
#[test]
fn v1_power_levels_tie_break_on_descending_sha1() {
    let nodes = vec![
        power("PA", ALICE, json!({"users": {ALICE: 100, BOB: 50}})),
        power("PB", ALICE, json!({"users": {ALICE: 100, CHARLIE: 50}})),
    ];
    let edges: &[&[&str]] = &[&["END", "PA", "START"], &["END", "PB", "START"]];
    check(RoomRules::V1, nodes, edges, &["PB"]);
}

// Spec: rooms/v1 "A conflict occurs between states where those states have different
// event_ids": a key only one fork has is not a conflict in v1 (it is in v2).
#[test]
fn v1_key_missing_from_a_fork_is_not_a_conflict() {
    let dag = Dag::build(
        RoomRules::V1,
        vec![topic("T", BOB), member("MB", ALICE, BOB, "ban")],
        &[&["END", "MB", "T", "START"]],
    );
    let with_topic = dag.state_after["MB"].clone();
    let mut without_topic = with_topic.clone();
    without_topic.remove(&("m.room.topic".to_owned(), String::new()));
    let resolved = dag
        .resolve(&[with_topic.clone(), without_topic])
        .expect("resolves");
    assert_eq!(resolved, with_topic);
}

// v2.1: the conflicted state subgraph holds the events on auth paths between conflicted
// events (PA1 between PA2 and IPOWER), and nothing off those paths.
#[test]
fn conflicted_subgraph_is_the_paths_between_conflicted_events() {
    let nodes = vec![
        power(
            "PA1",
            ALICE,
            users_with_alice(&RoomRules::V12, json!({BOB: 50})),
        ),
        power(
            "PA2",
            ALICE,
            users_with_alice(&RoomRules::V12, json!({BOB: 60})),
        ),
    ];
    let dag = Dag::build(RoomRules::V12, nodes, &[&["END", "PA2", "PA1", "START"]]);
    let fetch = |event_id: &str| dag.events.get(event_id);
    let events = super::Events {
        rules: &dag.rules,
        fetch: &fetch,
        is_rejected: &|_| false,
    };
    let conflicted: BTreeSet<String> = [id("PA2"), id("IPOWER")].into();
    let conflicted: BTreeSet<&str> = conflicted.iter().map(String::as_str).collect();
    let subgraph = v2::conflicted_subgraph(&events, &conflicted);
    let expected: BTreeSet<String> = [id("PA2"), id("PA1"), id("IPOWER")].into();
    assert_eq!(subgraph, expected);
}

// Spec: v2-state-res "Rejected events": a rejected auth event is not used in the iterative
// auth checks. Bob's topic T is kept in v2.1 only thanks to his join in its auth events;
// once that join is marked rejected, T has no membership to lean on and is dropped.
#[test]
fn rejected_auth_events_are_not_used() {
    let rules = RoomRules::V12;
    let nodes = vec![
        topic("T", BOB),
        member("MB", ALICE, BOB, "ban"),
        power("P", ALICE, users_with_alice(&rules, json!({BOB: 50}))),
    ];
    let dag = Dag::build(rules, nodes, &[&["END", "MB", "T", "P", "START"]]);
    let with_topic = dag.state_after["MB"].clone();
    let mut without_topic = with_topic.clone();
    let topic_key = ("m.room.topic".to_owned(), String::new());
    without_topic.remove(&topic_key);
    let forks = [with_topic, without_topic];
    let chains: Vec<BTreeSet<String>> = forks.iter().map(|fork| dag.auth_chain(fork)).collect();
    let fetch = |event_id: &str| dag.events.get(event_id);
    let kept = resolve_with_rejected(&rules, &forks, &chains, fetch, |_| false).expect("resolves");
    assert_eq!(kept.get(&topic_key), Some(&id("T")));
    let bob_join = id("IMB");
    let dropped = resolve_with_rejected(&rules, &forks, &chains, fetch, |event_id| {
        event_id == bob_join
    })
    .expect("resolves");
    assert_eq!(dropped.get(&topic_key), None);
}

#[test]
fn errors_name_what_is_missing() {
    let nodes = vec![topic("TA", ALICE), topic("TE", ALICE)];
    let dag = Dag::build(
        RoomRules::V11,
        nodes,
        &[&["END", "TA", "START"], &["END", "TE", "START"]],
    );
    let forks = [dag.state_after["TA"].clone(), dag.state_after["TE"].clone()];
    let chains: Vec<BTreeSet<String>> = forks.iter().map(|fork| dag.auth_chain(fork)).collect();
    let without_te = |event_id: &str| {
        if event_id == id("TE") {
            None
        } else {
            dag.events.get(event_id)
        }
    };
    let error = resolve(&dag.rules, &forks, &chains, without_te).expect_err("TE is missing");
    assert_eq!(error, StateResError::MissingEvent(id("TE")));
    assert!(error.to_string().contains("$TE:example.com"));
    let fetch = |event_id: &str| dag.events.get(event_id);
    let error = resolve(&dag.rules, &forks, &chains[..1], fetch).expect_err("one chain short");
    assert_eq!(
        error,
        StateResError::AuthChainCountMismatch {
            forks: 2,
            auth_chains: 1
        }
    );
    // No conflict: the forks come back as they are, whatever fetch knows.
    let same = [forks[0].clone(), forks[0].clone()];
    assert_eq!(
        resolve(&dag.rules, &same, &chains[..2], |_| None),
        Ok(forks[0].clone())
    );
    assert_eq!(resolve(&dag.rules, &[], &[], |_| None), Ok(StateMap::new()));
}

/// A small deterministic generator (64-bit LCG), so the property test needs no crate.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % n
    }
}

// Property: the resolved state does not depend on the order of the forks. Random DAGs of
// power, membership, join rules and topic events over three branches; `Dag::resolve`
// resolves every permutation of the forks at every merge and asserts they agree.
#[test]
fn result_does_not_depend_on_fork_order() {
    let users = [ALICE, BOB, CHARLIE, ZARA, EVELYN];
    for rules in [RoomRules::V1, RoomRules::V2, RoomRules::V11, RoomRules::V12] {
        for seed in 0..12u64 {
            let mut random = Lcg(seed * 7 + 1);
            let mut nodes = Vec::new();
            let mut tips: Vec<&'static str> = vec!["START"; 3];
            let mut edges: Vec<[&'static str; 2]> = Vec::new();
            for index in 0..10 {
                let name: &'static str = Box::leak(format!("E{index}").into_boxed_str());
                let sender = users[random.below(users.len())];
                let target = users[random.below(users.len())];
                let membership = ["ban", "leave", "join", "invite"][random.below(4)];
                let join_rule = ["public", "invite"][random.below(2)];
                nodes.push(match random.below(6) {
                    0 => power(
                        name,
                        sender,
                        users_with_alice(&rules, json!({target: 10 * random.below(11)})),
                    ),
                    1 => member(name, sender, target, membership),
                    2 => state(
                        name,
                        sender,
                        "m.room.join_rules",
                        "",
                        json!({"join_rule": join_rule}),
                    ),
                    _ => topic(name, sender),
                });
                let branch = random.below(3);
                edges.push([name, tips[branch]]);
                tips[branch] = name;
            }
            let distinct_tips: BTreeSet<&'static str> = tips.into_iter().collect();
            edges.extend(distinct_tips.into_iter().map(|tip| ["END", tip]));
            let all: Vec<&[&'static str]> = edges.iter().map(|pair| pair.as_slice()).collect();
            let dag = Dag::build(rules, nodes, &all);
            assert!(dag.state_after.contains_key("END"));
        }
    }
}
