//! The spec's event signing test vectors, Synapse's event ID vector, and round trips.

use serde_json::{Value, json};

use super::*;

fn object(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

// Spec: appendices, "Cryptographic test vectors".
fn spec_key() -> SigningKey {
    SigningKey::parse_key_file("ed25519 1 YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1").unwrap()
}

fn domain() -> ServerName {
    ServerName::parse("domain").unwrap()
}

fn check_signing_vector(rules: &RoomRules, input: Value, expected: Value) {
    let mut event = object(input);
    hash_and_sign_event(rules, &mut event, &domain(), &spec_key()).unwrap();
    assert_eq!(Value::Object(event.clone()), expected, "v{}", rules.version);
    assert_eq!(check_content_hash(&event), Ok(()));
    let public_key = spec_key().public_key_base64();
    assert_eq!(
        verify_event_signature(rules, &event, &domain(), "ed25519:1", &public_key),
        Ok(())
    );
}

#[test]
fn spec_vector_minimal_event() {
    let input = json!({
        "room_id": "!x:domain", "sender": "@a:domain", "origin": "domain",
        "origin_server_ts": 1000000, "signatures": {}, "hashes": {}, "type": "X",
        "content": {}, "prev_events": [], "auth_events": [], "depth": 3,
        "unsigned": {"age_ts": 1000000}
    });
    let expected = json!({
        "auth_events": [], "content": {}, "depth": 3,
        "hashes": {"sha256": "5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos"},
        "origin": "domain", "origin_server_ts": 1000000, "prev_events": [],
        "room_id": "!x:domain", "sender": "@a:domain",
        "signatures": {"domain": {"ed25519:1": "KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg"}},
        "type": "X", "unsigned": {"age_ts": 1000000}
    });
    // The vectors predate v11, which no longer signs `origin`.
    for rules in &RoomRules::ALL[..10] {
        check_signing_vector(rules, input.clone(), expected.clone());
    }
}

#[test]
fn spec_vector_redactable_event() {
    let input = json!({
        "content": {"body": "Here is the message content"}, "event_id": "$0:domain",
        "origin": "domain", "origin_server_ts": 1000000, "type": "m.room.message",
        "room_id": "!r:domain", "sender": "@u:domain", "signatures": {},
        "unsigned": {"age_ts": 1000000}
    });
    let expected = json!({
        "content": {"body": "Here is the message content"}, "event_id": "$0:domain",
        "hashes": {"sha256": "onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g"},
        "origin": "domain", "origin_server_ts": 1000000, "type": "m.room.message",
        "room_id": "!r:domain", "sender": "@u:domain",
        "signatures": {"domain": {"ed25519:1": "Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA"}},
        "unsigned": {"age_ts": 1000000}
    });
    for rules in &RoomRules::ALL[..10] {
        check_signing_vector(rules, input.clone(), expected.clone());
    }
}

#[test]
fn signature_covers_redacted_form_only() {
    let rules = RoomRules::V10;
    let mut event = object(json!({
        "type": "m.room.message", "room_id": "!r:domain", "sender": "@u:domain",
        "content": {"body": "a"}, "origin_server_ts": 1, "depth": 1,
        "prev_events": [], "auth_events": []
    }));
    hash_and_sign_event(&rules, &mut event, &domain(), &spec_key()).unwrap();
    let public_key = spec_key().public_key_base64();
    let verify = |event: &Map<String, Value>| {
        verify_event_signature(&rules, event, &domain(), "ed25519:1", &public_key)
    };
    // Changing redactable content keeps the signature but breaks the content hash.
    let mut edited = event.clone();
    edited.insert("content".into(), json!({"body": "b"}));
    assert_eq!(verify(&edited), Ok(()));
    assert_eq!(
        check_content_hash(&edited),
        Err(HashError::ContentHashMismatch)
    );
    // Changing a kept field breaks the signature.
    let mut moved = event.clone();
    moved.insert("depth".into(), json!(2));
    assert_eq!(verify(&moved), Err(VerifyError::BadSignature));
    let other = ServerName::parse("other").unwrap();
    assert_eq!(
        verify_event_signature(&rules, &event, &other, "ed25519:1", &public_key),
        Err(VerifyError::MissingSignature)
    );
    assert_eq!(
        verify_event_signature(&rules, &event, &domain(), "ed25519:1", "!!"),
        Err(VerifyError::MalformedSignature)
    );
}

#[test]
fn signing_keeps_other_signatures_and_refuses_non_canonical_v6() {
    let mut event = object(json!({
        "type": "X", "content": {"f": 1.5},
        "signatures": {"elsewhere": {"ed25519:k": "sig"}}
    }));
    assert_eq!(
        sign_event(&RoomRules::V6, &mut event, &domain(), &spec_key()),
        Err(JsonError::NumberNotCanonical("1.5".into()))
    );
    sign_event(&RoomRules::V5, &mut event, &domain(), &spec_key()).unwrap();
    let signatures = event["signatures"].as_object().unwrap();
    assert_eq!(signatures.len(), 2);
    assert!(signatures["domain"]["ed25519:1"].is_string());
}

#[test]
fn content_hash_errors() {
    let event = |hashes: Value| object(json!({"type": "X", "hashes": hashes}));
    assert_eq!(
        check_content_hash(&event(json!(5))),
        Err(HashError::MissingContentHash)
    );
    assert_eq!(
        check_content_hash(&event(json!({}))),
        Err(HashError::MissingContentHash)
    );
    assert_eq!(
        check_content_hash(&event(json!({"sha256": "@@"}))),
        Err(HashError::MalformedContentHash)
    );
    assert_eq!(
        check_content_hash(&event(json!({"sha256": "AAAA"}))),
        Err(HashError::MalformedContentHash)
    );
    let mut fixed = event(json!("not an object"));
    add_content_hash(&mut fixed);
    assert_eq!(check_content_hash(&fixed), Ok(()));
}

/// From Synapse `rust/src/events/utils.rs`, `test_calculate_event_id`: an event Synapse
/// created, with its content hash and its event ID in v3 and v4+ form.
fn synapse_event() -> Map<String, Value> {
    object(json!({
        "auth_events": [
            "$gbHO7IPUHybc7ULFnT7P0r3iWlZFHGmr6zBfEYCUyKw",
            "$hy1eZFYcgNxMFNNBgCD5fyOzyWRcBkxfNcrUI5ZpZlE",
            "$Nt_z68EwFfPqBeHjzEHGsp461Z4EfNEzR-KH5bOYdOY"
        ],
        "prev_events": ["$4FbpZrgPQTwoLD9H5y7jcikucCypUOn78mXhQX7WliY"],
        "type": "m.room.message",
        "room_id": "!DHmIIVvxFASSFgDGzr:localhost:8008",
        "sender": "@tester_b:localhost:8008",
        "content": {"msgtype": "m.text", "body": "invited people can see history", "m.mentions": {}},
        "depth": 24, "origin": "localhost:8008", "origin_server_ts": 1731769874137_i64,
        "hashes": {"sha256": "FoYV1w3TW/B2mVT0gX2/BZKpCwrrvGXqXFdUhN9LZYU"},
        "signatures": {"localhost:8008": {"ed25519:a_phSE": "G8cfk/m97sndxMNrEZ2nMMSXkVeJE05G7if4JiVzAwGfD3TwnF/jfSHt2acWrpNqv/aEhZug3WLofc2id+rVBw"}},
        "unsigned": {"age_ts": 1731769874137_i64}
    }))
}

#[test]
fn event_ids_per_format() {
    let event = synapse_event();
    assert_eq!(check_content_hash(&event), Ok(()));
    let v4 = "$zRz9jjiT9wZc3Hl9ij_74aCmTjqV3YMlj9sj3Uqxg6o";
    assert_eq!(
        event_id_for(&RoomRules::V3, &event).unwrap(),
        v4.replace('_', "/")
    );
    for rules in &RoomRules::ALL[3..10] {
        assert_eq!(event_id_for(rules, &event).unwrap(), v4);
    }
    let redacted = redact(&RoomRules::V10, &event);
    assert_eq!(event_id_for(&RoomRules::V10, &redacted).unwrap(), v4);
    assert_eq!(
        event_id_for(&RoomRules::V2, &event),
        Err(HashError::MissingEventId)
    );
    let mut v1 = event.clone();
    v1.insert("event_id".into(), json!("$abc:localhost:8008"));
    assert_eq!(
        event_id_for(&RoomRules::V1, &v1).unwrap(),
        "$abc:localhost:8008"
    );
}

#[test]
fn signed_bytes_give_the_id_of_the_event_and_of_its_redaction() {
    // What `receive` does: one encoding serves the signature check and the event ID, even
    // when a wrong content hash made it use the redacted event.
    let event = synapse_event();
    let v4 = "$zRz9jjiT9wZc3Hl9ij_74aCmTjqV3YMlj9sj3Uqxg6o";
    let bytes = signed_bytes(&RoomRules::V10, &event);
    assert_eq!(
        event_id_from_signed_bytes(&RoomRules::V10, &event, &bytes).unwrap(),
        v4
    );
    let redacted = redact(&RoomRules::V10, &event);
    assert_eq!(signed_bytes(&RoomRules::V10, &redacted), bytes);
    assert!(!bytes.contains("signatures") && !bytes.contains("unsigned"));
    let mut tampered = event.clone();
    tampered.insert("depth".into(), json!(25));
    let server = ServerName::parse("localhost:8008").unwrap();
    // Signed by a key the test does not hold: a wrong key or wrong bytes fail alike.
    let key = spec_key().public_key_base64();
    for (bytes, object) in [
        (&bytes, &event),
        (&signed_bytes(&RoomRules::V10, &tampered), &tampered),
    ] {
        assert_eq!(
            verify_event_signature_over(bytes, object, &server, "ed25519:a_phSE", &key),
            Err(VerifyError::BadSignature)
        );
    }
    assert_eq!(
        verify_event_signature_over(&bytes, &event, &server, "ed25519:other", &key),
        Err(VerifyError::MissingSignature)
    );
}

#[test]
fn v12_room_id_is_the_create_event_hash() {
    let create = object(json!({
        "type": "m.room.create", "state_key": "", "sender": "@a:domain",
        "content": {"room_version": "12"}, "origin_server_ts": 1, "depth": 1,
        "prev_events": [], "auth_events": [], "hashes": {}, "signatures": {}
    }));
    let room_id = room_id_for_create_event(&RoomRules::V12, &create).unwrap();
    let event_id = event_id_for(&RoomRules::V12, &create).unwrap();
    assert_eq!(room_id.strip_prefix('!'), event_id.strip_prefix('$'));
    let parsed = super::super::id::RoomId::parse(&room_id).unwrap();
    assert_eq!(parsed.create_event_id().unwrap().as_str(), event_id);
    // A stray room_id on the create event does not change the hash.
    let mut stray = create.clone();
    stray.insert("room_id".into(), json!("!x:domain"));
    assert_eq!(
        room_id_for_create_event(&RoomRules::V12, &stray).unwrap(),
        room_id
    );
    assert_eq!(
        room_id_for_create_event(&RoomRules::V11, &create),
        Err(HashError::RoomIdNotAHash)
    );
}

#[test]
fn signers() {
    let signers = |rules: &RoomRules, event: Value| -> Vec<String> {
        servers_that_must_sign(rules, &object(event))
            .unwrap()
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let message = json!({"type": "m.room.message", "sender": "@a:one", "event_id": "$e:two"});
    assert_eq!(signers(&RoomRules::V1, message.clone()), ["one", "two"]);
    assert_eq!(signers(&RoomRules::V10, message), ["one"]);
    let join = json!({"type": "m.room.member", "sender": "@a:one", "content": {
        "membership": "join", "join_authorised_via_users_server": "@b:three"}});
    assert_eq!(signers(&RoomRules::V8, join.clone()), ["one", "three"]);
    assert_eq!(signers(&RoomRules::V7, join), ["one"]);
    let invite = json!({"type": "m.room.member", "sender": "@a:one", "content": {
        "membership": "invite", "third_party_invite": {}}});
    assert!(signers(&RoomRules::V10, invite).is_empty());
    assert!(servers_that_must_sign(&RoomRules::V10, &object(json!({"sender": "x"}))).is_err());
}

/// Events Synapse 1.163 hashed, signed and redacted, covering v1–5 floats and large
/// integers, the v8/v9 join rules and member keep-lists, v11's `third_party_invite` and
/// `redacts`, and a v12 create event (`tests/fixtures/proto/make_synapse_event_vectors.py`).
#[test]
fn synapse_vectors() {
    let text = include_str!("../../tests/fixtures/proto/synapse_event_vectors.json");
    let cases: Vec<Value> = serde_json::from_str(text).unwrap();
    assert_eq!(cases.len(), 7);
    let public_key = spec_key().public_key_base64();
    for case in cases {
        let rules = RoomRules::for_version(case["version"].as_str().unwrap()).unwrap();
        let synapse_event = object(case["event"].clone());
        let mut event = synapse_event.clone();
        event.insert("hashes".into(), json!({}));
        event.insert("signatures".into(), json!({}));
        hash_and_sign_event(&rules, &mut event, &domain(), &spec_key()).unwrap();
        assert_eq!(event, synapse_event, "v{}", rules.version);
        assert_eq!(
            verify_event_signature(&rules, &event, &domain(), "ed25519:1", &public_key),
            Ok(())
        );
        assert_eq!(event_id_for(&rules, &event).unwrap(), case["event_id"]);
        assert_eq!(Value::Object(redact(&rules, &event)), case["redacted"]);
        if rules.room_id_is_create_event_hash {
            let room_id = room_id_for_create_event(&rules, &event).unwrap();
            assert_eq!(room_id[1..], case["event_id"].as_str().unwrap()[1..]);
        }
    }
}
