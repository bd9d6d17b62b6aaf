//! The sender's driver (STYLE 2.2): smol glue around `DestinationQueue`. `run` starts one
//! task per destination (at start for each destination with rows in the outbox, later on
//! its first wake) and routes wakes to it; each task loads its rows, then loops: send what
//! the queue polls, report the answer, sleep until the next wake or `poll_timeout`.
//! All decisions (batching, in flight, backoff) are the queue's.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use smol::{Executor, Timer, channel, future};

use super::Wake;
use super::queue::{DestinationQueue, Outcome, Txn, outcome_of_status};
use crate::api::Method;
use crate::federation::client::Outgoing;
use crate::proto::id::ServerName;
use crate::rooms::remote::federation_pdu;
use crate::server::{Server, now_ms};
use crate::store::events;
use crate::store::outbox::{self, OutboxRow};

/// Rows read from the outbox per query when a destination's task starts.
const LOAD_PAGE: usize = 1000;

/// Runs the sender until the server goes away. Spawn it once, after the server is built.
pub async fn run(server: Arc<Server>, executor: Arc<Executor<'static>>) {
    let Some(wakes) = server.federation.sender.take_inbox() else {
        crate::error!("federation sender: started twice");
        return;
    };
    // Transaction IDs must not repeat across restarts: they start with the start time.
    let txn_prefix = format!("{}-", now_ms());
    let mut tasks: HashMap<ServerName, channel::Sender<Wake>> = HashMap::new();
    let start = |destination: &ServerName| {
        let (wake, inbox) = channel::unbounded();
        let task = drive(
            server.clone(),
            destination.clone(),
            txn_prefix.clone(),
            inbox,
        );
        executor.spawn(task).detach();
        wake
    };
    match server.store.read(outbox::destinations).await {
        Ok(destinations) => {
            for destination in destinations {
                let wake = start(&destination);
                tasks.insert(destination, wake);
            }
        }
        Err(e) => crate::error!("federation sender: reading the outbox: {e}"),
    }
    while let Ok(wake) = wakes.recv().await {
        let rows = match wake {
            Wake::Rows(rows) => rows,
            // Only a destination with a task can have anything to catch up.
            Wake::DestinationUp(origin) => {
                if let Some(task) = tasks.get(&origin) {
                    let _ = task.try_send(Wake::DestinationUp(origin));
                }
                continue;
            }
        };
        let mut by_destination: HashMap<ServerName, Vec<OutboxRow>> = HashMap::new();
        for row in rows {
            by_destination
                .entry(row.destination.clone())
                .or_default()
                .push(row);
        }
        for (destination, rows) in by_destination {
            let wake = tasks
                .entry(destination)
                .or_insert_with_key(|destination| start(destination));
            let _ = wake.try_send(Wake::Rows(rows));
        }
    }
}

/// The task of one destination.
async fn drive(
    server: Arc<Server>,
    destination: ServerName,
    txn_prefix: String,
    inbox: channel::Receiver<Wake>,
) {
    let mut queue = DestinationQueue::new(destination.clone(), txn_prefix);
    load(&server, &mut queue).await;
    loop {
        while let Ok(wake) = inbox.try_recv() {
            handle_wake(&mut queue, wake);
        }
        let dropped = queue.poll_dropped();
        if !dropped.is_empty() {
            crate::info!(
                "federation sender: {destination} is down for long: dropping {} EDUs",
                dropped.len()
            );
            delete(&server, &destination, dropped).await;
        }
        if let Some(txn) = queue.poll_transaction(Instant::now()) {
            let outcome = send(&server, &destination, &txn).await;
            if matches!(outcome, Outcome::Accepted | Outcome::Refused) {
                delete(&server, &destination, txn.queue_nids()).await;
            }
            queue.handle_response(Instant::now(), outcome);
            continue;
        }
        let woken = match queue.poll_timeout() {
            Some(at) => {
                let timer = async {
                    Timer::at(at).await;
                    Some(Wake::Rows(Vec::new()))
                };
                future::or(async { inbox.recv().await.ok() }, timer).await
            }
            None => inbox.recv().await.ok(),
        };
        match woken {
            Some(wake) => handle_wake(&mut queue, wake),
            // `run` is gone: the server is shutting down.
            None => return,
        }
    }
}

fn handle_wake(queue: &mut DestinationQueue, wake: Wake) {
    match wake {
        Wake::Rows(rows) => rows.into_iter().for_each(|row| queue.push(row)),
        Wake::DestinationUp(_) => queue.handle_destination_up(),
    }
}

