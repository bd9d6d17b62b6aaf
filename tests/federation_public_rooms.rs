//! `GET/POST /_matrix/federation/v1/publicRooms` against the real binary: another server
//! (a fake peer signing its requests) sees the rooms published in hearth's directory, can
//! search them, and an unsigned request is refused.

mod support;

use serde_json::{Value, json};

use support::fake_peer::hearth_with_peers;

fn room_ids(body: &Value) -> Vec<String> {
    body["chunk"]
        .as_array()
        .map(|chunk| {
            chunk
                .iter()
                .filter_map(|room| room["room_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn other_servers_list_and_search_the_published_rooms() {
    let (server, peers, alice) = hearth_with_peers("fed-public-rooms", 1);
    let peer = &peers[0];
    let published = alice.create_room(
        &server,
        json!({"visibility": "public", "preset": "public_chat", "name": "Gardening club"}),
    );
    let unlisted = alice.create_room(&server, json!({"name": "Gardening secrets"}));

    let listed = peer.call(&server, "GET", "/_matrix/federation/v1/publicRooms", None);
    assert_eq!(listed.status, 200);
    let body = listed.json();
    assert_eq!(room_ids(&body), vec![published.clone()], "{body}");
    assert_eq!(body["chunk"][0]["name"], "Gardening club");
    assert_eq!(body["chunk"][0]["num_joined_members"], 1);
    assert!(!room_ids(&body).contains(&unlisted));

    let search = |term: &str| {
        let answer = peer.call(
            &server,
            "POST",
            "/_matrix/federation/v1/publicRooms",
            Some(&json!({"filter": {"generic_search_term": term}, "limit": 10})),
        );
        assert_eq!(answer.status, 200);
        room_ids(&answer.json())
    };
    assert_eq!(search("garden"), vec![published]);
    assert!(search("chess").is_empty());

    let unsigned = server.request("GET", "/_matrix/federation/v1/publicRooms", b"");
    unsigned.assert_error(401, "M_UNAUTHORIZED");
}
