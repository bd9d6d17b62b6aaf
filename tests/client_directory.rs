//! The room directory on the real binary: local aliases, a room's aliases, visibility in
//! the public list, and `/publicRooms` with search and pagination.

mod support;

use serde_json::{Value, json};
use support::client::{call, encode, open_server, register};

#[test]
fn aliases_are_created_resolved_and_removed() {
    let server = open_server("directory-aliases");
    let alice = register(&server, "alice");
    let bob = register(&server, "bob");
    let room_id = alice.create_room(&server, json!({"preset": "public_chat"}));
    let alias = "#lounge:hearth.test";
    let path = format!("/_matrix/client/v3/directory/room/{}", encode(alias));

    let (status, body) = alice.put(&server, &path, json!({"room_id": room_id}));
    assert_eq!(status, 200, "{body}");
    // Taken: 409.
    let (status, _) = alice.put(&server, &path, json!({"room_id": room_id}));
    assert_eq!(status, 409);
    // Resolving needs no token.
    let (status, body) = call(&server, None, "GET", &path, None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"room_id": room_id, "servers": ["hearth.test"]})
    );
    // Bob joins by the alias.
    bob.join(&server, alias);
    let aliases_path = format!("/_matrix/client/v3/rooms/{}/aliases", encode(&room_id));
    let (status, body) = bob.get(&server, &aliases_path);
    assert_eq!((status, body), (200, json!({"aliases": [alias]})));

    // Bob (power 0) may not remove Alice's alias; she may.
    let (status, body) = bob.delete(&server, &path);
    assert_eq!(
        (status, body["errcode"].as_str()),
        (403, Some("M_FORBIDDEN"))
    );
    let (status, _) = alice.delete(&server, &path);
    assert_eq!(status, 200);
    let (status, body) = call(&server, None, "GET", &path, None);
    assert_eq!(
        (status, body["errcode"].as_str()),
        (404, Some("M_NOT_FOUND"))
    );
    let (status, _) = alice.delete(&server, &path);
    assert_eq!(status, 404);

    // Refusals: someone outside the room, another server's alias, an unknown room.
    let carol = register(&server, "carol");
    let (status, _) = carol.put(&server, &path, json!({"room_id": room_id}));
    assert_eq!(status, 403);
    let remote = format!(
        "/_matrix/client/v3/directory/room/{}",
        encode("#x:elsewhere.test")
    );
    assert_eq!(
        alice.put(&server, &remote, json!({"room_id": room_id})).0,
        400
    );
    // A remote alias is asked of its server; this one does not exist: 502 (unreachable)
    // or 404 (no such alias), never a local answer.
    let (status, body) = call(&server, None, "GET", &remote, None);
    assert!(status == 502 || status == 404, "{status} {body}");
    assert!(body["errcode"].is_string(), "{body}");
    let (status, _) = alice.put(&server, &path, json!({"room_id": "!nope:hearth.test"}));
    assert_eq!(status, 404);
    let (status, _) = alice.put(
        &server,
        "/_matrix/client/v3/directory/room/lounge",
        json!({"room_id": room_id}),
    );
    assert_eq!(status, 400);
}

