//! Third-party invites (rule 5.4.1), signed with a real ed25519 key, and rule 2 over an
//! event's `auth_events` list with the auth events selection.

use serde_json::{Value, json};

use super::{
    ALICE, BOB, CAROL, Room, check, create, member, member_with, object, pdu, room_id, set_field,
};
use crate::proto::auth::{AuthError, ThirdPartyInviteError, check_auth_events};
use crate::proto::pdu::Pdu;
use crate::proto::room_version::RoomRules;
use crate::proto::signing::{SigningKey, sign_json};

fn identity_server_key(seed_byte: u8) -> SigningKey {
    SigningKey::from_seed("1", [seed_byte; 32]).unwrap()
}

/// The `m.room.third_party_invite` Alice sent for token `tok`, with `key_content` as keys.
fn invite_event(rules: &RoomRules, key_content: Value) -> Pdu {
    pdu(
        rules,
        ALICE,
        "m.room.third_party_invite",
        Some("tok"),
        key_content,
    )
}

/// An invite of `mxid` by `sender` whose `signed` block is signed by `key`.
fn signed_invite(rules: &RoomRules, sender: &str, mxid: &str, key: Option<&SigningKey>) -> Pdu {
    let mut signed = object(json!({"mxid": mxid, "token": "tok"}));
    if let Some(key) = key {
        assert_eq!(sign_json(&mut signed, "id.example", key), Ok(()));
    }
    let content = json!({
        "membership": "invite",
        "third_party_invite": {"display_name": "b...@example.org", "signed": signed},
    });
    member_with(rules, sender, mxid, content)
}

fn rejected(reason: ThirdPartyInviteError) -> Result<(), AuthError> {
    Err(AuthError::ThirdPartyInvite(reason))
}

#[test]
fn third_party_invite_with_valid_and_bad_signatures() {
    let (key, other_key) = (identity_server_key(7), identity_server_key(8));
    for rules in [RoomRules::V1, RoomRules::V11, RoomRules::V12] {
        let single = json!({"public_key": key.public_key_base64()});
        let room = Room::with_rule(rules, "invite").set(invite_event(&rules, single));
        check(
            &room,
            &signed_invite(&rules, ALICE, BOB, Some(&key)),
            Ok(()),
        );
        check(
            &room,
            &signed_invite(&rules, ALICE, BOB, Some(&other_key)),
            rejected(ThirdPartyInviteError::NoValidSignature),
        );
        check(
            &room,
            &signed_invite(&rules, ALICE, BOB, None),
            rejected(ThirdPartyInviteError::NoValidSignature),
        );
        // Keys may also come as a list, in URL-safe base64.
        let url_safe = key.public_key_base64().replace('+', "-").replace('/', "_");
        let listed = json!({"public_key": other_key.public_key_base64(), "public_keys": [{"public_key": url_safe}]});
        let room = Room::with_rule(rules, "invite").set(invite_event(&rules, listed));
        check(
            &room,
            &signed_invite(&rules, ALICE, BOB, Some(&key)),
            Ok(()),
        );
    }
}

#[test]
fn third_party_invite_rejections() {
    let key = identity_server_key(7);
    let rules = RoomRules::V11;
    let keys = json!({"public_key": key.public_key_base64()});
    let room = Room::with_rule(rules, "invite").set(invite_event(&rules, keys.clone()));
    let wrong_mxid = {
        let invite = signed_invite(&rules, ALICE, BOB, Some(&key));
        let mut json = invite.into_json();
        json.insert("state_key".into(), json!(CAROL));
        Pdu::new("$wrong".into(), json)
    };
    check(
        &room,
        &wrong_mxid,
        rejected(ThirdPartyInviteError::MxidMismatch),
    );
    // Carol did not send the m.room.third_party_invite.
    check(
        &room,
        &signed_invite(&rules, CAROL, BOB, Some(&key)),
        rejected(ThirdPartyInviteError::SenderMismatch),
    );
    let no_invite = Room::with_rule(rules, "invite");
    check(
        &no_invite,
        &signed_invite(&rules, ALICE, BOB, Some(&key)),
        rejected(ThirdPartyInviteError::NoMatchingInvite),
    );
    let no_signed = member_with(
        &rules,
        ALICE,
        BOB,
        json!({"membership": "invite", "third_party_invite": {}}),
    );
    check(
        &room,
        &no_signed,
        rejected(ThirdPartyInviteError::MissingSigned),
    );
    let no_token = member_with(
        &rules,
        ALICE,
        BOB,
        json!({"membership": "invite", "third_party_invite": {"signed": {"mxid": BOB}}}),
    );
    check(
        &room,
        &no_token,
        rejected(ThirdPartyInviteError::MissingMxidOrToken),
    );
    let banned = Room::with_rule(rules, "invite")
        .set(invite_event(&rules, keys))
        .membership(BOB, "ban");
    check(
        &banned,
        &signed_invite(&rules, ALICE, BOB, Some(&key)),
        Err(AuthError::TargetBanned),
    );
}

