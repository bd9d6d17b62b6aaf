//! Accounts as a client sees them: profiles (and the member events that follow a change),
//! devices, password change and deactivation behind user-interactive auth, capabilities.
//! Rate limits are in `client_rate_limits.rs`, start-up calls in `client_start_up.rs`.

mod support;

use serde_json::{Value, json};

use support::client::{User, call, encode, login, open_server, register};

fn logged_in(server: &support::TestServer, user: &User, password: &str, device_id: &str) -> User {
    let localpart = user
        .user_id
        .trim_start_matches('@')
        .split(':')
        .next()
        .unwrap();
    let (status, answer) = login(server, localpart, password, device_id);
    assert_eq!(status, 200, "login: {answer}");
    User {
        user_id: user.user_id.clone(),
        access_token: answer["access_token"].as_str().unwrap().to_owned(),
        device_id: device_id.to_owned(),
    }
}

/// The content of the latest `m.room.member` event for `user_id` in a sync room section
/// (timeline first, then state).
fn member_content(room: &Value, user_id: &str) -> Option<Value> {
    let find = |section: &str| {
        room[section]["events"]
            .as_array()
            .and_then(|events| {
                events
                    .iter()
                    .rev()
                    .find(|e| e["type"] == "m.room.member" && e["state_key"] == user_id)
            })
            .map(|e| e["content"].clone())
    };
    find("timeline").or_else(|| find("state"))
}

