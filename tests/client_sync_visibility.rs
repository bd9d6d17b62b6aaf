//! History visibility as a client sees it through `/sync` and the read endpoints, on the
//! real binary (spec: c2s "History visibility"): `joined` hides what came before the join
//! in initial and incremental syncs, `invited` shows from the invite, `shared` and
//! `world_readable` show all of it to members; a user who left, was kicked or banned sees
//! their leave and nothing after it.

mod support;

use serde_json::{Value, json};
use support::TestServer;
use support::client::{User, encode, open_server, register, room_path};

/// A room of Alice's with `visibility`, public (anyone may join) or private (invite only).
fn room_with(server: &TestServer, alice: &User, preset: &str, visibility: &str) -> String {
    alice.create_room(
        server,
        json!({"preset": preset, "initial_state": [{
            "type": "m.room.history_visibility", "state_key": "",
            "content": {"history_visibility": visibility}
        }]}),
    )
}

fn token(sync: &Value) -> String {
    sync["next_batch"].as_str().unwrap().to_owned()
}

/// The message bodies of a room's timeline in `section` (`join` or `leave`), oldest first.
fn bodies(sync: &Value, section: &str, room_id: &str) -> Vec<String> {
    timeline(sync, section, room_id)
        .iter()
        .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
        .collect()
}

fn timeline<'a>(sync: &'a Value, section: &str, room_id: &str) -> &'a Vec<Value> {
    sync["rooms"][section][room_id]["timeline"]["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no {section} timeline for {room_id}: {sync}"))
}

/// The memberships of `user` in the timeline, oldest first.
fn own_memberships(sync: &Value, section: &str, room_id: &str, user: &User) -> Vec<String> {
    timeline(sync, section, room_id)
        .iter()
        .filter(|e| e["type"] == "m.room.member" && e["state_key"] == user.user_id.as_str())
        .filter_map(|e| e["content"]["membership"].as_str().map(str::to_owned))
        .collect()
}

fn post_ok(server: &TestServer, user: &User, path: &str, body: Value) {
    let (status, answer) = user.post(server, path, body);
    assert_eq!(status, 200, "{path}: {answer}");
}

#[test]
fn joined_hides_what_came_before_the_join_and_shared_shows_it() {
    let server = open_server("sync-visibility-joined");
    let alice = register(&server, "alice");
    let bob = register(&server, "bob");
    let joined_room = room_with(&server, &alice, "public_chat", "joined");
    let shared_room = room_with(&server, &alice, "public_chat", "shared");
    let readable_room = room_with(&server, &alice, "public_chat", "world_readable");
    for room in [&joined_room, &shared_room, &readable_room] {
        alice.send_text(&server, room, "before bob");
    }
    let before_join = token(&bob.sync(&server, None, 0));
    for room in [&joined_room, &shared_room, &readable_room] {
        bob.join(&server, room);
        alice.send_text(&server, room, "after bob");
    }

    // The incremental sync that brings the joins, and a first sync from a new device.
    let incremental = bob.sync(&server, Some(&before_join), 0);
    let initial = bob.sync(&server, None, 0);
    for sync in [&incremental, &initial] {
        assert_eq!(bodies(sync, "join", &joined_room), vec!["after bob"]);
        assert_eq!(
            own_memberships(sync, "join", &joined_room, &bob),
            vec!["join"]
        );
        // The state before the (now first) join event still tells the client the room.
        let state = sync["rooms"]["join"][&joined_room]["state"]["events"]
            .as_array()
            .unwrap();
        assert!(state.iter().any(|e| e["type"] == "m.room.create"), "{sync}");
        for room in [&shared_room, &readable_room] {
            assert_eq!(bodies(sync, "join", room), vec!["before bob", "after bob"]);
        }
    }
    // Alice, joined throughout, sees all of it.
    let alice_view = alice.sync(&server, None, 0);
    assert_eq!(
        bodies(&alice_view, "join", &joined_room),
        vec!["before bob", "after bob"]
    );

    // Once joined, incremental syncs carry every new message, whatever the visibility.
    let since = token(&incremental);
    alice.send_text(&server, &joined_room, "later");
    let later = bob.sync(&server, Some(&since), 0);
    assert_eq!(bodies(&later, "join", &joined_room), vec!["later"]);
}

#[test]
fn invited_shows_from_the_invite_on() {
    let server = open_server("sync-visibility-invited");
    let alice = register(&server, "alice");
    let bob = register(&server, "bob");
    let room_id = room_with(&server, &alice, "private_chat", "invited");
    alice.send_text(&server, &room_id, "before the invite");
    let before_invite = token(&bob.sync(&server, None, 0));
    post_ok(
        &server,
        &alice,
        &room_path(&room_id, "invite"),
        json!({"user_id": bob.user_id}),
    );
    alice.send_text(&server, &room_id, "while invited");
    bob.join(&server, &room_id);
    alice.send_text(&server, &room_id, "joined");

    let incremental = bob.sync(&server, Some(&before_invite), 0);
    let initial = bob.sync(&server, None, 0);
    for sync in [&incremental, &initial] {
        assert_eq!(
            bodies(sync, "join", &room_id),
            vec!["while invited", "joined"]
        );
        assert_eq!(
            own_memberships(sync, "join", &room_id, &bob),
            vec!["invite", "join"]
        );
    }
    assert_eq!(
        bob.message_bodies(&server, &room_id, "dir=f&limit=100"),
        vec!["while invited", "joined"]
    );
}

