//! Tables of valid and invalid identifiers, from the spec's grammar and examples.

use super::*;

fn check_server_name(text: &str, expect: Result<(&str, Option<u16>), IdError>) {
    let parsed = ServerName::parse(text);
    let got = parsed.as_ref().map(|name| (name.host(), name.port()));
    assert_eq!(got, expect.as_ref().map(|(h, p)| (*h, *p)), "{text:?}");
    if let Ok(name) = parsed {
        assert_eq!(name.as_str(), text);
    }
}

// Spec: appendices, "Server Name": the listed examples and the grammar's edges.
#[test]
fn server_names() {
    check_server_name("matrix.org", Ok(("matrix.org", None)));
    check_server_name("matrix.org:8888", Ok(("matrix.org", Some(8888))));
    check_server_name("1.2.3.4", Ok(("1.2.3.4", None)));
    check_server_name("1.2.3.4:1234", Ok(("1.2.3.4", Some(1234))));
    check_server_name("[1234:5678::abcd]", Ok(("[1234:5678::abcd]", None)));
    check_server_name(
        "[1234:5678::abcd]:5678",
        Ok(("[1234:5678::abcd]", Some(5678))),
    );
    check_server_name("[::1]", Ok(("[::1]", None)));
    check_server_name("localhost", Ok(("localhost", None)));
    check_server_name("MATRIX.org", Ok(("MATRIX.org", None)));
    check_server_name("a-b.example:65535", Ok(("a-b.example", Some(65535))));
    check_server_name("", Err(IdError::InvalidServerName));
    check_server_name(":80", Err(IdError::InvalidServerName));
    check_server_name("matrix.org:", Err(IdError::InvalidPort));
    check_server_name("matrix.org:65536", Err(IdError::InvalidPort));
    check_server_name("matrix.org:123456", Err(IdError::InvalidPort));
    check_server_name("matrix.org:8a", Err(IdError::InvalidPort));
    check_server_name("matrix.org:80:80", Err(IdError::InvalidPort));
    check_server_name("exa_mple.org", Err(IdError::InvalidServerName));
    check_server_name("ex ample.org", Err(IdError::InvalidServerName));
    check_server_name("例え.jp", Err(IdError::InvalidServerName));
    check_server_name("[1234:5678::abcd", Err(IdError::InvalidServerName));
    check_server_name("[g::1]", Err(IdError::InvalidServerName));
    check_server_name("[:]", Err(IdError::InvalidServerName));
    check_server_name("[::1]8448", Err(IdError::InvalidServerName));
    check_server_name("1234:5678::abcd", Err(IdError::InvalidPort));
    check_server_name(&"a".repeat(256), Err(IdError::InvalidServerName));
}

#[test]
fn ip_literals_are_recognised() {
    let literal = |text: &str| ServerName::parse(text).unwrap().is_ip_literal();
    assert!(literal("1.2.3.4"));
    assert!(literal("255.255.255.255:8448"));
    assert!(literal("[::1]:8448"));
    assert!(!literal("256.1.1.1"));
    assert!(!literal("1.2.3"));
    assert!(!literal("matrix.org"));
}

#[test]
fn user_ids() {
    let ok = |text: &str, localpart: &str, server: &str, historical: bool| {
        let user = UserId::parse(text).unwrap();
        assert_eq!(
            (
                user.localpart(),
                user.server_name().as_str(),
                user.is_historical()
            ),
            (localpart, server, historical),
            "{text}"
        );
    };
    ok("@alice:example.org", "alice", "example.org", false);
    ok(
        "@a.b=c_d-e/f+g:example.org:8448",
        "a.b=c_d-e/f+g",
        "example.org:8448",
        false,
    );
    ok("@bob:[::1]:8448", "bob", "[::1]:8448", false);
    // Spec: "Historical User IDs": upper case, spaces, non-ASCII and empty localparts.
    ok("@Alice:example.org", "Alice", "example.org", true);
    ok("@a b\u{7}ü:example.org", "a b\u{7}ü", "example.org", true);
    ok("@:example.org", "", "example.org", true);

    let bad = |text: &str, error: IdError| assert_eq!(UserId::parse(text), Err(error), "{text}");
    bad("alice:example.org", IdError::MissingSigil('@'));
    bad("!alice:example.org", IdError::MissingSigil('@'));
    bad("@alice", IdError::MissingServerName);
    bad("@alice:", IdError::InvalidServerName);
    bad("@al\0ice:example.org", IdError::InvalidLocalpart);
    bad("@alice:exa mple.org", IdError::InvalidServerName);
    let long = format!("@{}:example.org", "a".repeat(256 - 13));
    assert_eq!(long.len(), 256);
    bad(&long, IdError::TooLong);
    assert!(UserId::parse(&long[1..].replacen('a', "@", 1)).is_ok());
}

