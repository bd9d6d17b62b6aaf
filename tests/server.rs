//! The running server as a client or a peer sees it: TLS, the key document, discovery,
//! error bodies, limits, panic isolation and certificate reload.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{Value, json};
use support::{TestCa, TestServer, config_text, temp_dir};

fn tls_server(extra: &str) -> (TestServer, TestCa) {
    let dir = temp_dir("tls");
    let ca = TestCa::new();
    let (cert, key) = ca.issue(&dir, "localhost", &["localhost", "127.0.0.1"]);
    let config = config_text("hearth.test", &dir.join("data"), Some((&cert, &key)), extra);
    let server = TestServer::start(&dir, &config, Some(ca.client_config()));
    (server, ca)
}

fn plain_server(extra: &str) -> TestServer {
    let dir = temp_dir("plain");
    let config = config_text("hearth.test", &dir.join("data"), None, extra);
    TestServer::start(&dir, &config, None)
}

/// Canonical JSON done independently of hearth's encoder: serde_json's `Value` keeps keys
/// sorted and prints compactly, which is canonical for integer-only documents.
fn canonical_without_signatures(document: &Value) -> Vec<u8> {
    let mut object = document.as_object().unwrap().clone();
    object.remove("signatures");
    object.remove("unsigned");
    serde_json::to_vec(&Value::Object(object)).unwrap()
}

