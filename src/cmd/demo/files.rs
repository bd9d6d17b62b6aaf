//! The demo's folder: the layout of the three servers, the demo CA and certificates
//! (rcgen), the generated configs, and `demo.json` (ports, passwords, the shared room),
//! which lets a later run with the same `--dir` pick everything up again.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The user made on each server, in server order.
const LOCALPARTS: [&str; 3] = ["alice", "bob", "carol"];

/// One of the three servers: its names, ports and files.
#[derive(Debug, Clone)]
pub struct DemoServer {
    /// `server1` … `server3`: the folder name, used in messages.
    pub label: String,
    /// The Matrix server name, `localhost:<federation_port>`: an explicit port means other
    /// servers connect to that port with TLS, no DNS or well-known needed (s2s "Resolving
    /// server names", step 2).
    pub name: String,
    pub federation_port: u16,
    pub client_port: u16,
    pub dir: PathBuf,
    pub localpart: &'static str,
}

impl DemoServer {
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("hearth.toml")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("hearth.log")
    }

    pub fn user_id(&self) -> String {
        format!("@{}:{}", self.localpart, self.name)
    }

    pub fn homeserver_url(&self) -> String {
        format!("http://localhost:{}", self.client_port)
    }
}

/// The three servers for `base_port`: federation (TLS) on base+1..base+3, the client API
/// (plain HTTP) on base+4..base+6.
pub fn servers(dir: &Path, base_port: u16) -> Result<Vec<DemoServer>, String> {
    if base_port == 0 || base_port > u16::MAX - 6 {
        return Err(format!(
            "--base-port {base_port}: the demo needs ports base+1 to base+6, all within 1..65535"
        ));
    }
    Ok((0..3u16)
        .map(|index| {
            let federation_port = base_port + 1 + index;
            DemoServer {
                label: format!("server{}", index + 1),
                name: format!("localhost:{federation_port}"),
                federation_port,
                client_port: base_port + 4 + index,
                dir: dir.join(format!("server{}", index + 1)),
                localpart: LOCALPARTS[usize::from(index)],
            }
        })
        .collect())
}

/// What a later run needs to come back as the same federation: `demo.json` in the folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub base_port: u16,
    /// The users' passwords, in server order.
    pub passwords: Vec<String>,
    /// The accounts exist (`hearth user add` ran for all three).
    #[serde(default)]
    pub accounts_made: bool,
    /// The shared room, once created.
    pub room_id: Option<String>,
}

impl State {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("demo.json")
    }

    /// The saved state, `None` in a fresh folder.
    pub fn load(dir: &Path) -> Result<Option<State>, String> {
        let path = Self::path(dir);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    /// A fresh state with three new random passwords.
    pub fn new(base_port: u16) -> Result<State, String> {
        let passwords = (0..3).map(|_| password()).collect::<Result<_, _>>()?;
        Ok(State {
            base_port,
            passwords,
            accounts_made: false,
            room_id: None,
        })
    }

    /// Writes `demo.json` (mode 0600: it holds passwords), replacing the old one atomically.
    pub fn save(&self, dir: &Path) -> Result<(), String> {
        let path = Self::path(dir);
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        write_private(&dir.join("demo.json.new"), text.as_bytes())?;
        std::fs::rename(dir.join("demo.json.new"), &path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }
}

/// 16 random letters and digits (no look-alikes such as 0/O, 1/l): about 90 bits.
fn password() -> Result<String, String> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness: {e}"))?;
    Ok(bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect())
}

/// `ca.crt` in the folder: every server trusts it for outbound federation.
pub fn ca_path(dir: &Path) -> PathBuf {
    dir.join("ca.crt")
}

