//! A fake federation peer for tests of the real binary: a tiny HTTPS server on 127.0.0.1
//! (server name `127.0.0.1:<port>`, certificate from the test CA) with its own signing
//! key. It publishes its key document, accepts `/send`, records every request, and can be
//! told to answer anything else badly: HTML, garbage, 500, a closed connection, or
//! nothing at all. It also signs requests to hearth as that server.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_rustls::rustls;
use hearth::proto::hashes::{event_id_for, hash_and_sign_event, sign_event};
use hearth::proto::id::ServerName;
use hearth::proto::room_version::RoomRules;
use hearth::proto::signing::{SigningKey, sign_json};
use hearth::proto::x_matrix::authorization_header;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Map, Value, json};

use super::client::{User, encode, register};
use super::{HttpResponse, TestCa, TestServer, config_text, temp_dir};

/// One request the peer received.
#[derive(Debug, Clone)]
pub struct PeerRequest {
    pub method: String,
    pub path: String,
    pub body: Value,
}

/// How the peer answers a request.
#[derive(Debug, Clone)]
pub enum Answer {
    Json(u16, Value),
    /// Any status, content type and body bytes.
    Raw(u16, &'static str, Vec<u8>),
    /// Bytes that are not HTTP at all, then the connection closes.
    Garbage(Vec<u8>),
    /// Reads the request and never answers (the connection stays open a long while).
    Hang,
    /// Closes the connection without a word.
    Close,
}

type Handler = Arc<dyn Fn(&PeerRequest) -> Option<Answer> + Send + Sync>;

pub struct FakePeer {
    pub server_name: ServerName,
    pub key: SigningKey,
    requests: Arc<Mutex<Vec<PeerRequest>>>,
    handler: Arc<Mutex<Handler>>,
}

impl FakePeer {
    /// Starts the peer; its certificate is issued by `ca` into `dir`.
    pub fn start(ca: &TestCa, dir: &Path, seed: u8) -> FakePeer {
        let (cert, key) = ca.issue(dir, &format!("peer{seed}"), &["127.0.0.1"]);
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let private_key = PrivateKeyDer::from_pem_file(&key).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, private_key)
            .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server_name = ServerName::parse(&format!("127.0.0.1:{port}")).unwrap();
        let signing_key = SigningKey::from_seed(&format!("p{seed}"), [seed; 32]).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let no_handler: Handler = Arc::new(|_: &PeerRequest| None);
        let handler = Arc::new(Mutex::new(no_handler));
        let shared = Shared {
            server_name: server_name.clone(),
            key: signing_key.clone(),
            requests: requests.clone(),
            handler: handler.clone(),
        };
        std::thread::spawn(move || {
            for tcp in listener.incoming() {
                let Ok(tcp) = tcp else { continue };
                let connection = rustls::ServerConnection::new(config.clone()).unwrap();
                let stream = rustls::StreamOwned::new(connection, tcp);
                let shared = shared.clone();
                std::thread::spawn(move || serve(stream, shared));
            }
        });
        FakePeer {
            server_name,
            key: signing_key,
            requests,
            handler,
        }
    }

    /// Answers requests `handler` returns `Some` for; the rest as a good peer does.
    pub fn set_handler(
        &self,
        handler: impl Fn(&PeerRequest) -> Option<Answer> + Send + Sync + 'static,
    ) {
        *self.handler.lock().unwrap() = Arc::new(handler);
    }

