//! `hearth demo` end to end, against the real binary: the printed credentials log in on
//! each of the three servers, the shared room has all three members everywhere, a message
//! from server 1 reaches the other two over federation, SIGINT stops everything and frees
//! the ports, and a second run with the same `--dir` brings back the users, the room and
//! its history.

mod support;

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::client::encode;
use support::{Connection, hearth_binary, temp_dir};

/// One user as the banner prints it.
#[derive(Debug, Clone, PartialEq)]
struct Account {
    client_port: u16,
    user_id: String,
    password: String,
}

#[derive(Debug, Clone, PartialEq)]
struct Banner {
    accounts: Vec<Account>,
    room_id: String,
}

/// A running `hearth demo`; killed on drop if a test fails half-way (its servers follow:
/// their standard input closes).
struct RunningDemo {
    child: Child,
    stderr: Receiver<String>,
}

impl Drop for RunningDemo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_demo(args: &[&str]) -> (RunningDemo, Banner) {
    let mut child = Command::new(hearth_binary())
        .arg("demo")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_sender, lines) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_sender.send(line);
        }
    });
    let stderr = child.stderr.take().unwrap();
    let (stderr_sender, stderr_lines) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = stderr_sender.send(line);
        }
    });
    let mut demo = RunningDemo {
        child,
        stderr: stderr_lines,
    };
    let mut accounts: Vec<Account> = Vec::new();
    let mut room_id = None;
    let mut url = None;
    let mut user_id = None;
    loop {
        // Generous: three debug-build servers, argon2 and joins over federation.
        let Ok(line) = lines.recv_timeout(Duration::from_secs(180)) else {
            let status = demo.child.try_wait().unwrap();
            let errors: Vec<String> = demo.stderr.try_iter().collect();
            panic!("no banner from hearth demo (status {status:?}): {errors:#?}");
        };
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("homeserver URL") {
            url = Some(rest.trim().to_owned());
        } else if let Some(rest) = line.strip_prefix("user ID") {
            user_id = Some(rest.trim().to_owned());
        } else if let Some(rest) = line.strip_prefix("password") {
            let url: String = url.take().unwrap();
            accounts.push(Account {
                client_port: url.rsplit(':').next().unwrap().parse().unwrap(),
                user_id: user_id.take().unwrap(),
                password: rest.trim().to_owned(),
            });
        } else if let Some(rest) = line.strip_prefix("Shared room \"Hearth demo\":") {
            room_id = Some(rest.trim().to_owned());
        } else if line.starts_with("Press Ctrl-C") {
            break;
        }
    }
    let banner = Banner {
        accounts,
        room_id: room_id.expect("the banner names the room"),
    };
    assert_eq!(banner.accounts.len(), 3, "{banner:?}");
    (demo, banner)
}

