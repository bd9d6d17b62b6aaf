//! Benchmark (not a test) for inbound federation transactions: how long hearth takes to
//! accept a `PUT /send/{txnId}` of 50 PDUs (bob's messages on a simulated remote server,
//! each following the one before) in a room it shares with that server. The issue's
//! target is under 50 ms per transaction.
//!
//! Run with `cargo run --release --example bench_transaction` (data on the disk of
//! `BENCH_DATA_DIR`, default the system temp folder; a tmpfs shows the cost without fsync).
//! Timed: the endpoint handler from the parsed request to its answer, every PDU through the
//! receive pipeline (format, signature, hashes, auth, state, storage, one flush to disk).
//! Not timed: HTTP parsing and the X-Matrix check of the request (one signature).

#[path = "../tests/support/remote_room.rs"]
mod remote_room;

use std::time::{Duration, Instant};

use hearth::federation::endpoints::transaction;
use remote_room::RemoteRoom;

const PDUS: usize = 50;
const RUNS: usize = 40;

fn main() {
    let base = std::env::var_os("BENCH_DATA_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!("hearth-bench-txn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("bench folder");
    let mut room = RemoteRoom::start(&dir);
    let mut times: Vec<Duration> = Vec::with_capacity(RUNS);
    for run in 0..RUNS {
        let pdus = room.messages(PDUS);
        let request = room.send_request(&format!("bench-{run}"), pdus);
        let started = Instant::now();
        let answer = smol::block_on(transaction::handle(&room.server, request));
        times.push(started.elapsed());
        let body: serde_json::Value = match answer {
            Ok(response) => serde_json::from_slice(&response.body).unwrap_or_default(),
            Err(e) => panic!("transaction refused: {}", e.error),
        };
        let errors = body["pdus"].as_object().map_or(0, |results| {
            results
                .values()
                .filter(|r| r.get("error").is_some())
                .count()
        });
        assert_eq!(errors, 0, "every PDU is accepted: {body}");
    }
    std::fs::remove_dir_all(&dir).ok();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "inbound transaction of {PDUS} PDUs: median {:.1} ms, p90 {:.1} ms, max {:.1} ms ({RUNS} runs, data on {})",
        ms(times[RUNS / 2]),
        ms(times[RUNS * 9 / 10]),
        ms(times[RUNS - 1]),
        base.display()
    );
}
