//! Joining a remote room against the real binary: a fake peer (its own key, served over TLS
//! as `127.0.0.1:<port>`) holds a room of a few hundred members and answers `make_join` and
//! v2 `send_join` with its full state. The answer's events are checked on several threads
//! at once; a bad one among many must still be caught: a forged signature or an event of
//! another room is left out, an event citing an unknown auth event is rejected, a wrong
//! content hash gets the event redacted. The client sees exactly the members that passed.

mod support;

use serde_json::{Map, Value, json};

use hearth::proto::hashes::{event_id_for, hash_and_sign_event};
use hearth::proto::room_version::RoomRules;
use support::client::{User, encode, register};
use support::fake_peer::{Answer, FakePeer};
use support::{TestCa, TestServer, config_text, temp_dir};

/// Members of the peer's room besides its admin.
const MEMBERS: usize = 300;
const FORGED: usize = 100;
const WRONG_HASH: usize = 200;
const UNKNOWN_AUTH: usize = 250;
const OTHER_ROOM: usize = 260;

fn start(label: &str) -> (TestServer, FakePeer, User) {
    let dir = temp_dir(label);
    let ca = TestCa::new();
    std::fs::write(dir.join("ca.pem"), &ca.ca_pem).unwrap();
    let extra = format!(
        "[federation]\nextra_ca = [\"{}\"]\n[registration]\nopen = true\n",
        dir.join("ca.pem").display()
    );
    let config = config_text("hearth.test", &dir.join("data"), None, &extra);
    let server = TestServer::start(&dir, &config, None);
    let peer = FakePeer::start(&ca, &dir, 5);
    let alice = register(&server, "alice");
    (server, peer, alice)
}

/// The peer's room: its events in order, and the IDs a join cites.
struct Room {
    room_id: String,
    events: Vec<Map<String, Value>>,
    auth_chain: Vec<Map<String, Value>>,
    join_auth: Vec<String>,
    last_id: String,
}

fn user(peer: &FakePeer, n: usize) -> String {
    peer.user(&format!("user{n:03}"))
}

fn build_room(peer: &FakePeer) -> Room {
    let rules = RoomRules::for_version("10").unwrap();
    let room_id = format!("!big:{}", peer.server_name);
    let admin = peer.user("admin");
    let mut events: Vec<Map<String, Value>> = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    let sign = |mut event: Map<String, Value>| {
        hash_and_sign_event(&rules, &mut event, &peer.server_name, &peer.key).unwrap();
        let id = event_id_for(&rules, &event).unwrap();
        (id, event)
    };
    let mut add = |kind: &str, sender: &str, key: &str, content: Value, auth: Vec<String>| {
        let event = json!({
            "type": kind, "room_id": room_id, "sender": sender, "state_key": key,
            "content": content, "auth_events": auth, "prev_events": ids.last().into_iter().collect::<Vec<_>>(),
            "depth": events.len() + 1, "origin_server_ts": 1_000 + events.len(),
        });
        let (id, event) = sign(event.as_object().unwrap().clone());
        events.push(event);
        ids.push(id.clone());
        id
    };
    let create = add(
        "m.room.create",
        &admin,
        "",
        json!({"creator": admin, "room_version": "10"}),
        vec![],
    );
    let admin_join = add(
        "m.room.member",
        &admin,
        &admin,
        json!({"membership": "join"}),
        vec![create.clone()],
    );
    let power_levels = add(
        "m.room.power_levels",
        &admin,
        "",
        json!({"users": {admin.clone(): 100}}),
        vec![create.clone(), admin_join.clone()],
    );
    let join_rules = add(
        "m.room.join_rules",
        &admin,
        "",
        json!({"join_rule": "public"}),
        vec![create.clone(), admin_join.clone(), power_levels.clone()],
    );
    let join_auth = vec![create.clone(), power_levels.clone(), join_rules.clone()];
    for n in 1..=MEMBERS {
        let mut auth = join_auth.clone();
        if n == UNKNOWN_AUTH {
            auth.push("$not-in-the-answer".into());
        }
        let who = user(peer, n);
        add(
            "m.room.member",
            &who,
            &who,
            json!({"membership": "join", "displayname": format!("User {n}")}),
            auth,
        );
    }
    let auth_chain = events[..4].to_vec();
    // Spoiled after signing: the first two in ways only the checks can see.
    let forged = &mut events[3 + FORGED];
    let signature = forged["signatures"][peer.server_name.as_str()][peer.key.key_id()]
        .as_str()
        .unwrap();
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    let forged_signature = format!("{flipped}{}", &signature[1..]);
    forged["signatures"][peer.server_name.as_str()][peer.key.key_id()] = json!(forged_signature);
    events[3 + WRONG_HASH]["content"]["displayname"] = json!("Changed on the way");
    let other = &mut events[3 + OTHER_ROOM];
    other.insert(
        "room_id".into(),
        json!(format!("!other:{}", peer.server_name)),
    );
    let (id, event) = sign(other.clone());
    events[3 + OTHER_ROOM] = event;
    let _ = id;
    Room {
        room_id,
        last_id: ids.last().unwrap().clone(),
        events,
        auth_chain,
        join_auth,
    }
}

