//! Benchmark (not a test): how many events per second the protocol core checks the way
//! the receive pipeline does — content hash, then the signature over the redacted event in
//! canonical JSON — and how fast it encodes canonical JSON alone.
//!
//! Run with `cargo run --release --example bench_verify`.

use std::time::Instant;

use hearth::proto::canonical_json::encode;
use hearth::proto::hashes::{check_content_hash, hash_and_sign_event, verify_event_signature};
use hearth::proto::id::ServerName;
use hearth::proto::room_version::RoomRules;
use hearth::proto::signing::SigningKey;
use serde_json::{Map, Value, json};

const N_EVENTS: usize = 20_000;

fn main() {
    let rules = RoomRules::V11;
    let server_name = ServerName::parse("example.com").unwrap();
    let key = SigningKey::from_seed("a_1", [7; 32]).unwrap();
    let events: Vec<Map<String, Value>> = (0..N_EVENTS)
        .map(|index| {
            let mut event = json!({
                "room_id": "!room:example.com",
                "sender": format!("@user{}:example.com", index % 100),
                "type": "m.room.message",
                "content": {"msgtype": "m.text", "body": format!("message number {index} with some text in it")},
                "origin_server_ts": 1_700_000_000_000_i64 + index as i64,
                "depth": index as i64 + 10,
                "prev_events": [format!("$prev{index}")],
                "auth_events": ["$create", "$power", format!("$member{}", index % 100)],
            })
            .as_object()
            .unwrap()
            .clone();
            hash_and_sign_event(&rules, &mut event, &server_name, &key).unwrap();
            event
        })
        .collect();
    let public_key = key.public_key_base64();

    let started = Instant::now();
    let mut bytes = 0;
    for event in &events {
        bytes += encode(&Value::Object(event.clone())).unwrap().len();
    }
    let encode_time = started.elapsed();

    let started = Instant::now();
    for event in &events {
        check_content_hash(event).unwrap();
        verify_event_signature(&rules, event, &server_name, "ed25519:a_1", &public_key).unwrap();
    }
    let verify_time = started.elapsed();

    println!(
        "canonical JSON: {N_EVENTS} events ({} bytes each on average) in {:.1} ms: {:.0} events/s",
        bytes / N_EVENTS,
        encode_time.as_secs_f64() * 1000.0,
        N_EVENTS as f64 / encode_time.as_secs_f64()
    );
    println!(
        "content hash + signature check: {N_EVENTS} events in {:.1} ms: {:.0} events/s on one core",
        verify_time.as_secs_f64() * 1000.0,
        N_EVENTS as f64 / verify_time.as_secs_f64()
    );
}
