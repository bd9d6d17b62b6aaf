//! Finishing an event this server builds: the canonical-number check, the content hash,
//! the signature, the event ID, the size limits and the stored text, with as few encodings
//! as the spec allows.
//!
//! Why its own path: signing, naming, checking and storing an event each encoded it again
//! (seven encodings per local event, a fifth of the database writer's time in the send
//! benchmark). Here the bytes the signature covers (the redacted event without
//! `signatures` and `unsigned`, `hashes::signed_bytes`) are encoded once and hashed for the
//! event ID too, and the stored text is the final encoding, which also gives the size.

use serde_json::{Map, Value};

use super::canonical_json::{self, JsonError, SizeError};
use super::hashes;
use super::id::ServerName;
use super::room_version::RoomRules;
use super::signing::{SigningKey, encode_base64};

/// A finished local event: its ID, its JSON (with hashes and signature) and that JSON's
/// canonical text, as stored and sent.
#[derive(Debug)]
pub struct FinishedEvent {
    pub event_id: String,
    pub json: Map<String, Value>,
    pub text: String,
}

/// Why an event could not be finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinishError {
    /// A number has no canonical form (a float, or an integer beyond ±(2^53 - 1)).
    NotCanonical(JsonError),
    /// Room versions 1–2 name events explicitly, and the event had no `event_id`.
    MissingEventId,
    /// The event already carries hashes, signatures or unsigned data.
    AlreadyFinished,
    /// The finished event breaks a size limit.
    TooLarge(SizeError),
}

impl std::fmt::Display for FinishError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FinishError::NotCanonical(e) => write!(f, "{e}"),
            FinishError::MissingEventId => write!(f, "event has no event_id"),
            FinishError::AlreadyFinished => write!(f, "event is hashed or signed already"),
            FinishError::TooLarge(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for FinishError {}

/// Adds the content hash and this server's signature to `event` (built locally: no
/// `hashes`, `signatures` or `unsigned`), names it and encodes it.
pub fn finish_local_event(
    rules: &RoomRules,
    mut event: Map<String, Value>,
    server_name: &ServerName,
    key: &SigningKey,
) -> Result<FinishedEvent, FinishError> {
    if [
        "hashes",
        "signatures",
        "unsigned",
        "age_ts",
        "outlier",
        "destinations",
    ]
    .iter()
    .any(|k| event.contains_key(*k))
    {
        return Err(FinishError::AlreadyFinished);
    }
    // Local events are strict whatever the room version: a client's float is refused.
    canonical_json::check_canonical_object(&event).map_err(FinishError::NotCanonical)?;
    hashes::add_content_hash(&mut event);
    // Spec: appendices, "Signing events": the redacted event without signatures and
    // unsigned (neither exists yet); the reference hash (the v3+ event ID) covers the same
    // bytes, so they are encoded once for both.
    let signed_bytes = hashes::signed_bytes(rules, &event);
    let signature = encode_base64(&key.sign(signed_bytes.as_bytes()));
    let event_id = hashes::event_id_from_signed_bytes(rules, &event, &signed_bytes)
        .map_err(|_| FinishError::MissingEventId)?;
    let mut by_key = Map::new();
    by_key.insert(key.key_id(), Value::String(signature));
    let mut signatures = Map::new();
    signatures.insert(server_name.as_str().to_owned(), Value::Object(by_key));
    event.insert("signatures".into(), Value::Object(signatures));

    // The numbers were checked above, so serde_json's compact, key-ordered text is the
    // canonical encoding.
    // INVARIANT: a map of JSON values (string keys) always serialises.
    let text = serde_json::to_string(&event).expect("a JSON map always serialises");
    canonical_json::check_pdu_size_limits_of(&event, text.len()).map_err(FinishError::TooLarge)?;
    Ok(FinishedEvent {
        event_id,
        json: event,
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::hashes::{check_content_hash, event_id_for, verify_event_signature};
    use serde_json::json;

    fn key() -> SigningKey {
        SigningKey::from_seed("1", [9u8; 32]).unwrap()
    }

    fn event(version: &str) -> Map<String, Value> {
        let mut event = json!({
            "room_id": "!r:hearth.test",
            "sender": "@a:hearth.test",
            "type": "m.room.message",
            "content": {"body": "hello", "msgtype": "m.text", "n": 3},
            "origin_server_ts": 1_700_000_000_000i64,
            "depth": 7,
            "prev_events": ["$p"],
            "auth_events": ["$a"],
        });
        if version == "1" {
            event["event_id"] = json!("$chosen:hearth.test");
        }
        event.as_object().cloned().unwrap_or_default()
    }

    /// The one-encoding path agrees with the general functions every peer's events go
    /// through: the content hash checks, the signature verifies, the ID is the reference
    /// hash, and the text is the JSON.
    #[test]
    fn agrees_with_the_general_hash_sign_and_id_functions() {
        let server = ServerName::parse("hearth.test").unwrap();
        for version in ["1", "3", "4", "10", "11", "12"] {
            let rules = RoomRules::for_version(version).unwrap();
            let finished = finish_local_event(&rules, event(version), &server, &key()).unwrap();
            check_content_hash(&finished.json).unwrap();
            assert_eq!(
                event_id_for(&rules, &finished.json).unwrap(),
                finished.event_id,
                "v{version}"
            );
            verify_event_signature(
                &rules,
                &finished.json,
                &server,
                "ed25519:1",
                &key().public_key_base64(),
            )
            .unwrap_or_else(|e| panic!("v{version}: {e:?}"));
            let parsed: Value = serde_json::from_str(&finished.text).unwrap();
            assert_eq!(parsed, Value::Object(finished.json.clone()));
        }
    }

    #[test]
    fn refuses_floats_missing_ids_finished_events_and_oversized_events() {
        let server = ServerName::parse("hearth.test").unwrap();
        let v10 = RoomRules::for_version("10").unwrap();
        let mut float = event("10");
        float.insert("content".into(), json!({"body": 1.5}));
        assert!(matches!(
            finish_local_event(&v10, float, &server, &key()),
            Err(FinishError::NotCanonical(_))
        ));
        let v1 = RoomRules::for_version("1").unwrap();
        let mut no_id = event("1");
        no_id.remove("event_id");
        assert_eq!(
            finish_local_event(&v1, no_id, &server, &key()).err(),
            Some(FinishError::MissingEventId)
        );
        let mut signed = event("10");
        signed.insert("signatures".into(), json!({}));
        assert_eq!(
            finish_local_event(&v10, signed, &server, &key()).err(),
            Some(FinishError::AlreadyFinished)
        );
        let mut big = event("10");
        big.insert("content".into(), json!({"body": "x".repeat(70_000)}));
        assert!(matches!(
            finish_local_event(&v10, big, &server, &key()),
            Err(FinishError::TooLarge(SizeError::PduTooLarge(_)))
        ));
    }
}
