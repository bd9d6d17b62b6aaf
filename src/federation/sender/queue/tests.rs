//! The queue state machine driven by hand with a fake clock: batching limits, one
//! transaction in flight, backoff and retry with the same ID, ordering, catch-up.

use std::time::{Duration, Instant};

use super::*;
use crate::federation::client::{MAX_RETRY_INTERVAL, MIN_RETRY_INTERVAL};

const MINUTE: Duration = Duration::from_secs(60);

fn queue() -> DestinationQueue {
    DestinationQueue::new(ServerName::parse("remote.test").unwrap(), "boot-".into())
}

fn push_pdus(queue: &mut DestinationQueue, nids: std::ops::Range<i64>) {
    for nid in nids {
        queue.push_pdu(nid, format!("$e{nid}"));
    }
}

fn push_edus(queue: &mut DestinationQueue, nids: std::ops::Range<i64>) {
    for nid in nids {
        queue.push_edu(nid, format!("{{\"n\":{nid}}}"));
    }
}

fn pdu_nids(txn: &Txn) -> Vec<i64> {
    txn.pdus.iter().map(|(nid, _)| *nid).collect()
}

fn edu_nids(txn: &Txn) -> Vec<i64> {
    txn.edus.iter().map(|(nid, _)| *nid).collect()
}

/// Sends and acknowledges transactions until the queue is idle; returns them.
fn drain(queue: &mut DestinationQueue, now: Instant) -> Vec<Txn> {
    let mut sent = Vec::new();
    while let Some(txn) = queue.poll_transaction(now) {
        queue.handle_response(now, Outcome::Accepted);
        sent.push(txn);
    }
    assert!(queue.is_idle());
    sent
}

#[test]
fn transactions_hold_at_most_50_pdus_and_100_edus_each_in_order() {
    let now = Instant::now();
    let mut queue = queue();
    // Interleaved: 120 PDUs (nids 0..120) and 250 EDUs (nids 1000..1250).
    push_pdus(&mut queue, 0..60);
    push_edus(&mut queue, 1000..1250);
    push_pdus(&mut queue, 60..120);
    let sent = drain(&mut queue, now);
    let sizes: Vec<(usize, usize)> = sent.iter().map(|t| (t.pdus.len(), t.edus.len())).collect();
    assert_eq!(sizes, [(50, 100), (50, 100), (20, 50)]);
    let all_pdus: Vec<i64> = sent.iter().flat_map(pdu_nids).collect();
    let all_edus: Vec<i64> = sent.iter().flat_map(edu_nids).collect();
    assert_eq!(all_pdus, (0..120).collect::<Vec<_>>());
    assert_eq!(all_edus, (1000..1250).collect::<Vec<_>>());
    // The PDU content is carried with its row.
    assert_eq!(sent[0].pdus[0], (0, "$e0".to_owned()));
    let ids: Vec<&str> = sent.iter().map(|t| t.txn_id.as_str()).collect();
    assert_eq!(ids, ["boot-1", "boot-2", "boot-3"]);
}

#[test]
fn only_edus_or_only_pdus_make_transactions_too() {
    let now = Instant::now();
    let mut queue = queue();
    push_edus(&mut queue, 0..3);
    let sent = drain(&mut queue, now);
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].pdus.len(), edu_nids(&sent[0])), (0, vec![0, 1, 2]));
    push_pdus(&mut queue, 10..61);
    let sent = drain(&mut queue, now);
    assert_eq!(
        sent.iter().map(|t| t.pdus.len()).collect::<Vec<_>>(),
        [50, 1]
    );
}

