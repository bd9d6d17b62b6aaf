//! Real events from Synapse, checked with hearth's protocol core.
//!
//! The fixture rooms in `tests/fixtures/synapse/` (room versions 1, 6, 9, 10, 11, 12) were
//! made by `make_fixtures.sh`: two federating Synapse 1.163.2 servers on loopback playing
//! joins (local and over federation), power-level changes, topic and name changes, a kick,
//! a ban and unban, redactions of a message and of a state event, an invite and its
//! rejection, a knock (v7+) then invite and join, a restricted join over federation (v8+),
//! and concurrent sends that fork the room DAG, some of them conflicting across the two
//! servers; plus one event forged with the second server's key that fails the auth rules,
//! which Synapse rejected. The format is described at the top of `make_fixtures.py`. For every room these tests check that hearth
//! - finds every event well-formed for its room version;
//! - recomputes every event ID, content hash and (v1) reference hash, and verifies every
//!   signature with the keys the servers published (and catches tampered copies);
//! - redacts each redacted event exactly as Synapse does;
//! - passes every event Synapse accepted, and no event it rejected, through the auth rules
//!   against the event's auth events;
//! - computes, by applying events in stream order and resolving the forks, Synapse's state
//!   after each merge event and the room's current state on both servers (`state.rs`).

mod fixture;
mod state;

use std::collections::HashMap;

use hearth::proto::auth;
use hearth::proto::canonical_json::check_pdu_size_limits;
use hearth::proto::event_format::check_event_format;
use hearth::proto::hashes::{
    HashError, check_content_hash, event_id_for, reference_hash, room_id_for_create_event,
    servers_that_must_sign, verify_event_signature,
};
use hearth::proto::id::ServerName;
use hearth::proto::pdu::Pdu;
use hearth::proto::redaction::redact;
use hearth::proto::room_version::{EventIdFormat, RoomRules};
use hearth::proto::signing::{VerifyError, encode_base64};
use serde_json::{Map, Value};

use fixture::{ROOMS, Room, server_keys};

#[test]
fn event_ids_hashes_and_signatures() {
    let keys = server_keys();
    for room in ROOMS.map(Room::load) {
        for event in &room.events {
            let json = event.original.json();
            let id = event.original.event_id();
            let at = format!("{} {id}", room.name);
            assert_eq!(
                check_event_format(&room.rules, json),
                Ok(()),
                "{at}: format"
            );
            assert!(check_pdu_size_limits(json).is_ok(), "{at}: size limits");
            assert_eq!(
                event_id_for(&room.rules, json).as_deref(),
                Ok(id),
                "{at}: event ID"
            );
            assert_eq!(check_content_hash(json), Ok(()), "{at}: content hash");
            // Every signature on the event verifies, over the redacted form too (which is
            // what it covers), and every server that must sign did.
            let signatures = json["signatures"].as_object().expect("event is signed");
            let must_sign = servers_that_must_sign(&room.rules, json).expect("sender parses");
            assert!(!must_sign.is_empty(), "{at}: no server must sign");
            for server in &must_sign {
                assert!(
                    signatures.contains_key(server.as_str()),
                    "{at}: unsigned by {server}"
                );
            }
            let redacted = redact(&room.rules, json);
            for (signer, by_key) in signatures {
                let server = ServerName::parse(signer).expect("signer is a server name");
                let known = keys.get(signer).expect("fixture has the signer's keys");
                for key_id in by_key.as_object().expect("signatures by key").keys() {
                    let (_, public_key) = known.iter().find(|(id, _)| id == key_id).expect("key");
                    for form in [json, &redacted] {
                        let verdict =
                            verify_event_signature(&room.rules, form, &server, key_id, public_key);
                        assert_eq!(verdict, Ok(()), "{at}: signature of {signer}");
                    }
                    assert_tampering_is_caught(&room.rules, json, &server, key_id, public_key, &at);
                }
            }
            if let Some(synapse_redacted) = &event.synapse_redacted {
                // Synapse keeps `unsigned.age_ts` and `replaces_state` for itself; hearth
                // drops `unsigned` as the spec's redaction algorithm says.
                let mut expected = synapse_redacted.clone();
                expected.remove("unsigned");
                assert_eq!(redact(&room.rules, json), expected, "{at}: redacted form");
                // The event ID covers the redacted form too: redaction keeps it.
                let redacted_id = event_id_for(&room.rules, synapse_redacted);
                assert_eq!(redacted_id.as_deref(), Ok(id), "{at}: ID after redaction");
                assert_eq!(
                    check_content_hash(synapse_redacted),
                    Err(HashError::ContentHashMismatch),
                    "{at}: a redacted event no longer matches its content hash"
                );
            }
        }
        // From v8, yan's restricted join over federation is signed by both servers.
        let n_multi_signed = room
            .events
            .iter()
            .filter(|event| {
                event.original.json()["signatures"]
                    .as_object()
                    .map(Map::len)
                    > Some(1)
            })
            .count();
        let expected = usize::from(room.rules.restricted_join_rule);
        assert_eq!(
            n_multi_signed, expected,
            "{}: events signed twice",
            room.name
        );
        if room.rules.event_id_format == EventIdFormat::Explicit {
            assert_v1_reference_hashes(&room);
        }
        if room.rules.room_id_is_create_event_hash {
            let create = room.events.first().expect("room has events");
            let room_id = room_id_for_create_event(&room.rules, create.original.json());
            assert_eq!(
                room_id.as_deref(),
                Ok(room.room_id.as_str()),
                "{}: room ID",
                room.name
            );
        }
    }
}

