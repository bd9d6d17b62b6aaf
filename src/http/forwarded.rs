//! The client address behind a reverse proxy: the last `X-Forwarded-For` entry, on
//! listeners configured with `x_forwarded = true` only.
//!
//! A proxy appends the address it received the request from to whatever the client sent,
//! so only the rightmost entry is the proxy's word; the entries before it are the
//! client's claims and anyone can write them. A header that cannot be read yields `None`
//! and the caller keeps the TCP peer: a bad header never fails the request.

use std::net::{IpAddr, SocketAddr};

/// The address the proxy appended, from every `X-Forwarded-For` value in order (a
/// repeated header counts as one comma-separated list, RFC 9110 §5.3).
pub fn client_address<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<IpAddr> {
    let last_value = values.into_iter().last()?;
    let last_entry = last_value.rsplit(',').next()?.trim();
    parse_entry(last_entry)
}

/// One entry: an IP address, optionally with a port (`1.2.3.4:5678`, `[2001:db8::1]:80`)
/// or bracketed (`[2001:db8::1]`), as proxies write them. `unknown` and the like: `None`.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = entry.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    let inside = entry.strip_prefix('[')?.strip_suffix(']')?;
    inside.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn the_rightmost_entry_wins() {
        let cases: &[(&[&str], Option<IpAddr>)] = &[
            (&["203.0.113.7"], ip("203.0.113.7")),
            (&["10.0.0.1, 203.0.113.7"], ip("203.0.113.7")),
            (&["10.0.0.1,203.0.113.7 "], ip("203.0.113.7")),
            // A spoofed first line, the proxy's entry on the second.
            (&["6.6.6.6", "203.0.113.7"], ip("203.0.113.7")),
            (&["2001:db8::5"], ip("2001:db8::5")),
            (&["[2001:db8::5]"], ip("2001:db8::5")),
            (&["[2001:db8::5]:4711"], ip("2001:db8::5")),
            (&["203.0.113.7:4711"], ip("203.0.113.7")),
        ];
        for (values, expected) in cases {
            assert_eq!(
                client_address(values.iter().copied()),
                *expected,
                "{values:?}"
            );
        }
    }

    #[test]
    fn malformed_headers_give_none() {
        let cases: &[&[&str]] = &[
            &[],
            &[""],
            &["unknown"],
            &["203.0.113.7, "],
            &["203.0.113.7, garbage"],
            &["999.1.1.1"],
            &["[2001:db8::5"],
            &["203.0.113.7:99999"],
            &["_hidden"],
            &["\u{feff}1.2.3.4"],
        ];
        for values in cases {
            assert_eq!(client_address(values.iter().copied()), None, "{values:?}");
        }
    }
}