#[test]
fn one_transaction_in_flight_at_a_time() {
    let now = Instant::now();
    let mut queue = queue();
    assert_eq!(queue.poll_transaction(now), None, "nothing queued");
    push_pdus(&mut queue, 1..3);
    let first = queue.poll_transaction(now).unwrap();
    assert_eq!(pdu_nids(&first), [1, 2]);
    // More arrives while the first is on its way: it waits for the answer.
    push_pdus(&mut queue, 3..5);
    assert_eq!(queue.poll_transaction(now), None);
    assert_eq!(
        queue.poll_timeout(),
        None,
        "waiting for an answer, not for time"
    );
    assert!(!queue.is_idle());
    queue.handle_response(now, Outcome::Accepted);
    let second = queue.poll_transaction(now).unwrap();
    assert_eq!(pdu_nids(&second), [3, 4]);
    assert_ne!(first.txn_id, second.txn_id);
    queue.handle_response(now, Outcome::Accepted);
    assert!(queue.is_idle());
    assert_eq!(queue.poll_timeout(), None);
}

#[test]
fn a_failed_transaction_is_retried_unchanged_after_the_backoff() {
    let start = Instant::now();
    let mut queue = queue();
    push_pdus(&mut queue, 1..4);
    let first = queue.poll_transaction(start).unwrap();
    push_pdus(&mut queue, 4..6);
    // A 5xx: the client counted the server as up, so the queue's own backoff applies.
    queue.handle_response(start, outcome_of_status(500, None));
    assert_eq!(queue.poll_timeout(), Some(start + MIN_RETRY_INTERVAL));
    assert_eq!(queue.poll_transaction(start + 9 * MINUTE), None);
    assert_eq!(queue.backlog(), 5);
    // At the end of the backoff: the same transaction, same ID, nothing added.
    let mut now = start + MIN_RETRY_INTERVAL;
    let retry = queue.poll_transaction(now).unwrap();
    assert_eq!(retry, first);
    // Each further failure doubles the wait, up to the cap.
    let mut waits = Vec::new();
    for _ in 0..9 {
        queue.handle_response(now, Outcome::Failed { retry_at: None });
        let retry_at = queue.poll_timeout().unwrap();
        waits.push((retry_at - now).as_secs() / 60);
        assert_eq!(queue.poll_transaction(retry_at - MINUTE), None);
        now = retry_at;
        assert_eq!(queue.poll_transaction(now).unwrap(), first);
    }
    assert_eq!(waits, [20, 40, 80, 160, 320, 640, 1280, 1440, 1440]);
    assert_eq!(MAX_RETRY_INTERVAL.as_secs() / 60, 1440);
    // Success: the rest follows at once, and the backoff starts from the bottom again.
    queue.handle_response(now, Outcome::Accepted);
    let next = queue.poll_transaction(now).unwrap();
    assert_eq!(pdu_nids(&next), [4, 5]);
    queue.handle_response(now, Outcome::Failed { retry_at: None });
    assert_eq!(queue.poll_timeout(), Some(now + MIN_RETRY_INTERVAL));
}

#[test]
fn the_clients_backoff_decides_when_it_has_one() {
    let now = Instant::now();
    let mut queue = queue();
    push_pdus(&mut queue, 1..2);
    let txn = queue.poll_transaction(now).unwrap();
    let client_retry_at = now + 3 * MINUTE;
    queue.handle_response(now, outcome_of_status(429, Some(client_retry_at)));
    assert_eq!(queue.poll_timeout(), Some(client_retry_at));
    assert_eq!(queue.poll_transaction(client_retry_at - MINUTE), None);
    assert_eq!(queue.poll_transaction(client_retry_at), Some(txn.clone()));
    // A client backoff already over by the time of the answer does not mean "now":
    // the queue's own backoff applies.
    queue.handle_response(
        now + 4 * MINUTE,
        Outcome::Failed {
            retry_at: Some(now),
        },
    );
    assert_eq!(
        queue.poll_timeout(),
        Some(now + 4 * MINUTE + MIN_RETRY_INTERVAL)
    );
}

#[test]
fn a_refused_transaction_is_dropped_and_the_queue_moves_on() {
    let now = Instant::now();
    let mut queue = queue();
    push_pdus(&mut queue, 1..3);
    queue.poll_transaction(now).unwrap();
    push_pdus(&mut queue, 3..4);
    queue.handle_response(now, outcome_of_status(400, None));
    assert_eq!(
        queue.poll_timeout(),
        None,
        "no backoff: the server answered"
    );
    let next = queue.poll_transaction(now).unwrap();
    assert_eq!(pdu_nids(&next), [3]);
}

