//! The outbound transaction sender end to end, offline: a hearth (built in-process over a
//! database file) has a room with a member from a fake destination, a tiny HTTPS server
//! in this test whose certificate comes from a test CA. Local messages reach it in signed
//! `PUT /send/{txnId}` transactions carrying the PDUs as stored; while it answers 500 the
//! rows stay queued and are loaded again by a restarted hearth; once the destination shows
//! it is up they go at once, then a burst goes in order in transactions of at most 50
//! PDUs, and the outbox empties.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_rustls::rustls;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Map, Value, json};

use hearth::client::room_write::send_event;
use hearth::config::Config;
use hearth::federation::Federation;
use hearth::federation::sender;
use hearth::proto::hashes::{event_id_for, hash_and_sign_event};
use hearth::proto::id::{ServerName, UserId};
use hearth::proto::room_version::RoomRules;
use hearth::proto::signing::SigningKey;
use hearth::rooms::receive::{Received, receive_pdu};
use hearth::rooms::{LocalEvent, Signer, create};
use hearth::server::Server;
use hearth::store::{Store, StoreError, events, outbox, state};
use support::{TestCa, temp_dir};

const RULES: RoomRules = RoomRules::V10;

/// One request the fake destination received.
#[derive(Debug, Clone)]
struct Request {
    method_and_path: String,
    authorization: String,
    body: Value,
}

/// An HTTPS server on 127.0.0.1 that records every request and answers with `status`.
struct FakeDestination {
    server_name: ServerName,
    requests: Arc<Mutex<Vec<Request>>>,
    status: Arc<Mutex<u16>>,
}

impl FakeDestination {
    fn start(ca: &TestCa, dir: &Path) -> FakeDestination {
        let (cert, key) = ca.issue(dir, "destination", &["127.0.0.1"]);
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let key = PrivateKeyDer::from_pem_file(&key).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(Mutex::new(500));
        let (requests_writer, status_reader) = (requests.clone(), status.clone());
        std::thread::spawn(move || {
            for tcp in listener.incoming() {
                let Ok(tcp) = tcp else { continue };
                let connection = rustls::ServerConnection::new(config.clone()).unwrap();
                let stream = rustls::StreamOwned::new(connection, tcp);
                let (requests, status) = (requests_writer.clone(), status_reader.clone());
                std::thread::spawn(move || serve(stream, requests, status));
            }
        });
        FakeDestination {
            server_name: ServerName::parse(&format!("127.0.0.1:{port}")).unwrap(),
            requests,
            status,
        }
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests came.
    fn wait_for(&self, n: usize) -> Vec<Request> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.requests().len() < n {
            assert!(Instant::now() < deadline, "{:?}", self.requests());
            std::thread::sleep(Duration::from_millis(20));
        }
        self.requests()
    }
}

/// HTTP/1.1 with keep-alive, as the outbound client pools its connections.
fn serve(
    stream: rustls::StreamOwned<rustls::ServerConnection, std::net::TcpStream>,
    requests: Arc<Mutex<Vec<Request>>>,
    status: Arc<Mutex<u16>>,
) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let (mut length, mut authorization) = (0, String::new());
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap(),
                "authorization" => authorization = value.trim().to_owned(),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let mut parts = request_line.split_whitespace();
        let method_and_path = format!("{} {}", parts.next().unwrap(), parts.next().unwrap());
        requests.lock().unwrap().push(Request {
            method_and_path,
            authorization,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        });
        let status = *status.lock().unwrap();
        let answer = if status == 200 {
            r#"{"pdus":{}}"#
        } else {
            r#"{"errcode":"M_UNKNOWN","error":"down for maintenance"}"#
        };
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            answer.len()
        );
        let stream = reader.get_mut();
        if stream.write_all(head.as_bytes()).is_err()
            || stream.write_all(answer.as_bytes()).is_err()
        {
            return;
        }
        let _ = stream.flush();
    }
}

