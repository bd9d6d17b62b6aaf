//! What clients call at start-up besides sync: presence, joined rooms, and the clear
//! answers for features that are not there yet (encryption, media, OAuth, TURN).

mod support;

use serde_json::json;

use support::client::{call, encode, open_server, register};

#[test]
fn presence_and_joined_rooms() {
    let server = open_server("client-presence");
    let alice = register(&server, "alice");
    let bob = register(&server, "bob");
    let path = format!(
        "/_matrix/client/v3/presence/{}/status",
        encode(&alice.user_id)
    );
    assert_eq!(
        bob.get(&server, &path),
        (200, json!({"presence": "offline"}))
    );
    let (status, _) = alice.put(
        &server,
        &path,
        json!({"presence": "online", "status_msg": "writing tests"}),
    );
    assert_eq!(status, 200);
    let (status, answer) = bob.get(&server, &path);
    assert_eq!(status, 200);
    assert_eq!(answer["presence"], "online");
    assert_eq!(answer["status_msg"], "writing tests");
    assert_eq!(answer["currently_active"], true);
    assert!(answer["last_active_ago"].as_i64().unwrap() >= 0);
    let (status, answer) = alice.put(&server, &path, json!({"presence": "asleep"}));
    assert_eq!(
        (status, answer["errcode"].clone()),
        (400, json!("M_INVALID_PARAM"))
    );
    let (status, _) = bob.put(&server, &path, json!({"presence": "offline"}));
    assert_eq!(status, 403);

    assert_eq!(
        alice.get(&server, "/_matrix/client/v3/joined_rooms"),
        (200, json!({"joined_rooms": []}))
    );
    let room_id = alice.create_room(&server, json!({}));
    let other = alice.create_room(&server, json!({}));
    let (status, _) = alice.post(
        &server,
        &format!("/_matrix/client/v3/rooms/{}/leave", encode(&other)),
        json!({}),
    );
    assert_eq!(status, 200);
    assert_eq!(
        alice.get(&server, "/_matrix/client/v3/joined_rooms"),
        (200, json!({"joined_rooms": [room_id]}))
    );
}

#[test]
fn missing_features_answer_clearly() {
    let server = open_server("client-stubs");
    let alice = register(&server, "alice");
    let (status, answer) = call(
        &server,
        None,
        "GET",
        "/_matrix/client/v1/auth_metadata",
        None,
    );
    assert_eq!(
        (status, answer["errcode"].clone()),
        (404, json!("M_UNRECOGNIZED"))
    );

    let (status, answer) = alice.post(
        &server,
        "/_matrix/client/v3/keys/upload",
        json!({"one_time_keys": {}}),
    );
    assert_eq!((status, answer), (200, json!({"one_time_key_counts": {}})));
    let (status, answer) = alice.post(
        &server,
        "/_matrix/client/v3/keys/query",
        json!({"device_keys": {alice.user_id.clone(): []}}),
    );
    assert_eq!(status, 200);
    assert_eq!(answer["device_keys"], json!({}));
    let (status, answer) = alice.post(
        &server,
        "/_matrix/client/v3/keys/claim",
        json!({"one_time_keys": {}}),
    );
    assert_eq!((status, answer["one_time_keys"].clone()), (200, json!({})));
    let (status, answer) = alice.put(
        &server,
        "/_matrix/client/v3/sendToDevice/m.room_key_request/t1",
        json!({"messages": {}}),
    );
    assert_eq!(
        (status, answer["errcode"].clone()),
        (404, json!("M_UNRECOGNIZED"))
    );
    assert!(answer["error"].as_str().unwrap().contains("encryption"));
    let (status, answer) = alice.get(&server, "/_matrix/client/v3/room_keys/version");
    assert_eq!(
        (status, answer["errcode"].clone()),
        (404, json!("M_NOT_FOUND"))
    );

    for (method, path) in [
        ("GET", "/_matrix/media/v3/config"),
        ("GET", "/_matrix/client/v1/media/config"),
        ("POST", "/_matrix/media/v3/upload"),
        ("GET", "/_matrix/media/v3/download/hearth.test/abc"),
        ("GET", "/_matrix/media/r0/download/hearth.test/abc/cat.png"),
        ("GET", "/_matrix/client/v1/media/download/hearth.test/abc"),
        (
            "GET",
            "/_matrix/client/v1/media/thumbnail/hearth.test/abc?width=32&height=32",
        ),
    ] {
        let (status, answer) = call(&server, Some(&alice), method, path, Some(&json!({})));
        assert_eq!(status, 404, "{path}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains("media"),
            "{path}: {answer}"
        );
    }
    assert_eq!(
        alice.get(&server, "/_matrix/client/v3/voip/turnServer"),
        (200, json!({}))
    );
    assert_eq!(
        alice.get(&server, "/_matrix/client/v3/thirdparty/protocols"),
        (200, json!({}))
    );
}