#[test]
fn leaving_kicked_and_banned_users_see_nothing_after_their_leave() {
    let server = open_server("sync-visibility-leave");
    let alice = register(&server, "alice");
    let bob = register(&server, "bob");
    let carol = register(&server, "carol");
    let room_id = room_with(&server, &alice, "public_chat", "shared");
    alice.send_text(&server, &room_id, "before");
    bob.join(&server, &room_id);
    carol.join(&server, &room_id);
    let bob_since = token(&bob.sync(&server, None, 0));
    let carol_since = token(&carol.sync(&server, None, 0));

    // Bob leaves; Carol is kicked, and later banned.
    alice.send_text(&server, &room_id, "while members");
    post_ok(&server, &bob, &room_path(&room_id, "leave"), json!({}));
    post_ok(
        &server,
        &alice,
        &room_path(&room_id, "kick"),
        json!({"user_id": carol.user_id}),
    );
    let after_leave = alice.send_text(&server, &room_id, "after they left");
    post_ok(
        &server,
        &alice,
        &room_path(&room_id, "ban"),
        json!({"user_id": carol.user_id}),
    );
    alice.send_text(&server, &room_id, "after the ban");

    let bob_sync = bob.sync(&server, Some(&bob_since), 0);
    assert_eq!(bodies(&bob_sync, "leave", &room_id), vec!["while members"]);
    assert_eq!(
        own_memberships(&bob_sync, "leave", &room_id, &bob),
        vec!["leave"]
    );
    assert!(
        bob_sync["rooms"]["join"].get(&room_id).is_none(),
        "{bob_sync}"
    );
    // The kick ended Carol's membership; she sees the ban too, not what was said between.
    let carol_sync = carol.sync(&server, Some(&carol_since), 0);
    assert_eq!(
        bodies(&carol_sync, "leave", &room_id),
        vec!["while members"]
    );
    assert_eq!(
        own_memberships(&carol_sync, "leave", &room_id, &carol),
        vec!["leave", "ban"]
    );
    // Later syncs show neither the room nor anything said in it.
    for (user, sync) in [(&bob, &bob_sync), (&carol, &carol_sync)] {
        let next = user.sync(&server, Some(&token(sync)), 0);
        assert!(next["rooms"]["leave"].get(&room_id).is_none(), "{next}");
        assert!(next["rooms"]["join"].get(&room_id).is_none(), "{next}");
        // The read endpoints agree: history up to the leave, then nothing.
        assert_eq!(
            user.message_bodies(&server, &room_id, "dir=f&limit=100"),
            vec!["before", "while members"]
        );
        let path = room_path(&room_id, &format!("event/{}", encode(&after_leave)));
        assert_eq!(user.get(&server, &path).0, 404);
        let path = room_path(&room_id, &format!("context/{}", encode(&after_leave)));
        assert_eq!(user.get(&server, &path).0, 404);
        // Spec: the state (and members) as of their leaving: they are out, Alice is in.
        let (status, state) = user.get(&server, &room_path(&room_id, "state"));
        assert_eq!(status, 200, "{state}");
        let membership_of = |who: &User| {
            state
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["type"] == "m.room.member" && e["state_key"] == who.user_id.as_str())
                .map(|e| e["content"]["membership"].clone())
        };
        assert_eq!(membership_of(user), Some(json!("leave")), "{state}");
        assert_eq!(membership_of(&alice), Some(json!("join")), "{state}");
        let (status, members) = user.get(&server, &room_path(&room_id, "members"));
        assert_eq!(status, 200, "{members}");
        let own = members["chunk"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["state_key"] == user.user_id.as_str())
            .map(|e| e["content"]["membership"].clone());
        assert_eq!(own, Some(json!("leave")), "{members}");
    }
}

#[test]
fn users_who_never_joined_do_not_read_shared_history() {
    let server = open_server("sync-visibility-never-joined");
    let alice = register(&server, "alice");
    let dave = register(&server, "dave");
    let erin = register(&server, "erin");
    let room_id = room_with(&server, &alice, "public_chat", "shared");
    let secret = alice.send_text(&server, &room_id, "for members");
    // Dave is banned before ever joining; Erin declines an invite.
    post_ok(
        &server,
        &alice,
        &room_path(&room_id, "ban"),
        json!({"user_id": dave.user_id}),
    );
    post_ok(
        &server,
        &alice,
        &room_path(&room_id, "invite"),
        json!({"user_id": erin.user_id}),
    );
    post_ok(&server, &erin, &room_path(&room_id, "leave"), json!({}));
    for user in [&dave, &erin] {
        assert_eq!(
            user.message_bodies(&server, &room_id, "dir=f&limit=100"),
            Vec::<String>::new()
        );
        let path = room_path(&room_id, &format!("event/{}", encode(&secret)));
        assert_eq!(user.get(&server, &path).0, 404);
    }
}
