//! Rate limits as a client sees them: login and registration attempts per client address
//! get 429 `M_LIMIT_EXCEEDED` with `retry_after_ms` once the burst is spent.

mod support;

use serde_json::json;

use support::client::{call, login, open_server, register};

#[test]
fn login_is_rate_limited_per_address() {
    let server = open_server("client-rate-limit");
    let mut refused = None;
    // Unknown users: each attempt is answered without hashing, so the loop is quick.
    for attempt in 0..40 {
        let (status, answer) = login(&server, "nobody", "guess", "D");
        match status {
            403 => assert!(refused.is_none(), "403 after a 429 at attempt {attempt}"),
            429 => {
                refused = Some(answer);
                break;
            }
            other => panic!("unexpected {other}: {answer}"),
        }
    }
    let answer = refused.expect("40 logins within a second are limited");
    assert_eq!(answer["errcode"], "M_LIMIT_EXCEEDED");
    let retry = answer["retry_after_ms"].as_u64().unwrap();
    assert!(retry > 0 && retry <= 1000, "{answer}");
    // Registration is counted separately.
    register(&server, "carol");
}

#[test]
fn registration_is_rate_limited_per_address() {
    let server = open_server("client-register-limit");
    let mut refused = None;
    for n in 0..40 {
        let body = json!({
            "username": format!("user{n}"),
            "password": "password",
            "inhibit_login": true,
            "auth": {"type": "m.login.dummy"},
        });
        let (status, answer) = call(
            &server,
            None,
            "POST",
            "/_matrix/client/v3/register",
            Some(&body),
        );
        match status {
            200 => assert!(refused.is_none()),
            429 => {
                refused = Some((n, answer));
                break;
            }
            other => panic!("unexpected {other}: {answer}"),
        }
    }
    let (n, answer) = refused.expect("40 registrations in a row are limited");
    // The burst is 30 (`RateLimits::REGISTRATION`).
    assert!(n >= 30, "limited after {n}");
    assert_eq!(answer["errcode"], "M_LIMIT_EXCEEDED");
    assert!(answer["retry_after_ms"].as_u64().unwrap() > 0);
    // The refused user was not created.
    let (status, _) = call(
        &server,
        None,
        "GET",
        &format!("/_matrix/client/v3/register/available?username=user{n}"),
        None,
    );
    assert_eq!(status, 200);
}
