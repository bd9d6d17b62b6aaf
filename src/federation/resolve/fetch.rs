//! Fetching `https://<hostname>/.well-known/matrix/server` (spec step 3): normal X.509
//! checks for the hostname, status 200 only, body at most 50 KiB, redirects 301, 302,
//! 303, 307 and 308 followed (the spec says "follow 30x redirects, carefully avoiding
//! redirect loops") up to a hop limit, https only.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_rustls::rustls::ClientConfig;

use super::https::{self, HttpsError};
use super::well_known::{
    MAX_BODY_BYTES, MAX_REDIRECTS, WellKnownError, parse_body, success_lifetime,
};
use crate::federation::dns::DnsClient;
use crate::proto::id::ServerName;

/// Time allowed for one request (connect, handshake, response).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// One request of the chain.
#[derive(Debug, Clone)]
pub struct Hop {
    pub url: String,
    /// The address that answered.
    pub addr: Option<SocketAddr>,
    pub status: Option<u16>,
    pub location: Option<String>,
    pub error: Option<String>,
}

/// Everything learnt by one fetch, for the resolver's cache and for `hearth check`.
#[derive(Debug, Clone)]
pub struct WellKnownFetch {
    pub hops: Vec<Hop>,
    pub outcome: Result<ServerName, WellKnownError>,
    /// How long a success may be cached (from the headers); `None` = not at all.
    pub lifetime: Option<Duration>,
    pub content_type: Option<String>,
}

/// An https URL split up. `host` keeps IPv6 brackets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.port {
            443 => write!(f, "https://{}{}", self.host, self.path),
            port => write!(f, "https://{}:{port}{}", self.host, self.path),
        }
    }
}

impl Url {
    /// Parses an absolute `https://` URL.
    pub fn parse(text: &str) -> Option<Url> {
        let rest = text.strip_prefix("https://")?;
        let (authority, path) = match rest.find(['/', '?']) {
            Some(index) => rest.split_at(index),
            None => (rest, "/"),
        };
        let path = if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_owned()
        };
        let name = ServerName::parse(authority.rsplit('@').next()?).ok()?;
        Some(Url {
            host: name.host().to_ascii_lowercase(),
            port: name.port().unwrap_or(443),
            path: path.split('#').next().unwrap_or("/").to_owned(),
        })
    }

    /// Where a `Location` header leads from this URL (RFC 3986 reference resolution,
    /// for the forms servers send).
    pub fn follow(&self, location: &str) -> Result<Url, WellKnownError> {
        let location = location.trim();
        let bad = |why: &str| WellKnownError::BadRedirect(format!("{why}: {location:?}"));
        if location.starts_with("http://") {
            return Err(bad("not https"));
        }
        if location.starts_with("https://") {
            return Url::parse(location).ok_or_else(|| bad("unusable URL"));
        }
        if let Some(rest) = location.strip_prefix("//") {
            return Url::parse(&format!("https://{rest}")).ok_or_else(|| bad("unusable URL"));
        }
        if location.is_empty() || location.contains("://") {
            return Err(bad("unusable URL"));
        }
        let path = if location.starts_with('/') {
            location.to_owned()
        } else {
            let directory = self.path.rsplit_once('/').map_or("", |(dir, _)| dir);
            format!("{directory}/{location}")
        };
        Ok(Url {
            path,
            ..self.clone()
        })
    }

    fn host_header(&self) -> String {
        match self.port {
            443 => self.host.clone(),
            port => format!("{}:{port}", self.host),
        }
    }

    fn ip(&self) -> Option<IpAddr> {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        host.parse().ok()
    }
}

/// Fetches the well-known of `hostname`, following redirects. `now_unix` (seconds since
/// the epoch) is for `Expires`.
pub async fn fetch_well_known(
    dns: &DnsClient,
    tls: Arc<ClientConfig>,
    hostname: &str,
    now: Instant,
    now_unix: u64,
) -> WellKnownFetch {
    let url = Url {
        host: hostname.to_ascii_lowercase(),
        port: 443,
        path: "/.well-known/matrix/server".to_owned(),
    };
    fetch_from(dns, tls, url, now, now_unix).await
}

