//! Request authentication end to end, offline: the real binary refuses unsigned, tampered
//! and misaddressed federation requests with 401, and hearth's own outbound client,
//! signing with the server's key, gets 200 over pooled TLS connections (a request from
//! the server to itself, whose key needs no fetch). Also the notary endpoints.

mod support;

use std::path::{Path, PathBuf};

use hearth::api::Method;
use hearth::federation::FedError;
use hearth::federation::client::{FederationClient, Outgoing};
use hearth::federation::dns::{DnsClient, DnsConfig};
use hearth::federation::resolve::{Destination, Resolver, tls};
use hearth::proto::id::ServerName;
use hearth::proto::signing::SigningKey;
use hearth::proto::x_matrix::authorization_header;
use serde_json::json;
use support::{TestCa, TestServer, config_text, run_hearth, temp_dir};

const PROFILE: &str = "/_matrix/federation/v1/query/profile?user_id=%40alice%3Ahearth.test";

/// A plain-HTTP hearth for `hearth.test` with the local user alice, and its signing key.
fn server_with_alice(dir: &Path, tls: Option<(&Path, &Path, &TestCa)>) -> (TestServer, SigningKey) {
    let config = config_text(
        "hearth.test",
        &dir.join("data"),
        tls.map(|(cert, key, _)| (cert, key)),
        "",
    );
    let server = TestServer::start(dir, &config, tls.map(|(_, _, ca)| ca.client_config()));
    let config_arg = server.config_path.display().to_string();
    let (ok, _, stderr) = run_hearth(
        &[
            "user",
            "add",
            "alice",
            "--password",
            "pw",
            "--config",
            &config_arg,
        ],
        dir,
        None,
    );
    assert!(ok, "{stderr}");
    let key_file = std::fs::read_to_string(dir.join("data").join("signing.key")).unwrap();
    (server, SigningKey::parse_key_file(&key_file).unwrap())
}

fn name(text: &str) -> ServerName {
    ServerName::parse(text).unwrap()
}

fn get_signed(server: &TestServer, path: &str, authorization: &str) -> support::HttpResponse {
    let mut connection = server.connect();
    connection.send("GET", path, &[("Authorization", authorization)], b"");
    connection.read_response(false)
}

#[test]
fn federation_requests_need_a_valid_x_matrix_signature() {
    let dir = temp_dir("fedauth");
    let (server, key) = server_with_alice(&dir, None);
    let sign = |origin: &str, destination: &str, uri: &str| {
        authorization_header(&key, "GET", uri, &name(origin), &name(destination), None).unwrap()
    };

    // No header at all.
    let response = server.request("GET", PROFILE, b"");
    response.assert_error(401, "M_UNAUTHORIZED");
    assert!(
        response.json()["error"]
            .as_str()
            .unwrap()
            .contains("X-Matrix")
    );

    // Signed by the server's own key for this very request: accepted.
    let good = sign("hearth.test", "hearth.test", PROFILE);
    let response = get_signed(&server, PROFILE, &good);
    assert_eq!(response.status, 200, "{:?}", response.json());
    assert_eq!(response.json(), json!({"displayname": "alice"}));

    // The same header on another URI (query changed): the signature no longer matches.
    let response = get_signed(&server, &format!("{PROFILE}&field=displayname"), &good);
    response.assert_error(401, "M_UNAUTHORIZED");
    assert!(
        response.json()["error"]
            .as_str()
            .unwrap()
            .contains("signature")
    );

    // Addressed to another server.
    let elsewhere = sign("hearth.test", "other.test", PROFILE);
    let response = get_signed(&server, PROFILE, &elsewhere);
    response.assert_error(401, "M_UNAUTHORIZED");
    assert!(
        response.json()["error"]
            .as_str()
            .unwrap()
            .contains("destination")
    );

    // A broken signature value.
    let broken = good.replace("sig=\"", "sig=\"AAAA");
    get_signed(&server, PROFILE, &broken).assert_error(401, "M_UNAUTHORIZED");
    // Several X-Matrix headers (one per key of the sender): one good one is enough.
    let mut connection = server.connect();
    let headers = [
        ("Authorization", broken.as_str()),
        ("Authorization", good.as_str()),
    ];
    connection.send("GET", PROFILE, &headers, b"");
    assert_eq!(connection.read_response(false).status, 200);

    // An origin whose keys cannot be fetched (nothing listens on 127.0.0.1:1).
    let stranger = SigningKey::from_seed("x", [7; 32]).unwrap();
    let header = authorization_header(
        &stranger,
        "GET",
        PROFILE,
        &name("127.0.0.1:1"),
        &name("hearth.test"),
        None,
    )
    .unwrap();
    let response = get_signed(&server, PROFILE, &header);
    response.assert_error(401, "M_UNAUTHORIZED");
    assert!(response.json()["error"].as_str().unwrap().contains("key"));

    // Not X-Matrix, or not parseable.
    get_signed(&server, PROFILE, "Bearer abc").assert_error(401, "M_UNAUTHORIZED");
    get_signed(&server, PROFILE, "X-Matrix origin=\"hearth.test")
        .assert_error(401, "M_UNAUTHORIZED");

    // Only the field asked for; one the user has not set gives `{}`.
    let uri = format!("{PROFILE}&field=avatar_url");
    let response = get_signed(&server, &uri, &sign("hearth.test", "hearth.test", &uri));
    assert_eq!((response.status, response.json()), (200, json!({})));

    // Authenticated, but no such user.
    let uri = "/_matrix/federation/v1/query/profile?user_id=%40nobody%3Ahearth.test";
    get_signed(&server, uri, &sign("hearth.test", "hearth.test", uri))
        .assert_error(404, "M_NOT_FOUND");
}

