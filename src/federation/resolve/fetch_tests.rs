//! The well-known fetch against a stub HTTPS server on 127.0.0.1 (a throwaway CA made by
//! rcgen): redirect chains including 308, loops, the hop limit, non-https redirects,
//! oversized and chunked bodies, non-200 answers, and a certificate for the wrong name.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_rustls::rustls;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::fetch::{Url, WellKnownFetch, fetch_from};
use super::tls::client_config;
use super::well_known::WellKnownError;
use super::{Destination, Resolver};
use crate::federation::dns::{DnsClient, DnsConfig, Hosts};
use crate::proto::id::ServerName;

/// The stub's answers: path → raw response (status line and headers; body after).
fn respond(path: &str, port: u16) -> String {
    let json = |body: &str, extra: &str| {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let redirect = |status: &str, location: &str| {
        format!("HTTP/1.1 {status}\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n")
    };
    match path {
        "/.well-known/matrix/server" => json(r#"{"m.server": "matrix.wk.test:443"}"#, ""),
        "/start308" => redirect("308 Permanent Redirect", "/next301"),
        "/next301" => redirect("301 Moved", &format!("https://other.wk.test:{port}/final")),
        "/final" => json(
            r#"{"m.server": "final.test"}"#,
            "Cache-Control: max-age=3600\r\n",
        ),
        "/loop" => redirect("302 Found", "/loop2"),
        "/loop2" => redirect("307 Temporary Redirect", "/loop"),
        "/plain" => redirect("303 See Other", &format!("http://wk.test:{port}/final")),
        "/big" => json(
            &format!(r#"{{"m.server": "a.test", "p": "{}"}}"#, "x".repeat(60_000)),
            "",
        ),
        "/chunked" => "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                       d\r\n{\"m.server\": \r\n\
                       d\r\n\"chunked.test\r\n\
                       2\r\n\"}\r\n0\r\n\r\n"
            .to_owned(),
        "/badjson" => json("{\"m.server\": ", ""),
        path if path.starts_with("/hop") => {
            let n: u32 = path.trim_start_matches("/hop").parse().unwrap_or(0);
            redirect("302 Found", &format!("/hop{}", n + 1))
        }
        _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_owned(),
    }
}

/// Starts the stub; returns its port, the CA's certificate and its request count.
fn start_stub(names: &[&str]) -> (u16, CertificateDer<'static>, Arc<AtomicUsize>) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let leaf = rcgen::CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { continue };
            let config = config.clone();
            let counter = counter.clone();
            std::thread::spawn(move || {
                let connection = rustls::ServerConnection::new(config).unwrap();
                let mut stream = BufReader::new(rustls::StreamOwned::new(connection, tcp));
                let mut request_line = String::new();
                if stream.read_line(&mut request_line).is_err() {
                    return; // the client refused the certificate
                }
                loop {
                    let mut line = String::new();
                    if stream.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let path = request_line.split_whitespace().nth(1).unwrap_or("/");
                let response = respond(path, port);
                let stream = stream.get_mut();
                let _ = stream.write_all(response.as_bytes());
                stream.conn.send_close_notify();
                let _ = stream.flush();
            });
        }
    });
    (port, ca.der().clone(), requests)
}

/// A DNS client that knows the stub's names (and nothing else) and the stub's roots.
fn client(ca: CertificateDer<'static>) -> (DnsClient, Arc<rustls::ClientConfig>) {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).unwrap();
    let mut hosts = Hosts::default();
    for name in ["wk.test", "other.wk.test", "matrix.wk.test"] {
        hosts.insert(name, vec!["127.0.0.1".parse().unwrap()]);
    }
    let dns = DnsClient::new(DnsConfig {
        nameservers: vec![],
        hosts,
        timeout: Duration::from_millis(100),
        attempts: 1,
    });
    (dns, client_config(Arc::new(roots)))
}

fn fetch(start: &str, names: &[&str]) -> WellKnownFetch {
    let (port, ca, _) = start_stub(names);
    let (dns, tls) = client(ca);
    let url = Url::parse(&format!("https://wk.test:{port}{start}")).unwrap();
    smol::block_on(fetch_from(&dns, tls, url, Instant::now(), 0))
}

#[test]
fn the_resolver_follows_the_well_known_and_caches_it() {
    let (port, ca, requests) = start_stub(BOTH);
    let (dns, tls) = client(ca);
    let resolver = Resolver::new(dns, tls).with_well_known_port(port);
    let server_name = ServerName::parse("wk.test").unwrap();
    let now = Instant::now();
    let expected = vec![Destination {
        addr: "127.0.0.1:443".parse().unwrap(),
        host_header: "matrix.wk.test:443".into(),
        tls_server_name: Some("matrix.wk.test".into()),
    }];
    assert_eq!(
        smol::block_on(resolver.resolve(&server_name, now)),
        Ok(expected.clone())
    );
    assert_eq!(requests.load(Ordering::SeqCst), 1);
    // Cached for the default 24 hours: no second request within them.
    let later = now + Duration::from_secs(23 * 3600);
    assert_eq!(
        smol::block_on(resolver.resolve(&server_name, later)),
        Ok(expected)
    );
    assert_eq!(requests.load(Ordering::SeqCst), 1);
    // An explicit port needs no well-known at all.
    let with_port = ServerName::parse("matrix.wk.test:8448").unwrap();
    let destinations = smol::block_on(resolver.resolve(&with_port, now)).unwrap();
    assert_eq!(destinations[0].addr, "127.0.0.1:8448".parse().unwrap());
}

const BOTH: &[&str] = &["wk.test", "other.wk.test"];

fn delegated(fetch: &WellKnownFetch) -> Result<String, WellKnownError> {
    fetch.outcome.clone().map(|name| name.to_string())
}

#[test]
fn a_direct_200() {
    let fetch = fetch("/.well-known/matrix/server", BOTH);
    assert_eq!(delegated(&fetch), Ok("matrix.wk.test:443".into()));
    assert_eq!(fetch.hops.len(), 1);
    assert_eq!(fetch.hops[0].status, Some(200));
    assert_eq!(fetch.lifetime, Some(super::well_known::DEFAULT_LIFETIME));
    assert_eq!(fetch.content_type.as_deref(), Some("application/json"));
}

#[test]
fn a_chain_of_308_then_301_to_another_host_is_followed() {
    let fetch = fetch("/start308", BOTH);
    assert_eq!(delegated(&fetch), Ok("final.test".into()));
    let statuses: Vec<Option<u16>> = fetch.hops.iter().map(|hop| hop.status).collect();
    assert_eq!(statuses, [Some(308), Some(301), Some(200)]);
    assert!(fetch.hops[2].url.starts_with("https://other.wk.test:"));
    assert_eq!(fetch.lifetime, Some(std::time::Duration::from_secs(3600)));
}

#[test]
fn loops_hop_limits_and_plain_http_are_refused() {
    let looping = fetch("/loop", BOTH);
    assert!(
        matches!(looping.outcome, Err(WellKnownError::RedirectLoop(ref url)) if url.ends_with("/loop"))
    );
    let endless = fetch("/hop0", BOTH);
    assert_eq!(endless.outcome, Err(WellKnownError::TooManyRedirects));
    assert_eq!(endless.hops.len(), super::well_known::MAX_REDIRECTS + 1);
    let plain = fetch("/plain", BOTH);
    assert!(matches!(plain.outcome, Err(WellKnownError::BadRedirect(_))));
}

#[test]
fn bodies_over_50_kib_bad_json_and_non_200_fail_and_chunked_bodies_are_read() {
    assert_eq!(fetch("/big", BOTH).outcome, Err(WellKnownError::TooLarge));
    assert!(matches!(
        fetch("/badjson", BOTH).outcome,
        Err(WellKnownError::NotJson(_))
    ));
    assert_eq!(
        fetch("/missing", BOTH).outcome,
        Err(WellKnownError::Status(404))
    );
    assert_eq!(
        delegated(&fetch("/chunked", BOTH)),
        Ok("chunked.test".into())
    );
}

#[test]
fn a_certificate_for_another_name_is_refused() {
    let fetch = fetch("/.well-known/matrix/server", &["someone-else.test"]);
    match &fetch.outcome {
        Err(WellKnownError::Unreachable(why)) => assert!(why.contains("TLS"), "{why}"),
        other => panic!("{other:?}"),
    }
}