/// The fetch from any start URL (tests start on a port other than 443).
pub async fn fetch_from(
    dns: &DnsClient,
    tls: Arc<ClientConfig>,
    mut url: Url,
    now: Instant,
    now_unix: u64,
) -> WellKnownFetch {
    let mut fetch = WellKnownFetch {
        hops: Vec::new(),
        outcome: Err(WellKnownError::TooManyRedirects),
        lifetime: None,
        content_type: None,
    };
    let mut visited = vec![url.to_string()];
    for _ in 0..=MAX_REDIRECTS {
        let mut hop = Hop {
            url: url.to_string(),
            addr: None,
            status: None,
            location: None,
            error: None,
        };
        let response = request(dns, &tls, &url, now).await;
        let response = match response {
            Ok((addr, response)) => {
                hop.addr = Some(addr);
                hop.status = Some(response.status);
                response
            }
            Err(error) => {
                hop.error = Some(error.to_string());
                fetch.hops.push(hop);
                fetch.outcome = Err(error);
                return fetch;
            }
        };
        if matches!(response.status, 301 | 302 | 303 | 307 | 308) {
            let location = response.header("location").unwrap_or("").to_owned();
            hop.location = Some(location.clone());
            fetch.hops.push(hop);
            let next = match url.follow(&location) {
                Ok(next) => next,
                Err(error) => {
                    fetch.outcome = Err(error);
                    return fetch;
                }
            };
            if visited.contains(&next.to_string()) {
                fetch.outcome = Err(WellKnownError::RedirectLoop(next.to_string()));
                return fetch;
            }
            visited.push(next.to_string());
            url = next;
            continue;
        }
        fetch.hops.push(hop);
        fetch.content_type = response.header("content-type").map(str::to_owned);
        if response.status != 200 {
            fetch.outcome = Err(WellKnownError::Status(response.status));
            return fetch;
        }
        fetch.outcome = parse_body(&response.body);
        fetch.lifetime = success_lifetime(
            response.header("cache-control"),
            response.header("expires"),
            now_unix,
        );
        return fetch;
    }
    fetch
}

/// One GET of `url` on each of its addresses until one answers.
async fn request(
    dns: &DnsClient,
    tls: &Arc<ClientConfig>,
    url: &Url,
    now: Instant,
) -> Result<(SocketAddr, https::HttpsResponse), WellKnownError> {
    let (addresses, tls_name) = match url.ip() {
        Some(ip) => (vec![ip], None),
        None => {
            let addresses = dns
                .lookup_ip(&url.host, now)
                .await
                .map_err(|e| WellKnownError::Unreachable(format!("DNS: {e}")))?;
            (addresses, Some(url.host.as_str()))
        }
    };
    let mut last_error = WellKnownError::Unreachable(format!("no address for {}", url.host));
    for ip in addresses {
        let addr = SocketAddr::new(ip, url.port);
        let result = https::get(
            addr,
            tls_name,
            &url.host_header(),
            &url.path,
            tls.clone(),
            MAX_BODY_BYTES,
            REQUEST_TIMEOUT,
        )
        .await;
        match result {
            Ok(response) => return Ok((addr, response)),
            Err(HttpsError::TooLarge) => return Err(WellKnownError::TooLarge),
            Err(error) => last_error = WellKnownError::Unreachable(format!("{addr}: {error}")),
        }
    }
    Err(last_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap_or_else(|| panic!("{text}"))
    }

    #[test]
    fn urls() {
        let parsed = url("https://Example.test/.well-known/matrix/server");
        assert_eq!((parsed.host.as_str(), parsed.port), ("example.test", 443));
        assert_eq!(parsed.path, "/.well-known/matrix/server");
        assert_eq!(url("https://[::1]:8443").to_string(), "https://[::1]:8443/");
        assert_eq!(url("https://a.test?x=1").path, "/?x=1");
        assert_eq!(url("https://a.test/p#frag").path, "/p");
        assert!(Url::parse("http://a.test/").is_none());
        assert!(Url::parse("https://a.test:99999/").is_none());
    }

    #[test]
    fn redirects() {
        let base = url("https://a.test/.well-known/matrix/server");
        let check = |location: &str, expect: &str| {
            assert_eq!(
                base.follow(location).unwrap().to_string(),
                expect,
                "{location}"
            );
        };
        check("https://b.test/wk", "https://b.test/wk");
        check("https://b.test:8443/wk", "https://b.test:8443/wk");
        check("//c.test/x", "https://c.test/x");
        check("/other", "https://a.test/other");
        check(
            "server.json",
            "https://a.test/.well-known/matrix/server.json",
        );
        for bad in ["http://b.test/wk", "", "ftp://b.test/", "https://bad name/"] {
            assert!(
                matches!(base.follow(bad), Err(WellKnownError::BadRedirect(_))),
                "{bad}"
            );
        }
    }
}
