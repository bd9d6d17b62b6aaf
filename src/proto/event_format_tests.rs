//! Event format tables per room version, and auth event selection.

use serde_json::{Value, json};

use super::*;

const HASH: &str = "Nhcu5BS-UMnFX7hBVfVSoXiD7OgH6iRT-xyIuqDnpYQ";

/// A valid message event for `rules`.
fn valid(rules: &RoomRules) -> Map<String, Value> {
    let mut event = json!({
        "type": "m.room.message", "sender": "@a:x", "room_id": "!r:x",
        "content": {"body": "hi"}, "depth": 5, "origin_server_ts": 1,
        "hashes": {"sha256": "h"}, "signatures": {"x": {"ed25519:1": "s"}},
        "prev_events": ["$p"], "auth_events": ["$a1", "$a2"]
    });
    if rules.event_id_format == EventIdFormat::Explicit {
        event["event_id"] = json!("$e:x");
        event["prev_events"] = json!([["$p:x", {"sha256": "h"}]]);
        event["auth_events"] = json!([["$a1:x", {"sha256": "h"}], ["$a2:x", {}]]);
    }
    if rules.room_id_is_create_event_hash {
        event["room_id"] = json!(format!("!{HASH}"));
    }
    event.as_object().cloned().unwrap_or_default()
}

/// Applies `edit` to the valid event of each version in `versions` and checks the result.
fn check(
    versions: &[RoomRules],
    edit: impl Fn(&mut Map<String, Value>),
    expect: Result<(), FormatError>,
) {
    for rules in versions {
        let mut event = valid(rules);
        edit(&mut event);
        assert_eq!(
            check_event_format(rules, &event),
            expect,
            "v{}",
            rules.version
        );
    }
}

fn set(key: &'static str, value: Value) -> impl Fn(&mut Map<String, Value>) {
    move |event| {
        event.insert(key.to_owned(), value.clone());
    }
}

fn remove(key: &'static str) -> impl Fn(&mut Map<String, Value>) {
    move |event| {
        event.remove(key);
    }
}

use RoomRules as R;
const ALL: [R; 12] = R::ALL;
const V1_2: [R; 2] = [R::V1, R::V2];
const V1_5: [R; 5] = [R::V1, R::V2, R::V3, R::V4, R::V5];
const V3_12: [R; 10] = [
    R::V3,
    R::V4,
    R::V5,
    R::V6,
    R::V7,
    R::V8,
    R::V9,
    R::V10,
    R::V11,
    R::V12,
];
const V6_12: [R; 7] = [R::V6, R::V7, R::V8, R::V9, R::V10, R::V11, R::V12];

#[test]
fn valid_events_pass() {
    check(&ALL, |_| {}, Ok(()));
    check(&ALL, set("state_key", json!("")), Ok(()));
    check(&ALL, set("unsigned", json!({"age": 1})), Ok(()));
}

#[test]
fn required_fields() {
    for field in [
        "type",
        "sender",
        "room_id",
        "content",
        "depth",
        "origin_server_ts",
        "hashes",
        "signatures",
        "prev_events",
        "auth_events",
    ] {
        check(&ALL, remove(field), Err(FormatError::MissingField(field)));
    }
    check(
        &V1_2,
        remove("event_id"),
        Err(FormatError::MissingField("event_id")),
    );
    check(&V3_12, remove("event_id"), Ok(()));
}

#[test]
fn field_types() {
    let wrong = |field: &'static str, value: Value| {
        check(&ALL, set(field, value), Err(FormatError::WrongType(field)));
    };
    wrong("type", json!(1));
    wrong("sender", json!(null));
    wrong("room_id", json!(["!r:x"]));
    wrong("content", json!("body"));
    wrong("state_key", json!(0));
    wrong("depth", json!("5"));
    wrong("origin_server_ts", json!("1"));
    wrong("hashes", json!("h"));
    wrong("signatures", json!({"x": "s"}));
    wrong("prev_events", json!({}));
    wrong("auth_events", json!("$a"));
    check(
        &V1_5,
        set("depth", json!(1.5)),
        Err(FormatError::WrongType("depth")),
    );
}