fn public_rooms(server: &support::TestServer, query: &str) -> Value {
    let (status, body) = call(
        server,
        None,
        "GET",
        &format!("/_matrix/client/v3/publicRooms{query}"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    body
}

#[test]
fn public_list_visibility_search_and_pages() {
    let server = open_server("directory-public");
    let alice = register(&server, "alice");
    let bob = register(&server, "bob");
    // A published room with name, topic and alias; Bob joins it, so it has 2 members.
    let big = alice.create_room(
        &server,
        json!({"preset": "public_chat", "visibility": "public", "name": "Tea Party",
               "topic": "all about Darjeeling", "room_alias_name": "tea"}),
    );
    bob.join(&server, &big);
    let small = alice.create_room(
        &server,
        json!({"preset": "public_chat", "visibility": "public", "name": "Coffee"}),
    );
    let private = alice.create_room(&server, json!({"preset": "private_chat", "name": "Secret"}));

    let body = public_rooms(&server, "");
    assert_eq!(body["total_room_count_estimate"], 2);
    let chunk = body["chunk"].as_array().unwrap();
    // Most members first.
    assert_eq!(chunk[0]["room_id"], big.as_str());
    assert_eq!(chunk[0]["name"], "Tea Party");
    assert_eq!(chunk[0]["topic"], "all about Darjeeling");
    assert_eq!(chunk[0]["canonical_alias"], "#tea:hearth.test");
    assert_eq!(chunk[0]["num_joined_members"], 2);
    assert_eq!(chunk[0]["join_rule"], "public");
    assert_eq!(chunk[0]["world_readable"], false);
    // Spec: the public_chat preset sets guest_access to forbidden.
    assert_eq!(chunk[0]["guest_can_join"], false);
    assert_eq!(chunk[1]["room_id"], small.as_str());

    // Visibility of a room, and publishing the private one.
    let list = |room: &str| format!("/_matrix/client/v3/directory/list/room/{}", encode(room));
    let (status, body) = call(&server, None, "GET", &list(&private), None);
    assert_eq!((status, body), (200, json!({"visibility": "private"})));
    // Bob is not in it: he may not publish it.
    assert_eq!(
        bob.put(&server, &list(&private), json!({"visibility": "public"}))
            .0,
        403
    );
    assert_eq!(
        alice
            .put(&server, &list(&private), json!({"visibility": "public"}))
            .0,
        200
    );
    assert_eq!(
        call(&server, None, "GET", &list(&private), None).1["visibility"],
        "public"
    );
    assert_eq!(public_rooms(&server, "")["total_room_count_estimate"], 3);
    assert_eq!(
        alice
            .put(&server, &list(&small), json!({"visibility": "private"}))
            .0,
        200
    );
    assert_eq!(public_rooms(&server, "")["total_room_count_estimate"], 2);
    assert_eq!(
        call(&server, None, "GET", &list("!nope:hearth.test"), None).0,
        404
    );

    // Pages of one room.
    let first = public_rooms(&server, "?limit=1");
    assert_eq!(first["chunk"].as_array().unwrap().len(), 1);
    assert_eq!(first["chunk"][0]["room_id"], big.as_str());
    let next = first["next_batch"].as_str().expect("next_batch");
    let second = public_rooms(&server, &format!("?limit=1&since={next}"));
    assert_eq!(second["chunk"][0]["room_id"], private.as_str());
    assert_eq!(second["chunk"][0]["join_rule"], "invite");
    assert_eq!(second["chunk"][0]["guest_can_join"], true);
    assert!(second.get("next_batch").is_none(), "{second}");
    assert!(second["prev_batch"].is_string());

    // Search (POST) by name, topic or alias, ignoring case.
    let search = |term: &str| {
        let (status, body) = alice.post(
            &server,
            "/_matrix/client/v3/publicRooms",
            json!({"filter": {"generic_search_term": term}, "limit": 10}),
        );
        assert_eq!(status, 200, "{body}");
        body["chunk"]
            .as_array()
            .unwrap()
            .iter()
            .map(|room| room["room_id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(search("darjeeling"), vec![big.clone()]);
    assert_eq!(search("SECRET"), vec![private.clone()]);
    assert_eq!(search("#tea"), vec![big.clone()]);
    assert!(search("nothing like it").is_empty());
    // Spaces only, then rooms without a type only.
    let space = alice.create_room(
        &server,
        json!({"preset": "public_chat", "visibility": "public", "creation_content": {"type": "m.space"}}),
    );
    let of_types = |types: Value| {
        let (status, body) = alice.post(
            &server,
            "/_matrix/client/v3/publicRooms",
            json!({"filter": {"room_types": types}}),
        );
        assert_eq!(status, 200, "{body}");
        body["chunk"].as_array().unwrap().len()
    };
    assert_eq!(of_types(json!(["m.space"])), 1);
    assert_eq!(of_types(json!([null])), 2);
    assert_eq!(of_types(json!([null, "m.space"])), 3);
    let listed = public_rooms(&server, "");
    let space_chunk = listed["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .find(|room| room["room_id"] == space.as_str())
        .unwrap();
    assert_eq!(space_chunk["room_type"], "m.space");
    // Another server's directory is not reachable yet.
    assert_eq!(
        call(
            &server,
            None,
            "GET",
            "/_matrix/client/v3/publicRooms?server=elsewhere.test",
            None
        )
        .0,
        404
    );
}
