//! Canonical JSON tables: the spec appendix examples, strict and lenient parsing, size
//! limits.

use super::*;
use serde_json::json;

fn check(input: Value, expected: &str) {
    assert_eq!(encode(&input).unwrap(), expected);
}

// Spec: appendices, "Canonical JSON" examples.
#[test]
fn spec_examples() {
    check(json!({}), "{}");
    check(json!({"one": 1, "two": "Two"}), r#"{"one":1,"two":"Two"}"#);
    check(json!({"b": "2", "a": "1"}), r#"{"a":"1","b":"2"}"#);
    check(
        json!({"auth": {"success": true, "mxid": "@john.doe:example.com", "profile": {"display_name": "John Doe", "three_pids": [{"medium": "email", "address": "john.doe@example.org"}, {"medium": "msisdn", "address": "123456789"}]}}}),
        r#"{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}"#,
    );
    check(json!({"a": "日本語"}), r#"{"a":"日本語"}"#);
    check(json!({"日": 1, "本": 2}), r#"{"日":1,"本":2}"#);
    check(json!({"a": "\u{65e5}"}), r#"{"a":"日"}"#);
    check(json!({"a": null}), r#"{"a":null}"#);
    check(json!({"a": -0}), r#"{"a":0}"#);
    check(
        json!({"a": "\u{1}\n\u{1f}\"\\"}),
        r#"{"a":"\u0001\n\u001f\"\\"}"#,
    );
}

#[test]
fn rejects_floats_and_big_integers() {
    assert!(encode(&json!({"a": 1.5})).is_err());
    assert!(encode(&json!({"a": 9007199254740992_i64})).is_err());
    assert!(encode(&json!({"a": -9007199254740992_i64})).is_err());
    assert!(encode(&json!({"a": 9007199254740991_i64})).is_ok());
}

fn strict(text: &str) -> Result<Value, JsonError> {
    parse_strict(text.as_bytes())
}

// Spec: rooms/fragments/v6-canonical-json; checklist §3.1.
#[test]
fn strict_parse_table() {
    let ok = |text: &str, expect: Value| assert_eq!(strict(text), Ok(expect), "{text}");
    ok(r#"{"a":9007199254740991}"#, json!({"a": MAX_SAFE_INTEGER}));
    ok(
        r#"{"a":-9007199254740991}"#,
        json!({"a": -MAX_SAFE_INTEGER}),
    );
    ok(r#"{"a":-0,"b":[0]}"#, json!({"a": 0, "b": [0]}));
    ok(
        r#"{"1.5":"2e3","s":"\"1.0\\"}"#,
        json!({"1.5": "2e3", "s": "\"1.0\\"}),
    );
    ok(r#"{"a":"\ud83d\ude00"}"#, json!({"a": "😀"}));
    ok(" [ 1 , true , null ] ", json!([1, true, null]));
    assert_eq!(
        encode(&strict(r#"{"a":-0}"#).unwrap()).unwrap(),
        r#"{"a":0}"#
    );

    let not_canonical = |text: &str, number: &str| {
        assert_eq!(
            strict(text),
            Err(JsonError::NumberNotCanonical(number.into())),
            "{text}"
        )
    };
    not_canonical(r#"{"a":1.5}"#, "1.5");
    not_canonical(r#"{"a":1.0}"#, "1.0");
    not_canonical(r#"{"a":1e2}"#, "1e2");
    not_canonical(r#"{"a":-0.0}"#, "-0.0");
    not_canonical(r#"{"a":[1E-2]}"#, "1E-2");
    not_canonical(r#"{"a":9007199254740992}"#, "9007199254740992");
    not_canonical(r#"{"a":-9007199254740992}"#, "-9007199254740992");
    not_canonical(r#"{"a":18446744073709551616}"#, "18446744073709551616");

    for syntax in [
        r#"{"a":"\ud800"}"#,
        r#"{"a":"\udc00x"}"#,
        r#"{"a":"\ud800\u0041"}"#,
        r#"{"a":NaN}"#,
        r#"{"a":Infinity}"#,
        r#"{"a":01}"#,
        r#"{"a":1e400}"#,
        "{\"a\":\"\u{1}\"}",
        "",
        "{",
    ] {
        assert!(
            matches!(strict(syntax), Err(JsonError::Syntax(_))),
            "{syntax}"
        );
    }
    assert!(matches!(
        parse_strict(b"{\"a\":\"\xff\"}"),
        Err(JsonError::Syntax(_))
    ));
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    assert!(matches!(strict(&deep), Err(JsonError::Syntax(_))));
}

// Encodings checked against Python 3 `canonicaljson.encode_canonical_json(json.loads(x))`
// (canonicaljson 2.0.0, as used by Synapse 1.163).
#[test]
fn lenient_round_trips_like_synapse() {
    let check = |input: &str, expected: &str| {
        let value = parse_lenient(input.as_bytes()).unwrap();
        assert_eq!(encode_lenient(&value), expected, "{input}");
    };
    check(r#"{"b":1.5,"a":1}"#, r#"{"a":1,"b":1.5}"#);
    check(r#"{"a":1.0}"#, r#"{"a":1.0}"#);
    check(r#"{"a":1E2}"#, r#"{"a":100.0}"#);
    check(r#"{"a":1e16}"#, r#"{"a":1e+16}"#);
    check(r#"{"a":1e15}"#, r#"{"a":1000000000000000.0}"#);
    check(r#"{"a":123456789012345678}"#, r#"{"a":123456789012345678}"#);
    check(r#"{"a":1.5e300}"#, r#"{"a":1.5e+300}"#);
    check(r#"{"a":0.0001}"#, r#"{"a":0.0001}"#);
    check(r#"{"a":0.00001}"#, r#"{"a":1e-05}"#);
    check(r#"{"a":-1.25e-7}"#, r#"{"a":-1.25e-07}"#);
    check(r#"{"a":0.1}"#, r#"{"a":0.1}"#);
    check(r#"{"a":-0}"#, r#"{"a":0}"#);
    check(r#"{"a":-0.0}"#, r#"{"a":-0.0}"#);
    check(r#"{"a":0.0}"#, r#"{"a":0.0}"#);
    check(r#"{"a":123.456}"#, r#"{"a":123.456}"#);
    check(r#"{"a":5e-324}"#, r#"{"a":5e-324}"#);
    // Halfway cases: Python picks the even last digit.
    check(
        r#"{"a":1690060720831323.25}"#,
        r#"{"a":1690060720831323.2}"#,
    );
    check(
        r#"{"a":233115890514796.125}"#,
        r#"{"a":233115890514796.12}"#,
    );
    check(
        r#"{"a":-1006567402717677.25}"#,
        r#"{"a":-1006567402717677.2}"#,
    );
    check(r#"{"a":"日\u0001"}"#, "{\"a\":\"日\\u0001\"}");
    assert!(parse_lenient(br#"{"a":"\ud800"}"#).is_err());
}

#[test]
fn size_limits() {
    let pdu = |value: Value| value.as_object().unwrap().clone();
    let ok = pdu(json!({"type": "m.room.message", "sender": "@a:b", "content": {}}));
    assert_eq!(check_pdu_size_limits(&ok), Ok(()));
    let big = pdu(json!({"type": "x", "content": {"body": "a".repeat(MAX_PDU_BYTES)}}));
    assert!(matches!(
        check_pdu_size_limits(&big),
        Err(SizeError::PduTooLarge(_))
    ));
    let just_fits = pdu(json!({"c": "a".repeat(MAX_PDU_BYTES - 8)}));
    assert_eq!(
        encode(&Value::Object(just_fits.clone())).unwrap().len(),
        MAX_PDU_BYTES
    );
    assert_eq!(check_pdu_size_limits(&just_fits), Ok(()));
    let one_over = pdu(json!({"c": "a".repeat(MAX_PDU_BYTES - 7)}));
    assert_eq!(
        check_pdu_size_limits(&one_over),
        Err(SizeError::PduTooLarge(MAX_PDU_BYTES + 1))
    );

    let field = |name: &str, text: String| pdu(json!({ name: text }));
    assert_eq!(
        check_pdu_size_limits(&field("state_key", "a".repeat(255))),
        Ok(())
    );
    assert_eq!(
        check_pdu_size_limits(&field("state_key", "a".repeat(256))),
        Err(SizeError::FieldTooLong {
            field: "state_key",
            persist_as_rejected: false
        })
    );
    // 128 code points, 256 bytes: older Synapse accepted these, so store as rejected.
    assert_eq!(
        check_pdu_size_limits(&field("type", "é".repeat(128))),
        Err(SizeError::FieldTooLong {
            field: "type",
            persist_as_rejected: true
        })
    );
    for name in ["sender", "room_id", "event_id"] {
        assert!(
            check_pdu_size_limits(&field(name, "x".repeat(256))).is_err(),
            "{name}"
        );
    }
}
