//! Benchmark (not a test): the CPU a 10,000-member join costs hearth once the answer is in,
//! phase by phase, without the network or a lab: the room `benches/bigjoin.sh` generates
//! (its cache file), read as a `send_join` answer, checked (`join_answer`) and stored
//! (`ingest`, overlapped with the checks as a join does; BENCH_SERIAL=1: one after the
//! other) into a fresh database. Prints wall and process CPU time of each phase, so a
//! busy machine (wall time stretched) still shows what a change saved.
//!
//!   cargo run --release --example bench_join -- target/bigjoin-cache/big.test-10000.json
//!
//! The signing key is read beside the room (`big.test.key`: the seed of `ed25519:big1`).

use std::time::Instant;

use hearth::proto::id::ServerName;
use hearth::proto::pdu::Pdu;
use hearth::proto::room_version::RoomRules;
use hearth::proto::signing::SigningKey;
use hearth::rooms::ingest::ingest_send_join;
use hearth::rooms::join_answer::{SendJoinAnswer, check_channel};
use hearth::store::Store;
use serde_json::Value;

/// User + system CPU seconds of this process so far (Linux).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn phase(name: &str, started: (Instant, f64)) -> (Instant, f64) {
    let now = (Instant::now(), cpu_seconds());
    println!(
        "{name:>22}: {:6.0} ms wall, {:6.0} ms CPU",
        (now.0 - started.0).as_secs_f64() * 1000.0,
        (now.1 - started.1) * 1000.0
    );
    now
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: bench_join <bigjoin-cache/big.test-N.json>");
    let room: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let room_id = room["room_id"].as_str().unwrap().to_owned();
    let room_id_text = room_id.clone();
    let mut events = room["events"].as_array().unwrap().clone();
    // The last member event plays our join; the rest is the answer's state.
    let join = events.pop().unwrap();
    let join_id = room["ids"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .as_str()
        .unwrap();
    let join = Pdu::new(join_id.to_owned(), join.as_object().unwrap().clone());
    let body = serde_json::to_vec(&serde_json::json!({"auth_chain": [], "state": events})).unwrap();
    drop(events);
    let key_path = std::path::Path::new(&path).with_file_name("big.test.key");
    let seed = std::fs::read_to_string(key_path).unwrap();
    let key = SigningKey::parse_key_file(&format!("ed25519 big1 {}", seed.trim())).unwrap();
    let public_key = key.public_key_base64();
    let rules = RoomRules::for_version("10").unwrap();
    let dir = std::env::temp_dir().join(format!("hearth-bench-join-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::open(&dir.join("hearth.db")).unwrap();
    println!("{} bytes of answer", body.len());

    let mut at = (Instant::now(), cpu_seconds());
    let answer = SendJoinAnswer::parse(&body).unwrap();
    let mut survey = answer.survey(&rules);
    let wanted = std::mem::take(&mut survey.wanted);
    assert_eq!(wanted.len(), 1, "one signing key: {wanted:?}");
    at = phase("parse + survey", at);
    let lookup = |name: &ServerName, key_id: &str| {
        (name.as_str() == "big.test" && key_id == "ed25519:big1").then(|| public_key.clone())
    };
    let (checked, checker) = check_channel(survey);
    let serial = std::env::var_os("BENCH_SERIAL").is_some();
    let store_join = move || {
        smol::block_on(store.write(move |transaction| {
            Ok(ingest_send_join(
                transaction,
                &rules,
                &room_id,
                checked,
                join,
            ))
        }))
        .unwrap()
        .unwrap_or_else(|e| panic!("ingest: {e:?}"))
    };
    let joined = if serial {
        // As before the overlap: every check, then the writer.
        checker.run(&rules, &room_id_text, &answer, &lookup);
        at = phase("check (every core)", at);
        store_join()
    } else {
        std::thread::scope(|scope| {
            scope.spawn(|| checker.run(&rules, &room_id_text, &answer, &lookup));
            store_join()
        })
    };
    assert_eq!(joined.left_out, 0);
    let count = joined.events;
    phase(
        if serial {
            "store (writer)"
        } else {
            "check + store"
        },
        at,
    );
    println!("{count} events");
    let _ = std::fs::remove_dir_all(&dir);
}
