//! Event hashes, event IDs and event signatures (spec: s2s "Signing Events": "Adding hashes
//! and signatures to outgoing events", "Validating hashes and signatures on received
//! events", "Calculating the reference hash for an event"; appendices "Cryptographic test
//! vectors").
//!
//! All hashing goes through `canonical_json::encode_lenient`. For events that are canonical
//! (every v6+ event that passed `parse_strict`) it writes exactly the canonical form; for
//! v1–5 events with floats or large integers it writes what Synapse hashes, so event IDs
//! and hashes agree with the servers that created them. Strictness is enforced where
//! events enter (`parse_strict`, `event_format`) and where they are signed (`sign_event`),
//! so hashing itself cannot fail.
//!
//! No key lookup here: the caller fetches keys and passes the public key in.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use ed25519_compact::{PublicKey, Signature};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::canonical_json::{self, JsonError, Without};
use super::id::{IdError, ServerName, UserId};
use super::redaction::redact;
use super::room_version::{EventIdFormat, RoomRules};
use super::signing::{SigningKey, VerifyError, decode_base64, encode_base64};

/// Why an event's ID or hash could not be computed or did not match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashError {
    /// Room versions 1–2: the event has no string `event_id` field.
    MissingEventId,
    /// A room ID was asked of a create event in a version whose room IDs are not hashes.
    RoomIdNotAHash,
    /// `hashes` is not an object, or has no string `sha256`.
    MissingContentHash,
    /// `hashes.sha256` is not base64 of 32 bytes.
    MalformedContentHash,
    /// `hashes.sha256` does not match the event. Spec: the receiver then uses the redacted
    /// event instead of the original, it does not reject it.
    ContentHashMismatch,
}

impl std::fmt::Display for HashError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HashError::MissingEventId => write!(f, "event has no event_id"),
            HashError::RoomIdNotAHash => write!(f, "room version does not hash room IDs"),
            HashError::MissingContentHash => write!(f, "event has no sha256 content hash"),
            HashError::MalformedContentHash => write!(f, "content hash is not 32 bytes of base64"),
            HashError::ContentHashMismatch => write!(f, "content hash does not match"),
        }
    }
}

impl std::error::Error for HashError {}

/// The SHA-256 content hash: the event without `unsigned`, `signatures` and `hashes`, in
/// canonical JSON. Synapse also leaves out top-level `age_ts`, `outlier` and
/// `destinations` (its internal fields, `synapse/crypto/event_signing.py`); so do we, so
/// that events Synapse built and hashed that way check out here.
pub fn content_hash(event: &Map<String, Value>) -> [u8; 32] {
    let mut hasher = Sha256::new();
    let unhashed = Without {
        object: event,
        left_out: &[
            "unsigned",
            "signatures",
            "hashes",
            "age_ts",
            "outlier",
            "destinations",
        ],
    };
    canonical_json::write_lenient(&unhashed, &mut hasher);
    hasher.finalize().into()
}

/// Sets `hashes.sha256` to the content hash, keeping other algorithms' entries.
pub fn add_content_hash(event: &mut Map<String, Value>) {
    let hash = Value::String(encode_base64(&content_hash(event)));
    object_entry(event, "hashes").insert("sha256".to_owned(), hash);
}

/// Checks `hashes.sha256` against the event. Any error means: redact the event before
/// using it (spec: s2s "Checks performed on receipt of a PDU", step 3).
pub fn check_content_hash(event: &Map<String, Value>) -> Result<(), HashError> {
    let claimed = event
        .get("hashes")
        .and_then(|hashes| hashes.get("sha256"))
        .and_then(Value::as_str)
        .ok_or(HashError::MissingContentHash)?;
    let claimed = decode_base64(claimed).ok_or(HashError::MalformedContentHash)?;
    if claimed.len() != 32 {
        return Err(HashError::MalformedContentHash);
    }
    if claimed == content_hash(event) {
        Ok(())
    } else {
        Err(HashError::ContentHashMismatch)
    }
}

/// The reference hash: SHA-256 of the redacted event without `signatures` and `unsigned`.
pub fn reference_hash(rules: &RoomRules, event: &Map<String, Value>) -> [u8; 32] {
    sha256(&signed_bytes(rules, event))
}

