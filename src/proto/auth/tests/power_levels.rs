//! Power levels (rule 10 in v12): changes bounded by the sender's level, `notifications`
//! from v6, strings in v1–9 versus integers in v10+, floats in v1–5, and v12 creators.

use serde_json::{Value, json};

use super::{ALICE, BOB, CAROL, DAVE, Room, check, create, pdu};
use crate::proto::auth::{AuthError, PowerLevels, PowerLevelsError, power_level_of_user};
use crate::proto::pdu::Pdu;
use crate::proto::room_version::RoomRules;

fn power_levels(rules: &RoomRules, sender: &str, content: Value) -> Pdu {
    pdu(rules, sender, "m.room.power_levels", Some(""), content)
}

fn change(key: &str, sender_level: i64) -> Result<(), AuthError> {
    Err(AuthError::PowerLevelChange {
        key: key.to_string(),
        sender_level,
    })
}

/// Carol (50) edits the standard levels ({Alice: 100, Carol: 50} plus `extra` users).
fn carol_sets(rules: &RoomRules, content: Value) -> Pdu {
    power_levels(rules, CAROL, content)
}

#[test]
fn first_power_levels_event_is_allowed() {
    let rules = RoomRules::V11;
    let event = power_levels(
        &rules,
        ALICE,
        json!({"users": {ALICE: 100, BOB: 100}, "ban": 100}),
    );
    check(&Room::bare(rules), &event, Ok(()));
}

#[test]
fn changes_above_own_level_are_rejected() {
    for rules in [RoomRules::V1, RoomRules::V10] {
        let room = Room::with_rule(rules, "public")
            .levels(json!({"users": {ALICE: 100, CAROL: 50, DAVE: 50}, "state_default": 50, "kick": 50}))
            .joined(DAVE);
        let users = json!({ALICE: 100, CAROL: 50, DAVE: 50});
        let with = |extra: Value| {
            let mut content = json!({"users": users, "state_default": 50, "kick": 50});
            if let (Some(content), Value::Object(extra)) = (content.as_object_mut(), extra) {
                content.extend(extra);
            }
            carol_sets(&rules, content)
        };
        check(&room, &with(json!({})), Ok(()));
        check(&room, &with(json!({"kick": 40})), Ok(()));
        check(&room, &with(json!({"ban": 75})), change("ban", 50));
        check(
            &room,
            &with(json!({"events": {"m.room.name": 51}})),
            change("events.m.room.name", 50),
        );
        check(&room, &with(json!({"events": {"m.room.name": 50}})), Ok(()));
        check(
            &room,
            &with(json!({"users": {ALICE: 100, CAROL: 50, DAVE: 50, BOB: 60}})),
            change(&format!("users.{BOB}"), 50),
        );
        check(
            &room,
            &with(json!({"users": {ALICE: 100, CAROL: 50, DAVE: 50, BOB: 50}})),
            Ok(()),
        );
        // Dave's level equals Carol's: she can neither lower nor remove it.
        check(
            &room,
            &with(json!({"users": {ALICE: 100, CAROL: 50, DAVE: 0}})),
            change(&format!("users.{DAVE}"), 50),
        );
        check(
            &room,
            &with(json!({"users": {ALICE: 100, CAROL: 50}})),
            change(&format!("users.{DAVE}"), 50),
        );
        // Her own entry she may lower.
        check(
            &room,
            &with(json!({"users": {ALICE: 100, CAROL: 10, DAVE: 50}})),
            Ok(()),
        );
        check(
            &room,
            &with(json!({"users": {ALICE: 0, CAROL: 50, DAVE: 50}})),
            change(&format!("users.{ALICE}"), 50),
        );
    }
}