/// A client for `hearth.test` that trusts `ca` and signs with `key`.
fn client(ca_file: &Path, key: &SigningKey) -> FederationClient {
    let roots = tls::root_store(&[PathBuf::from(ca_file)]).unwrap();
    let tls = tls::client_config(std::sync::Arc::new(roots));
    let resolver = Resolver::new(DnsClient::new(DnsConfig::from_system()), tls.clone());
    FederationClient::new(name("hearth.test"), key.clone(), resolver, tls)
}

#[test]
fn the_outbound_client_signs_pools_and_backs_off() {
    let dir = temp_dir("fedclient");
    let ca = TestCa::new();
    let (cert, cert_key) = ca.issue(&dir, "localhost", &["localhost", "127.0.0.1"]);
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).unwrap();
    let (server, key) = server_with_alice(&dir, Some((&cert, &cert_key, &ca)));
    let client = client(&ca_file, &key);
    let destination = Destination {
        addr: server.addr.parse().unwrap(),
        host_header: "hearth.test".into(),
        tls_server_name: Some("localhost".into()),
    };
    let get = |path| Outgoing {
        method: Method::Get,
        path_and_query: path,
        body: None,
        sign: true,
        ignore_backoff: false,
    };
    smol::block_on(async {
        for _ in 0..2 {
            let answer = client
                .send_to(
                    &name("hearth.test"),
                    std::slice::from_ref(&destination),
                    &get(PROFILE),
                )
                .await
                .unwrap();
            assert_eq!(answer, (200, json!({"displayname": "alice"})));
        }
        // An error answer is still an answer (and the server is up: no backoff).
        let (status, body) = client
            .send_to(
                &name("hearth.test"),
                std::slice::from_ref(&destination),
                &get("/_matrix/federation/v1/query/profile?user_id=%40bob%3Ahearth.test"),
            )
            .await
            .unwrap();
        assert_eq!(
            (status, body["errcode"].as_str()),
            (404, Some("M_NOT_FOUND"))
        );
        assert!(client.backoff(&name("hearth.test")).is_none());
    });
    // Keep-alive: the three requests came over one connection (one peer port in the log).
    // The log is read from the server's stderr by another thread: wait for the lines.
    let profile_peers = || -> Vec<String> {
        server
            .log_lines()
            .iter()
            .filter(|line| line.contains("/_matrix/federation/v1/query/profile"))
            .filter_map(|line| {
                line.split_whitespace()
                    .find(|w| w.starts_with("127.0.0.1:"))
                    .map(str::to_owned)
            })
            .collect()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while profile_peers().len() < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let peers = profile_peers();
    assert_eq!(peers.len(), 3, "{:?}", server.log_lines());
    assert!(peers.iter().all(|peer| peer == &peers[0]), "{peers:?}");

    // A destination that does not answer goes into backoff; further requests fail fast.
    let closed = Destination {
        addr: "127.0.0.1:1".parse().unwrap(),
        host_header: "down.test".into(),
        tls_server_name: Some("down.test".into()),
    };
    smol::block_on(async {
        let down = name("down.test");
        let error = client
            .send_to(&down, &[closed], &get(PROFILE))
            .await
            .unwrap_err();
        assert!(matches!(error, FedError::Unreachable(..)), "{error}");
        assert_eq!(client.backoff(&down).unwrap().failures(), 1);
        let error = client
            .request(&down, Method::Get, PROFILE, None)
            .await
            .unwrap_err();
        assert!(
            matches!(error, FedError::BackingOff(_, secs) if secs > 590),
            "{error}"
        );
    });
}

#[test]
fn the_notary_endpoints_countersign_key_documents() {
    let dir = temp_dir("notary");
    let (server, key) = server_with_alice(&dir, None);
    let public_key = key.public_key_base64();
    let verify = |document: &serde_json::Value, signer: &str| {
        let object = document.as_object().unwrap();
        hearth::proto::signing::verify_json(object, signer, &key.key_id(), &public_key)
    };
    // Our own document, asked for by POST and by GET: signed by us as origin and notary
    // (one key, so one signature).
    let query = json!({"server_keys": {"hearth.test": {}, "127.0.0.1:1": {}, "not a name": {}}});
    let response = server.request(
        "POST",
        "/_matrix/key/v2/query",
        query.to_string().as_bytes(),
    );
    assert_eq!(response.status, 200, "{:?}", response.json());
    let documents = response.json()["server_keys"].as_array().unwrap().clone();
    // 127.0.0.1:1 cannot be reached and has nothing cached: left out, not an error.
    assert_eq!(documents.len(), 1, "{documents:?}");
    assert_eq!(documents[0]["server_name"], "hearth.test");
    assert_eq!(verify(&documents[0], "hearth.test"), Ok(()));
    let (status, body) = server.get_json("/_matrix/key/v2/query/hearth.test");
    assert_eq!(status, 200);
    assert_eq!(
        body["server_keys"][0]["verify_keys"],
        documents[0]["verify_keys"]
    );
    let (status, body) = server.get_json("/_matrix/key/v2/query/127.0.0.1:1");
    assert_eq!((status, body), (200, json!({"server_keys": []})));
    server
        .request("GET", "/_matrix/key/v2/query/not%20a%20name", b"")
        .assert_error(400, "M_INVALID_PARAM");
    server
        .request("POST", "/_matrix/key/v2/query", b"{\"server_keys\": 1}")
        .assert_error(400, "M_BAD_JSON");
}
