//! State resolution v2 / v2.1 tests on hand-built DAGs (harness in `test_dag.rs`).
//!
//! The v2 scenarios and their expected states are Synapse's (tests/state/test_v2.py).

use serde_json::json;

use super::StateMap;
use super::test_dag::{
    ALICE, BOB, CHARLIE, Dag, EVELYN, ZARA, check, id, member, message, power, state, topic,
    users_with_alice,
};
use crate::proto::room_version::RoomRules;

/// The v2 room versions the Synapse scenarios run under (both auth rule eras).
const V2_ROOMS: [RoomRules; 3] = [RoomRules::V2, RoomRules::V6, RoomRules::V11];

// Synapse test_ban_vs_pl: Alice bans Bob while Bob concurrently changes the power levels;
// the ban is ordered first (Alice has more power), so Bob's change is then refused.
#[test]
fn ban_wins_over_concurrent_power_levels_change() {
    for rules in V2_ROOMS {
        let pl = json!({"users": {ALICE: 100, BOB: 50}});
        let nodes = vec![
            power("PA", ALICE, pl.clone()),
            member("MA", ALICE, ALICE, "join"),
            member("MB", ALICE, BOB, "ban"),
            power("PB", BOB, pl),
        ];
        let edges: &[&[&str]] = &[&["END", "MB", "MA", "PA", "START"], &["END", "PB", "PA"]];
        check(rules, nodes, edges, &["PA", "MA", "MB"]);
    }
}

// Synapse test_join_rule_evasion: Evelyn joins at the same time as the room stops being
// public; the join rules change is a power event and is applied first.
#[test]
fn join_rules_change_beats_concurrent_join() {
    for rules in V2_ROOMS {
        let nodes = vec![
            state(
                "JR",
                ALICE,
                "m.room.join_rules",
                "",
                json!({"join_rule": "private"}),
            ),
            member("ME", EVELYN, EVELYN, "join"),
        ];
        let edges: &[&[&str]] = &[&["END", "JR", "START"], &["END", "ME", "START"]];
        check(rules, nodes, edges, &["JR"]);
    }
}

// Synapse test_offtopic_pl: a chain of power level changes against an older fork keeps
// the latest change that its own history allows.
#[test]
fn offtopic_power_levels() {
    for rules in V2_ROOMS {
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
        check(rules, nodes, edges, &["PC"]);
    }
}

// Synapse test_topic_basic: Bob's topic relies on power Alice later took away.
#[test]
fn topic_after_demotion_loses() {
    for rules in V2_ROOMS {
        let nodes = vec![
            topic("T1", ALICE),
            power("PA1", ALICE, json!({"users": {ALICE: 100, BOB: 50}})),
            topic("T2", ALICE),
            power("PA2", ALICE, json!({"users": {ALICE: 100, BOB: 0}})),
            power("PB", BOB, json!({"users": {ALICE: 100, BOB: 50}})),
            topic("T3", BOB),
        ];
        let edges: &[&[&str]] = &[
            &["END", "PA2", "T2", "PA1", "T1", "START"],
            &["END", "T3", "PB", "PA1"],
        ];
        check(rules, nodes, edges, &["PA2", "T2"]);
    }
}

// Synapse test_topic_reset: merging with an old fork must not undo the ban or the power
// levels, and the older topic comes back only because Bob's was sent before his ban.
#[test]
fn topic_reset_keeps_ban_and_power() {
    for rules in V2_ROOMS {
        let nodes = vec![
            topic("T1", ALICE),
            power("PA", ALICE, json!({"users": {ALICE: 100, BOB: 50}})),
            topic("T2", BOB),
            member("MB", ALICE, BOB, "ban"),
        ];
        let edges: &[&[&str]] = &[&["END", "MB", "T2", "PA", "T1", "START"], &["END", "T1"]];
        check(rules, nodes, edges, &["T1", "MB", "PA"]);
    }
}

// Synapse test_topic: several topic and power level races merged twice.
#[test]
fn topic_race_through_two_merges() {
    for rules in V2_ROOMS {
        let nodes = vec![
            topic("T1", ALICE),
            power("PA1", ALICE, json!({"users": {ALICE: 100, BOB: 50}})),
            topic("T2", ALICE),
            power("PA2", ALICE, json!({"users": {ALICE: 100, BOB: 0}})),
            power("PB", BOB, json!({"users": {ALICE: 100, BOB: 50}})),
            topic("T3", BOB),
            message("MZ1", ZARA),
            topic("T4", ALICE),
        ];
        let edges: &[&[&str]] = &[
            &["END", "T4", "MZ1", "PA2", "T2", "PA1", "T1", "START"],
            &["END", "MZ1", "T3", "PB", "PA1"],
        ];
        check(rules, nodes, edges, &["T4", "PA2"]);
    }
}

