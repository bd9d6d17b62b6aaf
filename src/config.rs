//! The configuration file (TOML): parsed once into a typed, validated [`Config`].
//!
//! A bad config is refused at start with the file, the key and the reason. The embedded
//! default (no file at all) is a homeserver for `localhost` on plain HTTP.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The config template written by `hearth init`, with `@SERVER_NAME@` and `@DATA_DIR@`.
pub const TEMPLATE: &str = include_str!("../assets/hearth.toml");

/// A validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub server_name: String,
    pub data_dir: PathBuf,
    pub listeners: Vec<Listener>,
    pub federation: FederationConfig,
    pub well_known: WellKnownConfig,
    pub registration: RegistrationConfig,
    pub database: DatabaseConfig,
    /// Where the config came from, for messages (`None` for the embedded default).
    pub source: Option<PathBuf>,
}

/// One listening socket, with TLS or plain HTTP.
#[derive(Debug, Clone, PartialEq)]
pub struct Listener {
    pub addr: SocketAddr,
    pub tls: Option<TlsFiles>,
    /// Behind a reverse proxy: the client address is the last `X-Forwarded-For` entry.
    pub x_forwarded: bool,
}

/// The certificate chain and private key files of a TLS listener.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationConfig {
    #[serde(default)]
    pub extra_ca: Vec<PathBuf>,
}

/// Who may create accounts through the client API (`hearth user add` always works).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationConfig {
    /// Anyone may register.
    #[serde(default)]
    pub open: bool,
    /// Anyone who knows this token may register (`m.login.registration_token`).
    pub token: Option<String>,
}

/// How the database acknowledges writes.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    #[serde(default)]
    pub durability: crate::store::Durability,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WellKnownConfig {
    pub server: Option<String>,
    pub client: Option<String>,
}

/// The file as written, before validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    server_name: String,
    data_dir: PathBuf,
    #[serde(default)]
    listen: Vec<RawListener>,
    #[serde(default)]
    federation: FederationConfig,
    #[serde(default)]
    well_known: WellKnownConfig,
    #[serde(default)]
    registration: RegistrationConfig,
    #[serde(default)]
    database: DatabaseConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawListener {
    addr: String,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    #[serde(default)]
    x_forwarded: bool,
}

/// Why a config was refused: the file, the key and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub key: String,
    pub reason: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key.is_empty() {
            write!(f, "config {}: {}", self.file, self.reason)
        } else {
            write!(
                f,
                "config {}: key `{}`: {}",
                self.file, self.key, self.reason
            )
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// The embedded default: `localhost`, data in `./hearth-data`, plain HTTP on 127.0.0.1:8008.
    pub fn embedded_default() -> Config {
        Config {
            server_name: "localhost".to_owned(),
            data_dir: PathBuf::from("hearth-data"),
            listeners: vec![Listener {
                addr: SocketAddr::from(([127, 0, 0, 1], 8008)),
                tls: None,
                x_forwarded: false,
            }],
            federation: FederationConfig::default(),
            well_known: WellKnownConfig::default(),
            registration: RegistrationConfig::default(),
            database: DatabaseConfig::default(),
            source: None,
        }
    }

    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            key: String::new(),
            reason: format!("cannot read the file: {e}"),
        })?;
        let mut config = Self::parse(&text, &file)?;
        config.source = Some(path.to_owned());
        Ok(config)
    }

    /// Parses and validates config text; `file` names it in errors. Files on disk that the
    /// config names (certificates) are checked by the listener at start, not here.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let error = |key: &str, reason: String| ConfigError {
            file: file.to_owned(),
            key: key.to_owned(),
            reason,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let reason = e.message().to_owned();
            let line = e
                .span()
                .map(|span| text[..span.start.min(text.len())].lines().count().max(1));
            let key = unknown_field_name(&reason).unwrap_or_default();
            match line {
                Some(line) => error(&key, format!("{reason} (line {line})")),
                None => error(&key, reason),
            }
        })?;
        validate_server_name(&raw.server_name).map_err(|why| error("server_name", why))?;
        if raw.data_dir.as_os_str().is_empty() {
            return Err(error("data_dir", "must not be empty".into()));
        }
        if raw.listen.is_empty() {
            return Err(error(
                "listen",
                "at least one [[listen]] section is needed".into(),
            ));
        }
        let mut listeners = Vec::new();
        for (index, raw_listener) in raw.listen.into_iter().enumerate() {
            let key = |name: &str| format!("listen[{index}].{name}");
            let addr: SocketAddr = raw_listener.addr.parse().map_err(|_| {
                error(
                    &key("addr"),
                    format!(
                        "`{}` is not an address with a port, such as \"0.0.0.0:8448\" or \"[::]:8448\"",
                        raw_listener.addr
                    ),
                )
            })?;
            let tls = match (raw_listener.tls_cert, raw_listener.tls_key) {
                (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
                (None, None) => None,
                (Some(_), None) => {
                    return Err(error(
                        &key("tls_key"),
                        "tls_cert is set but tls_key is not".into(),
                    ));
                }
                (None, Some(_)) => {
                    return Err(error(
                        &key("tls_cert"),
                        "tls_key is set but tls_cert is not".into(),
                    ));
                }
            };
            if listeners.iter().any(|l: &Listener| l.addr == addr) {
                return Err(error(&key("addr"), format!("{addr} is listed twice")));
            }
            listeners.push(Listener {
                addr,
                tls,
                x_forwarded: raw_listener.x_forwarded,
            });
        }
        if let Some(server) = &raw.well_known.server {
            validate_server_name(server).map_err(|why| error("well_known.server", why))?;
        }
        if let Some(client) = &raw.well_known.client
            && !(client.starts_with("https://") || client.starts_with("http://"))
        {
            return Err(error(
                "well_known.client",
                format!("`{client}` must be a URL starting with https://"),
            ));
        }
        if raw.registration.token.as_deref() == Some("") {
            return Err(error("registration.token", "must not be empty".into()));
        }
        Ok(Config {
            server_name: raw.server_name,
            data_dir: raw.data_dir,
            listeners,
            federation: raw.federation,
            well_known: raw.well_known,
            registration: raw.registration,
            database: raw.database,
            source: None,
        })
    }

    /// How the config is named in messages.
    pub fn source_name(&self) -> String {
        match &self.source {
            Some(path) => path.display().to_string(),
            None => "(embedded default)".to_owned(),
        }
    }

    /// `<data_dir>/signing.key`.
    pub fn signing_key_path(&self) -> PathBuf {
        self.data_dir.join("signing.key")
    }

    /// `<data_dir>/hearth.db`.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("hearth.db")
    }
}

