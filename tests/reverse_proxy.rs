//! Behind a reverse proxy (`x_forwarded = true` on a plain-HTTP listener): the request log
//! line and the login rate limit use the address the proxy put last in `X-Forwarded-For`;
//! a malformed header falls back to the TCP peer; a listener without the flag ignores it.

mod support;

use serde_json::{Value, json};

use support::{TestServer, config_text, temp_dir};

fn server(label: &str, x_forwarded: bool) -> TestServer {
    let dir = temp_dir(label);
    let mut config = config_text("hearth.test", &dir.join("data"), None, "");
    // The listener is the config's last table.
    if x_forwarded {
        config.push_str("x_forwarded = true\n");
    }
    TestServer::start(&dir, &config, None)
}

/// A login attempt for an unknown user (answered without hashing), with `X-Forwarded-For`.
fn login(server: &TestServer, forwarded_for: &str) -> (u16, Value) {
    let body = json!({
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": "nobody"},
        "password": "guess",
    })
    .to_string();
    let mut connection = server.connect();
    connection.send(
        "POST",
        "/_matrix/client/v3/login",
        &[
            ("Content-Type", "application/json"),
            ("X-Forwarded-For", forwarded_for),
        ],
        body.as_bytes(),
    );
    let response = connection.read_response(false);
    (response.status, response.json())
}

fn get_versions(server: &TestServer, headers: &[(&str, &str)]) -> u16 {
    let mut connection = server.connect();
    connection.send("GET", "/_matrix/client/versions", headers, b"");
    connection.read_response(false).status
}

/// What the log line of each `GET /_matrix/client/versions` says before the method
/// (after the time and level): the client address, and the proxy's when forwarded.
fn versions_log_addresses(server: &TestServer, expected: usize) -> Vec<String> {
    let addresses = || -> Vec<String> {
        server
            .log_lines()
            .iter()
            .filter(|line| line.contains(" GET /_matrix/client/versions 200"))
            .filter_map(|line| {
                let words: Vec<&str> = line.split_whitespace().collect();
                let get = words.iter().position(|w| *w == "GET")?;
                Some(words.get(2..get)?.join(" "))
            })
            .collect()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while addresses().len() < expected && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    addresses()
}

#[test]
fn the_log_line_shows_the_forwarded_address() {
    let server = server("proxy-log", true);
    // The client wrote the first entry, the proxy appended the second: only that one counts.
    assert_eq!(
        get_versions(
            &server,
            &[("X-Forwarded-For", "198.51.100.66, 203.0.113.9")]
        ),
        200
    );
    // Malformed headers fall back to the peer, and never fail the request.
    for bad in ["garbage", "203.0.113.9, unknown", "999.1.2.3", ""] {
        assert_eq!(
            get_versions(&server, &[("X-Forwarded-For", bad)]),
            200,
            "{bad:?}"
        );
    }
    // A repeated header is one list: the last line's last entry.
    assert_eq!(
        get_versions(
            &server,
            &[
                ("X-Forwarded-For", "198.51.100.66"),
                ("X-Forwarded-For", "203.0.113.10")
            ]
        ),
        200
    );
    let lines = versions_log_addresses(&server, 6);
    assert_eq!(lines.len(), 6, "{:?}", server.log_lines());
    let clients = lines;
    assert!(
        clients[0].starts_with("203.0.113.9 via 127.0.0.1:"),
        "{clients:?}"
    );
    for fallback in &clients[1..5] {
        assert!(
            fallback.starts_with("127.0.0.1:") && !fallback.contains("via"),
            "{clients:?}"
        );
    }
    assert!(
        clients[5].starts_with("203.0.113.10 via 127.0.0.1:"),
        "{clients:?}"
    );
    assert!(
        !server
            .log_lines()
            .iter()
            .any(|line| line.contains("198.51.100.66")),
        "the client's own entry was logged: {:?}",
        server.log_lines()
    );
}

#[test]
fn rate_limits_key_on_the_forwarded_address() {
    let server = server("proxy-limit", true);
    // Forty attempts through the one proxy connection address, each for another client:
    // none is limited (the burst is 30 per address).
    for n in 0..40 {
        let (status, answer) = login(&server, &format!("198.51.100.1, 203.0.113.{n}"));
        assert_eq!(status, 403, "client {n}: {answer}");
    }
    // One forwarded address over and over is limited, whatever the client writes first.
    let limited = (0..40).find_map(|n| {
        let (status, answer) = login(&server, &format!("198.51.100.{n}, 203.0.113.200"));
        match status {
            403 => None,
            429 => Some(answer),
            other => panic!("unexpected {other}: {answer}"),
        }
    });
    let answer = limited.expect("40 logins from one forwarded address are limited");
    assert_eq!(answer["errcode"], "M_LIMIT_EXCEEDED");
}

#[test]
fn a_listener_without_the_flag_ignores_the_header() {
    let server = server("proxy-ignored", false);
    // Each attempt claims another address; without x_forwarded they all count for the
    // TCP peer, which is limited.
    let limited = (0..40).find_map(|n| {
        let (status, answer) = login(&server, &format!("203.0.113.{n}"));
        match status {
            403 => None,
            429 => Some(answer),
            other => panic!("unexpected {other}: {answer}"),
        }
    });
    let answer = limited.expect("the header was trusted: 40 logins were not limited");
    assert_eq!(answer["errcode"], "M_LIMIT_EXCEEDED");
    assert_eq!(
        get_versions(&server, &[("X-Forwarded-For", "203.0.113.9")]),
        200
    );
    let clients = versions_log_addresses(&server, 1);
    assert_eq!(clients.len(), 1, "{:?}", server.log_lines());
    assert!(clients[0].starts_with("127.0.0.1:"), "{clients:?}");
    assert!(
        !server
            .log_lines()
            .iter()
            .any(|line| line.contains("203.0.113.")),
        "{:?}",
        server.log_lines()
    );
}
