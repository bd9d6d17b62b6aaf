//! Client-API test helpers: a server with open registration, registered users, and JSON
//! requests with an access token. Shared by the `tests/client_*.rs` files.

use serde_json::{Value, json};

use super::{TestServer, config_text, temp_dir};

/// A running hearth named `hearth.test` with open registration.
pub fn open_server(label: &str) -> TestServer {
    let dir = temp_dir(label);
    let config = config_text(
        "hearth.test",
        &dir.join("data"),
        None,
        "[registration]\nopen = true\n",
    );
    TestServer::start(&dir, &config, None)
}

/// A logged-in user.
#[derive(Debug, Clone)]
pub struct User {
    pub user_id: String,
    pub access_token: String,
    pub device_id: String,
}

/// Registers `localpart` (password `password`) through the dummy stage.
pub fn register(server: &TestServer, localpart: &str) -> User {
    let body = json!({
        "username": localpart,
        "password": "password",
        "auth": { "type": "m.login.dummy" },
    });
    let (status, answer) = call(
        server,
        None,
        "POST",
        "/_matrix/client/v3/register",
        Some(&body),
    );
    assert_eq!(status, 200, "register {localpart}: {answer}");
    User {
        user_id: answer["user_id"].as_str().unwrap().to_owned(),
        access_token: answer["access_token"].as_str().unwrap().to_owned(),
        device_id: answer["device_id"].as_str().unwrap().to_owned(),
    }
}

/// One request; the body (if any) is sent as JSON. Returns the status and the JSON body
/// (`Value::Null` when the body is empty).
pub fn call(
    server: &TestServer,
    user: Option<&User>,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let authorization = user.map(|u| format!("Bearer {}", u.access_token));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(value) = &authorization {
        headers.push(("Authorization", value.as_str()));
    }
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let mut connection = server.connect();
    connection.send(method, path, &headers, &bytes);
    let response = connection.read_response(method == "HEAD");
    let value = if response.body.is_empty() {
        Value::Null
    } else {
        response.json()
    };
    (response.status, value)
}

impl User {
    pub fn get(&self, server: &TestServer, path: &str) -> (u16, Value) {
        call(server, Some(self), "GET", path, None)
    }

    pub fn post(&self, server: &TestServer, path: &str, body: Value) -> (u16, Value) {
        call(server, Some(self), "POST", path, Some(&body))
    }

    pub fn put(&self, server: &TestServer, path: &str, body: Value) -> (u16, Value) {
        call(server, Some(self), "PUT", path, Some(&body))
    }

    pub fn delete(&self, server: &TestServer, path: &str) -> (u16, Value) {
        call(server, Some(self), "DELETE", path, None)
    }

    /// Creates a room with `body` and returns its ID.
    pub fn create_room(&self, server: &TestServer, body: Value) -> String {
        let (status, answer) = self.post(server, "/_matrix/client/v3/createRoom", body);
        assert_eq!(status, 200, "createRoom: {answer}");
        answer["room_id"].as_str().unwrap().to_owned()
    }

    /// Sends an `m.room.message` with `body` and returns its event ID.
    pub fn send_text(&self, server: &TestServer, room_id: &str, text: &str) -> String {
        let txn = format!("t{}", next_txn());
        let path = format!(
            "/_matrix/client/v3/rooms/{}/send/m.room.message/{txn}",
            encode(room_id)
        );
        let (status, answer) = self.put(server, &path, json!({"msgtype": "m.text", "body": text}));
        assert_eq!(status, 200, "send: {answer}");
        answer["event_id"].as_str().unwrap().to_owned()
    }

    /// Joins a room by ID or alias.
    pub fn join(&self, server: &TestServer, room: &str) {
        let path = format!("/_matrix/client/v3/join/{}", encode(room));
        let (status, answer) = self.post(server, &path, json!({}));
        assert_eq!(status, 200, "join: {answer}");
    }

    /// The bodies of the messages `/messages?{query}` answers, in its order.
    pub fn message_bodies(&self, server: &TestServer, room_id: &str, query: &str) -> Vec<String> {
        let (status, body) = self.get(server, &room_path(room_id, &format!("messages?{query}")));
        assert_eq!(status, 200, "messages: {body}");
        body["chunk"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
            .collect()
    }

    /// `/sync` with optional `since` and long-poll `timeout` (ms).
    pub fn sync(&self, server: &TestServer, since: Option<&str>, timeout_ms: u64) -> Value {
        let mut path = format!("/_matrix/client/v3/sync?timeout={timeout_ms}");
        if let Some(since) = since {
            path.push_str(&format!("&since={}", encode(since)));
        }
        let (status, answer) = self.get(server, &path);
        assert_eq!(status, 200, "sync: {answer}");
        answer
    }
}

fn next_txn() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::SeqCst)
}

/// `/_matrix/client/v3/rooms/{room_id}/{rest}`.
pub fn room_path(room_id: &str, rest: &str) -> String {
    format!("/_matrix/client/v3/rooms/{}/{rest}", encode(room_id))
}

/// Percent-encodes a path segment (room IDs, aliases, event IDs, user IDs).
pub fn encode(segment: &str) -> String {
    let mut out = String::new();
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `POST /login` with a password for `localpart` on the device `device_id`: (status, body).
pub fn login(
    server: &TestServer,
    localpart: &str,
    password: &str,
    device_id: &str,
) -> (u16, Value) {
    let body = serde_json::json!({
        "type": "m.login.password",
        "identifier": { "type": "m.id.user", "user": localpart },
        "password": password,
        "device_id": device_id,
        "initial_device_display_name": format!("{device_id} device"),
    });
    call(
        server,
        None,
        "POST",
        "/_matrix/client/v3/login",
        Some(&body),
    )
}
