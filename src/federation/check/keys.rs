//! The key document checks of `hearth check` (the public federation tester's names):
//! MatchingServerName, FutureValidUntilTS, HasEd25519Key and, per key, the self-signature
//! (spec: s2s "Retrieving server keys", `GET /_matrix/key/v2/server`). Pure: the caller
//! gives the body and the time.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::proto::signing::{decode_base64, verify_json};

/// Keys valid for less than this are flagged (7 days, in ms).
pub const EXPIRY_WARNING_MS: i64 = 7 * 24 * 3600 * 1000;

/// The verdicts on one key document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[allow(non_snake_case)] // The federation tester's names, so reports compare side by side.
pub struct KeyChecks {
    pub MatchingServerName: bool,
    pub FutureValidUntilTS: bool,
    pub HasEd25519Key: bool,
    pub AllEd25519ChecksOK: bool,
    /// Per key id: `ValidEd25519` (a 32-byte key) and `MatchingSignature`.
    pub Ed25519Checks: BTreeMap<String, Ed25519Checks>,
    /// What the document says, for the report.
    pub server_name: Option<String>,
    pub valid_until_ts: Option<i64>,
    /// Set when the keys expire within [`EXPIRY_WARNING_MS`] (but not yet).
    pub expires_soon: bool,
    /// Why the body could not be read at all, if so.
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[allow(non_snake_case)]
pub struct Ed25519Checks {
    pub ValidEd25519: bool,
    pub MatchingSignature: bool,
}

impl KeyChecks {
    pub fn all_ok(&self) -> bool {
        self.MatchingServerName
            && self.FutureValidUntilTS
            && self.HasEd25519Key
            && self.AllEd25519ChecksOK
    }

    /// The document could not be had or read: every check fails, with the reason.
    pub fn unavailable(error: String) -> KeyChecks {
        KeyChecks {
            MatchingServerName: false,
            FutureValidUntilTS: false,
            HasEd25519Key: false,
            AllEd25519ChecksOK: false,
            Ed25519Checks: BTreeMap::new(),
            server_name: None,
            valid_until_ts: None,
            expires_soon: false,
            error: Some(error),
        }
    }
}

/// Checks the body of `/_matrix/key/v2/server` from `expected_server_name` at `now_ms`.
pub fn check_key_document(body: &[u8], expected_server_name: &str, now_ms: i64) -> KeyChecks {
    let document: Value = match serde_json::from_slice(body) {
        Ok(document) => document,
        Err(error) => return KeyChecks::unavailable(format!("not JSON: {error}")),
    };
    let Some(object) = document.as_object() else {
        return KeyChecks::unavailable("not a JSON object".into());
    };
    let server_name = object.get("server_name").and_then(Value::as_str);
    let valid_until_ts = object.get("valid_until_ts").and_then(Value::as_i64);
    let mut checks = BTreeMap::new();
    if let Some(verify_keys) = object.get("verify_keys").and_then(Value::as_object) {
        for (key_id, entry) in verify_keys {
            if !key_id.starts_with("ed25519:") {
                continue;
            }
            let public_key = entry.get("key").and_then(Value::as_str).unwrap_or("");
            let valid = decode_base64(public_key).is_some_and(|bytes| bytes.len() == 32);
            // The document is signed by the server it describes, with each of its keys.
            let signer = server_name.unwrap_or(expected_server_name);
            let signed = valid && verify_json(object, signer, key_id, public_key).is_ok();
            checks.insert(
                key_id.clone(),
                Ed25519Checks {
                    ValidEd25519: valid,
                    MatchingSignature: signed,
                },
            );
        }
    }
    let future = valid_until_ts.is_some_and(|ts| ts > now_ms);
    KeyChecks {
        MatchingServerName: server_name == Some(expected_server_name),
        FutureValidUntilTS: future,
        HasEd25519Key: !checks.is_empty(),
        AllEd25519ChecksOK: !checks.is_empty()
            && checks
                .values()
                .all(|c| c.ValidEd25519 && c.MatchingSignature),
        Ed25519Checks: checks,
        server_name: server_name.map(str::to_owned),
        valid_until_ts,
        // A minute of slack: a server publishing exactly 7 days (hearth does) is fine.
        expires_soon: future
            && valid_until_ts.is_some_and(|ts| ts - now_ms < EXPIRY_WARNING_MS - 60_000),
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::signing::{SigningKey, sign_json};
    use serde_json::json;

    const DAY_MS: i64 = 86_400_000;
    const NOW: i64 = 1_800_000_000_000;

    fn document(server_name: &str, valid_until_ts: i64) -> serde_json::Map<String, Value> {
        let key = SigningKey::from_seed("abc", [7; 32]).unwrap();
        let mut object = json!({
            "server_name": server_name,
            "valid_until_ts": valid_until_ts,
            "verify_keys": { key.key_id(): { "key": key.public_key_base64() } },
            "old_verify_keys": {}
        })
        .as_object()
        .unwrap()
        .clone();
        sign_json(&mut object, server_name, &key).unwrap();
        object
    }

    fn check(object: &serde_json::Map<String, Value>, expected: &str) -> KeyChecks {
        let body = serde_json::to_vec(object).unwrap();
        check_key_document(&body, expected, NOW)
    }

    #[test]
    fn a_good_document_passes_every_check() {
        let checks = check(&document("a.test", NOW + 30 * DAY_MS), "a.test");
        assert!(checks.all_ok(), "{checks:?}");
        assert!(!checks.expires_soon);
        assert_eq!(checks.Ed25519Checks.len(), 1);
    }

    #[test]
    fn each_fault_fails_its_check() {
        let checks = check(&document("a.test", NOW + DAY_MS), "a.test");
        assert!(checks.all_ok() && checks.expires_soon);
        let checks = check(&document("a.test", NOW - 1), "a.test");
        assert!(!checks.FutureValidUntilTS && !checks.expires_soon);
        let checks = check(&document("other.test", NOW + 30 * DAY_MS), "a.test");
        assert!(!checks.MatchingServerName && checks.AllEd25519ChecksOK);
        let mut tampered = document("a.test", NOW + 30 * DAY_MS);
        tampered.insert("valid_until_ts".into(), json!(NOW + 300 * DAY_MS));
        let checks = check(&tampered, "a.test");
        assert!(checks.HasEd25519Key && !checks.AllEd25519ChecksOK);
        let mut no_keys = document("a.test", NOW + 30 * DAY_MS);
        no_keys.insert("verify_keys".into(), json!({}));
        let checks = check(&no_keys, "a.test");
        assert!(!checks.HasEd25519Key && !checks.AllEd25519ChecksOK);
        let checks = check_key_document(b"<html>", "a.test", NOW);
        assert!(!checks.all_ok() && checks.error.is_some());
    }
}