#[test]
fn power_levels_with_another_state_key_replace_nothing() {
    let rules = RoomRules::V11;
    let room = Room::with_rule(rules, "public");
    let content = json!({"users": {CAROL: 100}, "ban": 100});
    check(
        &room,
        &pdu(
            &rules,
            CAROL,
            "m.room.power_levels",
            Some("x"),
            content.clone(),
        ),
        Ok(()),
    );
    check(
        &room,
        &pdu(&rules, CAROL, "m.room.power_levels", Some(""), content),
        change("ban", 50),
    );
}

#[test]
fn removing_a_level_above_own_is_rejected() {
    let rules = RoomRules::V11;
    let room = Room::with_rule(rules, "public")
        .levels(json!({"events": {"m.room.tombstone": 100}, "redact": 100}));
    let users = json!({ALICE: 100, CAROL: 50});
    check(
        &room,
        &carol_sets(&rules, json!({"users": users, "redact": 100})),
        change("events.m.room.tombstone", 50),
    );
    let events = json!({"m.room.tombstone": 100});
    check(
        &room,
        &carol_sets(&rules, json!({"users": users, "events": events})),
        change("redact", 50),
    );
}

#[test]
fn notifications_are_guarded_from_v6() {
    for (rules, expect) in [
        (RoomRules::V5, Ok(())),
        (RoomRules::V6, change("notifications.room", 50)),
    ] {
        let room = Room::with_rule(rules, "public");
        let event = carol_sets(
            &rules,
            json!({"users": {ALICE: 100, CAROL: 50}, "notifications": {"room": 100}}),
        );
        check(&room, &event, expect);
    }
}

#[test]
fn string_levels_are_accepted_until_v10() {
    let content = json!({"users": {ALICE: "100", CAROL: " +050 "}, "ban": "50", "events": {"m.room.name": "0"}});
    let v9 = RoomRules::V9;
    check(
        &Room::bare(v9),
        &power_levels(&v9, ALICE, content.clone()),
        Ok(()),
    );
    let v10 = RoomRules::V10;
    let not_integer = Err(AuthError::InvalidPowerLevels(
        PowerLevelsError::NotAnInteger("ban".into()),
    ));
    check(
        &Room::bare(v10),
        &power_levels(&v10, ALICE, content),
        not_integer,
    );
    // In a v9 room, string levels in the state count as their numbers.
    let room = Room::with_rule(v9, "public").set(power_levels(
        &v9,
        ALICE,
        json!({"users": {CAROL: "60"}, "ban": "55"}),
    ));
    check(
        &room,
        &super::member(&v9, CAROL, "@eve:e.example", "ban"),
        Ok(()),
    );
    let levels = PowerLevels::parse(
        &v9,
        json!({"users": {CAROL: "0100"}})
            .as_object()
            .unwrap_or(&Default::default()),
    );
    assert_eq!(levels.map(|levels| levels.user_level(CAROL)), Ok(100));
}

#[test]
fn unreadable_levels_are_rejected() {
    let v9 = RoomRules::V9;
    let invalid = |error| Err(AuthError::InvalidPowerLevels(error));
    let cases = [
        (
            json!({"users": {ALICE: "1.5"}}),
            PowerLevelsError::NotAnInteger(format!("users.{ALICE}")),
        ),
        (
            json!({"users": {"alice": 100}}),
            PowerLevelsError::InvalidUserId("alice".into()),
        ),
        (
            json!({"users": [ALICE]}),
            PowerLevelsError::NotAnObject("users"),
        ),
        (
            json!({"kick": "fifty"}),
            PowerLevelsError::NotAnInteger("kick".into()),
        ),
        (
            json!({"invite": true}),
            PowerLevelsError::NotAnInteger("invite".into()),
        ),
    ];
    for (content, error) in cases {
        check(
            &Room::bare(v9),
            &power_levels(&v9, ALICE, content),
            invalid(error),
        );
    }
    let v10 = RoomRules::V10;
    let stringy_events = power_levels(&v10, ALICE, json!({"events": {"m.room.name": "50"}}));
    check(
        &Room::bare(v10),
        &stringy_events,
        invalid(PowerLevelsError::NotAnInteger("events.m.room.name".into())),
    );
}

