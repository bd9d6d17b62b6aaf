//! Per-version redaction tables (spec: rooms/fragments/v*-redactions, checklist §3.4).

use serde_json::{Value, json};

use super::*;

/// Every content key any version keeps, plus one no version keeps.
fn full_content() -> Value {
    json!({
        "membership": "join", "join_authorised_via_users_server": "@a:x",
        "third_party_invite": {"signed": {"token": "t"}, "display_name": "d"},
        "creator": "@a:x", "room_version": "9", "m.federate": false,
        "join_rule": "restricted", "allow": [],
        "ban": 50, "events": {}, "events_default": 0, "invite": 0, "kick": 50, "redact": 50,
        "state_default": 50, "users": {}, "users_default": 0, "notifications": {},
        "aliases": ["#a:x"], "history_visibility": "shared", "redacts": "$r",
        "body": "secret"
    })
}

fn event(kind: &str) -> Map<String, Value> {
    let value = json!({
        "event_id": "$e:x", "type": kind, "room_id": "!r:x", "sender": "@a:x",
        "state_key": "", "content": full_content(), "hashes": {"sha256": "h"},
        "signatures": {}, "depth": 1, "prev_events": [], "prev_state": [], "auth_events": [],
        "origin": "x", "origin_server_ts": 1, "membership": "join",
        "unsigned": {"age_ts": 1}, "redacts": "$r", "other": 1
    });
    value.as_object().cloned().unwrap_or_default()
}

fn kept_content(rules: &RoomRules, kind: &str) -> Vec<String> {
    let redacted = redact(rules, &event(kind));
    let content = redacted["content"].as_object().unwrap();
    content.keys().cloned().collect()
}

/// One row per (versions, type): the sorted content keys kept.
fn check(versions: &[RoomRules], kind: &str, expect: &[&str]) {
    for rules in versions {
        assert_eq!(
            kept_content(rules, kind),
            expect,
            "v{} {kind}",
            rules.version
        );
    }
}

use RoomRules as R;
const V1_5: [R; 5] = [R::V1, R::V2, R::V3, R::V4, R::V5];
const V6_7: [R; 2] = [R::V6, R::V7];
const V9_10: [R; 2] = [R::V9, R::V10];
const V11_12: [R; 2] = [R::V11, R::V12];

#[test]
fn member() {
    check(&V1_5, "m.room.member", &["membership"]);
    check(&V6_7, "m.room.member", &["membership"]);
    check(&[R::V8], "m.room.member", &["membership"]);
    let v9 = ["join_authorised_via_users_server", "membership"];
    check(&V9_10, "m.room.member", &v9);
    let v11 = [
        "join_authorised_via_users_server",
        "membership",
        "third_party_invite",
    ];
    check(&V11_12, "m.room.member", &v11);
    let redacted = redact(&R::V11, &event("m.room.member"));
    assert_eq!(
        redacted["content"]["third_party_invite"],
        json!({"signed": {"token": "t"}})
    );
}

#[test]
fn create() {
    for rules in V1_5.iter().chain(&V6_7).chain(&[R::V8]).chain(&V9_10) {
        check(&[*rules], "m.room.create", &["creator"]);
    }
    for rules in V11_12 {
        assert_eq!(
            redact(&rules, &event("m.room.create"))["content"],
            full_content()
        );
    }
}

#[test]
fn join_rules() {
    check(&V1_5, "m.room.join_rules", &["join_rule"]);
    check(&V6_7, "m.room.join_rules", &["join_rule"]);
    check(&[R::V8], "m.room.join_rules", &["allow", "join_rule"]);
    check(&V9_10, "m.room.join_rules", &["allow", "join_rule"]);
    check(&V11_12, "m.room.join_rules", &["allow", "join_rule"]);
}

#[test]
fn power_levels() {
    let old = [
        "ban",
        "events",
        "events_default",
        "kick",
        "redact",
        "state_default",
        "users",
        "users_default",
    ];
    for rules in V1_5.iter().chain(&V6_7).chain(&[R::V8]).chain(&V9_10) {
        check(&[*rules], "m.room.power_levels", &old);
    }
    let new = [
        "ban",
        "events",
        "events_default",
        "invite",
        "kick",
        "redact",
        "state_default",
        "users",
        "users_default",
    ];
    check(&V11_12, "m.room.power_levels", &new);
}

#[test]
fn other_types() {
    check(&V1_5, "m.room.aliases", &["aliases"]);
    check(&[R::V6, R::V9, R::V11, R::V12], "m.room.aliases", &[]);
    for rules in R::ALL {
        check(
            &[rules],
            "m.room.history_visibility",
            &["history_visibility"],
        );
        check(&[rules], "m.room.message", &[]);
    }
    check(&V1_5, "m.room.redaction", &[]);
    check(&[R::V10], "m.room.redaction", &[]);
    check(&V11_12, "m.room.redaction", &["redacts"]);
}

#[test]
fn top_level_keys() {
    let keys = |rules: &RoomRules| -> Vec<String> {
        redact(rules, &event("m.room.message"))
            .keys()
            .cloned()
            .collect()
    };
    let old = [
        "auth_events",
        "content",
        "depth",
        "event_id",
        "hashes",
        "membership",
        "origin",
        "origin_server_ts",
        "prev_events",
        "prev_state",
        "room_id",
        "sender",
        "signatures",
        "state_key",
        "type",
    ];
    for rules in &R::ALL[..10] {
        assert_eq!(keys(rules), old, "v{}", rules.version);
    }
    let new = [
        "auth_events",
        "content",
        "depth",
        "event_id",
        "hashes",
        "origin_server_ts",
        "prev_events",
        "room_id",
        "sender",
        "signatures",
        "state_key",
        "type",
    ];
    assert_eq!(keys(&R::V11), new);
    assert_eq!(keys(&R::V12), new);
}

#[test]
fn v12_create_event_loses_a_stray_room_id() {
    assert!(
        redact(&R::V12, &event("m.room.create"))
            .get("room_id")
            .is_none()
    );
    assert!(
        redact(&R::V11, &event("m.room.create"))
            .get("room_id")
            .is_some()
    );
    assert!(
        redact(&R::V12, &event("m.room.member"))
            .get("room_id")
            .is_some()
    );
}

#[test]
fn odd_shapes_do_not_fail() {
    let mut no_content = event("m.room.member");
    no_content.remove("content");
    assert_eq!(redact(&R::V11, &no_content)["content"], json!({}));
    let mut odd = event("m.room.member");
    odd.insert(
        "content".into(),
        json!({"third_party_invite": "x", "membership": 5}),
    );
    assert_eq!(redact(&R::V11, &odd)["content"], json!({"membership": 5}));
    odd.insert("content".into(), json!({"third_party_invite": {"a": 1}}));
    assert_eq!(
        redact(&R::V11, &odd)["content"],
        json!({"third_party_invite": {}})
    );
    let mut no_type = event("m.room.create");
    no_type.remove("type");
    assert_eq!(redact(&R::V11, &no_type)["content"], json!({}));
}
