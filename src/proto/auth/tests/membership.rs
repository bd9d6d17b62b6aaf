//! Membership rules (rule 5 in v12): joins under each join rule, invites, leaves, kicks,
//! bans and knocks, for the room versions where they differ.

use serde_json::json;

use super::{ALICE, BOB, CAROL, DAVE, Room, check, create, member, member_with, pdu, set_field};
use crate::proto::auth::{Action, AuthError};
use crate::proto::room_version::RoomRules;

fn not_allowed(join_rule: &str) -> Result<(), AuthError> {
    Err(AuthError::JoinNotAllowed {
        join_rule: join_rule.to_string(),
    })
}

#[test]
fn creator_joins_right_after_create() {
    for rules in RoomRules::ALL {
        let room = Room {
            rules,
            state: vec![create(&rules, json!({}))],
        };
        let create_id = room.state[0].event_id().to_string();
        let first_join = |user| {
            set_field(
                member(&rules, user, user, "join"),
                "prev_events",
                json!([create_id]),
            )
        };
        check(&room, &first_join(ALICE), Ok(()));
        // Without join rules the room is invite-only, so no one else gets in that way.
        check(&room, &first_join(BOB), not_allowed("invite"));
    }
}

#[test]
fn v11_first_join_belongs_to_the_create_sender_not_creator() {
    for (rules, expect) in [
        (RoomRules::V10, Ok(())),
        (RoomRules::V11, not_allowed("invite")),
    ] {
        let create = create(&rules, json!({"creator": CAROL}));
        let create_id = create.event_id().to_string();
        let room = Room {
            rules,
            state: vec![create],
        };
        let join = set_field(
            member(&rules, CAROL, CAROL, "join"),
            "prev_events",
            json!([create_id]),
        );
        check(&room, &join, expect);
    }
}

#[test]
fn join_public_and_invite_rooms() {
    for rules in RoomRules::ALL {
        let join = member(&rules, BOB, BOB, "join");
        check(&Room::with_rule(rules, "public"), &join, Ok(()));
        check(
            &Room::with_rule(rules, "invite"),
            &join,
            not_allowed("invite"),
        );
        check(
            &Room::with_rule(rules, "invite").membership(BOB, "invite"),
            &join,
            Ok(()),
        );
        check(
            &Room::with_rule(rules, "private"),
            &join,
            not_allowed("private"),
        );
        let banned = Room::with_rule(rules, "public").membership(BOB, "ban");
        check(&banned, &join, Err(AuthError::SenderBanned));
        let forced = member(&rules, ALICE, BOB, "join");
        check(
            &Room::with_rule(rules, "public"),
            &forced,
            Err(AuthError::SenderIsNotTarget),
        );
    }
}

#[test]
fn knock_join_rule_admits_the_invited_from_v7() {
    for (rules, expect) in [
        (RoomRules::V6, not_allowed("knock")),
        (RoomRules::V7, Ok(())),
    ] {
        let room = Room::with_rule(rules, "knock").membership(BOB, "invite");
        check(&room, &member(&rules, BOB, BOB, "join"), expect);
    }
    let rules = RoomRules::V7;
    check(
        &Room::with_rule(rules, "knock"),
        &member(&rules, BOB, BOB, "join"),
        not_allowed("knock"),
    );
}

/// A join to a restricted room authorised by `authoriser`, signed by its server.
fn restricted_join(rules: &RoomRules, authoriser: &str) -> crate::proto::pdu::Pdu {
    let content = json!({"membership": "join", "join_authorised_via_users_server": authoriser});
    let event = member_with(rules, BOB, BOB, content);
    let server_name = authoriser.split_once(':').map_or("", |(_, server)| server);
    let signatures =
        json!({"b.example": {"ed25519:1": "c2ln"}, server_name: {"ed25519:1": "c2ln"}});
    set_field(event, "signatures", signatures)
}

