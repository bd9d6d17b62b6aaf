//! A hearth built in-process over a data folder, with a public room that `@bob` of a
//! simulated remote server has joined, and that server's signed PDUs and `/send` requests.
//! Shared by tests/federation_transaction.rs and examples/bench_transaction.rs (included
//! by path, so that the benchmark measures exactly what the test checks).

use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use hearth::api::{Method, Request};
use hearth::config::Config;
use hearth::federation::Federation;
use hearth::proto::hashes::{event_id_for, hash_and_sign_event};
use hearth::proto::id::{ServerName, UserId};
use hearth::proto::room_version::RoomRules;
use hearth::proto::server_keys::{ServerKey, ServerKeys};
use hearth::proto::signing::SigningKey;
use hearth::rooms::receive::{Received, receive_pdu};
use hearth::rooms::{LocalEvent, Signer, create};
use hearth::server::Server;
use hearth::store::{Store, StoreError, events, remote_keys, state};

pub const RULES: RoomRules = RoomRules::V10;

pub struct RemoteRoom {
    pub server: Arc<Server>,
    pub room_id: String,
    pub remote: ServerName,
    pub remote_key: SigningKey,
    /// bob's newest event (the next one's prev event) and its depth.
    last: (String, i64),
    /// create, power levels and bob's join: the auth events of bob's messages.
    auth_events: Vec<String>,
    next_ts: i64,
}

