//! The command line as an admin uses it: init, user add (also while serving), version,
//! and bad configs refused with the file, the key and the reason.

mod support;

use std::os::unix::fs::PermissionsExt;

use serde_json::{Value, json};
use support::{TestCa, TestServer, config_text, run_hearth, temp_dir};

fn json_documents(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
        .filter(Value::is_object)
        .collect()
}

#[test]
fn init_writes_config_and_key_and_prints_what_to_publish() {
    let dir = temp_dir("init");
    let (ok, stdout, stderr) = run_hearth(
        &[
            "init",
            "--server-name",
            "example.com",
            "--federation-host",
            "matrix.example.com:443",
        ],
        &dir,
        None,
    );
    assert!(ok, "{stderr}");
    let documents = json_documents(&stdout);
    assert!(
        documents.contains(&json!({"m.server": "matrix.example.com:443"})),
        "no well-known server JSON in:\n{stdout}"
    );
    assert!(
        stdout.contains("_matrix-fed._tcp.example.com. 3600 IN SRV 10 5 443 matrix.example.com.")
    );
    assert!(stdout.contains("8448") || stdout.contains("443"));

    let key = dir.join("hearth-data/signing.key");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let key_text = std::fs::read_to_string(&key).unwrap();
    assert!(key_text.starts_with("ed25519 a_"), "{key_text}");
    let config = std::fs::read_to_string(dir.join("hearth.toml")).unwrap();
    assert!(config.contains("server_name = \"example.com\""));

    // Never overwrite: a second init fails and leaves both files as they were.
    let (ok, _, stderr) = run_hearth(&["init", "--server-name", "other.com"], &dir, None);
    assert!(!ok);
    assert!(stderr.contains("exists already"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&key).unwrap(), key_text);
    assert_eq!(
        std::fs::read_to_string(dir.join("hearth.toml")).unwrap(),
        config
    );
}

#[test]
fn init_refuses_a_bad_server_name() {
    let dir = temp_dir("init-bad");
    let (ok, _, stderr) = run_hearth(&["init", "--server-name", "not a name"], &dir, None);
    assert!(!ok);
    assert!(stderr.contains("server_name"), "{stderr}");
    assert!(!dir.join("hearth.toml").exists());
}

#[test]
fn the_config_written_by_init_starts_a_server() {
    let dir = temp_dir("init-serve");
    let ca = TestCa::new();
    let (ok, _, stderr) = run_hearth(&["init", "--server-name", "example.test"], &dir, None);
    assert!(ok, "{stderr}");
    let (cert, key) = ca.issue(&dir, "localhost", &["localhost"]);
    let config = std::fs::read_to_string(dir.join("hearth.toml"))
        .unwrap()
        .replace("0.0.0.0:8448", "127.0.0.1:0")
        .replace("/etc/hearth/fullchain.pem", cert.to_str().unwrap())
        .replace("/etc/hearth/privkey.pem", key.to_str().unwrap());
    let key_before = std::fs::read_to_string(dir.join("hearth-data/signing.key")).unwrap();
    let server = TestServer::start(&dir, &config, Some(ca.client_config()));
    let (status, document) = server.get_json("/_matrix/key/v2/server");
    assert_eq!(status, 200);
    assert_eq!(document["server_name"], "example.test");
    let version = key_before.split_whitespace().nth(1).unwrap();
    assert!(document["verify_keys"][format!("ed25519:{version}")].is_object());
}

fn refused_config(config: &str) -> String {
    let dir = temp_dir("badconfig");
    std::fs::write(dir.join("bad.toml"), config).unwrap();
    let (ok, _, stderr) = run_hearth(&["serve", "--config", "bad.toml"], &dir, None);
    assert!(!ok, "a bad config must stop hearth at start");
    assert!(
        stderr.contains("bad.toml"),
        "the message names the file: {stderr}"
    );
    stderr
}