#[test]
fn status_codes_map_to_outcomes() {
    let at = Some(Instant::now());
    let check = |status: u16, expected: Outcome| {
        assert_eq!(outcome_of_status(status, at), expected, "status {status}");
    };
    let failed = Outcome::Failed { retry_at: at };
    check(200, Outcome::Accepted);
    check(400, Outcome::Refused);
    check(403, Outcome::Refused);
    check(413, Outcome::Refused);
    check(401, failed);
    check(404, failed);
    check(408, failed);
    check(429, failed);
    check(500, failed);
    check(502, failed);
    check(503, failed);
    check(302, failed);
}

#[test]
fn rows_go_out_in_queue_order_whatever_order_they_arrive_in_and_only_once() {
    let now = Instant::now();
    let mut queue = queue();
    // Wake-ups of concurrent writers can arrive out of commit order.
    for nid in [5, 3, 9, 1] {
        queue.push_pdu(nid, format!("$e{nid}"));
    }
    // Start-up loading and a wake-up can bring the same row twice.
    queue.push_pdu(3, "$e3".into());
    let txn = queue.poll_transaction(now).unwrap();
    assert_eq!(pdu_nids(&txn), [1, 3, 5, 9]);
    // Rows of the transaction in flight, or of a failed one, are not queued again.
    queue.push_pdu(5, "$e5".into());
    queue.handle_response(now, Outcome::Failed { retry_at: None });
    queue.push_pdu(9, "$e9".into());
    assert_eq!(queue.backlog(), 4);
    let later = now + MIN_RETRY_INTERVAL;
    assert_eq!(queue.poll_transaction(later), Some(txn));
    queue.handle_response(later, Outcome::Accepted);
    assert!(queue.is_idle());
}

#[test]
fn catch_up_delivers_everything_queued_during_an_outage_in_order() {
    let start = Instant::now();
    let mut queue = queue();
    let mut now = start;
    let mut next_nid = 0;
    let mut delivered: Vec<i64> = Vec::new();
    // The destination is down for three attempts (waits of 10, 20 and 40 minutes: EDUs
    // are kept); before each attempt 80 PDUs and 60 EDUs arrive.
    for _ in 0..3 {
        push_pdus(&mut queue, next_nid..next_nid + 80);
        push_edus(&mut queue, next_nid + 80..next_nid + 140);
        next_nid += 140;
        match queue.poll_transaction(now) {
            Some(_) => queue.handle_response(now, Outcome::Failed { retry_at: None }),
            None => panic!("a retry is due at {now:?}"),
        }
        now = queue.poll_timeout().unwrap();
    }
    // It comes back: the failed transaction first, then the backlog in full batches.
    let sent = drain(&mut queue, now);
    assert_eq!(sent[0].txn_id, "boot-1");
    for txn in &sent {
        assert!(txn.pdus.len() <= MAX_PDUS_PER_TRANSACTION);
        assert!(txn.edus.len() <= MAX_EDUS_PER_TRANSACTION);
        delivered.extend(txn.queue_nids());
    }
    let pdus: Vec<i64> = sent.iter().flat_map(pdu_nids).collect();
    assert!(pdus.windows(2).all(|w| w[0] < w[1]), "PDUs in order");
    delivered.sort();
    assert_eq!(delivered, (0..next_nid).collect::<Vec<_>>(), "all, once");
    // The retried transaction held the first 50 PDUs and 60 EDUs; the other 190 PDUs and
    // 120 EDUs fill four more.
    let sizes: Vec<(usize, usize)> = sent.iter().map(|t| (t.pdus.len(), t.edus.len())).collect();
    assert_eq!(sizes, [(50, 60), (50, 100), (50, 20), (50, 0), (40, 0)]);
    assert_eq!(queue.poll_dropped(), Vec::<i64>::new());
}