fn content(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

impl RemoteRoom {
    /// A hearth for `hearth.test` over `<dir>/data` that knows `remote.test`'s key already
    /// (as after a key fetch), and a room of `@alice:hearth.test` that `@bob:remote.test`
    /// joined over the receive pipeline.
    pub fn start(dir: &Path) -> RemoteRoom {
        let text = format!(
            "server_name = \"hearth.test\"\ndata_dir = \"{}\"\n[[listen]]\naddr = \"127.0.0.1:0\"\n",
            dir.join("data").display(),
        );
        let config = Config::parse(&text, "test").expect("config");
        std::fs::create_dir_all(dir.join("data")).expect("data dir");
        let store = Store::open(&dir.join("data").join("hearth.db")).expect("store");
        let name = ServerName::parse("hearth.test").expect("name");
        let key = SigningKey::from_seed("a_1", [1; 32]).expect("key");
        let federation = Federation::from_config(&config, &name, &key).expect("federation");
        let server = Arc::new(Server::new(config, name, store, key, federation));
        let remote = ServerName::parse("remote.test").expect("name");
        let remote_key = SigningKey::from_seed("b_1", [2; 32]).expect("key");
        let keys = ServerKeys {
            server_name: remote.clone(),
            valid_until_ts: i64::MAX / 2,
            keys: vec![ServerKey {
                key_id: remote_key.key_id(),
                public_key: remote_key.public_key_base64(),
                valid_until_ts: i64::MAX / 2,
                expired_ts: None,
            }],
        };
        smol::block_on(
            server
                .store
                .write(move |transaction| remote_keys::save(transaction, &keys, "{}", 0)),
        )
        .expect("save remote key");
        let room_id = create_room(&server);
        let mut room = RemoteRoom {
            server,
            room_id,
            remote,
            remote_key,
            last: (String::new(), 0),
            auth_events: Vec::new(),
            next_ts: 2_000,
        };
        room.join_bob();
        room
    }

    pub fn bob(&self) -> String {
        format!("@bob:{}", self.remote)
    }

    fn join_bob(&mut self) {
        let (room_id, bob) = (self.room_id.clone(), self.bob());
        let (remote, remote_key) = (self.remote.clone(), self.remote_key.clone());
        let joined = smol::block_on(self.server.store.write(move |transaction| {
            let stored = events::room_by_id(transaction, &room_id)?.expect("room");
            let extremities = events::forward_extremities(transaction, stored.room_nid)?;
            // create and power levels: auth events of the join and of every message.
            let mut auth_events = Vec::new();
            let mut join_rules = None;
            for event in state::current_state_events(transaction, stored.room_nid)? {
                match event.kind.as_str() {
                    "m.room.create" | "m.room.power_levels" => auth_events.push(event.event_id),
                    "m.room.join_rules" => join_rules = Some(event.event_id),
                    _ => {}
                }
            }
            let depth = extremities.iter().map(|e| e.depth).max().unwrap_or(0) + 1;
            let mut join = content(json!({
                "room_id": room_id,
                "sender": bob,
                "type": "m.room.member",
                "state_key": bob,
                "content": {"membership": "join"},
                "origin_server_ts": 1_500,
                "depth": depth,
                "prev_events": extremities.iter().map(|e| e.event_id.clone()).collect::<Vec<_>>(),
                "auth_events": auth_events.iter().chain(join_rules.iter()).collect::<Vec<_>>(),
            }));
            hash_and_sign_event(&RULES, &mut join, &remote, &remote_key).expect("sign");
            let event_id = event_id_for(&RULES, &join).expect("event id");
            let public = (remote_key.key_id(), remote_key.public_key_base64());
            let keys = |server_name: &ServerName, key_id: &str| {
                (*server_name == remote && key_id == public.0).then(|| public.1.clone())
            };
            let received = receive_pdu(transaction, &stored, join, &keys)
                .map_err(|e| StoreError::CommitFailed(e.to_string()))?;
            assert!(matches!(received, Received::Accepted(_)), "{received:?}");
            auth_events.push(event_id.clone());
            Ok((event_id, depth, auth_events))
        }))
        .expect("join");
        self.last = (joined.0, joined.1);
        self.auth_events = joined.2;
    }

    /// `count` messages from bob, each following the one before, signed by the remote.
    pub fn messages(&mut self, count: usize) -> Vec<Value> {
        (0..count)
            .map(|i| {
                let depth = self.last.1 + 1;
                self.next_ts += 1;
                let mut pdu = content(json!({
                    "room_id": self.room_id,
                    "sender": self.bob(),
                    "type": "m.room.message",
                    "content": {"msgtype": "m.text", "body": format!("message {i} at {}", self.next_ts)},
                    "origin_server_ts": self.next_ts,
                    "depth": depth,
                    "prev_events": [self.last.0],
                    "auth_events": self.auth_events,
                }));
                hash_and_sign_event(&RULES, &mut pdu, &self.remote, &self.remote_key)
                    .expect("sign");
                self.last = (event_id_for(&RULES, &pdu).expect("event id"), depth);
                Value::Object(pdu)
            })
            .collect()
    }

    /// `PUT /_matrix/federation/v1/send/{txn_id}` as the router hands it over once the
    /// X-Matrix signature of `remote.test` checked out.
    pub fn send_request(&self, txn_id: &str, pdus: Vec<Value>) -> Request {
        let body = json!({
            "origin": self.remote.as_str(),
            "origin_server_ts": self.next_ts,
            "pdus": pdus,
        });
        Request {
            method: Method::Put,
            path: format!("/_matrix/federation/v1/send/{txn_id}"),
            query: Vec::new(),
            headers: Vec::new(),
            body: body.to_string().into_bytes(),
            params: vec![txn_id.to_owned()],
            client: None,
            origin: Some(self.remote.clone()),
        }
    }
}

fn create_room(server: &Server) -> String {
    let (name, key) = (server.name.clone(), server.signing_key.clone());
    smol::block_on(server.store.write(move |transaction| {
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
        let alice = UserId::parse("@alice:hearth.test").expect("user id");
        create::create_room(
            transaction,
            &signer,
            &alice,
            &RULES,
            Map::new(),
            vec![join_rules],
            1_000,
        )
        .map(|created| created.room_id)
        .map_err(|e| StoreError::CommitFailed(e.to_string()))
    }))
    .expect("create room")
}
