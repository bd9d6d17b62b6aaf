//! Checking another server's key document (`GET /_matrix/key/v2/server`, spec: s2s
//! "Retrieving server keys", data/api/server-server/definitions/keys.yaml) and how long
//! each of its keys may be trusted.
//!
//! Pure: the caller fetches the document and supplies the time it was fetched.

use serde_json::{Map, Value};

use super::id::ServerName;
use super::signing::{VerifyError, decode_base64, verify_json};

/// Spec keys.yaml `valid_until_ts`: "Servers MUST use the lesser of this field and 7 days
/// into the future when determining if a key is valid."
pub const MAX_VALIDITY_MS: i64 = 7 * 24 * 3600 * 1000;

/// One key of a checked document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerKey {
    /// `ed25519:<version>`.
    pub key_id: String,
    /// Unpadded base64 of the 32-byte public key.
    pub public_key: String,
    /// The key may verify signatures made up to this time (ms): the document's
    /// `valid_until_ts` capped at fetch time + 7 days for a current key, `expired_ts` for
    /// an old one.
    pub valid_until_ts: i64,
    /// `Some` for an `old_verify_keys` entry: the key no longer signs requests.
    pub expired_ts: Option<i64>,
}

/// A key document whose self-signature checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerKeys {
    pub server_name: ServerName,
    /// As the document says (before the 7-day cap).
    pub valid_until_ts: i64,
    pub keys: Vec<ServerKey>,
}

/// Why a key document was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyDocumentError {
    NotAnObject,
    /// A required field is missing or of the wrong type.
    BadField(&'static str),
    /// The document is for another server.
    WrongServer(String),
    /// A key is not 32 bytes of base64.
    BadKey(String),
    /// No signature of the server by one of its own current keys.
    NotSelfSigned,
    /// A self-signature did not verify.
    Signature(String, VerifyError),
}

impl std::fmt::Display for KeyDocumentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyDocumentError::NotAnObject => write!(f, "not a JSON object"),
            KeyDocumentError::BadField(name) => write!(f, "missing or malformed `{name}`"),
            KeyDocumentError::WrongServer(name) => write!(f, "document is for {name}"),
            KeyDocumentError::BadKey(key_id) => write!(f, "key {key_id} is not an ed25519 key"),
            KeyDocumentError::NotSelfSigned => {
                write!(f, "not signed by any of the server's own keys")
            }
            KeyDocumentError::Signature(key_id, e) => write!(f, "signature by {key_id}: {e}"),
        }
    }
}

impl std::error::Error for KeyDocumentError {}

/// Checks a key document said to be `expected`'s, fetched at `fetched_ms`.
///
/// The document must name `expected`, and be signed by it with at least one of its
/// `verify_keys`; every such signature must verify (Synapse checks the first it finds;
/// an honest server's all verify). Keys of algorithms other than ed25519 are skipped, as
/// Synapse does. Expiry is not judged here: an expired document still tells which keys
/// signed events in the past; [`ServerKey::valid_until_ts`] says until when.
pub fn check_key_document(
    document: &Value,
    expected: &ServerName,
    fetched_ms: i64,
) -> Result<ServerKeys, KeyDocumentError> {
    let object = document.as_object().ok_or(KeyDocumentError::NotAnObject)?;
    let server_name = object
        .get("server_name")
        .and_then(Value::as_str)
        .ok_or(KeyDocumentError::BadField("server_name"))?;
    if server_name != expected.as_str() {
        return Err(KeyDocumentError::WrongServer(server_name.to_owned()));
    }
    let valid_until_ts = object
        .get("valid_until_ts")
        .and_then(Value::as_i64)
        .ok_or(KeyDocumentError::BadField("valid_until_ts"))?;
    let verify_keys = object
        .get("verify_keys")
        .and_then(Value::as_object)
        .ok_or(KeyDocumentError::BadField("verify_keys"))?;
    let current_until = valid_until_ts.min(fetched_ms.saturating_add(MAX_VALIDITY_MS));
    let mut keys = Vec::new();
    for (key_id, public_key) in ed25519_keys(verify_keys)? {
        keys.push(ServerKey {
            key_id,
            public_key,
            valid_until_ts: current_until,
            expired_ts: None,
        });
    }
    check_self_signature(object, expected, &keys)?;
    // `old_verify_keys` is optional in practice (keys.yaml lists it as required, but
    // older servers omit it when empty).
    let empty = Map::new();
    let old_verify_keys = match object.get("old_verify_keys") {
        None => &empty,
        Some(value) => value
            .as_object()
            .ok_or(KeyDocumentError::BadField("old_verify_keys"))?,
    };
    for (key_id, entry) in old_verify_keys {
        if !key_id.starts_with("ed25519:") {
            continue;
        }
        let expired_ts = entry
            .get("expired_ts")
            .and_then(Value::as_i64)
            .ok_or(KeyDocumentError::BadField("old_verify_keys.expired_ts"))?;
        let public_key = public_key_of(key_id, entry)?;
        // A key listed both as current and old is current.
        if keys.iter().any(|key| &key.key_id == key_id) {
            continue;
        }
        keys.push(ServerKey {
            key_id: key_id.clone(),
            public_key,
            valid_until_ts: expired_ts,
            expired_ts: Some(expired_ts),
        });
    }
    Ok(ServerKeys {
        server_name: expected.clone(),
        valid_until_ts,
        keys,
    })
}

fn ed25519_keys(
    verify_keys: &Map<String, Value>,
) -> Result<Vec<(String, String)>, KeyDocumentError> {
    verify_keys
        .iter()
        .filter(|(key_id, _)| key_id.starts_with("ed25519:"))
        .map(|(key_id, entry)| Ok((key_id.clone(), public_key_of(key_id, entry)?)))
        .collect()
}

fn public_key_of(key_id: &str, entry: &Value) -> Result<String, KeyDocumentError> {
    let key = entry
        .get("key")
        .and_then(Value::as_str)
        .ok_or_else(|| KeyDocumentError::BadKey(key_id.to_owned()))?;
    match decode_base64(key) {
        Some(bytes) if bytes.len() == 32 => Ok(key.to_owned()),
        _ => Err(KeyDocumentError::BadKey(key_id.to_owned())),
    }
}

fn check_self_signature(
    object: &Map<String, Value>,
    server_name: &ServerName,
    keys: &[ServerKey],
) -> Result<(), KeyDocumentError> {
    let signatures = object
        .get("signatures")
        .and_then(|s| s.get(server_name.as_str()))
        .and_then(Value::as_object)
        .ok_or(KeyDocumentError::NotSelfSigned)?;
    let mut verified = false;
    for key_id in signatures.keys() {
        // A notary's answer may carry signatures by keys the document does not list.
        let Some(key) = keys.iter().find(|key| &key.key_id == key_id) else {
            continue;
        };
        verify_json(object, server_name.as_str(), key_id, &key.public_key)
            .map_err(|e| KeyDocumentError::Signature(key_id.clone(), e))?;
        verified = true;
    }
    if verified {
        Ok(())
    } else {
        Err(KeyDocumentError::NotSelfSigned)
    }
}

#[cfg(test)]
#[path = "server_keys_tests.rs"]
mod tests;
