//! Canonical JSON (spec: appendices, "Canonical JSON"): the byte form that is hashed and signed.
//!
//! Keys sorted by code point, no insignificant whitespace, the shortest escapes, integers
//! only. serde_json's `Map` is a `BTreeMap` (the `preserve_order` feature is off), whose
//! order on UTF-8 strings is code point order, and its compact writer uses exactly the
//! escapes the spec asks for, so encoding is serde_json's compact form after a check that
//! every number is an integer in range.
//!
//! Parsing comes in two strengths. `parse_strict` is for room versions 6+, where a value
//! with no canonical form makes an event invalid. `parse_lenient` is for versions 1–5,
//! where servers must not enforce canonical JSON; such events are hashed and signed the way
//! Synapse (Python `canonicaljson`) encodes them, which `encode_lenient` reproduces.

use serde::Serialize as _;
use serde_json::{Map, Number, Value};

/// The largest magnitude of an integer that canonical JSON allows: 2^53 - 1.
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// Spec: client-server API "Size limits": a PDU, in canonical JSON with its signatures,
/// is at most 65536 bytes.
pub const MAX_PDU_BYTES: usize = 65_536;

/// Spec: client-server API "Size limits": `sender`, `room_id`, `type`, `state_key` and
/// `event_id` are at most 255 bytes each.
pub const MAX_FIELD_BYTES: usize = 255;

/// Why a value has no canonical form, or why input is not acceptable JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// A number with a fraction or exponent, or outside ±(2^53 - 1).
    NumberNotCanonical(String),
    /// The input is not JSON at all.
    Syntax(String),
    /// The top level (or a field that must be an object) is not an object.
    NotAnObject,
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JsonError::NumberNotCanonical(n) => {
                write!(f, "number {n} is not an integer in the range ±(2^53-1)")
            }
            JsonError::Syntax(why) => write!(f, "invalid JSON: {why}"),
            JsonError::NotAnObject => write!(f, "expected a JSON object"),
        }
    }
}

impl std::error::Error for JsonError {}

/// Encodes `value` in canonical JSON, or says which number has no canonical form.
pub fn encode(value: &Value) -> Result<String, JsonError> {
    check_numbers(value)?;
    // INVARIANT: serialising a `Value` to a String cannot fail (no I/O, keys are strings).
    Ok(serde_json::to_string(value).expect("Value always serialises"))
}

fn check_numbers(value: &Value) -> Result<(), JsonError> {
    match value {
        Value::Number(n) => match n.as_i64() {
            Some(i) if (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&i) => Ok(()),
            _ => Err(JsonError::NumberNotCanonical(n.to_string())),
        },
        Value::Array(items) => items.iter().try_for_each(check_numbers),
        Value::Object(map) => map.values().try_for_each(check_numbers),
        Value::Null | Value::Bool(_) | Value::String(_) => Ok(()),
    }
}

/// Parses an event or request body for room versions 6+ (spec: rooms/fragments
/// v6-canonical-json): numbers must be integers in ±(2^53 - 1), written without fraction or
/// exponent (`1.0` and `1e2` are refused although they are whole); `-0` is the integer 0.
///
/// Strings with lone surrogate escapes (`"\ud800"`) are refused: serde_json rejects them as
/// syntax errors rather than replacing them, which is what the spec asks for. Invalid UTF-8,
/// `NaN`/`Infinity` and nesting deeper than 128 levels are refused too.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, JsonError> {
    let mut value = parse_syntax(bytes)?;
    // INVARIANT: `parse_syntax` succeeded, so the bytes are UTF-8.
    let text = std::str::from_utf8(bytes).map_err(|e| JsonError::Syntax(e.to_string()))?;
    for token in number_tokens(text) {
        if token.contains(['.', 'e', 'E']) {
            return Err(JsonError::NumberNotCanonical(token.to_owned()));
        }
        let digits = token.trim_start_matches('-');
        let in_range = digits.len() <= 16
            && digits
                .parse::<i64>()
                .is_ok_and(|magnitude| magnitude <= MAX_SAFE_INTEGER);
        if !in_range {
            return Err(JsonError::NumberNotCanonical(token.to_owned()));
        }
    }
    // serde_json reads `-0` as the float -0.0; every token is an integer here, so each
    // float in the value is such a zero.
    normalise_negative_zero(&mut value);
    Ok(value)
}

