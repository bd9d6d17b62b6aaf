//! Reading rooms on the real binary: members (filters, `at`), joined members, single
//! events, event context with tokens that page on through `/messages`, the `/messages`
//! filter, forgetting rooms and knocking.

mod support;

use serde_json::{Value, json};
use support::TestServer;
use support::client::{User, encode, open_server, register, room_path};

fn members_of(
    server: &TestServer,
    user: &User,
    room_id: &str,
    query: &str,
) -> Vec<(String, String)> {
    let (status, body) = user.get(server, &room_path(room_id, &format!("members{query}")));
    assert_eq!(status, 200, "{body}");
    let mut members: Vec<(String, String)> = body["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| {
            assert_eq!(event["type"], "m.room.member");
            (
                event["state_key"].as_str().unwrap().to_owned(),
                event["content"]["membership"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    members.sort();
    members
}

fn pair(user: &User, membership: &str) -> (String, String) {
    (user.user_id.clone(), membership.to_owned())
}

#[test]
fn members_and_joined_members() {
    let server = open_server("members");
    let alice = register(&server, "alice");
    let bob = register(&server, "bob");
    let carol = register(&server, "carol");
    let room_id = alice.create_room(&server, json!({"preset": "public_chat"}));
    bob.join(&server, &room_id);
    let before_carol = alice.sync(&server, None, 0)["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = alice.post(
        &server,
        &room_path(&room_id, "invite"),
        json!({"user_id": carol.user_id}),
    );
    assert_eq!(status, 200);

    assert_eq!(
        members_of(&server, &alice, &room_id, ""),
        vec![
            pair(&alice, "join"),
            pair(&bob, "join"),
            pair(&carol, "invite")
        ]
    );
    assert_eq!(
        members_of(&server, &alice, &room_id, "?membership=invite"),
        vec![pair(&carol, "invite")]
    );
    assert_eq!(
        members_of(&server, &alice, &room_id, "?not_membership=invite"),
        vec![pair(&alice, "join"), pair(&bob, "join")]
    );
    // As of a token from before the invite.
    let at = format!("?at={}", encode(&before_carol));
    assert_eq!(
        members_of(&server, &alice, &room_id, &at),
        vec![pair(&alice, "join"), pair(&bob, "join")]
    );
    assert_eq!(
        bob.get(&server, &room_path(&room_id, "members?membership=nope"))
            .0,
        400
    );

    let (status, body) = bob.get(&server, &room_path(&room_id, "joined_members"));
    assert_eq!(status, 200, "{body}");
    let joined = body["joined"].as_object().unwrap();
    assert_eq!(joined.len(), 2);
    assert!(joined.contains_key(&alice.user_id) && joined.contains_key(&bob.user_id));
    // Carol is only invited: she may not read the member list.
    let (status, body) = carol.get(&server, &room_path(&room_id, "joined_members"));
    assert_eq!(
        (status, body["errcode"].as_str()),
        (403, Some("M_FORBIDDEN"))
    );
}

fn event_ids(events: &Value) -> Vec<String> {
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["event_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn events_context_and_filtered_messages() {
    let server = open_server("context");
    let alice = register(&server, "alice");
    let bob = register(&server, "bob");
    let room_id = alice.create_room(&server, json!({"preset": "public_chat"}));
    bob.join(&server, &room_id);
    let sent: Vec<String> = (0..9)
        .map(|n| {
            let sender = if n % 3 == 0 { &bob } else { &alice };
            sender.send_text(&server, &room_id, &format!("message {n}"))
        })
        .collect();

    // One event.
    let (status, event) = bob.get(
        &server,
        &room_path(&room_id, &format!("event/{}", encode(&sent[4]))),
    );
    assert_eq!(status, 200, "{event}");
    assert_eq!(event["content"]["body"], "message 4");
    assert_eq!(event["room_id"], room_id.as_str());
    let (status, body) = bob.get(&server, &room_path(&room_id, "event/%24nope"));
    assert_eq!(
        (status, body["errcode"].as_str()),
        (404, Some("M_NOT_FOUND"))
    );

    // Context: two before (newest first) and two after, and the room's state.
    let (status, context) = bob.get(
        &server,
        &room_path(&room_id, &format!("context/{}?limit=4", encode(&sent[4]))),
    );
    assert_eq!(status, 200, "{context}");
    assert_eq!(context["event"]["event_id"], sent[4].as_str());
    assert_eq!(
        event_ids(&context["events_before"]),
        vec![sent[3].clone(), sent[2].clone()]
    );
    assert_eq!(
        event_ids(&context["events_after"]),
        vec![sent[5].clone(), sent[6].clone()]
    );
    let state = context["state"].as_array().unwrap();
    assert!(state.iter().any(|e| e["type"] == "m.room.create"));
    assert!(
        state
            .iter()
            .any(|e| e["type"] == "m.room.member" && e["state_key"] == bob.user_id.as_str())
    );
    // The tokens page on with /messages from where the context ends.
    let start = context["start"].as_str().unwrap();
    let (_, older) = bob.get(
        &server,
        &room_path(
            &room_id,
            &format!("messages?dir=b&limit=2&from={}", encode(start)),
        ),
    );
    assert_eq!(
        event_ids(&older["chunk"]),
        vec![sent[1].clone(), sent[0].clone()]
    );
    let end = context["end"].as_str().unwrap();
    let (_, newer) = bob.get(
        &server,
        &room_path(
            &room_id,
            &format!("messages?dir=f&limit=2&from={}", encode(end)),
        ),
    );
    assert_eq!(
        event_ids(&newer["chunk"]),
        vec![sent[7].clone(), sent[8].clone()]
    );

    // /messages with a filter: Bob's messages only, then everything but messages.
    let filter = encode(
        &json!({"senders": [bob.user_id], "types": ["m.room.message"], "lazy_load_members": true})
            .to_string(),
    );
    let (status, page) = alice.get(
        &server,
        &room_path(&room_id, &format!("messages?dir=b&limit=2&filter={filter}")),
    );
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        event_ids(&page["chunk"]),
        vec![sent[6].clone(), sent[3].clone()]
    );
    let end = page["end"].as_str().expect("more of Bob's messages");
    let (_, rest) = alice.get(
        &server,
        &room_path(
            &room_id,
            &format!(
                "messages?dir=b&limit=2&filter={filter}&from={}",
                encode(end)
            ),
        ),
    );
    assert_eq!(event_ids(&rest["chunk"]), vec![sent[0].clone()]);
    assert!(rest.get("end").is_none(), "{rest}");
    let filter = encode(&json!({"not_types": ["m.room.message"]}).to_string());
    let (_, state_only) = alice.get(
        &server,
        &room_path(
            &room_id,
            &format!("messages?dir=b&limit=50&filter={filter}"),
        ),
    );
    let chunk = state_only["chunk"].as_array().unwrap();
    assert!(
        !chunk.is_empty() && chunk.iter().all(|e| e["type"] != "m.room.message"),
        "{state_only}"
    );
    let filter =
        encode(&json!({"types": ["m.room.*"], "not_types": ["m.room.member"]}).to_string());
    let (_, wildcard) = alice.get(
        &server,
        &room_path(
            &room_id,
            &format!("messages?dir=b&limit=50&filter={filter}"),
        ),
    );
    let chunk = wildcard["chunk"].as_array().unwrap();
    assert!(chunk.iter().all(
        |e| e["type"].as_str().unwrap().starts_with("m.room.") && e["type"] != "m.room.member"
    ));
    assert!(chunk.iter().any(|e| e["type"] == "m.room.create"));
    assert_eq!(
        alice
            .get(&server, &room_path(&room_id, "messages?filter=notjson"))
            .0,
        400
    );
}

#[test]
fn forget_and_knock() {
    let server = open_server("forget-knock");
    let alice = register(&server, "alice");
    let bob = register(&server, "bob");
    let room_id = alice.create_room(&server, json!({"preset": "public_chat"}));
    bob.join(&server, &room_id);
    bob.send_text(&server, &room_id, "bye");
    // Forgetting needs leaving first.
    let (status, _) = bob.post(&server, &room_path(&room_id, "forget"), json!({}));
    assert_eq!(status, 400);
    let before_leave = bob.sync(&server, None, 0)["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = bob.post(&server, &room_path(&room_id, "leave"), json!({}));
    assert_eq!(status, 200);
    let left = bob.sync(&server, Some(&before_leave), 0);
    assert!(left["rooms"]["leave"][&room_id].is_object(), "{left}");
    // Left, Bob still reads the history up to his leave; forgotten, he does not.
    assert_eq!(
        bob.get(&server, &room_path(&room_id, "messages?dir=b")).0,
        200
    );
    assert_eq!(
        bob.post(&server, &room_path(&room_id, "forget"), json!({}))
            .0,
        200
    );
    let (status, body) = bob.get(&server, &room_path(&room_id, "messages?dir=b"));
    assert_eq!(
        (status, body["errcode"].as_str()),
        (403, Some("M_FORBIDDEN"))
    );
    // Nor does the sync from before the leave show the forgotten room.
    let forgotten = bob.sync(&server, Some(&before_leave), 0);
    assert!(
        forgotten["rooms"]["leave"].get(&room_id).is_none(),
        "{forgotten}"
    );
    // Rejoining makes the room readable again.
    bob.join(&server, &room_id);
    assert_eq!(
        bob.get(&server, &room_path(&room_id, "messages?dir=b")).0,
        200
    );

    // Knocking: refused on a public room (join rule public), accepted with join rule knock.
    let carol = register(&server, "carol");
    let knock = |room: &str| {
        carol.post(
            &server,
            &format!("/_matrix/client/v3/knock/{}", encode(room)),
            json!({"reason": "hi"}),
        )
    };
    assert_eq!(knock(&room_id).0, 403);
    let knock_room = alice.create_room(
        &server,
        json!({"preset": "private_chat", "room_version": "10", "room_alias_name": "door",
               "initial_state": [{"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "knock"}}]}),
    );
    let since = carol.sync(&server, None, 0)["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = knock("#door:hearth.test");
    assert_eq!(
        (status, body["room_id"].as_str()),
        (200, Some(knock_room.as_str())),
        "{body}"
    );
    let sync = carol.sync(&server, Some(&since), 5_000);
    let knock_state = &sync["rooms"]["knock"][&knock_room]["knock_state"]["events"];
    assert!(
        knock_state
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "m.room.join_rules"),
        "{sync}"
    );
    assert_eq!(
        members_of(&server, &alice, &knock_room, "?membership=knock"),
        vec![pair(&carol, "knock")]
    );
    // Rooms before version 7 have no knocking.
    let old_room = alice.create_room(
        &server,
        json!({"preset": "public_chat", "room_version": "6"}),
    );
    assert_eq!(knock(&old_room).0, 403);
    assert_eq!(knock("!unknown:hearth.test").0, 404);
}

#[test]
fn history_visibility_decides_what_a_later_member_reads() {
    let server = open_server("visibility");
    let alice = register(&server, "alice");
    let bob = register(&server, "bob");
    let room_id = alice.create_room(
        &server,
        json!({"preset": "public_chat", "initial_state": [{
            "type": "m.room.history_visibility", "state_key": "", "content": {"history_visibility": "joined"}
        }]}),
    );
    let secret = alice.send_text(&server, &room_id, "before bob");
    let (status, _) = alice.put(
        &server,
        &room_path(&room_id, "state/m.room.history_visibility/"),
        json!({"history_visibility": "shared"}),
    );
    assert_eq!(status, 200);
    let shared = alice.send_text(&server, &room_id, "shared with later members");
    bob.join(&server, &room_id);
    let after = alice.send_text(&server, &room_id, "after bob");

    let bodies = |user: &User| user.message_bodies(&server, &room_id, "dir=b&limit=100");
    // Spec: c2s "History visibility": `joined` hides what came before bob's join from him;
    // `shared` shows it to every member. Alice, joined throughout, sees all of it.
    assert_eq!(bodies(&bob), vec!["after bob", "shared with later members"]);
    assert_eq!(
        bodies(&alice),
        vec!["after bob", "shared with later members", "before bob"]
    );
    let event = |user: &User, id: &str| {
        user.get(
            &server,
            &room_path(&room_id, &format!("event/{}", encode(id))),
        )
        .0
    };
    assert_eq!(event(&bob, &secret), 404);
    assert_eq!(event(&bob, &shared), 200);
    assert_eq!(event(&alice, &secret), 200);
    let (status, context) = bob.get(
        &server,
        &room_path(&room_id, &format!("context/{}?limit=10", encode(&after))),
    );
    assert_eq!(status, 200, "{context}");
    let before: Vec<&str> = context["events_before"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["content"]["body"].as_str())
        .collect();
    assert_eq!(before, vec!["shared with later members"]);
}