#[test]
fn an_answer_with_nothing_in_flight_changes_nothing() {
    let now = Instant::now();
    let mut queue = queue();
    queue.handle_response(now, Outcome::Failed { retry_at: None });
    assert_eq!(queue.poll_timeout(), None);
    push_pdus(&mut queue, 1..2);
    assert!(
        queue.poll_transaction(now).is_some(),
        "no backoff was started"
    );
}

#[test]
fn a_destination_that_shows_it_is_up_ends_the_wait_at_once() {
    let now = Instant::now();
    let mut queue = queue();
    // Nothing to catch up: the hint changes nothing.
    queue.handle_destination_up();
    push_pdus(&mut queue, 1..3);
    let first = queue.poll_transaction(now).unwrap();
    assert!(!first.ignore_backoff);
    // Unreachable: the client backs off for 10 minutes; more arrives meanwhile.
    let client_retry_at = now + MIN_RETRY_INTERVAL;
    queue.handle_response(
        now,
        Outcome::Failed {
            retry_at: Some(client_retry_at),
        },
    );
    push_pdus(&mut queue, 3..4);
    let later = now + MINUTE;
    assert_eq!(queue.poll_transaction(later), None);
    // It sends us a signed request: the same transaction goes now, past the client's
    // backoff, and then the rest as usual.
    queue.handle_destination_up();
    assert_eq!(queue.poll_timeout(), None, "no wait left");
    let retry = queue.poll_transaction(later).unwrap();
    assert_eq!(
        (retry.txn_id.as_str(), pdu_nids(&retry)),
        (first.txn_id.as_str(), vec![1, 2])
    );
    assert!(retry.ignore_backoff);
    queue.handle_response(later, Outcome::Accepted);
    let next = queue.poll_transaction(later).unwrap();
    assert_eq!(pdu_nids(&next), [3]);
    assert!(!next.ignore_backoff, "only the first one after the hint");
    // The queue's own backoff starts from the bottom again too.
    queue.handle_response(later, Outcome::Failed { retry_at: None });
    assert_eq!(queue.poll_timeout(), Some(later + MIN_RETRY_INTERVAL));
}

#[test]
fn edus_are_dropped_while_the_next_try_is_more_than_an_hour_away() {
    let mut now = Instant::now();
    let mut queue = queue();
    push_pdus(&mut queue, 1..2);
    push_edus(&mut queue, 2..3);
    let txn = queue.poll_transaction(now).unwrap();
    push_edus(&mut queue, 10..13);
    push_pdus(&mut queue, 13..14);
    // Waits of 10, 20 and 40 minutes keep the EDUs.
    for _ in 0..3 {
        queue.handle_response(now, Outcome::Failed { retry_at: None });
        assert_eq!(queue.poll_dropped(), Vec::<i64>::new());
        now = queue.poll_timeout().unwrap();
        assert_eq!(queue.poll_transaction(now), Some(txn.clone()));
    }
    // 80 minutes: the waiting EDUs go, not those of the failed transaction (it is
    // retried unchanged), and never a PDU; EDUs arriving meanwhile go at once.
    queue.handle_response(now, Outcome::Failed { retry_at: None });
    assert!(queue.poll_timeout().unwrap() - now > DROP_EDUS_AFTER);
    assert_eq!(queue.poll_dropped(), [10, 11, 12]);
    push_edus(&mut queue, 20..21);
    push_pdus(&mut queue, 21..22);
    assert_eq!(queue.poll_dropped(), [20]);
    assert_eq!(queue.poll_dropped(), Vec::<i64>::new(), "reported once");
    now = queue.poll_timeout().unwrap();
    assert_eq!(queue.poll_transaction(now), Some(txn));
    queue.handle_response(now, Outcome::Accepted);
    // Up again: EDUs queue as usual.
    push_edus(&mut queue, 30..31);
    let next = queue.poll_transaction(now).unwrap();
    assert_eq!((pdu_nids(&next), edu_nids(&next)), (vec![13, 21], vec![30]));
    assert_eq!(queue.poll_dropped(), Vec::<i64>::new());
}
