//! Push rules through the API on the real binary: the default set, edits, and their effect
//! on `unread_notifications` and on `m.push_rules` account data in `/sync`.

mod support;

use serde_json::{Value, json};
use support::client::{encode, open_server, register};

fn rule_ids(rules: &Value) -> Vec<&str> {
    rules
        .as_array()
        .unwrap()
        .iter()
        .map(|rule| rule["rule_id"].as_str().unwrap())
        .collect()
}

#[test]
fn default_rules_are_served() {
    let server = open_server("pushrules-default");
    let alice = register(&server, "alice");
    let (status, body) = alice.get(&server, "/_matrix/client/v3/pushrules/");
    assert_eq!(status, 200, "{body}");
    let global = &body["global"];
    let overrides = rule_ids(&global["override"]);
    assert_eq!(overrides.first(), Some(&".m.rule.master"));
    for id in [
        ".m.rule.suppress_notices",
        ".m.rule.invite_for_me",
        ".m.rule.member_event",
        ".m.rule.is_user_mention",
        ".m.rule.contains_display_name",
        ".m.rule.is_room_mention",
        ".m.rule.roomnotif",
        ".m.rule.tombstone",
        ".m.rule.reaction",
        ".m.rule.room.server_acl",
        ".m.rule.suppress_edits",
    ] {
        assert!(overrides.contains(&id), "{id} missing from {overrides:?}");
    }
    assert_eq!(global["override"][0]["enabled"], false);
    assert_eq!(
        global["content"][0]["rule_id"],
        ".m.rule.contains_user_name"
    );
    assert_eq!(global["content"][0]["pattern"], "alice");
    assert_eq!(
        rule_ids(&global["underride"]),
        vec![
            ".m.rule.call",
            ".m.rule.encrypted_room_one_to_one",
            ".m.rule.room_one_to_one",
            ".m.rule.message",
            ".m.rule.encrypted"
        ]
    );
    // The invite rule names this user.
    let invite = global["override"]
        .as_array()
        .unwrap()
        .iter()
        .find(|rule| rule["rule_id"] == ".m.rule.invite_for_me")
        .unwrap();
    assert!(invite["conditions"].to_string().contains(&alice.user_id));
    // An initial sync carries the defaults as m.push_rules account data.
    let sync = alice.sync(&server, None, 0);
    let push_rules = sync["account_data"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["type"] == "m.push_rules")
        .unwrap_or_else(|| panic!("no m.push_rules in {sync}"));
    assert_eq!(&push_rules["content"]["global"], global);
    // The same through /pushrules/global/ and a single rule.
    let (status, same) = alice.get(&server, "/_matrix/client/v3/pushrules/global/");
    assert_eq!((status, &same), (200, global));
    let (status, rule) = alice.get(
        &server,
        "/_matrix/client/v3/pushrules/global/underride/.m.rule.message",
    );
    assert_eq!((status, rule["actions"].clone()), (200, json!(["notify"])));
    let (status, body) = alice.get(&server, "/_matrix/client/v3/pushrules/global/override/nope");
    assert_eq!(
        (status, body["errcode"].as_str()),
        (404, Some("M_NOT_FOUND"))
    );
    let (status, _) = alice.get(&server, "/_matrix/client/v3/pushrules/global/sideways/x");
    assert_eq!(status, 400);
}

