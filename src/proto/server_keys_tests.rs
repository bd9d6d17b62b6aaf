//! Tests of `server_keys`: documents signed with the spec's test key, then bent.

use serde_json::json;

use super::*;
use crate::proto::signing::{SigningKey, sign_json};

const DAY: i64 = 24 * 3600 * 1000;
const NOW: i64 = 1_700_000_000_000;

fn spec_key() -> SigningKey {
    SigningKey::parse_key_file("ed25519 1 YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1").unwrap()
}

fn name(text: &str) -> ServerName {
    ServerName::parse(text).unwrap()
}

/// A document of `remote.test` with `valid_until_ts = NOW + days`, signed by the spec key
/// after `edit` ran on it.
fn document(days: i64, edit: impl FnOnce(&mut Map<String, Value>)) -> Value {
    let key = spec_key();
    let mut object = json!({
        "server_name": "remote.test",
        "verify_keys": { key.key_id(): { "key": key.public_key_base64() } },
        "old_verify_keys": {
            "ed25519:old": { "key": key.public_key_base64(), "expired_ts": NOW - DAY }
        },
        "valid_until_ts": NOW + days * DAY,
    })
    .as_object()
    .unwrap()
    .clone();
    edit(&mut object);
    sign_json(&mut object, "remote.test", &key).unwrap();
    Value::Object(object)
}

#[test]
fn accepts_a_self_signed_document_and_caps_validity_at_seven_days() {
    let checked = check_key_document(&document(1, |_| {}), &name("remote.test"), NOW).unwrap();
    let public = spec_key().public_key_base64();
    assert_eq!(checked.valid_until_ts, NOW + DAY);
    assert_eq!(
        checked.keys,
        vec![
            ServerKey {
                key_id: "ed25519:1".into(),
                public_key: public.clone(),
                valid_until_ts: NOW + DAY,
                expired_ts: None,
            },
            ServerKey {
                key_id: "ed25519:old".into(),
                public_key: public,
                valid_until_ts: NOW - DAY,
                expired_ts: Some(NOW - DAY),
            },
        ]
    );
    let far = check_key_document(&document(30, |_| {}), &name("remote.test"), NOW).unwrap();
    assert_eq!(far.valid_until_ts, NOW + 30 * DAY);
    assert_eq!(far.keys[0].valid_until_ts, NOW + 7 * DAY);
}

#[test]
fn refuses_documents_not_self_signed() {
    let check = |document: &Value| check_key_document(document, &name("remote.test"), NOW);
    // Another server's document.
    assert_eq!(
        check_key_document(&document(1, |_| {}), &name("else.test"), NOW),
        Err(KeyDocumentError::WrongServer("remote.test".into()))
    );
    // Changed after signing.
    let mut tampered = document(1, |_| {});
    tampered["valid_until_ts"] = json!(NOW + 300 * DAY);
    assert!(matches!(
        check(&tampered),
        Err(KeyDocumentError::Signature(_, VerifyError::BadSignature))
    ));
    // Signed only by a key the document does not list.
    let unlisted = document(1, |object| {
        object.insert("verify_keys".into(), json!({}));
    });
    assert_eq!(check(&unlisted), Err(KeyDocumentError::NotSelfSigned));
    let mut unsigned = document(1, |_| {});
    unsigned.as_object_mut().unwrap().remove("signatures");
    assert_eq!(check(&unsigned), Err(KeyDocumentError::NotSelfSigned));
    // Malformed fields.
    let short_key = document(1, |object| {
        object.insert("verify_keys".into(), json!({"ed25519:1": {"key": "AAAA"}}));
    });
    assert_eq!(
        check(&short_key),
        Err(KeyDocumentError::BadKey("ed25519:1".into()))
    );
    let no_validity = document(1, |object| {
        object.remove("valid_until_ts");
    });
    assert_eq!(
        check(&no_validity),
        Err(KeyDocumentError::BadField("valid_until_ts"))
    );
    assert_eq!(check(&json!([])), Err(KeyDocumentError::NotAnObject));
}

#[test]
fn tolerates_what_older_servers_send() {
    // No old_verify_keys at all, and a key of an unknown algorithm: both fine.
    let lenient = document(1, |object| {
        object.remove("old_verify_keys");
        object["verify_keys"]
            .as_object_mut()
            .unwrap()
            .insert("curve9:x".into(), json!({"key": "whatever"}));
    });
    let checked = check_key_document(&lenient, &name("remote.test"), NOW).unwrap();
    assert_eq!(checked.keys.len(), 1);
    assert_eq!(checked.keys[0].key_id, "ed25519:1");
}
