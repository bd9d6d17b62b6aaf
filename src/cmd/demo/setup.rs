//! The demo's room, made through the real client API of each server: log in, create the
//! room on server 1 inviting the other two users, join from servers 2 and 3 (a join over
//! federation), then wait until every server sees all three members.
//!
//! The HTTP client is a minimal blocking HTTP/1.1 one on loopback (one request per
//! connection); it only ever talks to the demo's own plain-HTTP client listeners.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::files::DemoServer;

/// One logged-in demo user.
pub struct Session<'a> {
    pub server: &'a DemoServer,
    token: String,
}

/// One request to `port` on 127.0.0.1: the status and the JSON body (`Null` when empty).
pub fn call(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Result<(u16, Value), String> {
    let fail = |e: std::io::Error| format!("{method} 127.0.0.1:{port}{path}: {e}");
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(fail)?;
    // A join over federation may take a while; the server's own timeout is 60 s.
    stream
        .set_read_timeout(Some(Duration::from_secs(90)))
        .map_err(fail)?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all((head + &body).as_bytes()).map_err(fail)?;
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).map_err(fail)?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| format!("{method} {path}: bad status line {status_line:?}"))?;
    let (mut length, mut chunked) = (None, false);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).map_err(fail)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            }
        }
    }
    let bytes = if chunked {
        read_chunked(&mut reader).map_err(fail)?
    } else if let Some(length) = length {
        let mut bytes = vec![0; length];
        reader.read_exact(&mut bytes).map_err(fail)?;
        bytes
    } else {
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).map_err(fail)?;
        bytes
    };
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).map_err(|e| format!("{method} {path}: {e}"))?
    };
    Ok((status, value))
}

fn read_chunked(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    loop {
        let mut size_line = String::new();
        reader.read_line(&mut size_line)?;
        let size_text = size_line.trim().split(';').next().unwrap_or("");
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| std::io::Error::other("bad chunk size"))?;
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk)?;
        chunk.truncate(size);
        if size == 0 {
            return Ok(bytes);
        }
        bytes.extend_from_slice(&chunk);
    }
}

/// Percent-encodes a path segment (room and user IDs).
pub fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

/// Waits until `server` answers `/versions` on its client port; `alive` says whether its
/// process still runs.
pub fn wait_ready(
    server: &DemoServer,
    stop: &AtomicBool,
    mut alive: impl FnMut() -> Result<(), String>,
) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        alive()?;
        if let Ok((200, _)) = call(
            server.client_port,
            "GET",
            "/_matrix/client/versions",
            None,
            None,
        ) {
            return Ok(());
        }
        if stop.load(Ordering::SeqCst) || Instant::now() > deadline {
            return Err(format!("{} did not start", server.label));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl<'a> Session<'a> {
    /// Password login on a fixed device, so repeated runs do not pile up devices.
    pub fn login(server: &'a DemoServer, password: &str) -> Result<Session<'a>, String> {
        let body = json!({
            "type": "m.login.password",
            "identifier": { "type": "m.id.user", "user": server.localpart },
            "password": password,
            "device_id": "HEARTHDEMO",
            "initial_device_display_name": "hearth demo set-up",
        });
        let (status, answer) = call(
            server.client_port,
            "POST",
            "/_matrix/client/v3/login",
            None,
            Some(&body),
        )?;
        match answer["access_token"].as_str() {
            Some(token) if status == 200 => Ok(Session {
                server,
                token: token.to_owned(),
            }),
            _ => Err(format!("login as {}: {status} {answer}", server.user_id())),
        }
    }

    fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
        let (status, answer) = call(
            self.server.client_port,
            method,
            path,
            Some(&self.token),
            body,
        )?;
        if status == 200 {
            Ok(answer)
        } else {
            Err(format!(
                "{method} {path} as {}: {status} {answer}",
                self.server.user_id()
            ))
        }
    }

    pub fn joined(&self, room_id: &str) -> Result<bool, String> {
        let answer = self.request("GET", "/_matrix/client/v3/joined_rooms", None)?;
        let rooms = answer["joined_rooms"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        Ok(rooms.iter().any(|room| room.as_str() == Some(room_id)))
    }

    fn joined_member_count(&self, room_id: &str) -> Result<usize, String> {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/joined_members",
            encode(room_id)
        );
        let answer = self.request("GET", &path, None)?;
        Ok(answer["joined"]
            .as_object()
            .map_or(0, |joined| joined.len()))
    }
}

/// Creates the room on the first server, inviting the other users; returns its ID.
pub fn create_room(owner: &Session, invitees: &[String]) -> Result<String, String> {
    let body = json!({
        "name": "Hearth demo",
        "topic": "Three hearth servers federating on localhost",
        "preset": "private_chat",
        "invite": invitees,
    });
    let answer = owner.request("POST", "/_matrix/client/v3/createRoom", Some(&body))?;
    answer["room_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("createRoom: no room_id in {answer}"))
}

/// Joins `member` to the room (through the owner's server), inviting it first when an
/// earlier, interrupted run left it neither invited nor joined.
pub fn ensure_joined(owner: &Session, member: &Session, room_id: &str) -> Result<(), String> {
    if member.joined(room_id)? {
        return Ok(());
    }
    let join_path = format!(
        "/_matrix/client/v3/join/{}?via={}",
        encode(room_id),
        encode(&owner.server.name)
    );
    let Err(first_error) = member.request("POST", &join_path, Some(&json!({}))) else {
        return Ok(());
    };
    let invite_path = format!("/_matrix/client/v3/rooms/{}/invite", encode(room_id));
    owner
        .request(
            "POST",
            &invite_path,
            Some(&json!({ "user_id": member.server.user_id() })),
        )
        .map_err(|invite_error| format!("{first_error}; then {invite_error}"))?;
    member
        .request("POST", &join_path, Some(&json!({})))
        .map(drop)
}

/// Waits until every session's server counts `expected` joined members.
pub fn wait_for_members(
    sessions: &[Session],
    room_id: &str,
    expected: usize,
    stop: &AtomicBool,
) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    for session in sessions {
        loop {
            let count = session.joined_member_count(room_id)?;
            if count >= expected {
                break;
            }
            if stop.load(Ordering::SeqCst) || Instant::now() > deadline {
                return Err(format!(
                    "{} sees {count} of {expected} members in {room_id}",
                    session.server.name
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(())
}

/// Sends a text message; returns its event ID.
pub fn say(session: &Session, room_id: &str, text: &str) -> Result<String, String> {
    let path = format!(
        "/_matrix/client/v3/rooms/{}/send/m.room.message/demo-welcome",
        encode(room_id)
    );
    let answer = session.request(
        "PUT",
        &path,
        Some(&json!({ "msgtype": "m.text", "body": text })),
    )?;
    Ok(answer["event_id"].as_str().unwrap_or_default().to_owned())
}
