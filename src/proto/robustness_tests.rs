//! Property tests over the whole protocol core's parsing surface: random bytes and randomly
//! mutated events go through JSON parsing, format checks, redaction, hashing, signing and
//! ID parsing. Nothing may panic (STYLE 4.2), and a few laws must hold: strict parsing
//! round-trips through `encode`, redaction is idempotent, the reference hash is the same
//! for an event and its redaction, and a parsed ID re-parses to itself.
//!
//! A seeded xorshift generator keeps runs reproducible without a dependency; the whole
//! file runs in well under two seconds in a debug build.

use serde_json::{Map, Value, json};

use super::canonical_json::{
    self, check_pdu_size_limits, encode_lenient, parse_lenient, parse_strict,
};
use super::event_format::{auth_event_types, check_event_format, parse_pdu};
use super::hashes::{
    check_content_hash, content_hash, event_id_for, reference_hash, room_id_for_create_event,
    servers_that_must_sign, sign_event, verify_event_signature,
};
use super::id::{EventId, RoomAliasId, RoomId, ServerName, UserId};
use super::redaction::redact;
use super::room_version::RoomRules;
use super::signing::SigningKey;

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const JSON_PIECES: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ":",
    ",",
    "0",
    "1",
    "-",
    ".",
    "e",
    "E",
    "+",
    "\\",
    "u",
    "d8",
    "00",
    "\\ud800",
    "\\udc00",
    "null",
    "true",
    "9007199254740992",
    "1e400",
    " ",
    "a",
    "é",
    "\u{0}",
    "\"type\"",
    "\"content\"",
    "\"m.room.member\"",
    "@a:b",
    "!r:b",
    "$e",
];

fn seed_events() -> Vec<Value> {
    vec![
        json!({"type": "m.room.message", "sender": "@a:x", "room_id": "!r:x", "event_id": "$e:x",
               "content": {"body": "hi", "n": 1}, "depth": 5, "origin_server_ts": 1,
               "hashes": {"sha256": "h"}, "signatures": {"x": {"ed25519:1": "s"}},
               "prev_events": [["$p:x", {"sha256": "h"}]], "auth_events": [], "origin": "x",
               "unsigned": {"age_ts": 1}}),
        json!({"type": "m.room.member", "state_key": "@b:y", "sender": "@a:x",
               "room_id": "!Nhcu5BS-UMnFX7hBVfVSoXiD7OgH6iRT-xyIuqDnpYQ",
               "content": {"membership": "join", "join_authorised_via_users_server": "@c:z",
                           "third_party_invite": {"signed": {"token": "t"}}},
               "depth": 2, "origin_server_ts": 2, "hashes": {}, "signatures": {},
               "prev_events": ["$p"], "auth_events": ["$a"]}),
        json!({"type": "m.room.create", "state_key": "", "sender": "@a:x",
               "content": {"room_version": "12", "additional_creators": ["@b:y"]},
               "depth": 1, "origin_server_ts": 1, "hashes": {}, "signatures": {},
               "prev_events": [], "auth_events": []}),
        json!({"type": "m.room.power_levels", "state_key": "", "sender": "@a:x", "room_id": "!r:x",
               "content": {"users": {"@a:x": 100}, "invite": 0, "notifications": {"room": 1.5}},
               "redacts": "$r", "depth": 3, "origin_server_ts": 3, "hashes": {}, "signatures": {},
               "prev_events": ["$p"], "auth_events": ["$a"]}),
    ]
}