    pub fn requests(&self) -> Vec<PeerRequest> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits (up to 30 s) until a request satisfies `wanted`.
    pub fn wait_for(&self, wanted: impl Fn(&PeerRequest) -> bool) -> PeerRequest {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(found) = self.requests().into_iter().find(|r| wanted(r)) {
                return found;
            }
            assert!(Instant::now() < deadline, "{:#?}", self.requests());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The user `@<localpart>:<this peer>`.
    pub fn user(&self, localpart: &str) -> String {
        format!("@{localpart}:{}", self.server_name)
    }

    /// A request to `server` (named `hearth.test`) signed as this peer.
    pub fn call(
        &self,
        server: &TestServer,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> HttpResponse {
        let destination = ServerName::parse("hearth.test").unwrap();
        let authorization = authorization_header(
            &self.key,
            method,
            path,
            &self.server_name,
            &destination,
            body,
        )
        .unwrap();
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let mut connection = server.connect();
        // Long enough for a request that waits out hearth's own time limits.
        connection.set_read_timeout(Duration::from_secs(180));
        let headers = [
            ("Authorization", authorization.as_str()),
            ("Content-Type", "application/json"),
        ];
        connection.send(method, path, &headers, &bytes);
        connection.read_response(false)
    }

    /// `PUT /send/{txn_id}` with these PDUs and EDUs.
    pub fn send_txn(
        &self,
        server: &TestServer,
        txn_id: &str,
        pdus: Vec<Value>,
        edus: Vec<Value>,
    ) -> HttpResponse {
        let body = json!({
            "origin": self.server_name.as_str(),
            "origin_server_ts": 5_000,
            "pdus": pdus,
            "edus": edus,
        });
        let path = format!("/_matrix/federation/v1/send/{txn_id}");
        self.call(server, "PUT", &path, Some(&body))
    }
}

/// A hearth named `hearth.test` with open registration, trusting the test CA, with
/// `n_peers` fake peers (seeds 3, 4, ...) and the registered user alice.
pub fn hearth_with_peers(label: &str, n_peers: u8) -> (TestServer, Vec<FakePeer>, User) {
    let dir = temp_dir(label);
    let ca = TestCa::new();
    std::fs::write(dir.join("ca.pem"), &ca.ca_pem).unwrap();
    let extra = format!(
        "[federation]\nextra_ca = [\"{}\"]\n[registration]\nopen = true\n",
        dir.join("ca.pem").display()
    );
    let config = config_text("hearth.test", &dir.join("data"), None, &extra);
    let server = TestServer::start(&dir, &config, None);
    let peers = (0..n_peers)
        .map(|n| FakePeer::start(&ca, &dir, 3 + n))
        .collect();
    let alice = register(&server, "alice");
    (server, peers, alice)
}

#[derive(Clone)]
struct Shared {
    server_name: ServerName,
    key: SigningKey,
    requests: Arc<Mutex<Vec<PeerRequest>>>,
    handler: Arc<Mutex<Handler>>,
}

impl Shared {
    /// What a well-behaved peer says: its key document, `/send` accepted, 404 otherwise.
    fn good_answer(&self, request: &PeerRequest) -> Answer {
        if request.path.starts_with("/_matrix/key/v2/server") {
            let mut document = json!({
                "server_name": self.server_name.as_str(),
                "verify_keys": { self.key.key_id(): { "key": self.key.public_key_base64() } },
                "old_verify_keys": {},
                "valid_until_ts": 4_000_000_000_000_i64,
            });
            sign_json(
                document.as_object_mut().unwrap(),
                self.server_name.as_str(),
                &self.key,
            )
            .unwrap();
            Answer::Json(200, document)
        } else if request.path.starts_with("/_matrix/federation/v1/send/") {
            Answer::Json(200, json!({"pdus": {}}))
        } else {
            Answer::Json(
                404,
                json!({"errcode": "M_UNRECOGNIZED", "error": "not served by this peer"}),
            )
        }
    }
}

/// HTTP/1.1 with keep-alive, as hearth's outbound client pools its connections.
fn serve(
    stream: rustls::StreamOwned<rustls::ServerConnection, std::net::TcpStream>,
    shared: Shared,
) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let mut parts = request_line.split_whitespace();
        let request = PeerRequest {
            method: parts.next().unwrap_or("").to_owned(),
            path: parts.next().unwrap_or("").to_owned(),
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        };
        shared.requests.lock().unwrap().push(request.clone());
        let handler = shared.handler.lock().unwrap().clone();
        let answer = handler(&request).unwrap_or_else(|| shared.good_answer(&request));
        let (status, content_type, body) = match answer {
            Answer::Json(status, value) => {
                (status, "application/json", value.to_string().into_bytes())
            }
            Answer::Raw(status, content_type, body) => (status, content_type, body),
            Answer::Hang => {
                std::thread::sleep(Duration::from_secs(600));
                return;
            }
            Answer::Close => return,
            Answer::Garbage(bytes) => {
                let _ = reader.get_mut().write_all(&bytes);
                let _ = reader.get_mut().flush();
                return;
            }
        };
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let stream = reader.get_mut();
        if stream.write_all(head.as_bytes()).is_err() || stream.write_all(&body).is_err() {
            return;
        }
        let _ = stream.flush();
    }
}

