//! `DestinationQueue`: what to send to one destination and when, as a state machine
//! (STYLE 2.2). Rows go in with `push`, the driver takes transactions out with
//! `poll_transaction(now)`, reports how each went with `handle_response(now, outcome)` and
//! sleeps until `poll_timeout()`. No I/O and no clock: tests drive it with a fake `now`.
//!
//! Rules it keeps (spec: s2s "Transactions"; checklist §2.3 `PUT /send/{txnId}`):
//! - at most 50 PDUs and 100 EDUs per transaction, each kind in queue order;
//! - one transaction in flight: the next one starts only after the destination answered;
//! - a transaction that failed is sent again as it was, with the same transaction ID, so a
//!   destination that did process it before the connection broke answers from its
//!   deduplication cache instead of seeing different content under an ID it knows;
//! - after a failure nothing goes before the backoff ends. The wait comes from the
//!   outbound client's backoff when it recorded one (unreachable, 429), else from the
//!   same `Backoffs` policy kept here for answers the client counts as "up" (5xx, 404);
//! - EDUs are dropped while the next try is more than an hour away, as Synapse does
//!   (synapse/federation/sender/per_destination_queue.py: "we won't retry for another
//!   hour! ... We drop pending EDUs because otherwise they will rack up indefinitely"):
//!   typing and receipts that old are noise. PDUs are never dropped;
//! - catch-up: a destination that shows it is up again (it sent us a signed request, as
//!   Synapse's `reset_retry_timings` takes it) ends the wait at once, and that next
//!   transaction goes even though the client still holds a backoff for it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::federation::client::Backoffs;
use crate::proto::id::ServerName;
use crate::store::outbox::{OutboxItem, OutboxRow};

/// Spec: s2s "Transactions": "A transaction can contain up to 50 PDUs and 100 EDUs".
pub const MAX_PDUS_PER_TRANSACTION: usize = 50;
pub const MAX_EDUS_PER_TRANSACTION: usize = 100;
/// EDUs are dropped while the next try is further away than this.
pub const DROP_EDUS_AFTER: Duration = Duration::from_secs(3600);

/// One transaction to send: the queue rows it carries, by kind, in queue order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txn {
    pub txn_id: String,
    /// (queue_nid, event_id)
    pub pdus: Vec<(i64, String)>,
    /// (queue_nid, EDU JSON text)
    pub edus: Vec<(i64, String)>,
    /// Send it even if the outbound client is backing off from the destination: it has
    /// just shown it is up.
    pub ignore_backoff: bool,
}

impl Txn {
    /// The rows to delete once the transaction is acknowledged.
    pub fn queue_nids(&self) -> Vec<i64> {
        self.pdus
            .iter()
            .map(|(nid, _)| *nid)
            .chain(self.edus.iter().map(|(nid, _)| *nid))
            .collect()
    }

    fn contains(&self, queue_nid: i64) -> bool {
        self.pdus.iter().any(|(nid, _)| *nid == queue_nid)
            || self.edus.iter().any(|(nid, _)| *nid == queue_nid)
    }
}

/// How a transaction went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 200: the destination took it (per-PDU errors in the body are its verdict on each
    /// PDU; sending them again would not change it).
    Accepted,
    /// A definitive refusal of the transaction as a whole (400, 403, 413, …): the same
    /// bytes would be refused again, so they are dropped rather than block the queue.
    Refused,
    /// No answer, or "not now". Kept and sent again; `retry_at` is the end of the outbound
    /// client's backoff for the destination, when it started one.
    Failed { retry_at: Option<Instant> },
}

/// The outcome of an HTTP answer to `PUT /send` (`None` for a failure the client put in
/// backoff: the driver fills in its `retry_at`).
pub fn outcome_of_status(status: u16, client_retry_at: Option<Instant>) -> Outcome {
    match status {
        200..=299 => Outcome::Accepted,
        // 401: the destination could not fetch our key or check the signature yet; 404:
        // no `/send` there (yet); 408 and 429: "later". All may pass: retry.
        401 | 404 | 408 | 429 => Outcome::Failed {
            retry_at: client_retry_at,
        },
        400..=499 => Outcome::Refused,
        _ => Outcome::Failed {
            retry_at: client_retry_at,
        },
    }
}

/// The queue of one destination.
#[derive(Debug)]
pub struct DestinationQueue {
    destination: ServerName,
    /// Makes transaction IDs unique across restarts (the driver passes its start time).
    txn_prefix: String,
    next_txn: u64,
    /// Rows not yet in a transaction, by queue_nid (= enqueue order).
    pending: BTreeMap<i64, OutboxItem>,
    /// Sent, waiting for the answer.
    in_flight: Option<Txn>,
    /// Failed, to be sent again as it is once `retry_at` has passed.
    failed: Option<Txn>,
    retry_at: Option<Instant>,
    /// The backoff for failures the outbound client did not count (the same policy).
    backoffs: Backoffs,
    /// The destination showed it is up since the last transaction went.
    destination_up: bool,
    /// The next try is more than `DROP_EDUS_AFTER` away: EDUs are dropped on arrival.
    dropping_edus: bool,
    /// Rows dropped, for the driver to delete (`poll_dropped`).
    dropped: Vec<i64>,
}

impl DestinationQueue {
    pub fn new(destination: ServerName, txn_prefix: String) -> DestinationQueue {
        DestinationQueue {
            destination,
            txn_prefix,
            next_txn: 1,
            pending: BTreeMap::new(),
            in_flight: None,
            failed: None,
            retry_at: None,
            backoffs: Backoffs::default(),
            destination_up: false,
            dropping_edus: false,
            dropped: Vec::new(),
        }
    }

    pub fn destination(&self) -> &ServerName {
        &self.destination
    }