#[test]
fn identifiers() {
    let invalid = |field, error| Err(FormatError::InvalidId { field, error });
    check(
        &ALL,
        set("sender", json!("a:x")),
        invalid("sender", IdError::MissingSigil('@')),
    );
    check(
        &ALL,
        set("sender", json!("@a")),
        invalid("sender", IdError::MissingServerName),
    );
    check(
        &ALL,
        set("room_id", json!("r:x")),
        invalid("room_id", IdError::MissingSigil('!')),
    );
    check(
        &V1_2,
        set("event_id", json!("$e")),
        invalid("event_id", IdError::InvalidHash),
    );
    let hash_id = json!(format!("${HASH}"));
    check(
        &V1_2,
        set("event_id", hash_id),
        invalid("event_id", IdError::MissingServerName),
    );
    // The room ID's form follows the version.
    let hash_room = json!(format!("!{HASH}"));
    check(
        &R::ALL[..11],
        set("room_id", hash_room),
        invalid("room_id", IdError::MissingServerName),
    );
    check(
        &[R::V12],
        set("room_id", json!("!r:x")),
        invalid("room_id", IdError::InvalidHash),
    );
}

#[test]
fn reference_formats() {
    check(
        &V1_2,
        set("prev_events", json!(["$p:x"])),
        Err(FormatError::WrongType("prev_events")),
    );
    check(
        &V1_2,
        set("auth_events", json!([["$a:x"]])),
        Err(FormatError::WrongType("auth_events")),
    );
    let v1_style = json!([["$p:x", {"sha256": "h"}]]);
    check(
        &V3_12,
        set("prev_events", v1_style),
        Err(FormatError::WrongType("prev_events")),
    );
    check(
        &V3_12,
        set("auth_events", json!([1])),
        Err(FormatError::WrongType("auth_events")),
    );
    check(&ALL, set("prev_events", json!([])), Ok(()));
}

#[test]
fn reference_counts() {
    let ids = |n: usize| json!((0..n).map(|i| format!("$e{i}")).collect::<Vec<_>>());
    check(&V3_12, set("prev_events", ids(20)), Ok(()));
    check(
        &V3_12,
        set("prev_events", ids(21)),
        Err(FormatError::TooManyPrevEvents(21)),
    );
    check(&V3_12, set("auth_events", ids(10)), Ok(()));
    check(
        &V3_12,
        set("auth_events", ids(11)),
        Err(FormatError::TooManyAuthEvents(11)),
    );
    let pairs = json!(
        (0..11)
            .map(|i| json!([format!("$e{i}:x"), {}]))
            .collect::<Vec<_>>()
    );
    check(
        &V1_2,
        set("auth_events", pairs),
        Err(FormatError::TooManyAuthEvents(11)),
    );
}

#[test]
fn depth_limits() {
    let out = Err(FormatError::DepthOutOfRange);
    check(&ALL, set("depth", json!(0)), Ok(()));
    check(&ALL, set("depth", json!(-1)), out.clone());
    check(&ALL, set("depth", json!(MAX_SAFE_INTEGER)), Ok(()));
    check(&V1_5, set("depth", json!(i64::MAX)), Ok(()));
    check(&V1_5, set("depth", json!(u64::MAX)), out.clone());
    // v6+: beyond 2^53 - 1 is not canonical JSON, which is checked first.
    let big = Err(FormatError::NotCanonical(JsonError::NumberNotCanonical(
        "9007199254740992".into(),
    )));
    check(&V6_12, set("depth", json!(MAX_SAFE_INTEGER + 1)), big);
}

#[test]
fn canonical_json_is_enforced_from_v6() {
    let float = set("content", json!({"f": 1.5}));
    check(&V1_5, &float, Ok(()));
    let error = Err(FormatError::NotCanonical(JsonError::NumberNotCanonical(
        "1.5".into(),
    )));
    check(&V6_12, &float, error.clone());
    check(&V6_12, set("unsigned", json!({"f": 1.5})), error);
}

#[test]
fn redacts_moves_into_content_in_v11() {
    let redaction = |redacts_top: Value, redacts_content: Value| {
        move |event: &mut Map<String, Value>| {
            event.insert("type".into(), json!("m.room.redaction"));
            event.insert("redacts".into(), redacts_top.clone());
            event.insert(
                "content".into(),
                json!({"redacts": redacts_content.clone()}),
            );
        }
    };
    let wrong = Err(FormatError::WrongType("redacts"));
    check(&R::ALL[..10], redaction(json!("$x"), json!(5)), Ok(()));
    check(
        &R::ALL[..10],
        redaction(json!(5), json!("$x")),
        wrong.clone(),
    );
    check(&[R::V11, R::V12], redaction(json!(5), json!("$x")), Ok(()));
    check(&[R::V11, R::V12], redaction(json!("$x"), json!(5)), wrong);
}

