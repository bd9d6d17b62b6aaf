//! Tests of `server_acl`: the schema's order of checks, globs, ports, IP literals and
//! Synapse's reading of malformed content, row by row.

use serde_json::{Value, json};

use super::*;

fn allows(content: Value, server_name: &str) -> bool {
    ServerAcl::from_content(&content).allows(&ServerName::parse(server_name).unwrap())
}

/// (content, server name, allowed).
fn check(rows: &[(Value, &str, bool)]) {
    for (content, server_name, expected) in rows {
        assert_eq!(
            allows(content.clone(), server_name),
            *expected,
            "{content} for {server_name}"
        );
    }
}

#[test]
fn deny_is_checked_before_allow_and_unmatched_servers_are_denied() {
    check(&[
        (json!({"allow": ["*"]}), "good.example", true),
        (
            json!({"allow": ["*"], "deny": ["evil.example"]}),
            "evil.example",
            false,
        ),
        (
            json!({"allow": ["*"], "deny": ["evil.example"]}),
            "good.example",
            true,
        ),
        // Listed in both: deny wins.
        (
            json!({"allow": ["evil.example"], "deny": ["evil.example"]}),
            "evil.example",
            false,
        ),
        // Step 5: matched by nothing.
        (json!({"allow": ["good.example"]}), "other.example", false),
        (json!({"allow": ["good.example"]}), "good.example", true),
        // No allow list at all: every server is denied, as the schema warns.
        (json!({}), "good.example", false),
        (json!({"deny": []}), "good.example", false),
        (json!({"allow": []}), "good.example", false),
    ]);
}

#[test]
fn globs_match_whole_names_ignoring_case() {
    check(&[
        (json!({"allow": ["*.example"]}), "a.b.example", true),
        (json!({"allow": ["*.example"]}), "example", false),
        (json!({"allow": ["*.example"]}), "a.example.org", false),
        (json!({"allow": ["*example"]}), "example", true),
        (json!({"allow": ["ex?mple"]}), "example", true),
        (json!({"allow": ["ex?mple"]}), "exmple", false),
        (json!({"allow": ["ex?mple"]}), "exaample", false),
        (json!({"allow": ["?"]}), "a", true),
        (json!({"allow": ["??*"]}), "a", false),
        (json!({"allow": ["??*"]}), "ab", true),
        (
            json!({"allow": ["*"], "deny": ["EVIL.Example"]}),
            "evil.example",
            false,
        ),
        (
            json!({"allow": ["*"], "deny": ["evil.example"]}),
            "EVIL.EXAMPLE",
            false,
        ),
        (json!({"allow": ["Good.*"]}), "good.EXAMPLE", true),
        // Only `*` and `?` are special; a dot is a dot, brackets are literal.
        (json!({"allow": ["good.example"]}), "goodxexample", false),
        (json!({"allow": ["[a-z].example"]}), "a.example", false),
        // A prefix or suffix is not a match.
        (json!({"allow": ["good"]}), "good.example", false),
        (json!({"allow": ["example"]}), "good.example", false),
        (json!({"allow": [""]}), "good.example", false),
    ]);
}

#[test]
fn the_port_is_never_considered() {
    check(&[
        (
            json!({"allow": ["*"], "deny": ["evil.example"]}),
            "evil.example:8448",
            false,
        ),
        (
            json!({"allow": ["*"], "deny": ["evil.example"]}),
            "evil.example:1234",
            false,
        ),
        // A glob with a port can never match a hostname.
        (
            json!({"allow": ["*"], "deny": ["evil.example:8448"]}),
            "evil.example:8448",
            true,
        ),
        (json!({"allow": ["good.example"]}), "good.example:443", true),
        (
            json!({"allow": ["good.example:443"]}),
            "good.example:443",
            false,
        ),
        (
            json!({"allow": ["*"], "deny": ["127.0.0.1"]}),
            "127.0.0.1:8448",
            false,
        ),
        (
            json!({"allow": ["*"], "deny": ["[::1]"]}),
            "[::1]:8448",
            false,
        ),
        (
            json!({"allow": ["*"], "deny": ["[::1]"]}),
            "[::2]:8448",
            true,
        ),
    ]);
}