/// The event's ID under `rules.event_id_format`: the `event_id` field (v1–2), or `$` +
/// the reference hash in standard (v3) or URL-safe (v4+) unpadded base64.
pub fn event_id_for(rules: &RoomRules, event: &Map<String, Value>) -> Result<String, HashError> {
    match rules.event_id_format {
        EventIdFormat::Explicit => explicit_event_id(event),
        _ => event_id_from_signed_bytes(rules, event, &signed_bytes(rules, event)),
    }
}

/// `event_id_for` from the event's `signed_bytes` when the caller has them already (they
/// are what its signatures cover: the reference hash is their SHA-256).
pub fn event_id_from_signed_bytes(
    rules: &RoomRules,
    event: &Map<String, Value>,
    signed_bytes: &str,
) -> Result<String, HashError> {
    match rules.event_id_format {
        EventIdFormat::Explicit => explicit_event_id(event),
        EventIdFormat::Base64 => Ok(format!("${}", STANDARD_NO_PAD.encode(sha256(signed_bytes)))),
        EventIdFormat::UrlSafeBase64 => {
            Ok(format!("${}", URL_SAFE_NO_PAD.encode(sha256(signed_bytes))))
        }
    }
}

fn explicit_event_id(event: &Map<String, Value>) -> Result<String, HashError> {
    event
        .get("event_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or(HashError::MissingEventId)
}

/// The room ID a v12 `m.room.create` event defines: `!` + its URL-safe reference hash
/// (spec: rooms/v12 "Room IDs"; appendices "Room IDs").
pub fn room_id_for_create_event(
    rules: &RoomRules,
    create_event: &Map<String, Value>,
) -> Result<String, HashError> {
    if !rules.room_id_is_create_event_hash {
        return Err(HashError::RoomIdNotAHash);
    }
    Ok(format!(
        "!{}",
        URL_SAFE_NO_PAD.encode(reference_hash(rules, create_event))
    ))
}

/// Signs `event` as `server_name` (spec: s2s "Adding hashes and signatures to outgoing
/// events"): the signature covers the redacted event without `signatures` and `unsigned`,
/// and is added to the event's own `signatures`, keeping others.
///
/// Call `add_content_hash` first (or use `hash_and_sign_event`). Fails only when the room
/// version requires canonical JSON and the event has a value without a canonical form:
/// this server must never sign such an event.
pub fn sign_event(
    rules: &RoomRules,
    event: &mut Map<String, Value>,
    server_name: &ServerName,
    key: &SigningKey,
) -> Result<(), JsonError> {
    let bytes = signed_bytes(rules, event);
    if rules.strict_canonical_json {
        canonical_json::encode(&Value::Object(event.clone()))?;
    }
    let signature = Value::String(encode_base64(&key.sign(bytes.as_bytes())));
    let signatures = object_entry(event, "signatures");
    let by_server = match signatures
        .entry(server_name.as_str())
        .or_insert(Value::Null)
    {
        Value::Object(by_server) => by_server,
        other => {
            *other = Value::Object(Map::new());
            other.as_object_mut().ok_or(JsonError::NotAnObject)?
        }
    };
    by_server.insert(key.key_id(), signature);
    Ok(())
}

/// `add_content_hash` then `sign_event`: what a server does to an event it creates.
pub fn hash_and_sign_event(
    rules: &RoomRules,
    event: &mut Map<String, Value>,
    server_name: &ServerName,
    key: &SigningKey,
) -> Result<(), JsonError> {
    add_content_hash(event);
    sign_event(rules, event, server_name, key)
}

/// Checks `signatures.<server_name>.<key_id>` of `event` against `public_key_base64`, over
/// the redacted event (spec: s2s "Validating hashes and signatures on received events").
/// The caller picks the key valid at the event's `origin_server_ts` when
/// `rules.enforce_key_validity`.
pub fn verify_event_signature(
    rules: &RoomRules,
    event: &Map<String, Value>,
    server_name: &ServerName,
    key_id: &str,
    public_key_base64: &str,
) -> Result<(), VerifyError> {
    let bytes = signed_bytes(rules, event);
    verify_event_signature_over(&bytes, event, server_name, key_id, public_key_base64)
}

/// `verify_event_signature` over the event's `signed_bytes`, computed once by a caller
/// that checks several signatures or needs the event ID too.
pub fn verify_event_signature_over(
    signed_bytes: &str,
    event: &Map<String, Value>,
    server_name: &ServerName,
    key_id: &str,
    public_key_base64: &str,
) -> Result<(), VerifyError> {
    let signature = event
        .get("signatures")
        .and_then(|signatures| signatures.get(server_name.as_str()))
        .and_then(|by_server| by_server.get(key_id))
        .and_then(Value::as_str)
        .ok_or(VerifyError::MissingSignature)?;
    let signature = decode_base64(signature)
        .and_then(|bytes| Signature::from_slice(&bytes).ok())
        .ok_or(VerifyError::MalformedSignature)?;
    let public_key = decode_base64(public_key_base64)
        .and_then(|bytes| PublicKey::from_slice(&bytes).ok())
        .ok_or(VerifyError::MalformedSignature)?;
    public_key
        .verify(signed_bytes.as_bytes(), &signature)
        .map_err(|_| VerifyError::BadSignature)
}

/// The ed25519 key IDs under which `server_name` signed `event` (other algorithms are
/// ignored, as the spec allows).
pub fn ed25519_signature_key_ids(
    event: &Map<String, Value>,
    server_name: &ServerName,
) -> Vec<String> {
    event
        .get("signatures")
        .and_then(|signatures| signatures.get(server_name.as_str()))
        .and_then(Value::as_object)
        .map(|by_key| {
            by_key
                .keys()
                .filter(|k| k.starts_with("ed25519:"))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// The servers whose signatures a received event must carry (spec: s2s "Validating hashes
/// and signatures on received events"; Synapse `validate_event_for_room_version`):
/// the sender's server, except for an invite made through a third-party invite; in v1–2
/// the server of the event ID; for a restricted-room join, the authorising user's server.
pub fn servers_that_must_sign(
    rules: &RoomRules,
    event: &Map<String, Value>,
) -> Result<Vec<ServerName>, IdError> {
    let text = |key: &str| event.get(key).and_then(Value::as_str).unwrap_or("");
    let content = event.get("content").and_then(Value::as_object);
    let content_text = |key: &str| content.and_then(|c| c.get(key)).and_then(Value::as_str);
    let is_member = text("type") == "m.room.member";
    let membership = content_text("membership");
    let mut servers = Vec::new();
    let is_third_party_invite = is_member
        && membership == Some("invite")
        && content.is_some_and(|c| c.contains_key("third_party_invite"));
    if !is_third_party_invite {
        servers.push(UserId::parse(text("sender"))?.server_name().clone());
    }
    if rules.event_id_format == EventIdFormat::Explicit {
        let event_id = super::id::EventId::parse(text("event_id"))?;
        if let Some(server_name) = event_id.server_name() {
            servers.push(server_name.clone());
        }
    }
    if rules.restricted_join_rule
        && is_member
        && membership == Some("join")
        && let Some(authoriser) = content_text("join_authorised_via_users_server")
    {
        servers.push(UserId::parse(authoriser)?.server_name().clone());
    }
    servers.sort();
    servers.dedup();
    Ok(servers)
}

/// Signing keys a batch of events needs: (server, key ID) → the earliest
/// `origin_server_ts` among the events that name it (the time the key must be valid at,
/// in room versions that enforce it).
pub type WantedKeys = HashMap<(ServerName, String), Option<i64>>;

/// Adds the ed25519 keys of every server that must sign `event` to `wanted`.
pub fn add_wanted_keys(rules: &RoomRules, event: &Map<String, Value>, wanted: &mut WantedKeys) {
    let Ok(signers) = servers_that_must_sign(rules, event) else {
        return;
    };
    let ts = event.get("origin_server_ts").and_then(Value::as_i64);
    for signer in signers {
        for key_id in ed25519_signature_key_ids(event, &signer) {
            let at = wanted.entry((signer.clone(), key_id)).or_insert(ts);
            *at = match (*at, ts) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
    }
}

/// The bytes an event's signatures cover and its reference hash hashes: the redacted event
/// without `signatures` and `unsigned`, in canonical JSON.
pub fn signed_bytes(rules: &RoomRules, event: &Map<String, Value>) -> String {
    let redacted = redact(rules, event);
    let mut out = Vec::new();
    let unsigned = Without {
        object: &redacted,
        left_out: &["signatures", "unsigned"],
    };
    canonical_json::write_lenient(&unsigned, &mut out);
    // INVARIANT: serde_json writes UTF-8.
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

fn sha256(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// `event[key]` as an object, replacing a non-object value.
fn object_entry<'a>(event: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let entry = event
        .entry(key)
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    match entry {
        Value::Object(map) => map,
        // INVARIANT: replaced by an object just above.
        _ => unreachable!("entry was just made an object"),
    }
}

#[cfg(test)]
#[path = "hashes_tests.rs"]
mod tests;