#[test]
fn profile_changes_reach_every_joined_room_and_joins_carry_the_profile() {
    let server = open_server("client-profile");
    let alice = register(&server, "alice");
    let bob = register(&server, "bob");
    let alice_profile = format!("/_matrix/client/v3/profile/{}", encode(&alice.user_id));
    let bob_profile = format!("/_matrix/client/v3/profile/{}", encode(&bob.user_id));

    // A fresh user has an empty profile; fields that are unset read as {}.
    assert_eq!(alice.get(&server, &alice_profile), (200, json!({})));
    assert_eq!(
        alice.get(&server, &format!("{alice_profile}/displayname")),
        (200, json!({}))
    );
    let (status, _) = alice.put(
        &server,
        &format!("{alice_profile}/displayname"),
        json!({"displayname": "Alice"}),
    );
    assert_eq!(status, 200);
    let (status, _) = alice.put(
        &server,
        &format!("{alice_profile}/avatar_url"),
        json!({"avatar_url": "mxc://hearth.test/alice"}),
    );
    assert_eq!(status, 200);
    assert_eq!(
        bob.get(&server, &alice_profile),
        (
            200,
            json!({"displayname": "Alice", "avatar_url": "mxc://hearth.test/alice"})
        )
    );
    assert_eq!(
        bob.get(&server, &format!("{alice_profile}/avatar_url")),
        (200, json!({"avatar_url": "mxc://hearth.test/alice"}))
    );

    // Nobody changes another user's profile; unknown users have none.
    let (status, answer) = bob.put(
        &server,
        &format!("{alice_profile}/displayname"),
        json!({"displayname": "Mallory"}),
    );
    assert_eq!(
        (status, answer["errcode"].clone()),
        (403, json!("M_FORBIDDEN"))
    );
    let (status, answer) = bob.get(
        &server,
        "/_matrix/client/v3/profile/%40nobody%3Ahearth.test",
    );
    assert_eq!(
        (status, answer["errcode"].clone()),
        (404, json!("M_NOT_FOUND"))
    );
    let (status, answer) = bob.get(&server, "/_matrix/client/v3/profile/not-a-user-id");
    assert_eq!(
        (status, answer["errcode"].clone()),
        (400, json!("M_INVALID_PARAM"))
    );

    // Other servers' users are asked of their server: an unreachable one is a quick 502.
    let started = std::time::Instant::now();
    let (status, answer) = bob.get(
        &server,
        "/_matrix/client/v3/profile/%40carol%3A127.0.0.1%3A1",
    );
    assert_eq!(
        (status, answer["errcode"].clone()),
        (502, json!("M_UNKNOWN")),
        "{answer}"
    );
    assert!(answer["error"].as_str().unwrap().contains("127.0.0.1:1"));
    assert!(started.elapsed() < std::time::Duration::from_secs(15));

    // The creator's join carries the profile.
    let room_id = alice.create_room(&server, json!({"preset": "public_chat"}));
    let initial = alice.sync(&server, None, 0);
    let room = &initial["rooms"]["join"][&room_id];
    let creator = member_content(room, &alice.user_id).unwrap();
    assert_eq!(creator["displayname"], "Alice", "{room}");
    assert_eq!(creator["avatar_url"], "mxc://hearth.test/alice");

    // Bob joins without a name, then sets one: Alice sees a new member event for Bob.
    bob.join(&server, &room_id);
    let second_room = alice.create_room(&server, json!({"preset": "public_chat"}));
    bob.join(&server, &second_room);
    let token = alice.sync(&server, None, 0)["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = bob.put(
        &server,
        &format!("{bob_profile}/displayname"),
        json!({"displayname": "Bob the builder"}),
    );
    assert_eq!(status, 200);
    let update = alice.sync(&server, Some(&token), 5000);
    for room in [&room_id, &second_room] {
        let section = &update["rooms"]["join"][room.as_str()];
        let content = member_content(section, &bob.user_id)
            .unwrap_or_else(|| panic!("no member update in {room}: {update}"));
        assert_eq!(
            content,
            json!({"membership": "join", "displayname": "Bob the builder"})
        );
    }

    // A later join carries the current profile too.
    let third_room = alice.create_room(&server, json!({"preset": "public_chat"}));
    bob.join(&server, &third_room);
    let state = alice.get(
        &server,
        &format!(
            "/_matrix/client/v3/rooms/{}/state/m.room.member/{}",
            encode(&third_room),
            encode(&bob.user_id)
        ),
    );
    assert_eq!(
        state,
        (
            200,
            json!({"membership": "join", "displayname": "Bob the builder"})
        )
    );

    // Invites carry the invitee's profile too, from createRoom and from /invite.
    let invited_room = bob.create_room(&server, json!({"invite": [alice.user_id]}));
    let other_room = bob.create_room(&server, json!({}));
    let (status, _) = bob.post(
        &server,
        &format!("/_matrix/client/v3/rooms/{}/invite", encode(&other_room)),
        json!({"user_id": alice.user_id}),
    );
    assert_eq!(status, 200);
    for room in [&invited_room, &other_room] {
        let (status, invite) = bob.get(
            &server,
            &format!(
                "/_matrix/client/v3/rooms/{}/state/m.room.member/{}",
                encode(room),
                encode(&alice.user_id)
            ),
        );
        assert_eq!(status, 200);
        assert_eq!(
            invite,
            json!({"membership": "invite", "displayname": "Alice", "avatar_url": "mxc://hearth.test/alice"})
        );
    }

    // Clearing the name (null) removes it from the profile and from the member events.
    let (status, _) = bob.put(
        &server,
        &format!("{bob_profile}/displayname"),
        json!({"displayname": null}),
    );
    assert_eq!(status, 200);
    assert_eq!(bob.get(&server, &bob_profile), (200, json!({})));
    let (_, member) = alice.get(
        &server,
        &format!(
            "/_matrix/client/v3/rooms/{}/state/m.room.member/{}",
            encode(&third_room),
            encode(&bob.user_id)
        ),
    );
    assert_eq!(member, json!({"membership": "join"}));
}