#[test]
fn ip_literals_are_denied_only_when_allow_ip_literals_is_false() {
    let no_ip = json!({"allow": ["*"], "allow_ip_literals": false});
    check(&[
        (no_ip.clone(), "1.2.3.4", false),
        (no_ip.clone(), "1.2.3.4:8448", false),
        (no_ip.clone(), "255.255.255.255", false),
        (no_ip.clone(), "[::1]", false),
        (no_ip.clone(), "[2001:db8::1]:8448", false),
        (no_ip.clone(), "[::ffff:1.2.3.4]", false),
        // Not IPv4 literals: DNS names that look a little like one.
        (no_ip.clone(), "1.2.3", true),
        (no_ip.clone(), "1.2.3.4.5", true),
        (no_ip.clone(), "256.1.1.1", true),
        (no_ip.clone(), "01.2.3.4", true),
        (no_ip.clone(), "1.2.3.4.example", true),
        (no_ip.clone(), "good.example", true),
        // Allowed by default and when true.
        (json!({"allow": ["*"]}), "1.2.3.4", true),
        (json!({"allow": ["*"]}), "[::1]", true),
        (
            json!({"allow": ["*"], "allow_ip_literals": true}),
            "[::1]",
            true,
        ),
        // Allowed IP literals still go through deny and allow.
        (json!({"allow": ["1.2.3.*"]}), "1.2.3.4", true),
        (json!({"allow": ["1.2.3.*"]}), "1.2.4.4", false),
        // The literal rule comes first: an allow entry cannot bring it back.
        (
            json!({"allow": ["1.2.3.4"], "allow_ip_literals": false}),
            "1.2.3.4",
            false,
        ),
    ]);
}

#[test]
fn malformed_content_is_read_as_synapse_reads_it() {
    check(&[
        // A non-boolean flag counts as true.
        (
            json!({"allow": ["*"], "allow_ip_literals": "false"}),
            "1.2.3.4",
            true,
        ),
        (
            json!({"allow": ["*"], "allow_ip_literals": 0}),
            "1.2.3.4",
            true,
        ),
        (
            json!({"allow": ["*"], "allow_ip_literals": null}),
            "1.2.3.4",
            true,
        ),
        // A non-list allow is an empty allow list: everyone denied.
        (json!({"allow": "*"}), "good.example", false),
        (json!({"allow": {"*": true}}), "good.example", false),
        (json!({"allow": null}), "good.example", false),
        // A non-list deny is an empty deny list.
        (
            json!({"allow": ["*"], "deny": "evil.example"}),
            "evil.example",
            true,
        ),
        (json!({"allow": ["*"], "deny": 7}), "evil.example", true),
        // Non-string entries are skipped, the strings beside them still count.
        (
            json!({"allow": [1, null, ["*"], {"a": "*"}, "good.example"]}),
            "good.example",
            true,
        ),
        (json!({"allow": [1, null, ["*"]]}), "good.example", false),
        (
            json!({"allow": ["*"], "deny": [false, "evil.example"]}),
            "evil.example",
            false,
        ),
        // Content that is not an object reads as `{}`.
        (json!(null), "good.example", false),
        (json!(["*"]), "good.example", false),
        (json!("allow"), "good.example", false),
    ]);
}

#[test]
fn redacted_content_denies_everyone() {
    // Redaction keeps no key of m.room.server_acl's content (spec: redaction algorithm).
    check(&[
        (json!({}), "good.example", false),
        (json!({}), "1.2.3.4", false),
    ]);
}

#[test]
fn long_globs_and_names_stay_cheap() {
    // A backtracking matcher would take exponential time on this pair.
    let glob = "*a".repeat(50);
    let name = format!("{}.example", "a".repeat(200));
    assert!(!allows(json!({ "allow": [glob] }), &name));
    assert!(allows(json!({ "allow": ["*a*a*a*.example"] }), &name));
}