fn random_value(rng: &mut XorShift, depth: usize) -> Value {
    match rng.below(if depth > 3 { 6 } else { 8 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.below(2) == 0),
        2 => json!(rng.next() as i64),
        3 => json!((rng.next() as f64) / 3.0),
        4 => json!(*rng.pick(&["", "@a:b", "!r:b", "$e:b", "m.room.member", "join", "\u{0}"])),
        5 => json!(rng.below(100)),
        6 => Value::Array(
            (0..rng.below(4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let keys = [
                "type",
                "content",
                "membership",
                "state_key",
                "room_id",
                "sender",
                "x",
            ];
            let map: Map<String, Value> = (0..rng.below(4))
                .map(|_| (rng.pick(&keys).to_string(), random_value(rng, depth + 1)))
                .collect();
            Value::Object(map)
        }
    }
}

/// Replaces, removes or adds one field somewhere in the event.
fn mutate(rng: &mut XorShift, value: &mut Value, depth: usize) {
    let Value::Object(map) = value else {
        *value = random_value(rng, depth);
        return;
    };
    let keys: Vec<String> = map.keys().cloned().collect();
    let extra = [
        "type",
        "content",
        "room_id",
        "redacts",
        "event_id",
        "depth",
        "prev_events",
    ];
    match (rng.below(4), keys.is_empty()) {
        (0, false) => {
            map.remove(rng.pick(&keys));
        }
        (1, false) => {
            if let Some(inner) = map.get_mut(rng.pick(&keys)) {
                mutate(rng, inner, depth + 1);
            }
        }
        _ => {
            map.insert(rng.pick(&extra).to_string(), random_value(rng, depth));
        }
    }
}

fn exercise_event(rng: &mut XorShift, event: &Map<String, Value>, key: &SigningKey) {
    let server_name = ServerName::parse("x").unwrap();
    for rules in RoomRules::ALL {
        let _ = check_event_format(&rules, event);
        let redacted = redact(&rules, event);
        assert_eq!(
            redact(&rules, &redacted),
            redacted,
            "redaction is idempotent"
        );
        assert_eq!(
            reference_hash(&rules, &redacted),
            reference_hash(&rules, event)
        );
        let _ = event_id_for(&rules, event);
        let _ = room_id_for_create_event(&rules, event);
        let _ = servers_that_must_sign(&rules, event);
        let content = event
            .get("content")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let kind = event.get("type").and_then(Value::as_str).unwrap_or("");
        let state_key = event.get("state_key").and_then(Value::as_str);
        let sender = UserId::parse("@a:x").unwrap();
        let _ = auth_event_types(&rules, kind, &sender, state_key, &content);
    }
    let _ = check_pdu_size_limits(event);
    let _ = content_hash(event);
    let _ = check_content_hash(event);
    let rules = *rng.pick(&RoomRules::ALL);
    let mut signed = event.clone();
    if sign_event(&rules, &mut signed, &server_name, key).is_ok() {
        let public_key = key.public_key_base64();
        assert_eq!(
            verify_event_signature(&rules, &signed, &server_name, "ed25519:1", &public_key),
            Ok(())
        );
    }
}

fn exercise_bytes(bytes: &[u8]) -> Option<Map<String, Value>> {
    if let Ok(value) = parse_strict(bytes) {
        let encoded = canonical_json::encode(&value).expect("strictly parsed JSON is canonical");
        assert_eq!(parse_strict(encoded.as_bytes()), Ok(value));
    }
    for rules in [RoomRules::V1, RoomRules::V4, RoomRules::V12] {
        if let Ok(pdu) = parse_pdu(&rules, bytes) {
            assert_eq!(pdu.event_id(), event_id_for(&rules, pdu.json()).unwrap());
        }
    }
    let value = parse_lenient(bytes).ok()?;
    let _ = encode_lenient(&value);
    match value {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

#[test]
fn random_bytes_and_mutated_events_never_panic() {
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    let key = SigningKey::from_seed("1", [7; 32]).unwrap();
    for _ in 0..300 {
        let bytes: Vec<u8> = (0..rng.below(64)).map(|_| rng.next() as u8).collect();
        let _ = exercise_bytes(&bytes);
        let text: String = (0..rng.below(24)).map(|_| *rng.pick(JSON_PIECES)).collect();
        let _ = exercise_bytes(text.as_bytes());
    }
    let seeds = seed_events();
    let mut n_objects = 0;
    for round in 0..160 {
        let mut event = rng.pick(&seeds).clone();
        for _ in 0..=rng.below(3) {
            mutate(&mut rng, &mut event, 0);
        }
        let mut text = serde_json::to_string(&event).unwrap().into_bytes();
        if round % 2 == 0 {
            // Byte-level damage on half of the rounds.
            for _ in 0..=rng.below(2) {
                let at = rng.below(text.len());
                let piece = rng.pick(JSON_PIECES).as_bytes();
                match rng.below(3) {
                    0 => text.splice(at..at, piece.iter().copied()).for_each(drop),
                    1 if at < text.len() => drop(text.remove(at)),
                    _ => text.truncate(at.max(1)),
                }
            }
        }
        if let Some(map) = exercise_bytes(&text) {
            n_objects += 1;
            exercise_event(&mut rng, &map, &key);
        }
    }
    assert!(
        n_objects > 60,
        "mutations should mostly keep events parseable: {n_objects}"
    );
}

const ID_PIECES: &[&str] = &[
    "@",
    "!",
    "$",
    "#",
    ":",
    "[",
    "]",
    ".",
    "a",
    "Z",
    "0",
    "9",
    "-",
    "_",
    "+",
    "/",
    "=",
    " ",
    "\u{0}",
    "é",
    "::1",
    "8448",
    "65536",
    "example.org",
    "Nhcu5BS-UMnFX7hBVfVSoXiD7OgH6iRT-xyIuqDnpYQ",
];

#[test]
fn random_identifiers_never_panic_and_round_trip() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for _ in 0..3000 {
        let text: String = (0..rng.below(8)).map(|_| *rng.pick(ID_PIECES)).collect();
        if let Ok(name) = ServerName::parse(&text) {
            assert_eq!(ServerName::parse(name.as_str()).as_ref(), Ok(&name));
            assert!(name.as_str().starts_with(name.host()));
            let _ = (name.port(), name.is_ip_literal());
        }
        if let Ok(user) = UserId::parse(&text) {
            assert_eq!(UserId::parse(user.as_str()).as_ref(), Ok(&user));
            let rebuilt = format!("@{}:{}", user.localpart(), user.server_name());
            assert_eq!(rebuilt, text);
            let _ = (
                user.is_historical(),
                UserId::new_local(user.localpart(), user.server_name()),
            );
        }
        if let Ok(room) = RoomId::parse(&text) {
            assert_eq!(RoomId::parse(room.as_str()).as_ref(), Ok(&room));
            let _ = (room.server_name(), room.create_event_id());
        }
        if let Ok(event) = EventId::parse(&text) {
            assert_eq!(EventId::parse(event.as_str()).as_ref(), Ok(&event));
            let _ = event.server_name();
        }
        if let Ok(alias) = RoomAliasId::parse(&text) {
            assert_eq!(format!("#{}:{}", alias.alias(), alias.server_name()), text);
        }
    }
}