/// A hearth for `hearth.test` over `<dir>/data`, trusting the test CA, with its sender
/// running on an executor thread of its own, until the returned sender is dropped (then
/// its tasks are never polled again: as good as a killed process).
fn start_hearth(dir: &Path) -> (Arc<Server>, smol::channel::Sender<()>) {
    let text = format!(
        "server_name = \"hearth.test\"\ndata_dir = \"{}\"\n[federation]\nextra_ca = [\"{}\"]\n[[listen]]\naddr = \"127.0.0.1:0\"\n",
        dir.join("data").display(),
        dir.join("ca.pem").display()
    );
    let config = Config::parse(&text, "test").unwrap();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let store = Store::open(&dir.join("data").join("hearth.db")).unwrap();
    let name = ServerName::parse("hearth.test").unwrap();
    let key = SigningKey::from_seed("a_1", [1; 32]).unwrap();
    let federation = Federation::from_config(&config, &name, &key).unwrap();
    let server = Arc::new(Server::new(config, name, store, key, federation));
    let executor = Arc::new(smol::Executor::new());
    executor
        .spawn(sender::run(server.clone(), executor.clone()))
        .detach();
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    std::thread::spawn(move || smol::block_on(executor.run(stopped.recv())));
    (server, stop)
}

fn alice() -> UserId {
    UserId::parse("@alice:hearth.test").unwrap()
}

