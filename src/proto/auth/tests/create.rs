//! Rules 1–4: the create event (per version), the create event of the room (rule 2 as far
//! as the state shows it), `m.federate` (rule 3) and the v1–5 `m.room.aliases` rule.

use serde_json::json;

use super::{ALICE, BOB, CAROL, Room, check, create, member, message, pdu, set_field};
use crate::proto::auth::AuthError;
use crate::proto::room_version::RoomRules;
// Rule 1: create events.

#[test]
fn create_event_is_allowed_in_every_version() {
    for rules in RoomRules::ALL {
        check(&Room::bare(rules), &create(&rules, json!({})), Ok(()));
    }
}

#[test]
fn create_event_rejections() {
    let v10 = RoomRules::V10;
    let with_prev = set_field(
        create(&v10, json!({})),
        "prev_events",
        json!(["$x:a.example"]),
    );
    check(
        &Room::bare(v10),
        &with_prev,
        Err(AuthError::CreateHasPrevEvents),
    );
    let other_server = set_field(create(&v10, json!({})), "room_id", json!("!room:b.example"));
    check(
        &Room::bare(v10),
        &other_server,
        Err(AuthError::CreateRoomIdDomainMismatch),
    );
    let unknown = create(&v10, json!({"room_version": "99"}));
    check(
        &Room::bare(v10),
        &unknown,
        Err(AuthError::UnknownRoomVersion("\"99\"".into())),
    );
    let numeric = create(&v10, json!({"room_version": 10}));
    check(
        &Room::bare(v10),
        &numeric,
        Err(AuthError::UnknownRoomVersion("10".into())),
    );
}

#[test]
fn creator_is_required_until_v11() {
    for (rules, expect) in [
        (RoomRules::V10, Err(AuthError::CreateWithoutCreator)),
        (RoomRules::V11, Ok(())),
    ] {
        let event = pdu(
            &rules,
            ALICE,
            "m.room.create",
            Some(""),
            json!({"room_version": rules.version}),
        );
        let event = set_field(event, "prev_events", json!([]));
        check(&Room::bare(rules), &event, expect);
    }
}

#[test]
fn v12_create_has_no_room_id_and_valid_additional_creators() {
    let v12 = RoomRules::V12;
    let with_room_id = set_field(create(&v12, json!({})), "room_id", json!("!create"));
    check(
        &Room::bare(v12),
        &with_room_id,
        Err(AuthError::CreateHasRoomId),
    );
    let good = create(&v12, json!({"additional_creators": [BOB, "@x:[::1]:8448"]}));
    check(&Room::bare(v12), &good, Ok(()));
    for bad in [
        json!(["not-a-user"]),
        json!(BOB),
        json!([BOB, 5]),
        json!(["@nodomain"]),
    ] {
        let event = create(&v12, json!({ "additional_creators": bad }));
        check(
            &Room::bare(v12),
            &event,
            Err(AuthError::InvalidAdditionalCreators),
        );
    }
    // v11 has no additional creators: the field is just content.
    let v11 = RoomRules::V11;
    check(
        &Room::bare(v11),
        &create(&v11, json!({"additional_creators": 5})),
        Ok(()),
    );
}

// Rule 2 (as far as the state shows it) and rule 3.

#[test]
fn event_needs_the_create_event_of_its_room() {
    for rules in [RoomRules::V11, RoomRules::V12] {
        let mut room = Room::bare(rules);
        let event = message(&rules, ALICE);
        check(&room, &event, Ok(()));
        let foreign = set_field(message(&rules, ALICE), "room_id", json!("!other:a.example"));
        let create_id = room.state[0].event_id().to_string();
        check(
            &room,
            &foreign,
            Err(AuthError::WrongRoom {
                event_id: create_id,
            }),
        );
        room.state.retain(|pdu| pdu.kind() != "m.room.create");
        check(&room, &event, Err(AuthError::MissingCreateEvent));
    }
}

#[test]
fn m_federate_false_keeps_other_servers_out() {
    let rules = RoomRules::V11;
    let closed = Room::with_rule(rules, "public").set(create(&rules, json!({"m.federate": false})));
    let open = Room::with_rule(rules, "public");
    let remote_join = member(&rules, BOB, BOB, "join");
    check(&closed, &remote_join, Err(AuthError::RoomNotFederated));
    check(&open, &remote_join, Ok(()));
    check(&closed, &member(&rules, CAROL, CAROL, "join"), Ok(()));
    // Only the boolean `false` closes the room (spec: "set to false").
    let stringy =
        Room::with_rule(rules, "public").set(create(&rules, json!({"m.federate": "false"})));
    check(&stringy, &remote_join, Ok(()));
}

// Rule 4 (v1–5): m.room.aliases.

#[test]
fn aliases_special_case_ends_in_v6() {
    let (v5, v6) = (RoomRules::V5, RoomRules::V6);
    let own_server =
        |rules: &RoomRules| pdu(rules, BOB, "m.room.aliases", Some("b.example"), json!({}));
    // v5: a non-member may set its own server's aliases, and only those.
    check(&Room::with_rule(v5, "invite"), &own_server(&v5), Ok(()));
    let foreign = pdu(&v5, BOB, "m.room.aliases", Some("a.example"), json!({}));
    check(
        &Room::with_rule(v5, "invite"),
        &foreign,
        Err(AuthError::AliasesStateKeyMismatch),
    );
    // v6: an ordinary state event.
    check(
        &Room::with_rule(v6, "invite"),
        &own_server(&v6),
        Err(AuthError::SenderNotJoined),
    );
    let by_admin = pdu(&v6, ALICE, "m.room.aliases", Some("b.example"), json!({}));
    check(&Room::with_rule(v6, "invite"), &by_admin, Ok(()));
}