/// Verifies with ring's ed25519, a second implementation beside hearth's ed25519-compact.
fn verify_with_ring(document: &Value, server_name: &str) {
    let key_id = document["verify_keys"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    let engine = base64::engine::general_purpose::STANDARD_NO_PAD;
    let public_key = engine
        .decode(document["verify_keys"][&key_id]["key"].as_str().unwrap())
        .unwrap();
    let signature = engine
        .decode(
            document["signatures"][server_name][&key_id]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let verifier = ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public_key);
    verifier
        .verify(&canonical_without_signatures(document), &signature)
        .expect("the key document's signature must verify");
}

#[test]
fn key_document_over_tls_is_signed_and_current() {
    let (server, _ca) = tls_server("");
    let (status, document) = server.get_json("/_matrix/key/v2/server");
    assert_eq!(status, 200);
    assert_eq!(document["server_name"], "hearth.test");
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let valid_until = document["valid_until_ts"].as_i64().unwrap();
    assert!(
        valid_until > now_ms + 3_600_000,
        "valid_until_ts {valid_until} is not in the future"
    );
    let key_ids: Vec<&String> = document["verify_keys"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(key_ids.len(), 1);
    assert!(key_ids[0].starts_with("ed25519:"));
    assert!(document["old_verify_keys"].is_object());
    verify_with_ring(&document, "hearth.test");

    // The legacy form with a key ID answers the same document.
    let key_id = key_ids[0].replace(':', "%3A");
    let (status, legacy) = server.get_json(&format!("/_matrix/key/v2/server/{key_id}"));
    assert_eq!(status, 200);
    assert_eq!(legacy["verify_keys"], document["verify_keys"]);
    verify_with_ring(&legacy, "hearth.test");

    // The key survives a restart: the same key ID is published.
    let dir = server.dir.clone();
    let config = std::fs::read_to_string(&server.config_path).unwrap();
    let tls = server.tls.clone();
    drop(server);
    let again = TestServer::start(&dir, &config, tls);
    let (_, document_again) = again.get_json("/_matrix/key/v2/server");
    assert_eq!(document_again["verify_keys"], document["verify_keys"]);
}

#[test]
fn version_and_client_versions() {
    let (server, _ca) = tls_server("");
    let (status, version) = server.get_json("/_matrix/federation/v1/version");
    assert_eq!(status, 200);
    assert_eq!(version["server"]["name"], "hearth");
    assert_eq!(version["server"]["version"], env!("CARGO_PKG_VERSION"));
    let (status, versions) = server.get_json("/_matrix/client/versions");
    assert_eq!(status, 200);
    let versions: Vec<&str> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for needed in ["v1.1", "v1.5", "v1.11", "v1.12"] {
        assert!(
            versions.contains(&needed),
            "{needed} missing from {versions:?}"
        );
    }
}

#[test]
fn well_known_documents_follow_the_config() {
    let server = plain_server(
        "[well_known]\nserver = \"matrix.hearth.test:443\"\nclient = \"https://matrix.hearth.test\"\n",
    );
    let response = server.request("GET", "/.well-known/matrix/server", b"");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(
        response.json(),
        json!({"m.server": "matrix.hearth.test:443"})
    );
    let response = server.request("GET", "/.well-known/matrix/client", b"");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        response.json(),
        json!({"m.homeserver": {"base_url": "https://matrix.hearth.test"}})
    );

    let unset = plain_server("");
    unset
        .request("GET", "/.well-known/matrix/server", b"")
        .assert_error(404, "M_NOT_FOUND");
    unset
        .request("GET", "/.well-known/matrix/client", b"")
        .assert_error(404, "M_NOT_FOUND");
}

#[test]
fn unknown_paths_and_methods_get_matrix_errors() {
    let server = plain_server("");
    server
        .request("GET", "/_matrix/client/v3/nonexistent", b"")
        .assert_error(404, "M_UNRECOGNIZED");
    server
        .request("GET", "/", b"")
        .assert_error(404, "M_UNRECOGNIZED");
    server
        .request("DELETE", "/_matrix/client/versions", b"")
        .assert_error(405, "M_UNRECOGNIZED");
    // CORS preflight on a known path.
    let preflight = server.request("OPTIONS", "/_matrix/client/versions", b"");
    assert_eq!(preflight.status, 200);
    assert!(
        preflight
            .header("access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
}

#[test]
fn oversized_bodies_are_refused_without_reading_them() {
    let server = plain_server("");
    // Over the endpoint's limit (64 KiB for a GET).
    server
        .request("GET", "/_matrix/client/versions", &vec![b'x'; 200 * 1024])
        .assert_error(413, "M_TOO_LARGE");
    // Far over every limit, announced by Content-Length but never sent: the answer comes
    // at once and the connection closes instead of waiting for 1 GiB.
    let mut connection = server.connect();
    connection.send("GET", "/_matrix/client/versions", &[], b"");
    let ok = connection.read_response(false);
    assert_eq!(ok.status, 200);
    let mut connection = server.connect();
    let head = "GET /_matrix/client/versions HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1073741824\r\n\r\n";
    connection_write_raw(&mut connection, head.as_bytes());
    let refused = connection.read_response(false);
    refused.assert_error(413, "M_TOO_LARGE");
    assert_eq!(refused.header("connection"), Some("close"));
    // The server is still fine.
    assert_eq!(
        server
            .request("GET", "/_matrix/client/versions", b"")
            .status,
        200
    );
}

fn connection_write_raw(connection: &mut support::Connection, bytes: &[u8]) {
    use std::io::Write;
    match connection {
        support::Connection::Plain(reader) => reader.get_mut().write_all(bytes).unwrap(),
        support::Connection::Tls(reader) => reader.get_mut().write_all(bytes).unwrap(),
    }
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let (server, _ca) = tls_server("");
    let mut connection = server.connect();
    for _ in 0..3 {
        connection.send("GET", "/_matrix/federation/v1/version", &[], b"");
        assert_eq!(connection.read_response(false).status, 200);
    }
}

#[test]
fn a_panicking_request_does_not_take_the_server_down() {
    let dir = temp_dir("panic");
    let config = config_text("hearth.test", &dir.join("data"), None, "");
    let mut server =
        TestServer::start_with_env(&dir, &config, None, &[("HEARTH_TEST_PANIC_ROUTE", "1")]);
    server
        .request("GET", "/_hearth/test/panic", b"")
        .assert_error(500, "M_UNKNOWN");
    assert!(server.is_running());
    assert_eq!(
        server
            .request("GET", "/_matrix/client/versions", b"")
            .status,
        200
    );
    // Without the switch the route does not exist.
    plain_server("")
        .request("GET", "/_hearth/test/panic", b"")
        .assert_error(404, "M_UNRECOGNIZED");
}

#[test]
fn a_renewed_certificate_is_picked_up_without_restart() {
    let (server, ca) = tls_server("");
    let before = server.connect_and_get_certificate();
    // certbot writes new files in place of the old ones.
    let (new_cert, new_key) = ca.issue(&server.dir, "renewed", &["localhost"]);
    let (cert_path, key_path) = (
        server.dir.join("localhost.crt"),
        server.dir.join("localhost.key"),
    );
    std::fs::rename(new_key, &key_path).unwrap();
    std::fs::rename(new_cert, &cert_path).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = server.connect_and_get_certificate();
        if now != before {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the new certificate was not served: {:?}",
            server.log_lines()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(server.wait_for_log("reloaded TLS certificate"));
}

trait CertificateProbe {
    fn connect_and_get_certificate(&self) -> Vec<u8>;
}

impl CertificateProbe for TestServer {
    fn connect_and_get_certificate(&self) -> Vec<u8> {
        let mut connection = self.connect();
        connection.send("GET", "/_matrix/federation/v1/version", &[], b"");
        assert_eq!(connection.read_response(false).status, 200);
        connection.peer_certificate().unwrap()
    }
}

#[test]
fn one_log_line_per_request_with_status() {
    let server = plain_server("");
    server.request("GET", "/_matrix/client/versions", b"");
    server.request("GET", "/nope", b"");
    assert!(server.wait_for_log("GET /nope 404"));
    let lines = server.log_lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("GET /_matrix/client/versions 200")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("GET /nope 404")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("listening on http://127.0.0.1:")),
        "{lines:?}"
    );
}