#[test]
fn restricted_join_needs_a_joined_authoriser_who_can_invite() {
    for rules in [RoomRules::V8, RoomRules::V10, RoomRules::V12] {
        let room = Room::with_rule(rules, "restricted")
            .levels(json!({"invite": 50}))
            .joined(DAVE);
        check(&room, &restricted_join(&rules, ALICE), Ok(()));
        check(&room, &restricted_join(&rules, CAROL), Ok(()));
        // Dave is joined but below the invite level; Bob's own server is not in the room.
        check(
            &room,
            &restricted_join(&rules, DAVE),
            Err(AuthError::InvalidAuthorisingUser),
        );
        let absent = "@eve:a.example";
        check(
            &room,
            &restricted_join(&rules, absent),
            Err(AuthError::InvalidAuthorisingUser),
        );
        let unauthorised = member(&rules, BOB, BOB, "join");
        check(&room, &unauthorised, Err(AuthError::InvalidAuthorisingUser));
        // An invited user needs no authoriser.
        check(&room.membership(BOB, "invite"), &unauthorised, Ok(()));
        // Rule 5.2: the authorising user's server must have signed.
        let unsigned = member_with(
            &rules,
            BOB,
            BOB,
            json!({"membership": "join", "join_authorised_via_users_server": ALICE}),
        );
        let room = Room::with_rule(rules, "restricted");
        check(
            &room,
            &unsigned,
            Err(AuthError::AuthorisingServerNotSigned(format!(
                "\"{ALICE}\""
            ))),
        );
    }
}

#[test]
fn restricted_and_knock_restricted_arrive_in_v8_and_v10() {
    let cases = [
        (RoomRules::V7, "restricted", not_allowed("restricted")),
        (RoomRules::V8, "restricted", Ok(())),
        (
            RoomRules::V9,
            "knock_restricted",
            not_allowed("knock_restricted"),
        ),
        (RoomRules::V10, "knock_restricted", Ok(())),
    ];
    for (rules, join_rule, expect) in cases {
        check(
            &Room::with_rule(rules, join_rule),
            &restricted_join(&rules, ALICE),
            expect,
        );
    }
}

#[test]
fn invites() {
    for rules in [RoomRules::V1, RoomRules::V11, RoomRules::V12] {
        let room = Room::with_rule(rules, "invite")
            .levels(json!({"invite": 50}))
            .joined(DAVE);
        check(&room, &member(&rules, ALICE, BOB, "invite"), Ok(()));
        check(&room, &member(&rules, CAROL, BOB, "invite"), Ok(()));
        let expect = Err(AuthError::InsufficientPower {
            action: Action::Invite,
            required: 50,
            sender_level: 0,
        });
        check(&room, &member(&rules, DAVE, BOB, "invite"), expect);
        let outsider = member(&rules, "@eve:e.example", BOB, "invite");
        check(&room, &outsider, Err(AuthError::SenderNotJoined));
        check(
            &room,
            &member(&rules, ALICE, DAVE, "invite"),
            Err(AuthError::TargetAlreadyJoined),
        );
        let banned = Room::with_rule(rules, "invite").membership(BOB, "ban");
        check(
            &banned,
            &member(&rules, ALICE, BOB, "invite"),
            Err(AuthError::TargetBanned),
        );
    }
}

#[test]
fn leaving_on_ones_own() {
    for rules in [RoomRules::V6, RoomRules::V7] {
        let room = |membership| Room::with_rule(rules, "invite").membership(BOB, membership);
        let leave = member(&rules, BOB, BOB, "leave");
        check(&room("join"), &leave, Ok(()));
        check(&room("invite"), &leave, Ok(()));
        let not_member = Err(AuthError::LeaveNotAllowed { membership: None });
        check(&Room::with_rule(rules, "invite"), &leave, not_member);
        let was_banned = Err(AuthError::LeaveNotAllowed {
            membership: Some("ban".into()),
        });
        check(&room("ban"), &leave, was_banned);
    }
    // Retracting a knock (v7+).
    let rules = RoomRules::V7;
    let knocked = Room::with_rule(rules, "knock").membership(BOB, "knock");
    check(&knocked, &member(&rules, BOB, BOB, "leave"), Ok(()));
}

#[test]
fn kicks_compare_power_levels() {
    let rules = RoomRules::V11;
    let room = Room::with_rule(rules, "public")
        .levels(json!({"users": {ALICE: 100, CAROL: 50, DAVE: 50}}))
        .joined(DAVE)
        .joined(BOB);
    check(&room, &member(&rules, ALICE, BOB, "leave"), Ok(()));
    check(&room, &member(&rules, CAROL, BOB, "leave"), Ok(()));
    let equal = Err(AuthError::TargetPowerNotLower {
        sender_level: 50,
        target_level: 50,
    });
    check(&room, &member(&rules, CAROL, DAVE, "leave"), equal);
    let weak = Err(AuthError::InsufficientPower {
        action: Action::Kick,
        required: 50,
        sender_level: 0,
    });
    check(&room, &member(&rules, BOB, CAROL, "leave"), weak);
    let outsider = member(&rules, "@eve:e.example", BOB, "leave");
    check(&room, &outsider, Err(AuthError::SenderNotJoined));
}

