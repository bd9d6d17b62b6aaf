//! The system's resolver configuration: nameservers and options from `/etc/resolv.conf`
//! (or the file named by `HEARTH_RESOLV_CONF`), names from `/etc/hosts` and from the file
//! named by `HEARTH_HOSTS_FILE`. Tests and labs use the two variables to point names at
//! loopback without touching the machine's files.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// How the DNS client asks: which servers, how long to wait, how often to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsConfig {
    pub nameservers: Vec<SocketAddr>,
    pub hosts: Hosts,
    /// How long to wait for one answer from one server (resolv.conf `options timeout:`).
    pub timeout: Duration,
    /// Rounds over all the servers (resolv.conf `options attempts:`).
    pub attempts: u32,
}

impl DnsConfig {
    /// Reads `/etc/resolv.conf` (or the file named by `HEARTH_RESOLV_CONF`) and
    /// `/etc/hosts`, then the hosts file named by `HEARTH_HOSTS_FILE` if set (its names
    /// win). A missing resolv.conf means the local resolver at 127.0.0.1:53, as glibc does.
    pub fn from_system() -> DnsConfig {
        let resolv_path =
            std::env::var_os("HEARTH_RESOLV_CONF").unwrap_or_else(|| "/etc/resolv.conf".into());
        let resolv = std::fs::read_to_string(resolv_path).unwrap_or_default();
        let mut config = parse_resolv_conf(&resolv);
        let hosts_text = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        config.hosts = Hosts::parse(&hosts_text);
        if let Some(path) = std::env::var_os("HEARTH_HOSTS_FILE") {
            let extra = std::fs::read_to_string(path).unwrap_or_default();
            config.hosts.override_with(Hosts::parse(&extra));
        }
        config
    }
}

/// Parses resolv.conf: `nameserver` lines (at most 3 used, as glibc) and the `timeout:` and
/// `attempts:` options. Search domains are ignored: federation names are fully qualified.
pub fn parse_resolv_conf(text: &str) -> DnsConfig {
    let mut nameservers = Vec::new();
    let mut timeout = Duration::from_secs(5);
    let mut attempts = 2;
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or("");
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                // A scoped IPv6 address (fe80::1%eth0) cannot be parsed here; skip it.
                if let Some(ip) = words.next().and_then(|w| w.parse::<IpAddr>().ok())
                    && nameservers.len() < 3
                {
                    nameservers.push(SocketAddr::new(ip, 53));
                }
            }
            Some("options") => {
                for option in words {
                    if let Some(value) = option.strip_prefix("timeout:")
                        && let Ok(seconds) = value.parse::<u64>()
                    {
                        timeout = Duration::from_secs(seconds.clamp(1, 30));
                    }
                    if let Some(value) = option.strip_prefix("attempts:")
                        && let Ok(count) = value.parse::<u32>()
                    {
                        attempts = count.clamp(1, 5);
                    }
                }
            }
            _ => {}
        }
    }
    if nameservers.is_empty() {
        nameservers.push(SocketAddr::from(([127, 0, 0, 1], 53)));
    }
    DnsConfig {
        nameservers,
        hosts: Hosts::default(),
        timeout,
        attempts,
    }
}

/// Names from hosts files: lower-cased name → addresses in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hosts {
    names: HashMap<String, Vec<IpAddr>>,
}

impl Hosts {
    /// Parses `address name [aliases...]` lines; `#` starts a comment.
    pub fn parse(text: &str) -> Hosts {
        let mut names: HashMap<String, Vec<IpAddr>> = HashMap::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let Some(ip) = words.next().and_then(|w| w.parse::<IpAddr>().ok()) else {
                continue;
            };
            for name in words {
                let addresses = names.entry(normalize(name)).or_default();
                if !addresses.contains(&ip) {
                    addresses.push(ip);
                }
            }
        }
        Hosts { names }
    }

    /// The addresses of `name`, if the hosts files list it.
    pub fn lookup(&self, name: &str) -> Option<&[IpAddr]> {
        self.names.get(&normalize(name)).map(Vec::as_slice)
    }

    /// Adds a name (used by tests and `hearth check --resolve`-like overrides).
    pub fn insert(&mut self, name: &str, addresses: Vec<IpAddr>) {
        self.names.insert(normalize(name), addresses);
    }

    fn override_with(&mut self, other: Hosts) {
        self.names.extend(other.names);
    }
}

/// DNS names compare without case and without the root's trailing dot.
pub fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf() {
        let config = parse_resolv_conf(
            "# comment\nsearch example.com\nnameserver 10.0.0.1\nnameserver ::1 # local\n\
             nameserver fe80::1%eth0\noptions ndots:2 timeout:3 attempts:4\n\
             nameserver 10.0.0.2\nnameserver 10.0.0.3\n",
        );
        let servers: Vec<String> = config.nameservers.iter().map(|s| s.to_string()).collect();
        assert_eq!(servers, ["10.0.0.1:53", "[::1]:53", "10.0.0.2:53"]);
        assert_eq!(config.timeout, Duration::from_secs(3));
        assert_eq!(config.attempts, 4);
        let empty = parse_resolv_conf("");
        assert_eq!(empty.nameservers, [SocketAddr::from(([127, 0, 0, 1], 53))]);
        assert_eq!((empty.timeout, empty.attempts), (Duration::from_secs(5), 2));
    }

    #[test]
    fn hosts_file() {
        let hosts = Hosts::parse(
            "127.0.0.1 localhost\n::1 localhost ip6-localhost\n# 1.2.3.4 commented.test\n\
             127.0.5.2 Syn.Test syn-alias.test # trailing\nnot-an-ip name.test\n",
        );
        let localhost: Vec<String> = hosts
            .lookup("localhost")
            .unwrap()
            .iter()
            .map(|ip| ip.to_string())
            .collect();
        assert_eq!(localhost, ["127.0.0.1", "::1"]);
        assert_eq!(
            hosts.lookup("syn.test."),
            Some(&["127.0.5.2".parse().unwrap()][..])
        );
        assert!(hosts.lookup("syn-alias.test").is_some());
        assert!(hosts.lookup("commented.test").is_none());
        assert!(hosts.lookup("name.test").is_none());
    }
}
