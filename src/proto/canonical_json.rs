//! Canonical JSON (spec: appendices, "Canonical JSON"): the byte form that is hashed and signed.
//!
//! Keys sorted by code point, no insignificant whitespace, the shortest escapes, integers
//! only. serde_json's `Map` is a `BTreeMap` (the `preserve_order` feature is off), whose
//! order on UTF-8 strings is code point order, and its compact writer uses exactly the
//! escapes the spec asks for, so encoding is serde_json's compact form after a check that
//! every number is an integer in range.

use serde_json::Value;

/// The largest magnitude of an integer that canonical JSON allows: 2^53 - 1.
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

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
        check(
            json!({"one": 1, "two": "Two"}),
            r#"{"one":1,"two":"Two"}"#,
        );
        check(
            json!({"b": "2", "a": "1"}),
            r#"{"a":"1","b":"2"}"#,
        );
        check(
            json!({"auth": {"success": true, "mxid": "@john.doe:example.com", "profile": {"display_name": "John Doe", "three_pids": [{"medium": "email", "address": "john.doe@example.org"}, {"medium": "msisdn", "address": "123456789"}]}}}),
            r#"{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}"#,
        );
        check(json!({"a": "日本語"}), r#"{"a":"日本語"}"#);
        check(json!({"日": 1, "本": 2}), r#"{"日":1,"本":2}"#);
        check(json!({"a": "\u{65e5}"}), r#"{"a":"日"}"#);
        check(json!({"a": null}), r#"{"a":null}"#);
        check(json!({"a": -0}), r#"{"a":0}"#);
        check(json!({"a": "\u{1}\n\u{1f}\"\\"}), r#"{"a":"\u0001\n\u001f\"\\"}"#);
    }

    #[test]
    fn rejects_floats_and_big_integers() {
        assert!(encode(&json!({"a": 1.5})).is_err());
        assert!(encode(&json!({"a": 9007199254740992_i64})).is_err());
        assert!(encode(&json!({"a": -9007199254740992_i64})).is_err());
        assert!(encode(&json!({"a": 9007199254740991_i64})).is_ok());
    }
}