#[test]
fn floats_are_truncated_until_v6() {
    let content = json!({"users": {ALICE: 100, BOB: 50.57}});
    let v5 = RoomRules::V5;
    let parsed = PowerLevels::parse(&v5, content.as_object().unwrap_or(&Default::default()));
    assert_eq!(parsed.map(|levels| levels.user_level(BOB)), Ok(50));
    check(
        &Room::bare(v5),
        &power_levels(&v5, ALICE, content.clone()),
        Ok(()),
    );
    let v6 = RoomRules::V6;
    let error = PowerLevelsError::NotAnInteger(format!("users.{BOB}"));
    check(
        &Room::bare(v6),
        &power_levels(&v6, ALICE, content),
        Err(AuthError::InvalidPowerLevels(error)),
    );
}

#[test]
fn v12_creators_are_not_listed_and_have_infinite_power() {
    let rules = RoomRules::V12;
    let room = Room::with_rule(rules, "public")
        .set(create(&rules, json!({"additional_creators": [BOB]})))
        .levels(json!({"users": {CAROL: 100}}))
        .joined(BOB);
    // Carol (100) cannot demote a creator: creators cannot be listed at all.
    let demote = power_levels(&rules, CAROL, json!({"users": {CAROL: 100, ALICE: 0}}));
    check(
        &room,
        &demote,
        Err(AuthError::CreatorInPowerLevels {
            user_id: ALICE.into(),
        }),
    );
    let list_bob = power_levels(&rules, ALICE, json!({"users": {CAROL: 100, BOB: 100}}));
    check(
        &room,
        &list_bob,
        Err(AuthError::CreatorInPowerLevels {
            user_id: BOB.into(),
        }),
    );
    // A creator may set any level.
    let huge = power_levels(&rules, ALICE, json!({"users": {CAROL: 1000}, "ban": 9000}));
    check(&room, &huge, Ok(()));
    // v11 has no such rule: the creator is listed like anyone.
    let v11 = RoomRules::V11;
    let listed = power_levels(&v11, ALICE, json!({"users": {ALICE: 100}}));
    check(&Room::with_rule(v11, "public"), &listed, Ok(()));
}

#[test]
fn power_level_of_user_follows_the_version() {
    let (v11, v12) = (RoomRules::V11, RoomRules::V12);
    let create11 = create(&v11, json!({}));
    assert_eq!(power_level_of_user(&v11, Some(&create11), None, ALICE), 100);
    assert_eq!(power_level_of_user(&v11, Some(&create11), None, BOB), 0);
    let levels = power_levels(&v11, ALICE, json!({"users": {BOB: 20}, "users_default": 5}));
    assert_eq!(
        power_level_of_user(&v11, Some(&create11), Some(&levels), ALICE),
        5
    );
    assert_eq!(
        power_level_of_user(&v11, Some(&create11), Some(&levels), BOB),
        20
    );
    let create12 = create(&v12, json!({"additional_creators": [BOB]}));
    let levels12 = power_levels(&v12, ALICE, json!({"users": {CAROL: 20}}));
    for creator in [ALICE, BOB] {
        assert_eq!(
            power_level_of_user(&v12, Some(&create12), Some(&levels12), creator),
            i64::MAX
        );
        assert_eq!(
            power_level_of_user(&v12, Some(&create12), None, creator),
            i64::MAX
        );
    }
    assert_eq!(
        power_level_of_user(&v12, Some(&create12), Some(&levels12), CAROL),
        20
    );
    assert_eq!(power_level_of_user(&v12, Some(&create12), None, CAROL), 0);
    // v1–10 name the creator in content; v11 ignores it.
    let v10 = RoomRules::V10;
    let create10 = create(&v10, json!({"creator": CAROL}));
    assert_eq!(power_level_of_user(&v10, Some(&create10), None, CAROL), 100);
    assert_eq!(power_level_of_user(&v10, Some(&create10), None, ALICE), 0);
}