#[test]
fn devices_are_listed_renamed_and_deleted_with_the_password() {
    let server = open_server("client-devices");
    let alice = register(&server, "alice");
    let phone = logged_in(&server, &alice, "password", "PHONE");

    let (status, answer) = alice.get(&server, "/_matrix/client/v3/devices");
    assert_eq!(status, 200, "{answer}");
    let mut ids: Vec<&str> = answer["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["device_id"].as_str().unwrap())
        .collect();
    ids.sort();
    let mut expected = vec![alice.device_id.as_str(), "PHONE"];
    expected.sort();
    assert_eq!(ids, expected);
    // Every field is present, null when unknown (matrix-nio's schema requires them).
    for device in answer["devices"].as_array().unwrap() {
        let fields = device.as_object().unwrap();
        for key in ["device_id", "display_name", "last_seen_ip", "last_seen_ts"] {
            assert!(fields.contains_key(key), "{key} missing: {device}");
        }
    }

    assert_eq!(
        alice.get(&server, "/_matrix/client/v3/devices/PHONE").1["display_name"],
        "PHONE device"
    );
    let (status, _) = alice.put(
        &server,
        "/_matrix/client/v3/devices/PHONE",
        json!({"display_name": "Old phone"}),
    );
    assert_eq!(status, 200);
    assert_eq!(
        phone.get(&server, "/_matrix/client/v3/devices/PHONE").1["display_name"],
        "Old phone"
    );
    let (status, answer) = alice.get(&server, "/_matrix/client/v3/devices/NOPE");
    assert_eq!(
        (status, answer["errcode"].clone()),
        (404, json!("M_NOT_FOUND"))
    );
    let (status, answer) = alice.put(
        &server,
        "/_matrix/client/v3/devices/NOPE",
        json!({"display_name": "x"}),
    );
    assert_eq!(
        (status, answer["errcode"].clone()),
        (404, json!("M_NOT_FOUND"))
    );

    // First attempt: 401 with the password flow and a session (user-interactive auth).
    let (status, challenge) = call(
        &server,
        Some(&alice),
        "DELETE",
        "/_matrix/client/v3/devices/PHONE",
        Some(&json!({})),
    );
    assert_eq!(status, 401, "{challenge}");
    assert_eq!(
        challenge["flows"],
        json!([{"stages": ["m.login.password"]}])
    );
    let session = challenge["session"].as_str().unwrap().to_owned();
    assert!(challenge.get("errcode").is_none());

    let auth = |password: &str| {
        json!({"auth": {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": alice.user_id},
            "password": password,
            "session": session,
        }})
    };
    let (status, answer) = call(
        &server,
        Some(&alice),
        "DELETE",
        "/_matrix/client/v3/devices/PHONE",
        Some(&auth("wrong")),
    );
    assert_eq!(
        (status, answer["errcode"].clone()),
        (401, json!("M_FORBIDDEN"))
    );
    assert!(answer["flows"].is_array());
    assert_eq!(
        phone.get(&server, "/_matrix/client/v3/account/whoami").0,
        200
    );

    let (status, answer) = call(
        &server,
        Some(&alice),
        "DELETE",
        "/_matrix/client/v3/devices/PHONE",
        Some(&auth("password")),
    );
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = phone.get(&server, "/_matrix/client/v3/account/whoami");
    assert_eq!(
        (status, answer["errcode"].clone()),
        (401, json!("M_UNKNOWN_TOKEN"))
    );
    assert_eq!(
        alice.get(&server, "/_matrix/client/v3/devices/PHONE").0,
        404
    );
    // Deleting it again is not an error (spec: "or had been removed previously").
    let (status, answer) = call(
        &server,
        Some(&alice),
        "DELETE",
        "/_matrix/client/v3/devices/PHONE",
        Some(&auth("password")),
    );
    assert_eq!(status, 200, "{answer}");

    // POST /delete_devices: the same dance for several devices.
    let tablet = logged_in(&server, &alice, "password", "TABLET");
    let laptop = logged_in(&server, &alice, "password", "LAPTOP");
    let (status, challenge) = alice.post(
        &server,
        "/_matrix/client/v3/delete_devices",
        json!({"devices": ["TABLET", "LAPTOP"]}),
    );
    assert_eq!(status, 401);
    let (status, answer) = alice.post(
        &server,
        "/_matrix/client/v3/delete_devices",
        json!({
            "devices": ["TABLET", "LAPTOP", "NEVER_EXISTED"],
            "auth": {"type": "m.login.password", "user": "alice", "password": "password",
                     "session": challenge["session"]},
        }),
    );
    assert_eq!(status, 200, "{answer}");
    for gone in [&tablet, &laptop] {
        assert_eq!(
            gone.get(&server, "/_matrix/client/v3/account/whoami").0,
            401
        );
    }
    let (_, answer) = alice.get(&server, "/_matrix/client/v3/devices");
    assert_eq!(answer["devices"].as_array().unwrap().len(), 1, "{answer}");

    // The password must be the requester's own.
    let bob = register(&server, "bob");
    let (status, answer) = bob.post(
        &server,
        "/_matrix/client/v3/delete_devices",
        json!({"devices": [], "auth": {"type": "m.login.password", "user": "alice", "password": "password"}}),
    );
    assert_eq!(
        (status, answer["errcode"].clone()),
        (403, json!("M_FORBIDDEN"))
    );
}

#[test]
fn password_change_logs_out_other_devices_unless_asked_not_to() {
    let server = open_server("client-password");
    let alice = register(&server, "alice");
    let phone = logged_in(&server, &alice, "password", "PHONE");
    let path = "/_matrix/client/v3/account/password";

    let (status, challenge) = alice.post(&server, path, json!({"new_password": "second"}));
    assert_eq!(status, 401, "{challenge}");
    let (status, answer) = alice.post(
        &server,
        path,
        json!({"new_password": "second",
               "auth": {"type": "m.login.password", "user": "alice", "password": "password",
                        "session": challenge["session"]}}),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        alice.get(&server, "/_matrix/client/v3/account/whoami").0,
        200
    );
    assert_eq!(
        phone.get(&server, "/_matrix/client/v3/account/whoami").0,
        401
    );
    assert_eq!(login(&server, "alice", "password", "X").0, 403);
    let tablet = logged_in(&server, &alice, "second", "TABLET");

    // logout_devices: false keeps the other devices.
    let (status, _) = alice.post(
        &server,
        path,
        json!({"new_password": "third", "logout_devices": false,
               "auth": {"type": "m.login.password", "user": "alice", "password": "second"}}),
    );
    assert_eq!(status, 200);
    assert_eq!(
        tablet.get(&server, "/_matrix/client/v3/account/whoami").0,
        200
    );
    assert_eq!(login(&server, "alice", "third", "Y").0, 200);

    // Capabilities advertise password changes and the room versions.
    let (status, answer) = alice.get(&server, "/_matrix/client/v3/capabilities");
    assert_eq!(status, 200);
    let capabilities = &answer["capabilities"];
    assert_eq!(capabilities["m.change_password"]["enabled"], true);
    assert_eq!(capabilities["m.room_versions"]["default"], "12");
    let available = capabilities["m.room_versions"]["available"]
        .as_object()
        .unwrap();
    let mut versions: Vec<u32> = available.keys().map(|v| v.parse().unwrap()).collect();
    versions.sort();
    assert_eq!(versions, (1..=12).collect::<Vec<_>>());
    assert!(available.values().all(|v| v == "stable"));
}

#[test]
fn deactivation_ends_sessions_and_memberships() {
    let server = open_server("client-deactivate");
    let alice = register(&server, "alice");
    let bob = register(&server, "bob");
    let room_id = alice.create_room(&server, json!({"preset": "public_chat"}));
    bob.join(&server, &room_id);
    let (status, challenge) = bob.post(&server, "/_matrix/client/v3/account/deactivate", json!({}));
    assert_eq!(status, 401);
    let (status, answer) = bob.post(
        &server,
        "/_matrix/client/v3/account/deactivate",
        json!({"auth": {"type": "m.login.password", "user": "bob", "password": "password",
                        "session": challenge["session"]}}),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["id_server_unbind_result"], "no-support");
    assert_eq!(bob.get(&server, "/_matrix/client/v3/account/whoami").0, 401);
    assert_eq!(login(&server, "bob", "password", "B").0, 403);
    let (_, members) = alice.get(
        &server,
        &format!(
            "/_matrix/client/v3/rooms/{}/state/m.room.member/{}",
            encode(&room_id),
            encode(&bob.user_id)
        ),
    );
    assert_eq!(members["membership"], "leave");
    // The user ID stays taken.
    let (status, _) = call(
        &server,
        None,
        "POST",
        "/_matrix/client/v3/register",
        Some(&json!({"username": "bob", "password": "x", "auth": {"type": "m.login.dummy"}})),
    );
    assert_eq!(status, 400);
}