// Rule 2: the auth events list.

fn state_of(rules: &RoomRules, kind: &str, state_key: &str) -> Pdu {
    pdu(rules, ALICE, kind, Some(state_key), json!({}))
}

#[test]
fn auth_events_follow_the_selection_for_the_membership() {
    let v11 = RoomRules::V11;
    let create11 = create(&v11, json!({}));
    let join_rules = state_of(&v11, "m.room.join_rules", "");
    let carol = member(&v11, CAROL, CAROL, "join");
    let content = json!({"membership": "join", "join_authorised_via_users_server": CAROL});
    let restricted = member_with(&v11, BOB, BOB, content);
    let cited = [&create11, &join_rules, &carol];
    assert_eq!(check_auth_events(&v11, &restricted, &cited), Ok(()));
    // A kick cites no join rules, and no third party's member event.
    let kick = member(&v11, ALICE, BOB, "leave");
    let unexpected = |kind: &str, state_key: &str| {
        Err(AuthError::UnexpectedAuthEvent {
            kind: kind.into(),
            state_key: state_key.into(),
        })
    };
    let with_join_rules = check_auth_events(&v11, &kick, &[&create11, &join_rules]);
    assert_eq!(with_join_rules, unexpected("m.room.join_rules", ""));
    assert_eq!(
        check_auth_events(&v11, &kick, &[&create11, &carol]),
        unexpected("m.room.member", CAROL)
    );
    // A create event cites nothing and is not checked here.
    assert_eq!(check_auth_events(&v11, &create11, &[]), Ok(()));
}

#[test]
fn auth_events_list_is_checked() {
    let v11 = RoomRules::V11;
    let join = member(&v11, BOB, BOB, "join");
    let create11 = create(&v11, json!({}));
    let levels = state_of(&v11, "m.room.power_levels", "");
    let join_rules = state_of(&v11, "m.room.join_rules", "");
    assert_eq!(
        check_auth_events(&v11, &join, &[&create11, &levels, &join_rules]),
        Ok(())
    );
    let duplicate = Err(AuthError::DuplicateAuthEvent {
        kind: "m.room.power_levels".into(),
        state_key: String::new(),
    });
    assert_eq!(
        check_auth_events(&v11, &join, &[&create11, &levels, &levels]),
        duplicate
    );
    let name = state_of(&v11, "m.room.name", "");
    let unexpected = Err(AuthError::UnexpectedAuthEvent {
        kind: "m.room.name".into(),
        state_key: String::new(),
    });
    assert_eq!(
        check_auth_events(&v11, &join, &[&create11, &name]),
        unexpected
    );
    assert_eq!(
        check_auth_events(&v11, &join, &[&levels]),
        Err(AuthError::MissingCreateEvent)
    );
    let foreign = set_field(
        state_of(&v11, "m.room.join_rules", ""),
        "room_id",
        json!("!other:a.example"),
    );
    let wrong_room = Err(AuthError::WrongRoom {
        event_id: foreign.event_id().to_string(),
    });
    assert_eq!(
        check_auth_events(&v11, &join, &[&create11, &foreign]),
        wrong_room
    );
    assert_eq!(room_id(&v11), "!room:a.example");
}

#[test]
fn v12_auth_events_must_not_include_the_create_event() {
    let v12 = RoomRules::V12;
    let join = member(&v12, BOB, BOB, "join");
    let levels = state_of(&v12, "m.room.power_levels", "");
    assert_eq!(check_auth_events(&v12, &join, &[&levels]), Ok(()));
    let create12 = create(&v12, json!({}));
    let unexpected = Err(AuthError::UnexpectedAuthEvent {
        kind: "m.room.create".into(),
        state_key: String::new(),
    });
    assert_eq!(
        check_auth_events(&v12, &join, &[&create12, &levels]),
        unexpected
    );
}