/// Parses an event for room versions 1–5, which servers must not hold to canonical JSON
/// (spec: rooms/fragments v1-canonical-json). Floats and large integers are kept.
///
/// Hashing such an event must give the bytes Synapse hashes, so use `encode_lenient` on it.
/// Choices, following what Synapse (Python `json` + `canonicaljson`) does:
/// - `-0` is the integer 0, as Python reads it; `-0.0` stays a float.
/// - Lone surrogates are refused. Python reads them, but then cannot encode the event as
///   UTF-8 to hash it, so Synapse can never accept such an event either.
/// - FIXME: integers beyond 64 bits become floats here (serde_json has no big integers
///   without `arbitrary_precision`), so their hash differs from Synapse's and such an event
///   fails its signature check. No real event is known to carry one.
pub fn parse_lenient(bytes: &[u8]) -> Result<Value, JsonError> {
    let mut value = parse_syntax(bytes)?;
    let text = std::str::from_utf8(bytes).map_err(|e| JsonError::Syntax(e.to_string()))?;
    let has_float_negative_zero = number_tokens(text).any(|token| {
        let mantissa = token.split(['e', 'E']).next().unwrap_or(token);
        token.contains(['.', 'e', 'E'])
            && mantissa.starts_with('-')
            && mantissa.bytes().all(|b| matches!(b, b'-' | b'0' | b'.'))
    });
    // FIXME: a document holding both `-0` and `-0.0` cannot be told apart after parsing;
    // both are then kept as the float. Neither appears in real events.
    if !has_float_negative_zero {
        normalise_negative_zero(&mut value);
    }
    Ok(value)
}

/// Encodes like `encode`, but never fails: floats are written as Python's `repr` writes
/// them (`1.0`, `1e+16`, `1.5e-05`) and integers of any magnitude as they are. This is the
/// form Synapse hashes and signs for room versions 1–5, and the form its PDU size limit
/// measures.
pub fn encode_lenient(value: &Value) -> String {
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, PythonFloats);
    // INVARIANT: writing a `Value` into a `Vec` cannot fail, and the output is UTF-8.
    value
        .serialize(&mut serializer)
        .expect("Value always serialises");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// Why a PDU breaks a size limit (spec: client-server API "Size limits").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SizeError {
    /// The whole PDU, canonically encoded, is over 65536 bytes.
    PduTooLarge(usize),
    /// A field is over 255 bytes.
    ///
    /// `persist_as_rejected` follows Synapse: a field of at most 255 *code points* but more
    /// than 255 bytes was accepted by older Synapse versions, so the event is stored as
    /// rejected (rooms would break otherwise); any other oversize event is dropped.
    FieldTooLong {
        field: &'static str,
        persist_as_rejected: bool,
    },
}

impl std::fmt::Display for SizeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SizeError::PduTooLarge(bytes) => {
                write!(f, "PDU is {bytes} bytes, over {MAX_PDU_BYTES}")
            }
            SizeError::FieldTooLong { field, .. } => {
                write!(f, "'{field}' is over {MAX_FIELD_BYTES} bytes")
            }
        }
    }
}

impl std::error::Error for SizeError {}

/// Checks the size limits of a PDU as received (with its signatures; the caller strips
/// `unsigned` keys it does not keep first, as Synapse measures after doing so).
///
/// Fields that are missing or not strings are left to the event format check.
pub fn check_pdu_size_limits(pdu: &Map<String, Value>) -> Result<(), SizeError> {
    let size = encode_lenient(&Value::Object(pdu.clone())).len();
    if size > MAX_PDU_BYTES {
        return Err(SizeError::PduTooLarge(size));
    }
    let fields = ["sender", "room_id", "state_key", "type", "event_id"];
    // Synapse checks code points first (always fatal), then bytes.
    for field in fields {
        if let Some(text) = pdu.get(field).and_then(Value::as_str)
            && text.chars().count() > MAX_FIELD_BYTES
        {
            return Err(SizeError::FieldTooLong {
                field,
                persist_as_rejected: false,
            });
        }
    }
    for field in fields {
        if let Some(text) = pdu.get(field).and_then(Value::as_str)
            && text.len() > MAX_FIELD_BYTES
        {
            return Err(SizeError::FieldTooLong {
                field,
                persist_as_rejected: true,
            });
        }
    }
    Ok(())
}