/// Makes the demo CA and a certificate for `localhost`/127.0.0.1 per server, unless all
/// files are there from an earlier run. Federation does not pin certificates, so a fresh
/// set is as good as the old one.
pub fn ensure_certificates(dir: &Path, servers: &[DemoServer]) -> Result<bool, String> {
    let complete = ca_path(dir).exists()
        && servers
            .iter()
            .all(|s| s.dir.join("tls.crt").exists() && s.dir.join("tls.key").exists());
    if complete {
        return Ok(false);
    }
    let error = |e: rcgen::Error| format!("cannot make the demo certificates: {e}");
    let ca_key = rcgen::KeyPair::generate().map_err(error)?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(error)?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "hearth demo CA");
    let ca_cert = ca_params.self_signed(&ca_key).map_err(error)?;
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    for server in servers {
        create_dir(&server.dir)?;
        let key = rcgen::KeyPair::generate().map_err(error)?;
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let cert = rcgen::CertificateParams::new(names)
            .map_err(error)?
            .signed_by(&key, &issuer)
            .map_err(error)?;
        write_private(&server.dir.join("tls.key"), key.serialize_pem().as_bytes())?;
        write_file(&server.dir.join("tls.crt"), cert.pem().as_bytes())?;
    }
    write_private(&dir.join("ca.key"), ca_key.serialize_pem().as_bytes())?;
    write_file(&ca_path(dir), ca_cert.pem().as_bytes())?;
    Ok(true)
}

/// Writes each server's `hearth.toml` (again on every run: it is derived, not state).
pub fn write_configs(dir: &Path, servers: &[DemoServer]) -> Result<(), String> {
    let ca = toml_string(&ca_path(dir))?;
    for server in servers {
        create_dir(&server.dir)?;
        let text = format!(
            "# Written by `hearth demo` on every run; edits are overwritten.\n\
             server_name = \"{name}\"\n\
             data_dir = {data}\n\n\
             # Federation: TLS with a certificate from the demo CA.\n\
             [[listen]]\n\
             addr = \"127.0.0.1:{federation_port}\"\n\
             tls_cert = {cert}\n\
             tls_key = {key}\n\n\
             # Clients: plain HTTP on loopback.\n\
             [[listen]]\n\
             addr = \"127.0.0.1:{client_port}\"\n\n\
             [federation]\n\
             extra_ca = [{ca}]\n\n\
             [well_known]\n\
             client = \"{homeserver_url}\"\n",
            name = server.name,
            data = toml_string(&server.dir.join("data"))?,
            federation_port = server.federation_port,
            cert = toml_string(&server.dir.join("tls.crt"))?,
            key = toml_string(&server.dir.join("tls.key"))?,
            client_port = server.client_port,
            homeserver_url = server.homeserver_url(),
        );
        write_file(&server.config_path(), text.as_bytes())?;
    }
    Ok(())
}

/// A path as a TOML basic string.
fn toml_string(path: &Path) -> Result<String, String> {
    let text = path
        .to_str()
        .ok_or_else(|| format!("{}: the path must be UTF-8", path.display()))?;
    Ok(format!(
        "\"{}\"",
        text.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

pub fn create_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    // Keys and passwords live here: only the owner may look.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| format!("cannot restrict {}: {e}", dir.display()))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let _ = std::fs::remove_file(path);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(bytes))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn ports_and_names_follow_the_base_port() {
        let servers = servers(Path::new("/d"), 8480).unwrap();
        let names: Vec<_> = servers.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["localhost:8481", "localhost:8482", "localhost:8483"]
        );
        let clients: Vec<_> = servers.iter().map(|s| s.client_port).collect();
        assert_eq!(clients, [8484, 8485, 8486]);
        assert_eq!(servers[1].user_id(), "@bob:localhost:8482");
        assert!(super::servers(Path::new("/d"), 65530).is_err());
    }

    #[test]
    fn generated_configs_are_valid() {
        let dir = std::env::temp_dir().join(format!("hearth-demo-unit-{}", std::process::id()));
        let servers = servers(&dir.join("a \"quoted\" dir"), 9000).unwrap();
        write_configs(&dir, &servers).unwrap();
        let config = Config::load(&servers[2].config_path()).unwrap();
        assert_eq!(config.server_name, "localhost:9003");
        assert_eq!(config.listeners.len(), 2);
        assert!(config.listeners[0].tls.is_some());
        assert_eq!(config.listeners[1].addr.port(), 9006);
        assert_eq!(config.federation.extra_ca, [ca_path(&dir)]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn passwords_are_random() {
        let state = State::new(8480).unwrap();
        assert_eq!(state.passwords.len(), 3);
        assert_ne!(state.passwords[0], state.passwords[1]);
        assert!(state.passwords.iter().all(|p| p.len() == 16));
    }
}
