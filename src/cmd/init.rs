//! `hearth init`: write a commented config and a fresh signing key, then print exactly what
//! the admin must publish so that other servers find this one.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::{CmdResult, keyfile};
use crate::config::{Config, TEMPLATE};

pub struct Init {
    pub server_name: String,
    pub data_dir: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub federation_host: Option<String>,
}

pub fn run(options: Init) -> CmdResult {
    let config_path = options
        .config
        .unwrap_or_else(|| PathBuf::from("hearth.toml"));
    let data_dir = options
        .data_dir
        .unwrap_or_else(|| PathBuf::from("hearth-data"));
    let data_dir_text = data_dir
        .to_str()
        .ok_or("the data folder's path must be UTF-8")?;
    let text = TEMPLATE
        .replace("@SERVER_NAME@", &options.server_name)
        .replace(
            "@DATA_DIR@",
            &data_dir_text.replace('\\', "\\\\").replace('"', "\\\""),
        );
    // Validate before writing anything: a bad server name is refused here, not at start.
    let config = Config::parse(&text, &config_path.display().to_string())?;
    if config_path.exists() {
        return Err(format!(
            "{} exists already; not overwriting it",
            config_path.display()
        )
        .into());
    }
    let key_path = config.signing_key_path();
    if key_path.exists() {
        return Err(format!("{} exists already; not overwriting it", key_path.display()).into());
    }
    keyfile::ensure_data_dir(&data_dir)?;
    let key = keyfile::generate()?;
    keyfile::write_new(&key_path, &key)?;
    write_config(&config_path, &text)?;
    let federation_host = options
        .federation_host
        .unwrap_or_else(|| format!("{}:8448", host_part(&options.server_name)));
    print!(
        "{}",
        instructions(
            &options.server_name,
            &federation_host,
            &config_path,
            &key_path,
            &key.key_id()
        )
    );
    Ok(())
}

fn write_config(path: &Path, text: &str) -> CmdResult {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o640)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

/// The server name without a port.
fn host_part(server_name: &str) -> &str {
    if server_name.starts_with('[') {
        return server_name
            .split_once(']')
            .map_or(server_name, |(host, _)| host)
            .trim_start_matches('[');
    }
    server_name.split(':').next().unwrap_or(server_name)
}

/// What to publish: certificate, ports, and the delegation (well-known JSON or SRV record).
fn instructions(
    server_name: &str,
    federation_host: &str,
    config_path: &Path,
    key_path: &Path,
    key_id: &str,
) -> String {
    let (host, port) = match federation_host.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() && !host.ends_with(':') => {
            (host.to_owned(), port.to_owned())
        }
        _ => (federation_host.to_owned(), "8448".to_owned()),
    };
    let apex = host_part(server_name);
    let well_known = json!({ "m.server": format!("{host}:{port}") }).to_string();
    let client_well_known =
        json!({ "m.homeserver": { "base_url": format!("https://{host}") } }).to_string();
    let delegated = host != apex || port != "8448";
    let mut out = format!(
        "Wrote {config} and the signing key {key} ({key_id}).\n\
         Keep {key} secret and backed up: it is your server's identity.\n\n\
         To federate as {server_name}, with hearth reachable at {host}:{port}:\n\n\
         1. Certificate: a TLS certificate valid for {host}, from a public CA (e.g. certbot\n   \
            certonly --standalone -d {host}). Set tls_cert and tls_key in {config}, or terminate\n   \
            TLS in a reverse proxy and forward to a plain [[listen]] address.\n\n\
         2. Ports: open TCP {port} on {host} for federation (and 443 if clients connect there).\n\n",
        config = config_path.display(),
        key = key_path.display(),
    );
    if delegated {
        out.push_str(&format!(
            "3. Delegation, because {host}:{port} is not {apex}:8448. Publish ONE of:\n\n   \
             a) at https://{apex}/.well-known/matrix/server, answered with status 200 (no\n      \
                redirect) and Content-Type: application/json:\n\n{well_known}\n\n   \
             b) a DNS SRV record (when {apex} serves no .well-known):\n\n      \
                _matrix-fed._tcp.{apex}. 3600 IN SRV 10 5 {port} {host}.\n\n"
        ));
    } else {
        out.push_str(&format!(
            "3. Delegation: none needed, since other servers try {apex}:8448 by default.\n   \
             Publishing it explicitly does no harm; at https://{apex}/.well-known/matrix/server:\n\n\
             {well_known}\n\n"
        ));
    }
    out.push_str(&format!(
        "4. Clients: to let clients find hearth from a user ID, publish at\n   \
         https://{apex}/.well-known/matrix/client (with CORS header Access-Control-Allow-Origin: *):\n\n\
         {client_well_known}\n\n\
         5. Start: hearth serve --config {config}\n",
        config = config_path.display()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_lines(text: &str) -> Vec<serde_json::Value> {
        text.lines()
            .filter(|line| line.starts_with('{'))
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    #[test]
    fn delegated_setup_prints_well_known_and_srv() {
        let text = instructions(
            "example.com",
            "matrix.example.com:443",
            Path::new("hearth.toml"),
            Path::new("d/signing.key"),
            "ed25519:a_b",
        );
        let documents = json_lines(&text);
        assert_eq!(documents[0], json!({"m.server": "matrix.example.com:443"}));
        assert_eq!(
            documents[1],
            json!({"m.homeserver": {"base_url": "https://matrix.example.com"}})
        );
        assert!(
            text.contains("_matrix-fed._tcp.example.com. 3600 IN SRV 10 5 443 matrix.example.com.")
        );
    }

    #[test]
    fn direct_setup_needs_no_delegation() {
        let text = instructions(
            "example.com",
            "example.com:8448",
            Path::new("hearth.toml"),
            Path::new("d/signing.key"),
            "ed25519:a_b",
        );
        assert!(text.contains("none needed"));
        assert_eq!(
            json_lines(&text)[0],
            json!({"m.server": "example.com:8448"})
        );
    }

    #[test]
    fn host_part_strips_ports() {
        assert_eq!(host_part("example.com:8448"), "example.com");
        assert_eq!(host_part("[::1]:8448"), "::1");
        assert_eq!(host_part("example.com"), "example.com");
    }
}