fn parse_syntax(bytes: &[u8]) -> Result<Value, JsonError> {
    serde_json::from_slice(bytes).map_err(|e| JsonError::Syntax(e.to_string()))
}

/// The number tokens of a valid JSON text, as written, skipping the insides of strings.
fn number_tokens(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut index = 0;
    let mut in_string = false;
    std::iter::from_fn(move || {
        while let Some(&byte) = bytes.get(index) {
            if in_string {
                match byte {
                    b'\\' => index += 2,
                    b'"' => {
                        in_string = false;
                        index += 1;
                    }
                    _ => index += 1,
                }
                continue;
            }
            if byte == b'"' {
                in_string = true;
                index += 1;
            } else if byte == b'-' || byte.is_ascii_digit() {
                let start = index;
                while bytes.get(index).is_some_and(|b| {
                    b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E')
                }) {
                    index += 1;
                }
                return text.get(start..index);
            } else {
                index += 1;
            }
        }
        None
    })
}

fn normalise_negative_zero(value: &mut Value) {
    match value {
        Value::Number(n) if n.as_f64().is_some_and(|f| f == 0.0 && f.is_sign_negative()) => {
            *value = Value::Number(Number::from(0));
        }
        Value::Array(items) => items.iter_mut().for_each(normalise_negative_zero),
        Value::Object(map) => map.values_mut().for_each(normalise_negative_zero),
        _ => {}
    }
}

/// Among the shortest digit strings that read back to `magnitude`, Rust picks the upper one
/// when the float lies exactly halfway between two, and Python (David Gay's `dtoa`) the one
/// ending in an even digit. `digits` are Rust's; this returns Python's.
fn round_ties_to_even(magnitude: f64, digits: String, exponent: i32) -> String {
    let Some(last) = digits.bytes().last() else {
        return digits;
    };
    // ASCII digits have the parity of their value.
    if last % 2 == 0 {
        return digits;
    }
    let mut lower = digits.clone();
    lower.pop();
    lower.push(char::from(last - 1));
    let (first, rest) = lower.split_at(1.min(lower.len()));
    if format!("{first}.{rest}0e{exponent}").parse::<f64>() != Ok(magnitude) {
        return digits;
    }
    // A double's exact decimal expansion has at most 767 significant digits.
    let exact = format!("{magnitude:.800e}");
    let exact_digits: String = exact
        .split('e')
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| *c != '.')
        .collect();
    let is_tie = exact_digits
        .strip_prefix(lower.as_str())
        .and_then(|tail| tail.strip_prefix('5'))
        .is_some_and(|zeros| zeros.bytes().all(|b| b == b'0'));
    if is_tie { lower } else { digits }
}

/// serde_json's compact writer, but with floats written as Python's `repr` does.
struct PythonFloats;

impl serde_json::ser::Formatter for PythonFloats {
    fn write_f64<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        value: f64,
    ) -> std::io::Result<()> {
        writer.write_all(python_float_repr(value).as_bytes())
    }
}

/// Python's `repr(float)`: the shortest digits that read back to the same float (Rust's
/// `{:e}` gives the same digits), in fixed notation when the decimal exponent is in
/// -4..16 (always with a fraction, `1.0`) and otherwise as `d.ddde±XX`.
fn python_float_repr(value: f64) -> String {
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let digits = round_ties_to_even(value.abs(), digits, exponent);
    if (-4..16).contains(&exponent) {
        if exponent < 0 {
            let zeros = "0".repeat(exponent.unsigned_abs() as usize - 1);
            return format!("{sign}0.{zeros}{digits}");
        }
        let point = exponent as usize + 1;
        if digits.len() <= point {
            let zeros = "0".repeat(point - digits.len());
            return format!("{sign}{digits}{zeros}.0");
        }
        let (whole, fraction) = digits.split_at(point);
        return format!("{sign}{whole}.{fraction}");
    }
    let (first, rest) = digits.split_at(1.min(digits.len()));
    let point = if rest.is_empty() { "" } else { "." };
    let exponent_sign = if exponent < 0 { '-' } else { '+' };
    let magnitude = exponent.unsigned_abs();
    format!("{sign}{first}{point}{rest}e{exponent_sign}{magnitude:02}")
}

#[cfg(test)]
mod tests {
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
}