#[test]
fn new_local_user_ids_are_strict() {
    let server = ServerName::parse("hearth.example").unwrap();
    let user = UserId::new_local("alice", &server).unwrap();
    assert_eq!(user.as_str(), "@alice:hearth.example");
    assert_eq!(user, UserId::parse("@alice:hearth.example").unwrap());
    for bad in ["", "Alice", "a b", "a:b", "ü", "a*"] {
        assert_eq!(
            UserId::new_local(bad, &server),
            Err(IdError::InvalidLocalpart),
            "{bad:?}"
        );
    }
    assert_eq!(
        UserId::new_local(&"a".repeat(240), &server),
        Err(IdError::TooLong)
    );
}

const HASH: &str = "Nhcu5BS-UMnFX7hBVfVSoXiD7OgH6iRT-xyIuqDnpYQ";

#[test]
fn room_ids() {
    let room = RoomId::parse("!opaque:example.org").unwrap();
    assert_eq!(
        room.server_name().map(ServerName::as_str),
        Some("example.org")
    );
    assert!(!room.is_create_event_hash());
    assert_eq!(room.create_event_id(), None);

    let v12 = RoomId::parse(&format!("!{HASH}")).unwrap();
    assert_eq!(v12.server_name(), None);
    assert!(v12.is_create_event_hash());
    assert_eq!(v12.create_event_id().unwrap().as_str(), format!("${HASH}"));

    assert!(RoomId::parse("!ab c\u{1}:example.org").is_ok());
    assert_eq!(RoomId::parse("!short"), Err(IdError::InvalidHash));
    assert_eq!(
        RoomId::parse(&format!("!{HASH}A")),
        Err(IdError::InvalidHash)
    );
    assert_eq!(
        RoomId::parse(&format!("${HASH}")),
        Err(IdError::MissingSigil('!'))
    );
    assert_eq!(
        RoomId::parse("#a:example.org"),
        Err(IdError::MissingSigil('!'))
    );
    assert_eq!(
        RoomId::parse("!a:exa_mple"),
        Err(IdError::InvalidServerName)
    );
}

#[test]
fn event_ids() {
    let v1 = EventId::parse("$0:domain").unwrap();
    assert_eq!(v1.server_name().map(ServerName::as_str), Some("domain"));
    // v3: standard alphabet; v4+: URL-safe.
    assert!(EventId::parse("$acR1l0raoZnm60CBwAVgqbZqoO/mYU81xysh1u7XcJk").is_ok());
    let v4 = EventId::parse(&format!("${HASH}")).unwrap();
    assert_eq!(v4.server_name(), None);
    assert_eq!(EventId::parse("$abc"), Err(IdError::InvalidHash));
    assert_eq!(EventId::parse("$=bc"), Err(IdError::InvalidHash));
    assert_eq!(
        EventId::parse("abc:domain"),
        Err(IdError::MissingSigil('$'))
    );
    assert_eq!(EventId::parse("$a:"), Err(IdError::InvalidServerName));
}

#[test]
fn room_aliases() {
    let alias = RoomAliasId::parse("#café:example.org").unwrap();
    assert_eq!(alias.alias(), "café");
    assert_eq!(alias.server_name().as_str(), "example.org");
    assert!(RoomAliasId::parse("#:example.org").is_ok());
    assert_eq!(RoomAliasId::parse("#a"), Err(IdError::MissingServerName));
    assert_eq!(RoomAliasId::parse("@a:b"), Err(IdError::MissingSigil('#')));
}

#[test]
fn serde_goes_through_parse() {
    let user: UserId = serde_json::from_str(r#""@a:b.c""#).unwrap();
    assert_eq!(serde_json::to_string(&user).unwrap(), r#""@a:b.c""#);
    assert!(serde_json::from_str::<UserId>(r#""a:b.c""#).is_err());
    assert!(serde_json::from_str::<ServerName>(r#""b.c:99999""#).is_err());
    let room: RoomId = serde_json::from_value(serde_json::json!(format!("!{HASH}"))).unwrap();
    assert_eq!(room.to_string(), format!("!{HASH}"));
}

#[test]
fn ordering_and_equality_follow_the_string() {
    let a = UserId::parse("@a:x").unwrap();
    let b = UserId::parse("@b:x").unwrap();
    assert!(a < b);
    assert_eq!(a, "@a:x");
    let mut set = std::collections::BTreeSet::new();
    set.insert(b.clone());
    set.insert(a.clone());
    set.insert(a.clone());
    assert_eq!(set.into_iter().collect::<Vec<_>>(), vec![a, b]);
}
