//! Rules 6–11: the sender must be joined, `m.room.third_party_invite` needs the invite
//! level, the required power level per event type, `@` state keys, v1–2 redactions; and
//! which events are power events.

use serde_json::json;

use super::{ALICE, BOB, CAROL, Room, check, create, member, message, pdu, set_field, with_id};
use crate::proto::auth::{Action, AuthError, is_power_event};
use crate::proto::room_version::RoomRules;
// Rules 6–9.

#[test]
fn sender_must_be_joined() {
    let rules = RoomRules::V11;
    let room = Room::with_rule(rules, "public");
    check(
        &room,
        &message(&rules, BOB),
        Err(AuthError::SenderNotJoined),
    );
    check(
        &room.membership(BOB, "invite"),
        &message(&rules, BOB),
        Err(AuthError::SenderNotJoined),
    );
    check(
        &Room::with_rule(rules, "public").joined(BOB),
        &message(&rules, BOB),
        Ok(()),
    );
}

#[test]
fn third_party_invite_event_needs_invite_level() {
    let rules = RoomRules::V9;
    let room = Room::with_rule(rules, "invite")
        .joined(BOB)
        .levels(json!({"invite": 10}));
    let event = pdu(
        &rules,
        BOB,
        "m.room.third_party_invite",
        Some("tok"),
        json!({}),
    );
    let expect = Err(AuthError::InsufficientPower {
        action: Action::ThirdPartyInvite,
        required: 10,
        sender_level: 0,
    });
    check(&room, &event, expect);
    check(
        &room,
        &pdu(
            &rules,
            CAROL,
            "m.room.third_party_invite",
            Some("tok"),
            json!({}),
        ),
        Ok(()),
    );
}

#[test]
fn required_power_level_uses_events_then_defaults() {
    let rules = RoomRules::V11;
    let insufficient = |kind: &str, required| {
        Err(AuthError::InsufficientPower {
            action: Action::Send(kind.to_string()),
            required,
            sender_level: 0,
        })
    };
    let name = pdu(&rules, BOB, "m.room.name", Some(""), json!({"name": "x"}));
    // No power levels event: state needs 50, messages 0.
    let bare = Room::bare(rules).joined(BOB);
    check(&bare, &name, insufficient("m.room.name", 50));
    check(&bare, &message(&rules, BOB), Ok(()));
    // The creator has 100 without a power levels event.
    check(
        &bare,
        &pdu(&rules, ALICE, "m.room.name", Some(""), json!({})),
        Ok(()),
    );
    let strict = Room::with_rule(rules, "public")
        .joined(BOB)
        .levels(json!({"events_default": 10}));
    check(
        &strict,
        &message(&rules, BOB),
        insufficient("m.room.message", 10),
    );
    let open_name = Room::with_rule(rules, "public")
        .joined(BOB)
        .levels(json!({"events": {"m.room.name": 0}}));
    check(&open_name, &name, Ok(()));
    let low_state = Room::with_rule(rules, "public")
        .joined(BOB)
        .levels(json!({"state_default": 0}));
    check(&low_state, &name, Ok(()));
}

#[test]
fn state_key_of_another_user_is_rejected() {
    let rules = RoomRules::V11;
    let room = Room::with_rule(rules, "public")
        .joined(BOB)
        .levels(json!({"state_default": 0}));
    let others = pdu(&rules, BOB, "org.example.status", Some(ALICE), json!({}));
    check(&room, &others, Err(AuthError::StateKeyIsAnotherUser));
    check(
        &room,
        &pdu(&rules, BOB, "org.example.status", Some(BOB), json!({})),
        Ok(()),
    );
}

// Rule 11 (v1–2): redactions.

#[test]
fn redaction_domain_rule_applies_only_in_v1_and_v2() {
    for rules in [RoomRules::V1, RoomRules::V2, RoomRules::V3] {
        let room = Room::with_rule(rules, "public").joined(BOB);
        let redaction = |redacts: &str| {
            let event = pdu(&rules, BOB, "m.room.redaction", None, json!({}));
            with_id(set_field(event, "redacts", json!(redacts)), "$r:b.example")
        };
        check(&room, &redaction("$own:b.example"), Ok(()));
        let expect = if rules.version == "3" {
            Ok(())
        } else {
            Err(AuthError::RedactionNotAllowed)
        };
        check(&room, &redaction("$theirs:a.example"), expect);
        let by_admin = with_id(
            set_field(
                pdu(&rules, ALICE, "m.room.redaction", None, json!({})),
                "redacts",
                json!("$x:b.example"),
            ),
            "$r:a.example",
        );
        check(&room, &by_admin, Ok(()));
    }
}

#[test]
fn power_events_are_recognised() {
    let rules = RoomRules::V11;
    assert!(is_power_event(&create(&rules, json!({}))));
    assert!(is_power_event(&pdu(
        &rules,
        ALICE,
        "m.room.power_levels",
        Some(""),
        json!({})
    )));
    assert!(is_power_event(&pdu(
        &rules,
        ALICE,
        "m.room.join_rules",
        Some(""),
        json!({})
    )));
    assert!(is_power_event(&member(&rules, ALICE, BOB, "leave")));
    assert!(is_power_event(&member(&rules, ALICE, BOB, "ban")));
    assert!(!is_power_event(&member(&rules, BOB, BOB, "leave")));
    assert!(!is_power_event(&member(&rules, ALICE, BOB, "invite")));
    assert!(!is_power_event(&pdu(
        &rules,
        ALICE,
        "m.room.join_rules",
        Some("x"),
        json!({})
    )));
    assert!(!is_power_event(&message(&rules, ALICE)));
}

#[test]
fn odd_json_is_read_leniently_and_never_panics() {
    let rules = RoomRules::V11;
    let room = Room::with_rule(rules, "public").joined(BOB);
    let stringy_content = pdu(&rules, BOB, "m.room.member", Some(BOB), json!("join"));
    check(&room, &stringy_content, Err(AuthError::MalformedMembership));
    // A numeric state_key is no state_key: the event is checked as a message.
    let numeric_state_key = set_field(message(&rules, BOB), "state_key", json!(5));
    check(&room, &numeric_state_key, Ok(()));
    let nested = pdu(
        &rules,
        ALICE,
        "m.room.power_levels",
        Some(""),
        json!({"users": {BOB: [1]}}),
    );
    let error = crate::proto::auth::PowerLevelsError::NotAnInteger(format!("users.{BOB}"));
    check(&room, &nested, Err(AuthError::InvalidPowerLevels(error)));
    // Unreadable values in the power levels of the state fall back to the defaults.
    let odd_state = Room::with_rule(rules, "public").joined(BOB).set(pdu(
        &rules,
        ALICE,
        "m.room.power_levels",
        Some(""),
        json!({"users": [BOB], "events_default": "x"}),
    ));
    check(&odd_state, &message(&rules, BOB), Ok(()));
    let display = AuthError::TargetPowerNotLower {
        sender_level: 100,
        target_level: i64::MAX,
    };
    assert_eq!(
        display.to_string(),
        "target's power level infinite (room creator) is not below the sender's 100"
    );
}
