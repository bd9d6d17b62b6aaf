//! Well-known parsing and caching rules, one line per case.

use super::*;

fn check_body(body: &str, expect: Result<&str, WellKnownError>) {
    let result = parse_body(body.as_bytes());
    assert_eq!(
        result.as_ref().map(|name| name.as_str()),
        expect.as_ref().map(|name| *name),
        "{body}"
    );
}

#[test]
fn bodies() {
    check_body(
        r#"{"m.server": "matrix.example.com:443"}"#,
        Ok("matrix.example.com:443"),
    );
    check_body(
        r#"{"m.server": "matrix.example.com", "other": 1}"#,
        Ok("matrix.example.com"),
    );
    check_body(r#"{"m.server": "[::1]:8448"}"#, Ok("[::1]:8448"));
    check_body(r#"{"m.server": 5}"#, Err(WellKnownError::NoServer));
    check_body(r#"{"server": "x"}"#, Err(WellKnownError::NoServer));
    check_body(
        r#"["m.server"]"#,
        Err(WellKnownError::NotJson("not an object".into())),
    );
    check_body(
        r#"{"m.server": "bad name:99999"}"#,
        Err(WellKnownError::InvalidServer("bad name:99999".into())),
    );
    check_body(
        r#"{"m.server": "https://matrix.example.com"}"#,
        Err(WellKnownError::InvalidServer(
            "https://matrix.example.com".into(),
        )),
    );
    assert!(matches!(
        parse_body(b"<html>"),
        Err(WellKnownError::NotJson(_))
    ));
    let big = format!(
        r#"{{"m.server": "a.test", "pad": "{}"}}"#,
        "x".repeat(MAX_BODY_BYTES)
    );
    assert_eq!(parse_body(big.as_bytes()), Err(WellKnownError::TooLarge));
}

const NOW: u64 = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT

#[test]
fn http_dates() {
    assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(NOW));
    assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
    assert_eq!(
        parse_http_date("Sat, 29 Feb 2020 12:00:00 GMT"),
        Some(1_582_977_600)
    );
    assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
    assert_eq!(parse_http_date("0"), None);
}

#[test]
fn lifetimes() {
    let hours = |h: u64| Some(Duration::from_secs(h * 3600));
    let check = |cache_control: Option<&str>, expires: Option<&str>, expect: Option<Duration>| {
        assert_eq!(
            success_lifetime(cache_control, expires, NOW),
            expect,
            "{cache_control:?} {expires:?}"
        );
    };
    check(None, None, hours(24));
    check(Some("public, max-age=3600"), None, hours(1));
    check(Some("max-age=604800"), None, hours(48));
    check(Some("max-age=0"), None, None);
    check(Some("no-store"), None, None);
    check(Some("No-Cache, max-age=60"), None, None);
    check(None, Some("Sun, 06 Nov 1994 10:49:37 GMT"), hours(2));
    check(None, Some("Sun, 20 Nov 1994 08:49:37 GMT"), hours(48));
    check(None, Some("Sun, 06 Nov 1994 07:49:37 GMT"), None);
    check(None, Some("garbage"), None);
    // Cache-Control wins over Expires.
    check(
        Some("max-age=7200"),
        Some("Sun, 06 Nov 1994 09:49:37 GMT"),
        hours(2),
    );
    // A Cache-Control with no age says nothing about lifetime: Expires then applies.
    check(
        Some("public"),
        Some("Sun, 06 Nov 1994 09:49:37 GMT"),
        hours(1),
    );
}

#[test]
fn failures_back_off_up_to_an_hour() {
    let minutes: Vec<u64> = (1..=8)
        .map(|n| failure_lifetime(n).as_secs() / 60)
        .collect();
    assert_eq!(minutes, [1, 2, 4, 8, 16, 32, 60, 60]);
    assert_eq!(failure_lifetime(u32::MAX), MAX_FAILURE_LIFETIME);
}

#[test]
fn the_cache_keeps_successes_failures_and_old_delegations_through_outages() {
    let mut cache = WellKnownCache::default();
    let now = Instant::now();
    let delegated = ServerName::parse("matrix.a.test:443").unwrap();
    let minute = Duration::from_secs(60);
    assert_eq!(cache.get("a.test", now), None);

    let kept = cache.put(
        "a.test",
        &Ok(delegated.clone()),
        Some(DEFAULT_LIFETIME),
        now,
    );
    assert_eq!(kept, DEFAULT_LIFETIME);
    assert_eq!(
        cache.get("a.test", now + minute),
        Some(Some(delegated.clone()))
    );
    assert_eq!(cache.get("a.test", now + DEFAULT_LIFETIME), None);

    // After expiry a refetch fails temporarily: the delegation stays, for the backoff.
    let later = now + DEFAULT_LIFETIME;
    let outage = Err(WellKnownError::Status(503));
    assert_eq!(cache.put("a.test", &outage, None, later), minute);
    assert_eq!(cache.get("a.test", later), Some(Some(delegated.clone())));
    let later = later + minute;
    assert_eq!(cache.put("a.test", &outage, None, later), 2 * minute);
    assert_eq!(cache.get("a.test", later), Some(Some(delegated.clone())));

    // A permanent failure (the file is gone) drops it.
    let later = later + 2 * minute;
    assert_eq!(
        cache.put("a.test", &Err(WellKnownError::Status(404)), None, later),
        4 * minute
    );
    assert_eq!(cache.get("a.test", later), Some(None));
    assert_eq!(cache.get("a.test", later + 4 * minute), None);

    // Success resets the backoff; "do not cache" forgets the entry.
    cache.put("a.test", &Ok(delegated.clone()), Some(minute), later);
    let failed = cache.put(
        "a.test",
        &Err(WellKnownError::NoServer),
        None,
        later + minute,
    );
    assert_eq!(failed, minute);
    cache.put("a.test", &Ok(delegated), None, later);
    assert_eq!(cache.get("a.test", later), None);
}
