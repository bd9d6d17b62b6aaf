//! `hearth check` against a hearth started by the test, over TLS with a test CA
//! (`[federation] extra_ca`), names pointed at loopback through a hosts file named by
//! `HEARTH_HOSTS_FILE` (and DNS sent to a closed loopback port through
//! `HEARTH_RESOLV_CONF`, so nothing leaves the machine): a good set-up says FederationOK with exit 0; a certificate for
//! the wrong name, a closed port and plain HTTP where TLS is expected each name their
//! fault, with exit 1.

mod support;

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::{TestCa, TestServer, hearth_binary, temp_dir};

fn free_port(ip: &str) -> u16 {
    TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A hearth for `server_name` listening with TLS on `addr`, its certificate naming
/// `cert_names`, trusting the test CA for outbound connections.
fn start(
    dir: &Path,
    ca: &TestCa,
    server_name: &str,
    addr: &str,
    cert_names: &[&str],
    extra: &str,
) -> TestServer {
    let (cert, key) = ca.issue(dir, "server", cert_names);
    let config = format!(
        "server_name = \"{server_name}\"\ndata_dir = \"{}\"\n{extra}\n[federation]\nextra_ca = [\"{}\"]\n\
         [[listen]]\naddr = \"{addr}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
        dir.join("data").display(),
        write_ca(dir, ca).display(),
        cert.display(),
        key.display()
    );
    TestServer::start(dir, &config, None)
}

fn write_ca(dir: &Path, ca: &TestCa) -> std::path::PathBuf {
    let path = dir.join("ca.pem");
    std::fs::write(&path, &ca.ca_pem).unwrap();
    path
}

/// Runs `hearth check [NAME] [--json] --config <dir>/hearth.toml` seeing `hosts` (no
/// name when `name` is empty).
fn check(dir: &Path, name: &str, hosts: &str, json: bool) -> (bool, String, String) {
    let hosts_path = dir.join("hosts");
    std::fs::write(&hosts_path, hosts).unwrap();
    // Nothing listens there: every DNS question fails at once (port unreachable).
    let resolv_path = dir.join("resolv.conf");
    std::fs::write(
        &resolv_path,
        "nameserver 127.86.255.53\noptions timeout:1 attempts:1\n",
    )
    .unwrap();
    let mut command = Command::new(hearth_binary());
    command.arg("check");
    if !name.is_empty() {
        command.arg(name);
    }
    command.arg("--config").arg(dir.join("hearth.toml"));
    if json {
        command.arg("--json");
    }
    let output = command
        .env("HEARTH_HOSTS_FILE", &hosts_path)
        .env("HEARTH_RESOLV_CONF", &resolv_path)
        .env_remove("HEARTH_CONFIG")
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn codes(report: &Value, list: &str) -> Vec<String> {
    report[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|finding| {
            assert!(!finding["cause"].as_str().unwrap().is_empty(), "{finding}");
            assert!(!finding["fix"].as_str().unwrap().is_empty(), "{finding}");
            finding["code"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn a_hearth_on_an_explicit_port_is_federation_ok() {
    let dir = temp_dir("check-ok");
    let ca = TestCa::new();
    let port = free_port("127.0.0.1");
    let name = format!("hearth.test:{port}");
    let _server = start(
        &dir,
        &ca,
        &name,
        &format!("127.0.0.1:{port}"),
        &["hearth.test"],
        "",
    );
    let (ok, stdout, stderr) = check(&dir, &name, "127.0.0.1 hearth.test\n", true);
    assert!(ok, "{stdout}\n{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["FederationOK"], true);
    assert_eq!(report["server_name"], name);
    assert!(
        report["well_known"]["skipped"]
            .as_str()
            .unwrap()
            .contains("explicit port")
    );
    let destinations = report["resolution"]["destinations"].as_array().unwrap();
    assert_eq!(destinations.len(), 1);
    assert_eq!(destinations[0]["addr"], format!("127.0.0.1:{port}"));
    assert_eq!(destinations[0]["host_header"], name);
    assert_eq!(destinations[0]["tls_server_name"], "hearth.test");
    let connection = &report["connections"][0];
    for check in [
        "AllChecksOK",
        "ValidCertificates",
        "MatchingServerName",
        "FutureValidUntilTS",
        "HasEd25519Key",
        "AllEd25519ChecksOK",
    ] {
        assert_eq!(connection["checks"][check], true, "{check}: {connection}");
    }
    assert!(
        connection["tls_version"]
            .as_str()
            .unwrap()
            .starts_with("TLSv1_")
    );
    assert!(!connection["cipher_suite"].as_str().unwrap().is_empty());
    let leaf = &connection["certificates"][0];
    assert_eq!(leaf["subject_alternative_names"][0], "hearth.test");
    assert!(
        connection["certificates"].as_array().unwrap().len() >= 2,
        "chain with the CA"
    );
    assert_eq!(connection["version"]["name"], "hearth");
    assert_eq!(codes(&report, "problems"), Vec::<String>::new());
    // hearth publishes its keys for exactly 7 days: not flagged.
    assert_eq!(codes(&report, "warnings"), Vec::<String>::new());

    // Without a name: the config's own server_name, checked from the outside in.
    let (ok, text, _) = check(&dir, "", "127.0.0.1 hearth.test\n", false);
    assert!(ok);
    let verdict = format!("FederationOK: true — federation with {name} is OK");
    assert!(text.contains(&verdict), "{text}");
    assert!(text.contains("ValidCertificates ok"), "{text}");
}

#[test]
fn a_certificate_for_another_name_is_named_with_its_fix() {
    let dir = temp_dir("check-wrong-name");
    let ca = TestCa::new();
    let port = free_port("127.0.0.1");
    let name = format!("hearth.test:{port}");
    let _server = start(
        &dir,
        &ca,
        &name,
        &format!("127.0.0.1:{port}"),
        &["other.test"],
        "",
    );
    let (ok, stdout, stderr) = check(&dir, &name, "127.0.0.1 hearth.test\n", true);
    assert!(!ok);
    assert!(stderr.contains("not OK"), "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["FederationOK"], false);
    let connection = &report["connections"][0];
    assert_eq!(connection["checks"]["ValidCertificates"], false);
    // The rest still ran: the key document itself is fine.
    assert_eq!(connection["checks"]["AllEd25519ChecksOK"], true);
    assert_eq!(codes(&report, "problems"), ["certificate_wrong_name"]);
    assert!(
        report["problems"][0]["fix"]
            .as_str()
            .unwrap()
            .contains("hearth.test")
    );
}

#[test]
fn a_closed_port_says_other_servers_cannot_reach_you() {
    let dir = temp_dir("check-closed");
    let ca = TestCa::new();
    // A config is needed for extra_ca; the server itself is not started.
    std::fs::write(
        dir.join("hearth.toml"),
        format!(
            "server_name = \"x.test\"\ndata_dir = \"{}\"\n[federation]\nextra_ca = [\"{}\"]\n[[listen]]\naddr = \"127.0.0.1:1\"\n",
            dir.join("data").display(),
            write_ca(&dir, &ca).display()
        ),
    )
    .unwrap();
    let port = free_port("127.0.0.1");
    let name = format!("hearth.test:{port}");
    let (ok, stdout, _) = check(&dir, &name, "127.0.0.1 hearth.test\n", true);
    assert!(!ok);
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(codes(&report, "problems"), ["connect_failed"]);
    assert!(
        report["problems"][0]["fix"]
            .as_str()
            .unwrap()
            .contains("401 Unauthorized")
    );
    // A name nobody can look up: the DNS failure is told apart from missing records.
    let (_, unknown_stdout, _) = check(&dir, "nowhere.test:8448", "", true);
    let report: Value = serde_json::from_str(&unknown_stdout).unwrap();
    assert_eq!(codes(&report, "problems"), ["dns_failed"]);
    assert_eq!(report["resolution"]["error_kind"], "dns");
}

#[test]
fn a_plain_http_listener_on_the_federation_port_is_named_as_a_tls_fault() {
    let dir = temp_dir("check-plain");
    let port = free_port("127.0.0.1");
    let name = format!("hearth.test:{port}");
    // Plain HTTP where TLS is expected: hearth waits for a request head while the check
    // waits for the TLS answer, until the check's time limit.
    let config = format!(
        "server_name = \"{name}\"\ndata_dir = \"{}\"\n[[listen]]\naddr = \"127.0.0.1:{port}\"\n",
        dir.join("data").display()
    );
    let _server = TestServer::start(&dir, &config, None);
    let (ok, stdout, _) = check(&dir, &name, "127.0.0.1 hearth.test\n", true);
    assert!(!ok);
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(codes(&report, "problems"), ["tls_failed"]);
    let error = report["connections"][0]["error"].as_str().unwrap();
    assert!(error.contains("does not speak TLS"), "{error}");
}

/// Delegation through the well-known needs port 443, so this test binds a loopback
/// address on 443 (the test runs as root in CI; elsewhere binding 443 is refused and
/// the test checks only that).
#[test]
fn delegation_through_the_well_known_on_port_443() {
    let ip = format!("127.86.{}.1", std::process::id() % 250);
    if let Err(error) = TcpListener::bind((ip.as_str(), 443)) {
        assert_eq!(
            error.kind(),
            std::io::ErrorKind::PermissionDenied,
            "{error}"
        );
        return;
    }
    let dir = temp_dir("check-delegated");
    let ca = TestCa::new();
    let well_known = "[well_known]\nserver = \"fed.test:443\"\n";
    let _server = start(
        &dir,
        &ca,
        "apex.test",
        &format!("{ip}:443"),
        &["apex.test", "fed.test"],
        well_known,
    );
    let hosts = format!("{ip} apex.test fed.test\n");
    let (ok, stdout, stderr) = check(&dir, "apex.test", &hosts, true);
    assert!(ok, "{stdout}\n{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["well_known"]["m_server"], "fed.test:443");
    assert_eq!(report["well_known"]["hops"][0]["status"], 200);
    let destination = &report["resolution"]["destinations"][0];
    assert_eq!(destination["addr"], format!("{ip}:443"));
    assert_eq!(destination["host_header"], "fed.test:443");
    assert_eq!(destination["tls_server_name"], "fed.test");
    assert_eq!(
        report["connections"][0]["checks"]["MatchingServerName"],
        true
    );
    // SRV is not consulted after a delegation with a port, but both names of the
    // server name are still shown (here: failed lookups, DNS is unreachable).
    let srv_names: Vec<&str> = report["srv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        srv_names,
        ["_matrix-fed._tcp.apex.test", "_matrix._tcp.apex.test"]
    );
}

#[test]
fn an_ip_literal_server_name_needs_a_certificate_for_the_ip() {
    let dir = temp_dir("check-ip");
    let ca = TestCa::new();
    let port = free_port("127.0.0.1");
    let name = format!("127.0.0.1:{port}");
    let addr = name.clone();
    let _server = start(&dir, &ca, &name, &addr, &["127.0.0.1"], "");
    let (ok, stdout, stderr) = check(&dir, &name, "", true);
    assert!(ok, "{stdout}\n{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let destination = &report["resolution"]["destinations"][0];
    assert_eq!(destination["host_header"], name);
    // Spec step 1: no SNI, the certificate must be valid for the IP itself.
    assert_eq!(destination["tls_server_name"], Value::Null);
    assert_eq!(
        report["connections"][0]["checks"]["ValidCertificates"],
        true
    );
}

#[test]
fn an_expired_certificate_is_named_with_its_fix() {
    let dir = temp_dir("check-expired");
    // A CA of this test's own: TestCa issues only currently valid certificates.
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["hearth.test".to_owned()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let leaf = params.signed_by(&key, &issuer).unwrap();
    let (cert_path, key_path, ca_path) = (
        dir.join("leaf.crt"),
        dir.join("leaf.key"),
        dir.join("ca.pem"),
    );
    std::fs::write(&cert_path, leaf.pem() + &ca_cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    // hearth refuses a private key others can read.
    let private = std::os::unix::fs::PermissionsExt::from_mode(0o600);
    std::fs::set_permissions(&key_path, private).unwrap();
    std::fs::write(&ca_path, ca_cert.pem()).unwrap();
    let port = free_port("127.0.0.1");
    let name = format!("hearth.test:{port}");
    let config = format!(
        "server_name = \"{name}\"\ndata_dir = \"{}\"\n[federation]\nextra_ca = [\"{}\"]\n\
         [[listen]]\naddr = \"127.0.0.1:{port}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
        dir.join("data").display(),
        ca_path.display(),
        cert_path.display(),
        key_path.display()
    );
    let _server = TestServer::start(&dir, &config, None);
    let (ok, stdout, _) = check(&dir, &name, "127.0.0.1 hearth.test\n", true);
    assert!(!ok);
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(codes(&report, "problems"), ["certificate_expired"]);
    let leaf = &report["connections"][0]["certificates"][0];
    assert_eq!(leaf["not_after"], 1_609_459_200); // 2021-01-01T00:00:00Z
}