#[test]
fn edits_change_notifications_and_reach_sync() {
    let server = open_server("pushrules-edit");
    let alice = register(&server, "alice");
    let bob = register(&server, "bob");
    let carol = register(&server, "carol");
    let room_id = alice.create_room(&server, json!({"preset": "public_chat"}));
    bob.join(&server, &room_id);
    carol.join(&server, &room_id);
    let since = bob.sync(&server, None, 0)["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();

    // Bob silences the room with a room rule.
    let room_rule = format!(
        "/_matrix/client/v3/pushrules/global/room/{}",
        encode(&room_id)
    );
    let (status, body) = bob.put(&server, &room_rule, json!({"actions": []}));
    assert_eq!(status, 200, "{body}");
    alice.send_text(&server, &room_id, "quiet please");
    let sync = bob.sync(&server, Some(&since), 5_000);
    let counts = &sync["rooms"]["join"][&room_id]["unread_notifications"];
    assert_eq!(counts["notification_count"], 0, "{sync}");
    // The edit reaches Bob's clients as m.push_rules account data.
    let push_rules = sync["account_data"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["type"] == "m.push_rules")
        .unwrap_or_else(|| panic!("no m.push_rules in {sync}"));
    assert_eq!(
        push_rules["content"]["global"]["room"][0]["rule_id"],
        room_id
    );

    // Disabled, the room rule no longer applies: the message notifies again.
    let (status, _) = bob.put(
        &server,
        &format!("{room_rule}/enabled"),
        json!({"enabled": false}),
    );
    assert_eq!(status, 200);
    let (status, body) = bob.get(&server, &format!("{room_rule}/enabled"));
    assert_eq!((status, body["enabled"].clone()), (200, json!(false)));
    let sync = bob.sync(&server, None, 0);
    assert_eq!(
        sync["rooms"]["join"][&room_id]["unread_notifications"]["notification_count"],
        1
    );

    // Actions of a default rule: make every message highlight.
    let message_rule = "/_matrix/client/v3/pushrules/global/underride/.m.rule.message";
    let (status, _) = bob.put(
        &server,
        &format!("{message_rule}/actions"),
        json!({"actions": ["notify", {"set_tweak": "highlight"}]}),
    );
    assert_eq!(status, 200);
    let (_, body) = bob.get(&server, &format!("{message_rule}/actions"));
    assert_eq!(
        body["actions"],
        json!(["notify", {"set_tweak": "highlight"}])
    );
    let sync = bob.sync(&server, None, 0);
    assert_eq!(
        sync["rooms"]["join"][&room_id]["unread_notifications"]["highlight_count"],
        1
    );

    // A sender rule placed before nothing, and an override placed before another.
    let sender_rule = format!(
        "/_matrix/client/v3/pushrules/global/sender/{}",
        encode(&carol.user_id)
    );
    assert_eq!(
        bob.put(&server, &sender_rule, json!({"actions": []})).0,
        200
    );
    let override_a = "/_matrix/client/v3/pushrules/global/override/a";
    let override_b = "/_matrix/client/v3/pushrules/global/override/b?before=a";
    assert_eq!(
        bob.put(
            &server,
            override_a,
            json!({"actions": [], "conditions": []})
        )
        .0,
        200
    );
    assert_eq!(bob.put(&server, override_b, json!({"actions": []})).0, 200);
    let (_, rules) = bob.get(&server, "/_matrix/client/v3/pushrules/");
    assert_eq!(
        rule_ids(&rules["global"]["override"])[..3],
        [".m.rule.master", "b", "a"]
    );
    // Deleting works for user rules and is refused for server defaults.
    assert_eq!(bob.delete(&server, override_a).0, 200);
    assert_eq!(bob.delete(&server, override_a).0, 404);
    let (status, _) = bob.delete(
        &server,
        "/_matrix/client/v3/pushrules/global/override/.m.rule.master",
    );
    assert_eq!(status, 400);
    // Malformed rules.
    let (status, _) = bob.put(
        &server,
        "/_matrix/client/v3/pushrules/global/content/c",
        json!({"actions": []}),
    );
    assert_eq!(status, 400);
    let (status, _) = bob.put(
        &server,
        "/_matrix/client/v3/pushrules/global/room/not-a-room",
        json!({"actions": []}),
    );
    assert_eq!(status, 400);
    // Alice's rules are untouched by Bob's edits.
    let (_, alice_rules) = alice.get(&server, "/_matrix/client/v3/pushrules/");
    assert!(alice_rules["global"]["room"].as_array().unwrap().is_empty());
}