fn serve_room(peer: &FakePeer, room: Room) -> String {
    let room_id = room.room_id.clone();
    let mut state: Vec<Value> = room.events.iter().cloned().map(Value::Object).collect();
    state.reverse(); // no particular order: the joiner sorts by depth
    let answer = json!({
        "state": state,
        "auth_chain": room.auth_chain,
        "origin": peer.server_name.as_str(),
        "members_omitted": false,
    });
    let (join_auth, last_id, id) = (room.join_auth, room.last_id, room.room_id);
    let depth = room.events.len() + 1;
    peer.set_handler(move |request| {
        if request
            .path
            .starts_with("/_matrix/federation/v1/make_join/")
        {
            let joiner = "@alice:hearth.test";
            let event = json!({
                "type": "m.room.member", "room_id": id, "sender": joiner, "state_key": joiner,
                "content": {"membership": "join"}, "auth_events": join_auth,
                "prev_events": [last_id], "depth": depth, "origin_server_ts": 900_000,
            });
            Some(Answer::Json(
                200,
                json!({"room_version": "10", "event": event}),
            ))
        } else if request
            .path
            .starts_with("/_matrix/federation/v2/send_join/")
        {
            Some(Answer::Json(200, answer.clone()))
        } else {
            None
        }
    });
    room_id
}

#[test]
fn a_bad_event_among_many_is_caught_and_the_rest_of_the_room_is_joined() {
    let (server, peer, alice) = start("remote_join");
    let room_id = serve_room(&peer, build_room(&peer));
    let path = format!("/_matrix/client/v3/join/{}", encode(&room_id));
    let (status, answer) = alice.post(&server, &path, json!({}));
    assert_eq!(status, 200, "{answer}\n{}", server.log_lines().join("\n"));

    let path = format!(
        "/_matrix/client/v3/rooms/{}/joined_members",
        encode(&room_id)
    );
    let (status, answer) = alice.get(&server, &path);
    assert_eq!(status, 200, "{answer}");
    let joined = answer["joined"].as_object().unwrap();
    // The admin, the members that passed, and alice.
    assert_eq!(
        joined.len(),
        1 + MEMBERS - 3 + 1,
        "{:?}",
        joined.keys().collect::<Vec<_>>()
    );
    assert!(joined.contains_key("@alice:hearth.test"));
    assert!(joined.contains_key(&user(&peer, 1)));
    assert!(joined.contains_key(&user(&peer, MEMBERS)));
    for left_out in [FORGED, UNKNOWN_AUTH, OTHER_ROOM] {
        assert!(
            !joined.contains_key(&user(&peer, left_out)),
            "user {left_out} should be left out"
        );
    }
    // The event with the wrong content hash is kept redacted: a member, without a name.
    let member = |n: usize| {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/state/m.room.member/{}",
            encode(&room_id),
            encode(&user(&peer, n))
        );
        alice.get(&server, &path)
    };
    assert_eq!(member(WRONG_HASH), (200, json!({"membership": "join"})));
    assert_eq!(
        member(WRONG_HASH + 1),
        (
            200,
            json!({"membership": "join", "displayname": format!("User {}", WRONG_HASH + 1)})
        )
    );
    assert_eq!(member(FORGED).0, 404);
}