/// serde reports "unknown field `x`, expected one of ..."; the key is the part in backticks.
fn unknown_field_name(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest.split('`').next()?.to_owned())
}

/// A server name as the spec's grammar allows (appendices, "Server Name"): a hostname, an
/// IPv4 address or a bracketed IPv6 address, optionally with a port.
fn validate_server_name(name: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("`{name}` is not a valid server name: {why}"));
    if name.is_empty() || name.len() > 255 {
        return bad("it must be 1 to 255 characters");
    }
    let (host, port) = if let Some(rest) = name.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return bad("unclosed [");
        };
        if inside.parse::<std::net::Ipv6Addr>().is_err() {
            return bad("not an IPv6 address inside []");
        }
        match after {
            "" => (None, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return bad("only a :port may follow ]"),
            },
        }
    } else {
        match name.split_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(name), None),
        }
    };
    if let Some(port) = port {
        let digits =
            !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
        if !digits || port.parse::<u16>().map_or(true, |p| p == 0) {
            return bad("the port must be a number from 1 to 65535");
        }
    }
    if let Some(host) = host {
        let valid = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !valid {
            return bad("a hostname may only hold letters, digits, '-' and '.'");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
server_name = "example.com"
data_dir = "/var/lib/hearth"
[[listen]]
addr = "0.0.0.0:8448"
tls_cert = "/etc/hearth/fullchain.pem"
tls_key = "/etc/hearth/privkey.pem"
[[listen]]
addr = "[::1]:8008"
x_forwarded = true
[federation]
extra_ca = ["/etc/hearth/ca.pem"]
[well_known]
server = "hearth.example.com:443"
client = "https://hearth.example.com"
[database]
durability = "flushed"
"#;

    fn refused(text: &str) -> ConfigError {
        Config::parse(text, "test.toml").expect_err("config should be refused")
    }

    #[test]
    fn parses_every_documented_key() {
        let config = Config::parse(GOOD, "test.toml").unwrap();
        assert_eq!(config.server_name, "example.com");
        assert_eq!(config.listeners.len(), 2);
        assert!(config.listeners[0].tls.is_some());
        assert!(config.listeners[1].tls.is_none());
        assert!(!config.listeners[0].x_forwarded);
        assert!(config.listeners[1].x_forwarded);
        assert_eq!(config.federation.extra_ca.len(), 1);
        assert_eq!(
            config.well_known.server.as_deref(),
            Some("hearth.example.com:443")
        );
        assert_eq!(
            config.database.durability,
            crate::store::Durability::Flushed
        );
        let unset = Config::parse(&GOOD.replace("durability = \"flushed\"", ""), "t").unwrap();
        assert_eq!(unset.database.durability, crate::store::Durability::Written);
        let e = refused(&GOOD.replace("\"flushed\"", "\"eventually\""));
        assert!(e.reason.contains("`written` or `flushed`"), "{e}");
    }

    #[test]
    fn the_template_is_a_valid_config() {
        let text = TEMPLATE
            .replace("@SERVER_NAME@", "example.com")
            .replace("@DATA_DIR@", "/var/lib/hearth");
        let config = Config::parse(&text, "template").unwrap();
        assert_eq!(config.listeners[0].addr.port(), 8448);
    }

    #[test]
    fn errors_name_the_key() {
        let e = refused(&GOOD.replace("data_dir", "data_dri"));
        assert_eq!(e.key, "data_dri");
        assert!(e.to_string().contains("test.toml"), "{e}");
        assert!(e.reason.contains("unknown field"), "{e}");
        let e = refused(&GOOD.replace("0.0.0.0:8448", "0.0.0.0"));
        assert_eq!(e.key, "listen[0].addr");
        let e = refused(&GOOD.replace("\"example.com\"", "\"exa mple.com\""));
        assert_eq!(e.key, "server_name");
        let e = refused(&GOOD.replace("tls_key = \"/etc/hearth/privkey.pem\"", ""));
        assert_eq!(e.key, "listen[0].tls_key");
        let e = refused(&GOOD.replace("https://hearth", "hearth"));
        assert_eq!(e.key, "well_known.client");
        let e = refused("server_name = \"a\"\ndata_dir = \"d\"\n");
        assert_eq!(e.key, "listen");
    }

    #[test]
    fn server_names() {
        for good in [
            "example.com",
            "localhost:8448",
            "1.2.3.4",
            "[::1]",
            "[::1]:80",
            "a-b.c",
        ] {
            assert!(validate_server_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "a b",
            "example.com:",
            "example.com:99999",
            "[::1",
            "[zz]",
            "[::1]x",
            "a_b",
        ] {
            assert!(validate_server_name(bad).is_err(), "{bad}");
        }
    }
}