// Synapse test_mainline_sort: T3 cites the newest power levels on the mainline, so it
// sorts last and wins, although T4 was sent after it.
#[test]
fn mainline_ordering_beats_timestamps() {
    for rules in V2_ROOMS {
        let nodes = vec![
            topic("T1", ALICE),
            power("PA1", ALICE, json!({"users": {ALICE: 100, BOB: 50}})),
            topic("T2", ALICE),
            power(
                "PA2",
                ALICE,
                json!({"users": {ALICE: 100, BOB: 50}, "events": {"m.room.power_levels": 100}}),
            ),
            power("PB", BOB, json!({"users": {ALICE: 100, BOB: 50}})),
            topic("T3", BOB),
            topic("T4", ALICE),
        ];
        let edges: &[&[&str]] = &[
            &["END", "T3", "PA2", "T2", "PA1", "T1", "START"],
            &["END", "T4", "PB", "PA1"],
        ];
        check(rules, nodes, edges, &["T3", "PA2"]);
    }
}

// A concurrent message does not make a conflict: the ban simply stays.
#[test]
fn ban_vs_concurrent_message() {
    for rules in V2_ROOMS.into_iter().chain([RoomRules::V12]) {
        let nodes = vec![member("MB", ALICE, BOB, "ban"), message("MSG", BOB)];
        let edges: &[&[&str]] = &[&["END", "MB", "START"], &["END", "MSG", "START"]];
        check(rules, nodes, edges, &["MB"]);
    }
}

/// Alice gives Bob full power (P0); then, concurrently, Bob bans Charlie (BC, sent first)
/// and Alice takes Bob's power away (PZ). Returns the state at END for the two keys as
/// node names: (Charlie's membership, power levels).
fn ban_vs_demotion(rules: RoomRules) -> (String, String) {
    let nodes = vec![
        power("P0", ALICE, users_with_alice(&rules, json!({BOB: 100}))),
        member("BC", BOB, CHARLIE, "ban"),
        power("PZ", ALICE, users_with_alice(&rules, json!({BOB: 0}))),
    ];
    let edges: &[&[&str]] = &[&["END", "PZ", "P0", "START"], &["END", "BC", "P0"]];
    let dag = Dag::build(rules, nodes, edges);
    let name_at = |kind: &str, state_key: &str| {
        let event_id = &dag.state_after["END"][&(kind.to_owned(), state_key.to_owned())];
        event_id
            .trim_start_matches('$')
            .trim_end_matches(":example.com")
            .to_owned()
    };
    (
        name_at("m.room.member", CHARLIE),
        name_at("m.room.power_levels", ""),
    )
}

// v11: Alice and Bob have equal power, so the earlier event (Bob's ban) goes first, and
// Alice may then not demote a user as powerful as herself.
#[test]
fn equal_power_race_goes_to_the_earlier_event() {
    let (charlie, power_levels) = ban_vs_demotion(RoomRules::V11);
    assert_eq!((charlie.as_str(), power_levels.as_str()), ("BC", "P0"));
}

// v12: Alice is a creator, so her demotion is ordered first and Bob's ban is then refused.
// Spec: rooms/v12 "Room creators have infinitely high power level".
#[test]
fn creator_wins_race_in_v12() {
    let (charlie, power_levels) = ban_vs_demotion(RoomRules::V12);
    assert_eq!((charlie.as_str(), power_levels.as_str()), ("IMC", "PZ"));
}

/// Two hand-made forks around Bob's topic T: it was sent while Bob was joined (its auth
/// events say so), but both forks hold Bob's later ban, and only fork 1 holds T.
fn topic_before_ban(rules: RoomRules) -> StateMap {
    let nodes = vec![
        topic("T", BOB),
        member("MB", ALICE, BOB, "ban"),
        power("P", ALICE, users_with_alice(&rules, json!({BOB: 50}))),
    ];
    let edges: &[&[&str]] = &[&["END", "MB", "T", "P", "START"]];
    let dag = Dag::build(rules, nodes, edges);
    let with_topic = dag.state_after["MB"].clone();
    let mut without_topic = with_topic.clone();
    without_topic.remove(&("m.room.topic".to_owned(), String::new()));
    dag.resolve(&[with_topic, without_topic]).expect("resolves")
}

// v2 checks T against the unconflicted state, where Bob is banned: T is dropped. v2.1
// starts from an empty map, so T is checked against its own auth events and kept.
// Spec: rooms/v12 "State resolution", change 1.
#[test]
fn empty_start_map_checks_events_against_their_own_auth_events() {
    let topic_key = ("m.room.topic".to_owned(), String::new());
    assert_eq!(topic_before_ban(RoomRules::V11).get(&topic_key), None);
    assert_eq!(
        topic_before_ban(RoomRules::V12).get(&topic_key),
        Some(&id("T"))
    );
}