/// In v1–2, `prev_events` and `auth_events` entries are `[event_id, {"sha256": reference
/// hash}]`. Synapse fills the hash for most references (not for the events it creates in
/// one batch with `/createRoom`); each one given must be the referenced event's reference hash.
fn assert_v1_reference_hashes(room: &Room) {
    let by_id: HashMap<&str, &Pdu> = room
        .events
        .iter()
        .map(|event| (event.original.event_id(), &event.original))
        .collect();
    let mut n_checked = 0;
    for event in &room.events {
        let json = event.original.json();
        let references = ["prev_events", "auth_events"]
            .iter()
            .filter_map(|field| json.get(*field).and_then(Value::as_array))
            .flatten();
        for reference in references {
            let id = reference[0].as_str().expect("referenced ID");
            let Some(hash) = reference[1].get("sha256").and_then(Value::as_str) else {
                continue;
            };
            let referenced = by_id.get(id).expect("referenced event is in the fixture");
            let computed = encode_base64(&reference_hash(&room.rules, referenced.json()));
            assert_eq!(computed, hash, "{} {id}: reference hash", room.name);
            n_checked += 1;
        }
    }
    assert!(
        n_checked > 20,
        "{}: only {n_checked} reference hashes",
        room.name
    );
}

/// A changed timestamp must change the event ID (v3+) and break the signature; a changed
/// content must break the content hash.
fn assert_tampering_is_caught(
    rules: &RoomRules,
    json: &Map<String, Value>,
    server: &ServerName,
    key_id: &str,
    public_key: &str,
    at: &str,
) {
    let mut tampered = json.clone();
    let ts = tampered
        .get("origin_server_ts")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    tampered.insert("origin_server_ts".into(), Value::from(ts + 1));
    let verdict = verify_event_signature(rules, &tampered, server, key_id, public_key);
    assert_eq!(
        verdict,
        Err(VerifyError::BadSignature),
        "{at}: tampered ts verified"
    );
    if rules.event_id_format != EventIdFormat::Explicit {
        assert_ne!(
            event_id_for(rules, &tampered),
            event_id_for(rules, json),
            "{at}: same ID"
        );
    }
    let mut tampered = json.clone();
    if let Some(Value::Object(content)) = tampered.get_mut("content") {
        content.insert("tampered".into(), Value::Bool(true));
    }
    let verdict = check_content_hash(&tampered);
    assert_eq!(
        verdict,
        Err(HashError::ContentHashMismatch),
        "{at}: tampered content hashed"
    );
}

#[test]
fn auth_rules_accept_what_synapse_accepted() {
    for room in ROOMS.map(Room::load) {
        let served = room.served_events();
        let create = room
            .events
            .first()
            .expect("room has events")
            .original
            .clone();
        let mut n_denied_without_state = 0;
        for event in &room.events {
            let pdu = &event.original;
            let at = format!("{} {} ({})", room.name, pdu.event_id(), pdu.kind());
            let auth_events: Vec<&Pdu> = pdu
                .auth_event_ids()
                .into_iter()
                .map(|id| served.get(id).expect("auth event is in the fixture"))
                .collect();
            let selection = auth::check_auth_events(&room.rules, pdu, &auth_events);
            let verdict = auth::check(&room.rules, pdu, |kind, state_key| {
                lookup(&auth_events, &create, kind, state_key)
            });
            let accepted = selection.is_ok() && verdict.is_ok();
            assert_eq!(accepted, !event.rejected, "{at}: {selection:?} {verdict:?}");
            // Negative control: with no state but the create event, only the create event
            // and the creator's first join are allowed.
            let bare = auth::check(&room.rules, pdu, |kind, state_key| {
                lookup(&[], &create, kind, state_key)
            });
            if bare.is_err() {
                n_denied_without_state += 1;
            }
        }
        // Synapse rejected zoe's forged raise of her own power level (see `Forger` in
        // make_fixtures.py); the loop above required hearth to reject it too.
        let n_rejected = room.events.iter().filter(|event| event.rejected).count();
        assert_eq!(
            n_rejected, 1,
            "{}: the fixture has one rejected event",
            room.name
        );
        assert_eq!(
            n_denied_without_state,
            room.events.len() - 2,
            "{}",
            room.name
        );
        // Synapse soft-failed zoe's rename: it passed against its auth events but not
        // against the state where alice's concurrent demotion of zoe had won.
        let final_state: HashMap<(String, String), &Pdu> = room
            .state
            .iter()
            .map(|(key, id)| {
                (
                    key.clone(),
                    served.get(id.as_str()).expect("state event known"),
                )
            })
            .collect();
        let mut n_soft_failed = 0;
        for event in room.events.iter().filter(|event| event.soft_failed) {
            n_soft_failed += 1;
            let verdict = auth::check(&room.rules, &event.original, |kind, state_key| {
                final_state
                    .get(&(kind.to_owned(), state_key.to_owned()))
                    .copied()
            });
            assert!(verdict.is_err(), "{}: soft-failed event passes", room.name);
        }
        assert_eq!(
            n_soft_failed, 1,
            "{}: the fixture has one soft-failed event",
            room.name
        );
    }
}

/// The auth state made of `auth_events`. In v12 the create event is not listed but is
/// implied by the room ID, and `auth::check` asks for it in every version.
fn lookup<'a>(auth_events: &[&'a Pdu], create: &'a Pdu, kind: &str, key: &str) -> Option<&'a Pdu> {
    if kind == "m.room.create" && key.is_empty() {
        return Some(create);
    }
    auth_events
        .iter()
        .find(|event| event.kind() == kind && event.state_key() == Some(key))
        .copied()
}
