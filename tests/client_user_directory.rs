//! The user directory as a client sees it: users who share a room with the requester,
//! found by user ID or display name; nobody else.

mod support;

use serde_json::json;

use support::client::{encode, open_server, register};

#[test]
fn search_finds_room_mates_by_id_or_display_name_only() {
    let server = open_server("client-user-directory");
    let alice = register(&server, "alice");
    let bob = register(&server, "bob");
    let dave = register(&server, "dave");
    let _bobcat = register(&server, "bobcat"); // shares no room with alice
    let room_id = alice.create_room(&server, json!({"preset": "public_chat"}));
    bob.join(&server, &room_id);
    dave.join(&server, &room_id);
    let (status, _) = dave.put(
        &server,
        &format!(
            "/_matrix/client/v3/profile/{}/displayname",
            encode(&dave.user_id)
        ),
        json!({"displayname": "Bobby Tables"}),
    );
    assert_eq!(status, 200);

    let search = |term: &str, limit: u64| {
        let (status, answer) = alice.post(
            &server,
            "/_matrix/client/v3/user_directory/search",
            json!({"search_term": term, "limit": limit}),
        );
        assert_eq!(status, 200, "{answer}");
        answer
    };
    let answer = search("BOB", 10);
    assert_eq!(
        answer["results"],
        json!([
            {"user_id": bob.user_id},
            {"user_id": dave.user_id, "display_name": "Bobby Tables"},
        ]),
        "{answer}"
    );
    assert_eq!(answer["limited"], false);
    let answer = search("bob", 1);
    assert_eq!(answer["results"].as_array().unwrap().len(), 1);
    assert_eq!(answer["limited"], true);
    assert_eq!(search("bobcat", 10)["results"], json!([]));
    let (status, answer) = alice.post(
        &server,
        "/_matrix/client/v3/user_directory/search",
        json!({}),
    );
    assert_eq!(
        (status, answer["errcode"].clone()),
        (400, json!("M_BAD_JSON"))
    );
}