#[test]
fn bad_configs_are_refused_with_file_key_and_reason() {
    let dir = temp_dir("badconfig-data");
    let base = config_text("example.test", &dir, None, "");
    let stderr = refused_config(&base.replace("data_dir", "datadir"));
    assert!(
        stderr.contains("datadir") && stderr.contains("unknown field"),
        "{stderr}"
    );
    let stderr = refused_config(&base.replace("127.0.0.1:0", "localhost"));
    assert!(stderr.contains("listen[0].addr"), "{stderr}");
    let stderr = refused_config(&base.replace("example.test", "exa mple"));
    assert!(stderr.contains("server_name"), "{stderr}");
    let stderr = refused_config("server_name = \"x.test\"\n");
    assert!(stderr.contains("data_dir"), "{stderr}");

    // An unreadable certificate.
    let missing = config_text(
        "example.test",
        &dir,
        Some((&dir.join("missing.crt"), &dir.join("missing.key"))),
        "",
    );
    let stderr = refused_config(&missing);
    assert!(
        stderr.contains("listen[0].tls_cert") && stderr.contains("missing.crt"),
        "{stderr}"
    );

    // A private key that every user can read.
    let ca = TestCa::new();
    let (cert, key) = ca.issue(&dir, "loose", &["localhost"]);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let loose = config_text("example.test", &dir, Some((&cert, &key)), "");
    let stderr = refused_config(&loose);
    assert!(
        stderr.contains("listen[0].tls_key") && stderr.contains("chmod 600"),
        "{stderr}"
    );
}

#[test]
fn hearth_config_environment_variable_names_the_file() {
    let dir = temp_dir("envconfig");
    std::fs::write(dir.join("env.toml"), "server_name = 1\n").unwrap();
    let output = std::process::Command::new(support::hearth_binary())
        .args(["serve"])
        .env("HEARTH_CONFIG", dir.join("env.toml"))
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("env.toml"), "{stderr}");
}

#[test]
fn user_add_works_while_the_server_runs() {
    let dir = temp_dir("useradd");
    let config = config_text("example.test", &dir.join("data"), None, "");
    let server = TestServer::start(&dir, &config, None);
    let config_arg = server.config_path.to_str().unwrap().to_owned();
    let (ok, stdout, stderr) = run_hearth(
        &[
            "user",
            "add",
            "alice",
            "--password",
            "s3cret",
            "--admin",
            "--config",
            &config_arg,
        ],
        &dir,
        None,
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("@alice:example.test"), "{stdout}");
    let (ok, stdout, stderr) = run_hearth(
        &[
            "user",
            "add",
            "bob",
            "--password-stdin",
            "--config",
            &config_arg,
        ],
        &dir,
        Some("hunter2\n"),
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("@bob:example.test"));
    // Taken names and bad names are refused.
    let (ok, _, stderr) = run_hearth(
        &[
            "user",
            "add",
            "alice",
            "--password",
            "x",
            "--config",
            &config_arg,
        ],
        &dir,
        None,
    );
    assert!(!ok && stderr.contains("exists already"), "{stderr}");
    let (ok, _, stderr) = run_hearth(
        &[
            "user",
            "add",
            "Alice!",
            "--password",
            "x",
            "--config",
            &config_arg,
        ],
        &dir,
        None,
    );
    assert!(!ok && stderr.contains("not a valid user name"), "{stderr}");
    let (ok, _, stderr) = run_hearth(
        &["user", "add", "carol", "--config", &config_arg],
        &dir,
        None,
    );
    assert!(!ok && stderr.contains("password"), "{stderr}");
    // The server kept serving throughout.
    assert_eq!(
        server
            .request("GET", "/_matrix/client/versions", b"")
            .status,
        200
    );
}

#[test]
fn version_prints_the_version() {
    let dir = temp_dir("version");
    let (ok, stdout, _) = run_hearth(&["version"], &dir, None);
    assert!(ok);
    assert_eq!(
        stdout.trim(),
        format!("hearth {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn serve_without_config_runs_the_embedded_default() {
    // The README's first command: plain HTTP on 127.0.0.1:8008, data in ./hearth-data.
    // Port 8008 may be in use on a developer machine; then the error must say so clearly.
    let dir = temp_dir("default");
    let mut child = std::process::Command::new(support::hearth_binary())
        .arg("serve")
        .env_remove("HEARTH_CONFIG")
        .current_dir(&dir)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut answered = false;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if dir.join("hearth-data/signing.key").exists()
            && std::net::TcpStream::connect("127.0.0.1:8008").is_ok()
        {
            answered = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !answered {
        assert!(stderr.contains("127.0.0.1:8008"), "{stderr}");
        return;
    }
    assert!(dir.join("hearth-data/hearth.db").exists());
    assert!(stderr.contains("server name localhost"), "{stderr}");
}