    /// Queues a row (one read from the outbox at start, or one just enqueued). A row the
    /// queue holds already, waiting or in a transaction, is ignored: start-up loading and
    /// wake-ups may both bring it.
    pub fn push(&mut self, row: OutboxRow) {
        let waiting = [&self.in_flight, &self.failed]
            .into_iter()
            .flatten()
            .any(|txn| txn.contains(row.queue_nid));
        if waiting {
            return;
        }
        match row.item {
            OutboxItem::Edu(_) if self.dropping_edus => self.dropped.push(row.queue_nid),
            item => {
                self.pending.insert(row.queue_nid, item);
            }
        }
    }

    pub fn push_pdu(&mut self, queue_nid: i64, event_id: String) {
        self.push_item(queue_nid, OutboxItem::Pdu(event_id));
    }

    pub fn push_edu(&mut self, queue_nid: i64, edu_json: String) {
        self.push_item(queue_nid, OutboxItem::Edu(edu_json));
    }

    fn push_item(&mut self, queue_nid: i64, item: OutboxItem) {
        self.push(OutboxRow {
            queue_nid,
            destination: self.destination.clone(),
            item,
        });
    }

    /// The next transaction to send now, if any: none while one is in flight or while
    /// backing off. The caller must report its outcome with `handle_response`.
    pub fn poll_transaction(&mut self, now: Instant) -> Option<Txn> {
        if self.in_flight.is_some() {
            return None;
        }
        if let Some(retry_at) = self.retry_at {
            if now < retry_at {
                return None;
            }
            self.retry_at = None;
        }
        let mut txn = match self.failed.take() {
            Some(txn) => txn,
            None => self.next_transaction()?,
        };
        txn.ignore_backoff = std::mem::take(&mut self.destination_up);
        self.in_flight = Some(txn.clone());
        Some(txn)
    }

    /// The destination answered the transaction in flight (or did not): `outcome` says how.
    /// An outcome with nothing in flight is ignored.
    pub fn handle_response(&mut self, now: Instant, outcome: Outcome) {
        let Some(txn) = self.in_flight.take() else {
            return;
        };
        match outcome {
            Outcome::Accepted | Outcome::Refused => {
                self.backoffs.handle_success(&self.destination);
                self.retry_at = None;
                self.dropping_edus = false;
            }
            Outcome::Failed { retry_at } => {
                self.failed = Some(txn);
                self.retry_at = match retry_at {
                    Some(retry_at) if retry_at > now => Some(retry_at),
                    _ => {
                        self.backoffs.handle_failure(&self.destination, now);
                        self.backoffs.poll_blocked(&self.destination, now)
                    }
                };
                let wait = self.retry_at.map(|at| at.saturating_duration_since(now));
                if wait.is_some_and(|wait| wait > DROP_EDUS_AFTER) {
                    self.dropping_edus = true;
                    let edus: Vec<i64> = self
                        .pending
                        .iter()
                        .filter(|(_, item)| matches!(item, OutboxItem::Edu(_)))
                        .map(|(queue_nid, _)| *queue_nid)
                        .collect();
                    for queue_nid in edus {
                        self.pending.remove(&queue_nid);
                        self.dropped.push(queue_nid);
                    }
                }
            }
        }
    }

    /// The destination showed it is up (a signed request from it passed authentication):
    /// any wait ends now, and the next transaction ignores the client's backoff. Cheap
    /// when there is nothing to catch up.
    pub fn handle_destination_up(&mut self) {
        self.dropping_edus = false;
        if self.retry_at.is_some() || self.failed.is_some() {
            self.retry_at = None;
            self.backoffs.handle_success(&self.destination);
            self.destination_up = true;
        }
    }

    /// When `poll_transaction` will next have something, if that depends on time (the end
    /// of a backoff); `None` when idle or waiting for an answer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.in_flight.is_some() || (self.failed.is_none() && self.pending.is_empty()) {
            return None;
        }
        self.retry_at
    }

    /// Rows dropped since the last call (EDUs during a long outage): the caller deletes
    /// them from the outbox.
    pub fn poll_dropped(&mut self) -> Vec<i64> {
        std::mem::take(&mut self.dropped)
    }

    /// Rows waiting, in a failed transaction or not yet in one.
    pub fn backlog(&self) -> usize {
        self.pending.len() + self.failed.as_ref().map_or(0, |txn| txn.queue_nids().len())
    }

    /// Nothing waiting and nothing in flight.
    pub fn is_idle(&self) -> bool {
        self.in_flight.is_none() && self.backlog() == 0
    }

    /// Takes the oldest rows, up to the per-kind limits, out of `pending`.
    fn next_transaction(&mut self) -> Option<Txn> {
        if self.pending.is_empty() {
            return None;
        }
        let (mut pdus, mut edus) = (Vec::new(), Vec::new());
        for (queue_nid, item) in &self.pending {
            match item {
                OutboxItem::Pdu(event_id) if pdus.len() < MAX_PDUS_PER_TRANSACTION => {
                    pdus.push((*queue_nid, event_id.clone()))
                }
                OutboxItem::Edu(edu) if edus.len() < MAX_EDUS_PER_TRANSACTION => {
                    edus.push((*queue_nid, edu.clone()))
                }
                _ => {}
            }
            if pdus.len() == MAX_PDUS_PER_TRANSACTION && edus.len() == MAX_EDUS_PER_TRANSACTION {
                break;
            }
        }
        let txn = Txn {
            txn_id: format!("{}{}", self.txn_prefix, self.next_txn),
            pdus,
            edus,
            ignore_backoff: false,
        };
        self.next_txn += 1;
        for queue_nid in txn.queue_nids() {
            self.pending.remove(&queue_nid);
        }
        Some(txn)
    }
}

#[cfg(test)]
mod tests;