#[test]
fn v12_create_event_and_room_id() {
    let create = |event: &mut Map<String, Value>| {
        event.insert("type".into(), json!("m.room.create"));
        event.insert("state_key".into(), json!(""));
        event.insert("prev_events".into(), json!([]));
        event.insert("auth_events".into(), json!([]));
        event.remove("room_id");
    };
    check(&[R::V12], create, Ok(()));
    check(&[R::V11], create, Err(FormatError::MissingField("room_id")));
    let with_room_id = |event: &mut Map<String, Value>| {
        create(event);
        event.insert("room_id".into(), json!(format!("!{HASH}")));
    };
    check(
        &[R::V12],
        with_room_id,
        Err(FormatError::CreateEventHasRoomId),
    );
    let cites_create = set("auth_events", json!([format!("${HASH}")]));
    check(
        &[R::V12],
        cites_create,
        Err(FormatError::CreateEventInAuthEvents),
    );
}

fn selection(
    rules: &RoomRules,
    kind: &str,
    state_key: Option<&str>,
    content: Value,
) -> Vec<String> {
    let sender = UserId::parse("@alice:x").unwrap();
    let content = content.as_object().cloned().unwrap_or_default();
    auth_event_types(rules, kind, &sender, state_key, &content)
        .into_iter()
        .map(|(kind, state_key)| format!("{kind}/{state_key}"))
        .collect()
}

// Spec: s2s "Auth events selection".
#[test]
fn auth_selection() {
    assert!(selection(&R::V10, "m.room.create", Some(""), json!({})).is_empty());
    let base = [
        "m.room.create/",
        "m.room.power_levels/",
        "m.room.member/@alice:x",
    ];
    assert_eq!(selection(&R::V10, "m.room.message", None, json!({})), base);
    assert_eq!(
        selection(&R::V12, "m.room.message", None, json!({}))[..],
        base[1..]
    );

    let join = json!({"membership": "join"});
    assert_eq!(
        selection(&R::V10, "m.room.member", Some("@alice:x"), join),
        [&base[..], &["m.room.join_rules/"]].concat()
    );
    let ban = json!({"membership": "ban"});
    assert_eq!(
        selection(&R::V10, "m.room.member", Some("@bob:y"), ban),
        [&base[..], &["m.room.member/@bob:y"]].concat()
    );
    let knock = json!({"membership": "knock"});
    assert!(
        selection(&R::V7, "m.room.member", Some("@alice:x"), knock)
            .contains(&"m.room.join_rules/".to_owned())
    );

    let third_party =
        json!({"membership": "invite", "third_party_invite": {"signed": {"token": "tok"}}});
    assert_eq!(
        selection(&R::V12, "m.room.member", Some("@bob:y"), third_party),
        [
            "m.room.power_levels/",
            "m.room.member/@alice:x",
            "m.room.member/@bob:y",
            "m.room.join_rules/",
            "m.room.third_party_invite/tok"
        ]
    );
    let restricted = json!({"membership": "join", "join_authorised_via_users_server": "@carol:z"});
    assert!(
        selection(
            &R::V8,
            "m.room.member",
            Some("@alice:x"),
            restricted.clone()
        )
        .contains(&"m.room.member/@carol:z".to_owned())
    );
    assert!(
        !selection(&R::V7, "m.room.member", Some("@alice:x"), restricted)
            .contains(&"m.room.member/@carol:z".to_owned())
    );
}

#[test]
fn parse_pdu_per_version() {
    for rules in R::ALL {
        let text = serde_json::to_vec(&Value::Object(valid(&rules))).unwrap();
        let pdu = parse_pdu(&rules, &text).unwrap();
        let expected_id = super::super::hashes::event_id_for(&rules, pdu.json()).unwrap();
        assert_eq!(pdu.event_id(), expected_id);
        assert_eq!(pdu.sender(), "@a:x");
    }
    assert_eq!(
        parse_pdu(&R::V1, b"[1]"),
        Err(FormatError::Json(JsonError::NotAnObject))
    );
    assert!(matches!(
        parse_pdu(&R::V10, b"{"),
        Err(FormatError::Json(JsonError::Syntax(_)))
    ));
    let mut float = valid(&R::V10);
    float.insert("content".into(), json!({"f": 1.5}));
    let text = serde_json::to_vec(&Value::Object(float)).unwrap();
    let not_canonical = Err(FormatError::NotCanonical(JsonError::NumberNotCanonical(
        "1.5".into(),
    )));
    assert_eq!(parse_pdu(&R::V10, &text), not_canonical);
    let mut float_v5 = valid(&R::V5);
    float_v5.insert("content".into(), json!({"f": 1.5}));
    let text = serde_json::to_vec(&Value::Object(float_v5)).unwrap();
    assert!(parse_pdu(&R::V5, &text).is_ok());
}