fn content(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

/// A public room of alice's in which `bob` of `remote` has joined (over "federation":
/// the receive pipeline, with an event signed by the remote key).
fn room_with_remote_member(
    server: &Server,
    remote: &ServerName,
    remote_key: &SigningKey,
) -> String {
    let (name, key) = (server.name.clone(), server.signing_key.clone());
    let room_id = smol::block_on(server.store.write(move |transaction| {
        let signer = Signer {
            server_name: &name,
            key: &key,
            parsed: &hearth::store::parsed::ParsedEvents::new(),
        };
        let join_rules = LocalEvent {
            kind: "m.room.join_rules".into(),
            state_key: Some(String::new()),
            content: content(json!({"join_rule": "public"})),
            redacts: None,
        };
        create::create_room(
            transaction,
            &signer,
            &alice(),
            &RULES,
            Map::new(),
            vec![join_rules],
            1_000,
        )
        .map(|created| created.room_id)
        .map_err(|e| StoreError::CommitFailed(e.to_string()))
    }))
    .unwrap();
    let bob = format!("@bob:{remote}");
    let (room, remote, remote_key) = (room_id.clone(), remote.clone(), remote_key.clone());
    let received = smol::block_on(server.store.write(move |transaction| {
        let stored = events::room_by_id(transaction, &room)?.unwrap();
        let extremities = events::forward_extremities(transaction, stored.room_nid)?;
        let mut auth_events = Vec::new();
        for event in state::current_state_events(transaction, stored.room_nid)? {
            if ["m.room.create", "m.room.power_levels", "m.room.join_rules"]
                .contains(&event.kind.as_str())
            {
                auth_events.push(event.event_id);
            }
        }
        let mut join = content(json!({
            "room_id": room,
            "sender": bob,
            "type": "m.room.member",
            "state_key": bob,
            "content": {"membership": "join"},
            "origin_server_ts": 2_000,
            "depth": extremities.iter().map(|e| e.depth).max().unwrap_or(0) + 1,
            "prev_events": extremities.iter().map(|e| e.event_id.clone()).collect::<Vec<_>>(),
            "auth_events": auth_events,
        }));
        hash_and_sign_event(&RULES, &mut join, &remote, &remote_key).unwrap();
        let public = (remote_key.key_id(), remote_key.public_key_base64());
        let keys = |server_name: &ServerName, key_id: &str| {
            (*server_name == remote && key_id == public.0).then(|| public.1.clone())
        };
        receive_pdu(transaction, &stored, join, &keys)
            .map_err(|e| StoreError::CommitFailed(e.to_string()))
    }))
    .unwrap();
    assert!(matches!(received, Received::Accepted(_)), "{received:?}");
    room_id
}

fn say(server: &Server, room_id: &str, body: &str) -> String {
    let message = LocalEvent {
        kind: "m.room.message".into(),
        state_key: None,
        content: content(json!({"msgtype": "m.text", "body": body})),
        redacts: None,
    };
    let accepted = smol::block_on(send_event(server, room_id, &alice(), message)).unwrap();
    accepted.pdu.event_id().to_owned()
}

fn queued(server: &Server, destination: &ServerName) -> i64 {
    let destination = destination.clone();
    smol::block_on(server.store.read(move |c| outbox::count(c, &destination))).unwrap()
}

/// The event IDs of the PDUs of a `/send` body, recomputed from the PDUs as received.
fn event_ids(body: &Value) -> Vec<String> {
    body["pdus"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pdu| event_id_for(&RULES, pdu.as_object().unwrap()).unwrap())
        .collect()
}

#[test]
fn transactions_reach_the_destination_survive_failures_and_restarts() {
    let dir = temp_dir("sender");
    let ca = TestCa::new();
    std::fs::write(dir.join("ca.pem"), &ca.ca_pem).unwrap();
    let destination = FakeDestination::start(&ca, &dir);
    let remote_key = SigningKey::from_seed("b_1", [2; 32]).unwrap();

    // The destination fails (500): the first message goes once, then waits in backoff.
    let (first, stop_first) = start_hearth(&dir);
    let room_id = room_with_remote_member(&first, &destination.server_name, &remote_key);
    let mut sent = vec![say(&first, &room_id, "one")];
    let requests = destination.wait_for(1);
    sent.push(say(&first, &room_id, "two"));
    sent.push(say(&first, &room_id, "three"));
    let request = &requests[0];
    let txn_id = request
        .method_and_path
        .strip_prefix("PUT /_matrix/federation/v1/send/")
        .unwrap();
    assert!(
        request.authorization.starts_with("X-Matrix "),
        "{request:?}"
    );
    assert!(
        request.authorization.contains("origin=\"hearth.test\""),
        "{request:?}"
    );
    let addressed = format!("destination=\"{}\"", destination.server_name);
    assert!(request.authorization.contains(&addressed), "{request:?}");
    assert_eq!(request.body["origin"], "hearth.test");
    assert!(request.body["origin_server_ts"].as_i64().unwrap() > 0);
    assert_eq!(event_ids(&request.body), sent[..1]);
    let pdu = &request.body["pdus"][0];
    assert!(pdu.get("unsigned").is_none(), "{pdu}");
    assert!(pdu["signatures"]["hearth.test"].is_object(), "{pdu}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        destination.requests().len(),
        1,
        "no retry before the backoff ends"
    );
    assert_eq!(
        queued(&first, &destination.server_name),
        3,
        "rows stay until a 200"
    );

    // hearth restarts while the destination still fails: the rows are loaded and all
    // three go at once, under a new transaction ID, and stay.
    drop(stop_first);
    let (second, _stop_second) = start_hearth(&dir);
    let after_restart = destination.wait_for(2);
    let retried = &after_restart[1];
    let retried_txn = retried.method_and_path.clone();
    assert_ne!(
        retried_txn.strip_prefix("PUT /_matrix/federation/v1/send/"),
        Some(txn_id),
        "a new start, new transaction IDs"
    );
    assert_eq!(event_ids(&retried.body), sent);
    assert_eq!(queued(&second, &destination.server_name), 3);

    // The destination comes back and shows it (a signed request from it passed
    // authentication): the same transaction goes again at once, not in 10 minutes.
    *destination.status.lock().unwrap() = 200;
    second
        .federation
        .sender
        .handle_destination_up(&destination.server_name);
    let caught_up = destination.wait_for(3);
    assert_eq!(
        caught_up[2].method_and_path, retried_txn,
        "retried unchanged"
    );
    assert_eq!(event_ids(&caught_up[2].body), sent);
    let deadline = Instant::now() + Duration::from_secs(10);
    while queued(&second, &destination.server_name) > 0 {
        assert!(Instant::now() < deadline, "the outbox did not empty");
        std::thread::sleep(Duration::from_millis(20));
    }
    let after_restart = destination.requests();

    // A burst of 120 messages: all delivered, in order, at most 50 per transaction.
    let burst: Vec<String> = (0..120)
        .map(|n| say(&second, &room_id, &format!("m{n}")))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let requests = destination.requests();
        let delivered: Vec<String> = requests[after_restart.len()..]
            .iter()
            .flat_map(|request| event_ids(&request.body))
            .collect();
        if delivered.len() >= burst.len() {
            assert_eq!(delivered, burst);
            assert!(
                requests
                    .iter()
                    .all(|r| r.body["pdus"].as_array().unwrap().len() <= 50)
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of 120 delivered",
            delivered.len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // EDUs go the same way.
    let typing = json!({"edu_type": "m.typing", "content": {"room_id": room_id, "user_id": "@alice:hearth.test", "typing": true}});
    smol::block_on(sender::enqueue_edu(
        &second,
        std::slice::from_ref(&destination.server_name),
        &typing,
    ))
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !destination
        .requests()
        .iter()
        .any(|r| r.body["edus"] == json!([typing]))
    {
        assert!(
            Instant::now() < deadline,
            "{:?}",
            destination.requests().last()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while queued(&second, &destination.server_name) > 0 {
        assert!(Instant::now() < deadline, "the outbox did not empty");
        std::thread::sleep(Duration::from_millis(20));
    }
}
