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

use serde::Serialize;
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

/// Checks that `value` has a canonical form (every number an integer in ±(2^53 - 1)),
/// without encoding it.
pub fn check_canonical(value: &Value) -> Result<(), JsonError> {
    check_numbers(value)
}

/// As [`check_canonical`], for an object held as a map (no copy into a `Value`).
pub fn check_canonical_object(object: &Map<String, Value>) -> Result<(), JsonError> {
    object.values().try_for_each(check_numbers)
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
    write_lenient(value, &mut out);
    // INVARIANT: serde_json writes UTF-8.
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// Writes `value` as `encode_lenient` encodes it into `out` (a hasher, a counter): the
/// hot paths hash or measure events without building the text or copying the event.
/// `value` must serialise as JSON values do (a `Value`, a `Map`, or a view of one).
pub fn write_lenient(value: &impl Serialize, out: &mut impl std::io::Write) {
    let mut serializer = serde_json::Serializer::with_formatter(out, PythonFloats);
    // INVARIANT: JSON values (string keys only) always serialise, and the writers this is
    // given (a `Vec`, a hasher, a counter) never fail.
    value
        .serialize(&mut serializer)
        .expect("Value always serialises");
}

/// The top-level entries of an event object except some keys, serialised as that smaller
/// object would be (the entries of a `Map` come in key order): hashing an event without
/// `signatures` and `unsigned` need not copy it.
pub struct Without<'a> {
    pub object: &'a Map<String, Value>,
    pub left_out: &'a [&'a str],
}

impl Serialize for Without<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(
            self.object
                .iter()
                .filter(|(key, _)| !self.left_out.contains(&key.as_str())),
        )
    }
}

/// Counts the bytes written to it.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
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
    let mut size = Counter(0);
    write_lenient(pdu, &mut size);
    check_pdu_size_limits_of(pdu, size.0)
}

/// As [`check_pdu_size_limits`], for a caller that has the PDU's encoding at hand and
/// gives its length as `size`.
pub fn check_pdu_size_limits_of(pdu: &Map<String, Value>, size: usize) -> Result<(), SizeError> {
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
#[path = "canonical_json_tests.rs"]
mod tests;