/// Deletes rows that were sent (or dropped) from the outbox.
async fn delete(server: &Server, destination: &ServerName, queue_nids: Vec<i64>) {
    let name = destination.clone();
    let deleted = server
        .store
        .write(move |t| outbox::delete_sent(t, &name, &queue_nids))
        .await;
    // The rows stay and go again after a restart: PDUs are deduplicated by the
    // destination, so that only costs a resend.
    if let Err(e) = deleted {
        crate::error!("federation sender: {destination}: deleting sent rows: {e}");
    }
}

/// Loads every row queued for the destination (catch-up after a restart).
async fn load(server: &Server, queue: &mut DestinationQueue) {
    let mut after_nid = 0;
    loop {
        let destination = queue.destination().clone();
        let page = server
            .store
            .read(move |c| outbox::next_batch(c, &destination, after_nid, LOAD_PAGE))
            .await;
        match page {
            Ok(rows) if rows.is_empty() => return,
            Ok(rows) => {
                after_nid = rows.last().map_or(after_nid, |row| row.queue_nid);
                rows.into_iter().for_each(|row| queue.push(row));
            }
            Err(e) => {
                crate::error!("federation sender: {}: {e}", queue.destination());
                return;
            }
        }
    }
}

/// Sends `txn` and says how it went.
async fn send(server: &Server, destination: &ServerName, txn: &Txn) -> Outcome {
    let body = match transaction_body(server, txn).await {
        Ok(body) => body,
        Err(e) => {
            crate::error!("federation sender: {destination}: reading events: {e}");
            return Outcome::Failed { retry_at: None };
        }
    };
    let path = format!("/_matrix/federation/v1/send/{}", txn.txn_id);
    let outgoing = Outgoing {
        method: Method::Put,
        path_and_query: &path,
        body: Some(&body),
        sign: true,
        ignore_backoff: txn.ignore_backoff,
    };
    let answer = server.federation.client.send(destination, &outgoing).await;
    // The client's backoff, when this failure started or continued one.
    let client_retry_at = server
        .federation
        .client
        .backoff(destination)
        .map(|backoff| backoff.retry_at());
    let (n_pdus, n_edus, txn_id) = (txn.pdus.len(), txn.edus.len(), &txn.txn_id);
    match answer {
        Ok((status, response)) => {
            let outcome = outcome_of_status(status, client_retry_at);
            match outcome {
                Outcome::Accepted => {
                    crate::debug!(
                        "federation sender: {destination} took txn {txn_id} ({n_pdus} PDUs, {n_edus} EDUs)"
                    );
                    // Spec: s2s `PUT /send`: the destination's verdict per PDU; a
                    // rejected PDU is not sent again.
                    if let Some(results) = response.get("pdus").and_then(Value::as_object) {
                        for (event_id, result) in results {
                            if let Some(error) = result.get("error") {
                                crate::info!(
                                    "federation sender: {destination} rejected {event_id}: {error}"
                                );
                            }
                        }
                    }
                }
                Outcome::Refused => crate::warn!(
                    "federation sender: {destination} refused txn {txn_id} with {status} {}; dropping its {n_pdus} PDUs and {n_edus} EDUs",
                    response
                        .get("errcode")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                ),
                Outcome::Failed { .. } => crate::warn!(
                    "federation sender: {destination} answered {status} to txn {txn_id}; will retry"
                ),
            }
            outcome
        }
        Err(e) => {
            crate::warn!("federation sender: txn {txn_id}: {e}; will retry");
            Outcome::Failed {
                retry_at: client_retry_at,
            }
        }
    }
}

/// `{origin, origin_server_ts, pdus, edus}` with each PDU as stored, in its federation form.
async fn transaction_body(server: &Server, txn: &Txn) -> Result<Value, crate::store::StoreError> {
    let event_ids: Vec<String> = txn.pdus.iter().map(|(_, id)| id.clone()).collect();
    let pdus = server
        .store
        .read(move |connection| {
            let mut pdus = Vec::with_capacity(event_ids.len());
            for event_id in &event_ids {
                match events::event_by_id(connection, event_id)?.map(|e| federation_pdu(&e)) {
                    Some(Ok(pdu)) => pdus.push(pdu),
                    // Queued events are stored first in the same job: neither can happen
                    // short of a damaged database; the rest of the transaction still goes.
                    Some(Err(e)) => crate::error!("federation sender: {event_id}: {e}"),
                    None => crate::error!("federation sender: {event_id} is not stored"),
                }
            }
            Ok(pdus)
        })
        .await?;
    let edus: Vec<Value> = txn
        .edus
        .iter()
        .filter_map(|(_, edu)| serde_json::from_str(edu).ok())
        .collect();
    Ok(json!({
        "origin": server.name.as_str(),
        "origin_server_ts": now_ms(),
        "pdus": pdus,
        "edus": edus,
    }))
}