/// What the peer knows of the room after joining it.
pub struct Joined {
    pub rules: RoomRules,
    pub join_event_id: String,
    pub join_depth: i64,
    pub create_id: String,
    pub power_levels_id: String,
}

/// make_join + v2 send_join as `@bob` of the peer.
pub fn join_as_peer(server: &TestServer, peer: &FakePeer, room_id: &str) -> Joined {
    let bob = peer.user("bob");
    let path = format!(
        "/_matrix/federation/v1/make_join/{}/{}?ver=10&ver=11&ver=12",
        encode(room_id),
        encode(&bob)
    );
    let answer = peer.call(server, "GET", &path, None);
    assert_eq!(answer.status, 200, "{:?}", answer.json());
    let answer = answer.json();
    let rules = RoomRules::for_version(answer["room_version"].as_str().unwrap()).unwrap();
    let mut event: Map<String, Value> = answer["event"].as_object().unwrap().clone();
    hash_and_sign_event(&rules, &mut event, &peer.server_name, &peer.key).unwrap();
    let event_id = event_id_for(&rules, &event).unwrap();
    let path = format!(
        "/_matrix/federation/v2/send_join/{}/{}",
        encode(room_id),
        encode(&event_id)
    );
    let answer = peer.call(server, "PUT", &path, Some(&Value::Object(event.clone())));
    assert_eq!(answer.status, 200, "{:?}", answer.json());
    let state = answer.json()["state"].as_array().unwrap().clone();
    let id_of = |kind: &str| {
        state
            .iter()
            .find(|e| e["type"] == kind)
            .map(|e| event_id_for(&rules, e.as_object().unwrap()).unwrap())
            .unwrap_or_default()
    };
    Joined {
        rules,
        join_event_id: event_id,
        join_depth: event["depth"].as_i64().unwrap(),
        create_id: id_of("m.room.create"),
        power_levels_id: id_of("m.room.power_levels"),
    }
}

/// A message from bob after his join, signed by the peer.
pub fn message_from_peer(peer: &FakePeer, room_id: &str, joined: &Joined, text: &str) -> Value {
    let content = json!({"msgtype": "m.text", "body": text});
    Value::Object(message_with(
        peer, room_id, joined, content, &peer.key, true,
    ))
}

/// A message from bob after his join with `content`, hashed (unless `hash` is false) and
/// signed with `key` as the peer.
pub fn message_with(
    peer: &FakePeer,
    room_id: &str,
    joined: &Joined,
    content: Value,
    key: &SigningKey,
    hash: bool,
) -> Map<String, Value> {
    let mut auth_events = vec![joined.power_levels_id.clone(), joined.join_event_id.clone()];
    if !joined.rules.room_id_is_create_event_hash {
        auth_events.push(joined.create_id.clone());
    }
    let mut event = json!({
        "room_id": room_id,
        "sender": peer.user("bob"),
        "type": "m.room.message",
        "content": content,
        "origin_server_ts": 5_000,
        "depth": joined.join_depth + 1,
        "prev_events": [joined.join_event_id],
        "auth_events": auth_events,
    })
    .as_object()
    .unwrap()
    .clone();
    if hash {
        hash_and_sign_event(&joined.rules, &mut event, &peer.server_name, key).unwrap();
    } else {
        sign_event(&joined.rules, &mut event, &peer.server_name, key).unwrap();
    }
    event
}