/// SIGINT, as Ctrl-C sends; returns whether the demo exited with status 0.
fn interrupt(mut demo: RunningDemo) -> bool {
    let pid = demo.child.id().to_string();
    let killed = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = demo.child.try_wait().unwrap() {
            return status.success();
        }
        assert!(Instant::now() < deadline, "hearth demo ignored SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A base port whose six ports (base+1..base+6) are free now; tests running at the same
/// time in this process get different ones.
fn free_base_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let start = 20_000 + (std::process::id() % 3000) as u16 * 10;
    std::iter::repeat_with(|| start + NEXT.fetch_add(7, Ordering::SeqCst) % 10_000)
        .take(200)
        .find(|base| ports_free(*base))
        .expect("six free ports")
}

fn ports_free(base: u16) -> bool {
    (base + 1..=base + 6).all(|port| TcpListener::bind(("127.0.0.1", port)).is_ok())
}

fn call(port: u16, token: Option<&str>, method: &str, path: &str, body: Option<Value>) -> Value {
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut connection = Connection::Plain(BufReader::new(tcp));
    let authorization = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(value) = &authorization {
        headers.push(("Authorization", value.as_str()));
    }
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    connection.send(method, path, &headers, &bytes);
    let response = connection.read_response(false);
    let value = response.json();
    assert_eq!(response.status, 200, "{method} {path}: {value}");
    value
}

/// Logs in with the printed user ID and password; returns the access token.
fn login(account: &Account) -> String {
    let body = json!({
        "type": "m.login.password",
        "identifier": { "type": "m.id.user", "user": account.user_id },
        "password": account.password,
    });
    let answer = call(
        account.client_port,
        None,
        "POST",
        "/_matrix/client/v3/login",
        Some(body),
    );
    answer["access_token"].as_str().unwrap().to_owned()
}

fn joined_members(account: &Account, token: &str, room_id: &str) -> Vec<String> {
    let path = format!(
        "/_matrix/client/v3/rooms/{}/joined_members",
        encode(room_id)
    );
    let answer = call(account.client_port, Some(token), "GET", &path, None);
    let mut members: Vec<String> = answer["joined"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    members.sort();
    members
}

/// Long-polls `/sync` until the room's timeline holds a message with `body`.
fn sync_until_message(account: &Account, token: &str, room_id: &str, body: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut since: Option<String> = None;
    loop {
        let mut path = "/_matrix/client/v3/sync?timeout=5000".to_owned();
        if let Some(since) = &since {
            path.push_str(&format!("&since={}", encode(since)));
        }
        let answer = call(account.client_port, Some(token), "GET", &path, None);
        let events = answer["rooms"]["join"][room_id]["timeline"]["events"].clone();
        if events
            .as_array()
            .into_iter()
            .flatten()
            .any(|event| event["content"]["body"] == body)
        {
            return;
        }
        since = answer["next_batch"].as_str().map(str::to_owned);
        assert!(
            Instant::now() < deadline,
            "{} never saw {body:?} in /sync",
            account.user_id
        );
    }
}

fn history_bodies(account: &Account, token: &str, room_id: &str) -> Vec<String> {
    let path = format!(
        "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=100",
        encode(room_id)
    );
    let answer = call(account.client_port, Some(token), "GET", &path, None);
    answer["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|event| event["content"]["body"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn three_servers_share_a_room_and_come_back_with_the_same_dir() {
    let dir = temp_dir("demo");
    let data = dir.join("demo-data");
    let base = free_base_port();
    let base_text = base.to_string();
    let data_text = data.to_str().unwrap();
    let (demo, banner) = start_demo(&["--dir", data_text, "--base-port", &base_text]);
    let mut everyone: Vec<String> = banner.accounts.iter().map(|a| a.user_id.clone()).collect();
    everyone.sort();
    let servers: Vec<&str> = banner
        .accounts
        .iter()
        .map(|a| a.user_id.split_once(':').unwrap().1)
        .collect();
    let expected: Vec<String> = (1..=3).map(|i| format!("localhost:{}", base + i)).collect();
    assert_eq!(servers, expected);
    let tokens: Vec<String> = banner.accounts.iter().map(login).collect();
    for (account, token) in banner.accounts.iter().zip(&tokens) {
        assert_eq!(joined_members(account, token, &banner.room_id), everyone);
    }
    let text = "hello from server 1";
    let path = format!(
        "/_matrix/client/v3/rooms/{}/send/m.room.message/t1",
        encode(&banner.room_id)
    );
    call(
        banner.accounts[0].client_port,
        Some(&tokens[0]),
        "PUT",
        &path,
        Some(json!({ "msgtype": "m.text", "body": text })),
    );
    for (account, token) in banner.accounts.iter().zip(&tokens).skip(1) {
        sync_until_message(account, token, &banner.room_id, text);
    }
    assert!(interrupt(demo), "hearth demo exits 0 on SIGINT");
    assert!(ports_free(base), "all six ports are free again");

    // The same folder, without --base-port: the same servers, users, passwords and room.
    let (demo, again) = start_demo(&["--dir", data_text]);
    assert_eq!(again, banner);
    for account in &again.accounts {
        let token = login(account);
        assert_eq!(joined_members(account, &token, &again.room_id), everyone);
        let history = history_bodies(account, &token, &again.room_id);
        assert!(history.iter().any(|body| body == text), "{history:?}");
    }
    assert!(interrupt(demo));
    assert!(ports_free(base));
    assert!(Path::new(&data).join("demo.json").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_taken_port_is_named_before_anything_starts() {
    let base = free_base_port();
    let taken = TcpListener::bind(("127.0.0.1", base + 5)).unwrap();
    let output = Command::new(hearth_binary())
        .args(["demo", "--base-port", &base.to_string()])
        .output()
        .unwrap();
    drop(taken);
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains(&format!("port {}", base + 5)), "{message}");
    assert!(message.contains("--base-port"), "{message}");
}
