//! Test support: start the real `hearth` binary on loopback and talk HTTP/1.1 to it,
//! over plain TCP or TLS with a throwaway CA made by the test.

#![allow(dead_code)] // each test file uses a different part of this module

pub mod client;
pub mod fake_peer;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use futures_rustls::rustls;
use rustls::pki_types::{CertificateDer, ServerName};

/// The binary under test, built by cargo for integration tests.
pub fn hearth_binary() -> &'static str {
    env!("CARGO_BIN_EXE_hearth")
}

/// A fresh empty folder under the system temp dir.
pub fn temp_dir(label: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let dir = std::env::temp_dir().join(format!(
        "hearth-test-{label}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A test CA and a leaf certificate for `localhost` / 127.0.0.1.
pub struct TestCa {
    pub ca_pem: String,
    ca_key: rcgen::KeyPair,
    ca_params: rcgen::CertificateParams,
    ca_der: Vec<u8>,
}

impl TestCa {
    pub fn new() -> TestCa {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "hearth test CA");
        let ca_cert = params.self_signed(&ca_key).unwrap();
        TestCa {
            ca_pem: ca_cert.pem(),
            ca_key,
            ca_params: params,
            ca_der: ca_cert.der().to_vec(),
        }
    }

    /// Writes `<dir>/<name>.crt` (chain) and `<dir>/<name>.key` (mode 0600) for `names`.
    pub fn issue(&self, dir: &Path, name: &str, names: &[&str]) -> (PathBuf, PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let key = rcgen::KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let params = rcgen::CertificateParams::new(names).unwrap();
        let issuer = rcgen::Issuer::from_params(&self.ca_params, &self.ca_key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        let cert_path = dir.join(format!("{name}.crt"));
        let key_path = dir.join(format!("{name}.key"));
        std::fs::write(&cert_path, cert.pem() + &self.ca_pem).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
        (cert_path, key_path)
    }

    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(self.ca_der.clone()))
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        // A resumed session would show the old certificate: every connection does a full handshake.
        config.resumption = rustls::client::Resumption::disabled();
        Arc::new(config)
    }
}

/// A running `hearth serve`, killed on drop.
pub struct TestServer {
    child: Child,
    pub addr: String,
    pub dir: PathBuf,
    pub config_path: PathBuf,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    log: Arc<std::sync::Mutex<Vec<String>>>,
}

impl TestServer {
    /// Starts hearth with `config` (TOML) written to `<dir>/hearth.toml`; the config must
    /// listen on 127.0.0.1:0. Waits for the "listening on" line to learn the port.
    pub fn start(dir: &Path, config: &str, tls: Option<Arc<rustls::ClientConfig>>) -> TestServer {
        Self::start_with_env(dir, config, tls, &[])
    }

    pub fn start_with_env(
        dir: &Path,
        config: &str,
        tls: Option<Arc<rustls::ClientConfig>>,
        env: &[(&str, &str)],
    ) -> TestServer {
        let config_path = dir.join("hearth.toml");
        std::fs::write(&config_path, config).unwrap();
        let mut command = Command::new(hearth_binary());
        command
            .args(["serve", "--config"])
            .arg(&config_path)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (addr_sender, addr_receiver) = std::sync::mpsc::channel();
        let log_writer = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let addr = rest
                        .split("://")
                        .nth(1)
                        .and_then(|a| a.split_whitespace().next())
                        .unwrap_or("")
                        .to_owned();
                    let _ = addr_sender.send(addr);
                }
                log_writer.lock().unwrap().push(line);
            }
        });
        let addr = match addr_receiver.recv_timeout(Duration::from_secs(20)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!("hearth did not start: {:?}", log.lock().unwrap());
            }
        };
        TestServer {
            child,
            addr,
            dir: dir.to_owned(),
            config_path,
            tls,
            log,
        }
    }

    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits (up to 5 s) until a log line contains `needle`: the log is read from the
    /// server's stderr by another thread, a little after the server wrote it.
    pub fn wait_for_log(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if self.log_lines().iter().any(|line| line.contains(needle)) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// One request on a new connection.
    pub fn request(&self, method: &str, path: &str, body: &[u8]) -> HttpResponse {
        let mut connection = self.connect();
        connection.send(method, path, &[], body);
        connection.read_response(method == "HEAD")
    }

    pub fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let response = self.request("GET", path, b"");
        (response.status, response.json())
    }

    pub fn connect(&self) -> Connection {
        let tcp = TcpStream::connect(&self.addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        match &self.tls {
            None => Connection::Plain(BufReader::new(tcp)),
            Some(config) => {
                let name = ServerName::try_from("localhost").unwrap();
                let client = rustls::ClientConnection::new(config.clone(), name).unwrap();
                Connection::Tls(Box::new(BufReader::new(rustls::StreamOwned::new(
                    client, tcp,
                ))))
            }
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client connection, plain or TLS, that can carry several requests (keep-alive).
pub enum Connection {
    Plain(BufReader<TcpStream>),
    Tls(Box<BufReader<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>>),
}

impl Connection {
    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Connection::Plain(reader) => reader.get_mut(),
            Connection::Tls(reader) => reader.get_mut(),
        }
    }

    fn reader(&mut self) -> &mut dyn BufRead {
        match self {
            Connection::Plain(reader) => reader,
            Connection::Tls(reader) => reader.as_mut(),
        }
    }

    /// Waits longer than the default 20 s for answers (requests that run into a limit).
    pub fn set_read_timeout(&mut self, timeout: Duration) {
        let tcp = match self {
            Connection::Plain(reader) => reader.get_ref(),
            Connection::Tls(reader) => &reader.get_ref().sock,
        };
        tcp.set_read_timeout(Some(timeout)).unwrap();
    }

    /// The server's certificate (TLS only).
    pub fn peer_certificate(&self) -> Option<Vec<u8>> {
        match self {
            Connection::Plain(_) => None,
            Connection::Tls(reader) => reader
                .get_ref()
                .conn
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|cert| cert.to_vec()),
        }
    }

    pub fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let writer = self.writer();
        writer.write_all(head.as_bytes()).unwrap();
        // A server may refuse a body and close before reading it all; that is not our error.
        let _ = writer.write_all(body);
        let _ = writer.flush();
    }

    pub fn read_response(&mut self, head_only: bool) -> HttpResponse {
        let reader = self.reader();
        let mut status_line = String::new();
        reader.read_line(&mut status_line).unwrap();
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"))
            .parse()
            .unwrap();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap();
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
        let length: usize = headers
            .iter()
            .find(|(name, _)| name == "content-length")
            .map(|(_, value)| value.parse().unwrap())
            .unwrap_or(0);
        let mut body = vec![0; if head_only { 0 } else { length }];
        reader.read_exact(&mut body).unwrap();
        HttpResponse {
            status,
            headers,
            body,
        }
    }
}

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    /// Asserts a Matrix error with this status and errcode.
    pub fn assert_error(&self, status: u16, errcode: &str) {
        assert_eq!(
            self.status,
            status,
            "{:?}",
            String::from_utf8_lossy(&self.body)
        );
        let body = self.json();
        assert_eq!(body["errcode"], errcode, "{body}");
        assert!(body["error"].is_string(), "{body}");
    }
}

/// Runs `hearth ARGS` to completion: (exit success, stdout, stderr).
pub fn run_hearth(args: &[&str], dir: &Path, stdin: Option<&str>) -> (bool, String, String) {
    let mut child = Command::new(hearth_binary())
        .args(args)
        .current_dir(dir)
        .env_remove("HEARTH_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    } else {
        drop(child.stdin.take());
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "hearth {args:?} did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A config listening on 127.0.0.1:0, plain or with the given certificate.
pub fn config_text(
    server_name: &str,
    data_dir: &Path,
    tls: Option<(&Path, &Path)>,
    extra: &str,
) -> String {
    let tls_lines = match tls {
        Some((cert, key)) => format!(
            "tls_cert = \"{}\"\ntls_key = \"{}\"\n",
            cert.display(),
            key.display()
        ),
        None => String::new(),
    };
    format!(
        "server_name = \"{server_name}\"\ndata_dir = \"{}\"\n{extra}\n[[listen]]\naddr = \"127.0.0.1:0\"\n{tls_lines}",
        data_dir.display()
    )
}