#[test]
fn unban_needs_the_ban_level() {
    let rules = RoomRules::V11;
    let room = Room::with_rule(rules, "public")
        .levels(json!({"ban": 75}))
        .membership(BOB, "ban");
    let unban = |sender| member(&rules, sender, BOB, "leave");
    let expect = Err(AuthError::InsufficientPower {
        action: Action::Unban,
        required: 75,
        sender_level: 50,
    });
    check(&room, &unban(CAROL), expect);
    check(&room, &unban(ALICE), Ok(()));
}

#[test]
fn bans_compare_power_levels() {
    for rules in [RoomRules::V3, RoomRules::V11] {
        let room = Room::with_rule(rules, "public").joined(BOB);
        check(&room, &member(&rules, ALICE, BOB, "ban"), Ok(()));
        check(
            &room,
            &member(&rules, CAROL, "@eve:e.example", "ban"),
            Ok(()),
        );
        let upward = Err(AuthError::TargetPowerNotLower {
            sender_level: 50,
            target_level: 100,
        });
        check(&room, &member(&rules, CAROL, ALICE, "ban"), upward);
        let weak = Err(AuthError::InsufficientPower {
            action: Action::Ban,
            required: 50,
            sender_level: 0,
        });
        check(&room, &member(&rules, BOB, CAROL, "ban"), weak);
        let outsider = member(&rules, "@eve:e.example", BOB, "ban");
        check(&room, &outsider, Err(AuthError::SenderNotJoined));
    }
}

#[test]
fn knocking_arrives_in_v7() {
    let knock = |rules: &RoomRules| member(rules, BOB, BOB, "knock");
    let v6 = RoomRules::V6;
    check(
        &Room::with_rule(v6, "knock"),
        &knock(&v6),
        Err(AuthError::UnknownMembership("knock".into())),
    );
    let v7 = RoomRules::V7;
    check(&Room::with_rule(v7, "knock"), &knock(&v7), Ok(()));
    let public = Err(AuthError::KnockNotAllowed {
        join_rule: "public".into(),
    });
    check(&Room::with_rule(v7, "public"), &knock(&v7), public);
    check(
        &Room::with_rule(v7, "knock"),
        &member(&v7, ALICE, BOB, "knock"),
        Err(AuthError::SenderIsNotTarget),
    );
    for membership in ["invite", "join", "ban"] {
        let room = Room::with_rule(v7, "knock").membership(BOB, membership);
        check(
            &room,
            &knock(&v7),
            Err(AuthError::KnockFromMembership(membership.into())),
        );
    }
    let knock_restricted = |rules: RoomRules| Room::with_rule(rules, "knock_restricted");
    let v9_rejects = Err(AuthError::KnockNotAllowed {
        join_rule: "knock_restricted".into(),
    });
    check(
        &knock_restricted(RoomRules::V9),
        &knock(&RoomRules::V9),
        v9_rejects,
    );
    check(
        &knock_restricted(RoomRules::V10),
        &knock(&RoomRules::V10),
        Ok(()),
    );
}

#[test]
fn malformed_and_unknown_memberships() {
    let rules = RoomRules::V11;
    let room = Room::with_rule(rules, "public");
    check(
        &room,
        &member(&rules, BOB, BOB, "dance"),
        Err(AuthError::UnknownMembership("dance".into())),
    );
    let no_membership = member_with(&rules, BOB, BOB, json!({}));
    check(&room, &no_membership, Err(AuthError::MalformedMembership));
    let no_state_key = pdu(
        &rules,
        BOB,
        "m.room.member",
        None,
        json!({"membership": "join"}),
    );
    check(&room, &no_state_key, Err(AuthError::MalformedMembership));
}

#[test]
fn v12_creators_cannot_be_kicked_or_banned() {
    let rules = RoomRules::V12;
    let room = Room::with_rule(rules, "public")
        .set(create(&rules, json!({"additional_creators": [BOB]})))
        .levels(json!({"users": {CAROL: 100}}))
        .joined(BOB);
    let infinite = |sender_level| {
        Err(AuthError::TargetPowerNotLower {
            sender_level,
            target_level: i64::MAX,
        })
    };
    check(&room, &member(&rules, CAROL, ALICE, "ban"), infinite(100));
    check(&room, &member(&rules, CAROL, BOB, "leave"), infinite(100));
    // Creators are equal: one cannot kick the other.
    check(
        &room,
        &member(&rules, ALICE, BOB, "leave"),
        infinite(i64::MAX),
    );
    check(&room, &member(&rules, BOB, CAROL, "ban"), Ok(()));
}
