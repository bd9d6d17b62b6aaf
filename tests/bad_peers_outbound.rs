//! The real binary talking to bad peers: a destination that is down (HTML, 500, garbage,
//! closed connections) gets its transactions later, in order, while other destinations
//! are served at once; a silent peer holds up only its own requests; a resident
//! server answering make_join with HTML, garbage, 500 or a closed connection gives the
//! joining client a clear Matrix error; a peer whose key document is bad or missing is
//! refused with 401. Each failure is logged with its reason.

mod support;

use serde_json::{Value, json};

use support::TestServer;
use support::client::{User, encode};
use support::fake_peer::{Answer, FakePeer, PeerRequest, hearth_with_peers, join_as_peer};

/// The bodies of the `m.room.message` PDUs of the peer's `/send` requests from the
/// `from`th request on, in the order they came.
fn delivered_messages(peer: &FakePeer, from: usize) -> Vec<String> {
    peer.requests()
        .iter()
        .skip(from)
        .filter(|r| r.method == "PUT" && r.path.starts_with("/_matrix/federation/v1/send/"))
        .flat_map(|r| r.body["pdus"].as_array().cloned().unwrap_or_default())
        .filter(|pdu| pdu["type"] == "m.room.message")
        .map(|pdu| pdu["content"]["body"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn is_send(request: &PeerRequest) -> bool {
    request.path.starts_with("/_matrix/federation/v1/send/")
}

/// Waits (up to 30 s) until the peer has received `expected` messages.
fn wait_for_messages(peer: &FakePeer, from: usize, expected: &[String]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let delivered = delivered_messages(peer, from);
        if delivered.len() >= expected.len() {
            assert_eq!(delivered, expected);
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{delivered:?} of {expected:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_destination_that_is_down_gets_everything_in_order_later_and_others_are_not_held_up() {
    let (server, peers, alice) = hearth_with_peers("down", 2);
    let (down, up) = (&peers[0], &peers[1]);
    let room_id = alice.create_room(&server, json!({"preset": "public_chat"}));
    join_as_peer(&server, down, &room_id);
    join_as_peer(&server, up, &room_id);
    let profile = "/_matrix/federation/v1/query/profile?user_id=%40alice%3Ahearth.test";
    let name = down.server_name.to_string();
    let retries_logged = || {
        server
            .log_lines()
            .iter()
            .filter(|line| line.contains("will retry") && line.contains(&name))
            .count()
    };
    let sent: Vec<String> = (0..5).map(|n| format!("m{n}")).collect();
    // Down four ways in turn: each /send is answered with HTML, a 500, bytes that are not
    // HTTP, or a closed connection. Each failure is logged with its reason, and a signed
    // request from the destination (it is up again) brings the next attempt at once.
    let html = b"<html><body>Service Unavailable</body></html>".to_vec();
    let modes = [
        (Answer::Raw(200, "text/html", html), "not JSON"),
        (
            Answer::Json(500, json!({"errcode": "M_UNKNOWN", "error": "boom"})),
            "answered 500",
        ),
        (
            Answer::Garbage(b"220 smtp.example ESMTP\r\n".to_vec()),
            "will retry",
        ),
        (Answer::Close, "will retry"),
    ];
    for (index, (answer, reason)) in modes.into_iter().enumerate() {
        down.set_handler(move |request| is_send(request).then(|| answer.clone()));
        let (seen, logged) = (down.requests().len(), retries_logged());
        if index == 0 {
            for text in &sent {
                alice.send_text(&server, &room_id, text);
            }
            // The healthy destination gets all five at once, in order.
            wait_for_messages(up, 0, &sent);
        } else {
            assert_eq!(down.call(&server, "GET", profile, None).status, 200);
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while retries_logged() <= logged || down.requests().len() <= seen {
            assert!(
                std::time::Instant::now() < deadline,
                "mode {index}: {:#?}",
                server.log_lines()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(
            server
                .log_lines()
                .iter()
                .any(|line| line.contains(reason) && line.contains(&name)),
            "{reason}: {:#?}",
            server.log_lines()
        );
        assert_eq!(alice.get(&server, "/_matrix/client/versions").0, 200);
    }

    // Back up: its next signed request shows it, and the queue goes at once, in order.
    down.set_handler(|_| None);
    let back = down.requests().len();
    assert_eq!(down.call(&server, "GET", profile, None).status, 200);
    wait_for_messages(down, back, &sent);

    // And the two stay in step afterwards.
    alice.send_text(&server, &room_id, "after");
    let mut all = sent.clone();
    all.push("after".into());
    wait_for_messages(up, 0, &all);
    wait_for_messages(down, back, &all);
}

/// alice joins `!room:<peer>` through the peer: (status, body).
fn join_through(server: &TestServer, alice: &User, peer: &FakePeer) -> (u16, Value) {
    let room_id = format!("!nowhere:{}", peer.server_name);
    let path = format!(
        "/_matrix/client/v3/join/{}?server_name={}",
        encode(&room_id),
        encode(peer.server_name.as_str())
    );
    let mut connection = server.connect();
    // Long enough for a join that waits out hearth's own time limits.
    connection.set_read_timeout(std::time::Duration::from_secs(180));
    let authorization = format!("Bearer {}", alice.access_token);
    let headers = [
        ("Authorization", authorization.as_str()),
        ("Content-Type", "application/json"),
    ];
    connection.send("POST", &path, &headers, b"{}");
    let response = connection.read_response(false);
    (response.status, response.json())
}

fn is_make_join(request: &PeerRequest) -> bool {
    request
        .path
        .starts_with("/_matrix/federation/v1/make_join/")
}

/// A Matrix error that names what went wrong and shows no Rust internals.
fn assert_clear_error(status: u16, body: &Value, wanted: &[&str]) {
    assert!((400..600).contains(&status), "{status} {body}");
    assert!(body["errcode"].as_str().is_some(), "{body}");
    let error = body["error"].as_str().unwrap();
    for word in wanted {
        assert!(error.contains(word), "{word:?} not in {error:?}");
    }
    for internal in ["Some(", "Err(", "Error {", "Os {", "kind:"] {
        assert!(!error.contains(internal), "{error:?}");
    }
}

#[test]
fn a_resident_server_answering_make_join_badly_gives_the_client_a_clear_error() {
    let html = b"<html><body><h1>502 Bad Gateway</h1></body></html>".to_vec();
    let answers = [
        (
            Answer::Raw(200, "text/html", html.clone()),
            "200 with a body that is not JSON",
        ),
        (
            Answer::Raw(502, "text/html", html),
            "502 with a body that is not JSON",
        ),
        (
            Answer::Json(500, json!({"errcode": "M_UNKNOWN", "error": "boom"})),
            "boom",
        ),
        (Answer::Json(200, json!({"room_version": "10"})), "no event"),
        (
            Answer::Json(200, json!({"room_version": "999", "event": {}})),
            "999",
        ),
        (
            Answer::Garbage(b"SSH-2.0-OpenSSH_9.6\r\n".to_vec()),
            "make_join failed",
        ),
        (Answer::Close, "make_join failed"),
        (
            Answer::Json(
                403,
                json!({"errcode": "M_FORBIDDEN", "error": "you are banned"}),
            ),
            "you are banned",
        ),
    ];
    let (server, peers, alice) = hearth_with_peers("bad-make-join", answers.len() as u8);
    for (peer, (answer, wanted)) in peers.iter().zip(answers) {
        let answer_for_peer = answer.clone();
        peer.set_handler(move |request| is_make_join(request).then(|| answer_for_peer.clone()));
        let (status, body) = join_through(&server, &alice, peer);
        assert_clear_error(status, &body, &[wanted]);
        match answer {
            Answer::Json(403, _) => assert_eq!(
                (status, body["errcode"].as_str()),
                (403, Some("M_FORBIDDEN"))
            ),
            Answer::Json(200, ref body) if body["room_version"] == "999" => assert_eq!(status, 400),
            _ => assert_eq!(status, 502, "{body}"),
        }
        // The log is read from hearth's stderr by another thread: wait for the line, which
        // hearth writes before it answers, rather than race the reader.
        let name = peer.server_name.as_str();
        assert!(
            server.wait_for_log(&format!("join of !nowhere:{name} via {name}")),
            "{:#?}",
            server.log_lines()
        );
    }
    // A peer that just failed at the connection level is not asked again at once.
    let (status, body) = join_through(&server, &alice, &peers[5]);
    assert_clear_error(status, &body, &["not retrying"]);
    assert_eq!(alice.get(&server, "/_matrix/client/versions").0, 200);
}

#[test]
fn a_peer_whose_key_document_is_bad_is_refused_with_401() {
    let answers = [
        Answer::Raw(200, "text/html", b"<html>keys?</html>".to_vec()),
        Answer::Json(500, json!({"errcode": "M_UNKNOWN", "error": "boom"})),
        Answer::Json(
            200,
            json!({"server_name": "someone.else", "verify_keys": {}}),
        ),
        Answer::Garbage(b"\x00\x01\x02 not http".to_vec()),
        Answer::Close,
    ];
    let (server, peers, _alice) = hearth_with_peers("bad-keys", answers.len() as u8);
    let profile = "/_matrix/federation/v1/query/profile?user_id=%40alice%3Ahearth.test";
    for (peer, answer) in peers.iter().zip(answers) {
        peer.set_handler(move |request| {
            request
                .path
                .starts_with("/_matrix/key/v2/server")
                .then(|| answer.clone())
        });
        let response = peer.call(&server, "GET", profile, None);
        response.assert_error(401, "M_UNAUTHORIZED");
        let body = response.json();
        assert_clear_error(response.status, &body, &["key"]);
        let origin = format!("X-Matrix from {}", peer.server_name);
        assert!(server.wait_for_log(&origin), "{:#?}", server.log_lines());
    }
}

#[test]
fn a_peer_that_never_answers_holds_up_nothing_but_its_own_requests() {
    let (server, peers, alice) = hearth_with_peers("hang", 3);
    let (hanging, good, no_keys) = (&peers[0], &peers[1], &peers[2]);
    let room_id = alice.create_room(&server, json!({"preset": "public_chat"}));
    join_as_peer(&server, hanging, &room_id);
    hanging
        .set_handler(|request| (is_send(request) || is_make_join(request)).then_some(Answer::Hang));
    join_as_peer(&server, good, &room_id);
    no_keys.set_handler(|request| {
        request
            .path
            .starts_with("/_matrix/key/v2/server")
            .then_some(Answer::Hang)
    });
    let profile = "/_matrix/federation/v1/query/profile?user_id=%40alice%3Ahearth.test";
    std::thread::scope(|scope| {
        // A client's join through the silent peer, and a request whose origin's keys
        // never come: both run into their time limits, in the background.
        let join = scope.spawn(|| join_through(&server, &alice, hanging));
        let keyless = scope.spawn(|| no_keys.call(&server, "GET", profile, None));
        hanging.wait_for(is_make_join);
        no_keys.wait_for(|request| request.path.starts_with("/_matrix/key/v2/server"));

        // Meanwhile: local clients are served and the good peer gets every message.
        let sent: Vec<String> = (0..3).map(|n| format!("while hanging {n}")).collect();
        for text in &sent {
            alice.send_text(&server, &room_id, text);
        }
        wait_for_messages(good, 0, &sent);
        assert_eq!(alice.get(&server, "/_matrix/client/versions").0, 200);

        // 504: hearth's time limit caught the handler waiting for the other server.
        let (status, body) = join.join().unwrap();
        assert_clear_error(status, &body, &["no answer within"]);
        assert_eq!(status, 504, "{body}");
        let keyless = keyless.join().unwrap();
        assert_clear_error(keyless.status, &keyless.json(), &[]);
        assert!([401, 504].contains(&keyless.status), "{:?}", keyless.json());
    });
    // The silent destination's transaction timed out and waits for a retry.
    let name = hanging.server_name.to_string();
    let timed_out = |line: &String| line.contains("will retry") && line.contains(&name);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !server.log_lines().iter().any(timed_out) {
        assert!(
            std::time::Instant::now() < deadline,
            "{:#?}",
            server.log_lines()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
