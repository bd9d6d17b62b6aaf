//! `PUT /_matrix/federation/v1/send/{txnId}`: a transaction of PDUs and EDUs from another
//! server. One at a time per origin (`federation::in_flight`: another gets 429), and
//! deduplicated per origin; each PDU goes through the receive pipeline, gaps are
//! filled with `get_missing_events`; the answer is 200 with per-PDU errors (spec: s2s
//! "Transactions").

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::room_access::{acl_allows, internal, origin};
use crate::api::{ApiResult, Method, Request, Response};
use crate::federation::client::path::encode as encode_path;
use crate::federation::event_keys::fetch_event_keys;
use crate::federation::in_flight::Admission;
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::hashes::event_id_for;
use crate::proto::id::ServerName;
use crate::proto::pdu::Pdu;
use crate::proto::room_version::RoomRules;
use crate::rooms::RoomError;
use crate::rooms::join_answer::on_every_core;
use crate::rooms::receive::{Need, Received, checked_pdu, receive_checked_pdu};
use crate::server::{Server, now_ms};
use crate::store::{events, federation_transactions};

/// Spec: at most 50 PDUs and 100 EDUs per transaction.
const MAX_PDUS: usize = 50;
const MAX_EDUS: usize = 100;
/// How many missing events one gap may pull in before the PDU is given up.
const MISSING_EVENTS_LIMIT: usize = 20;

pub async fn handle(server: &Server, request: Request) -> ApiResult {
    let origin = origin(&request)?;
    let txn_id = request.param(0).to_owned();
    let body = request.json_object()?;
    let pdus = body
        .get("pdus")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let edus = body
        .get("edus")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if pdus.len() > MAX_PDUS || edus.len() > MAX_EDUS {
        return Err(MatrixError::new(
            400,
            ErrCode::BadJson,
            "at most 50 PDUs and 100 EDUs per transaction",
        ));
    }
    // One transaction per origin at a time (as Synapse): another is told to come back,
    // a retry of this one waits for its answer, stored by then.
    let _slot = loop {
        match server.federation.in_flight.admit(&origin, &txn_id) {
            Admission::Go(slot) => break slot,
            Admission::Busy(current) => {
                crate::info!("txn {txn_id} from {origin} while {current} is in progress: 429");
                return Err(MatrixError::new(
                    429,
                    ErrCode::LimitExceeded,
                    "another transaction of your server is in progress",
                ));
            }
            Admission::Wait(done) => {
                let _ = done.recv().await;
            }
        }
    };
    let (origin_text, txn) = (origin.as_str().to_owned(), txn_id.clone());
    let earlier = server
        .store
        .read(move |connection| federation_transactions::response(connection, &origin_text, &txn))
        .await
        .map_err(|e| internal(&e))?;
    if let Some(response) = earlier {
        return Ok(Response::ok(&response));
    }
    let results = receive_pdus(server, &origin, pdus).await;
    crate::federation::edus::receive_edus(server, &origin, &edus).await;
    let response = json!({ "pdus": results });
    let (origin_text, stored) = (origin.as_str().to_owned(), response.clone());
    server
        .store
        .write(move |transaction| {
            federation_transactions::record(transaction, &origin_text, &txn_id, &stored, now_ms())
        })
        .await
        .map_err(|e| internal(&e))?;
    server.notifier.notify();
    Ok(Response::ok(&response))
}

/// The PDUs of a transaction for one room, with their event IDs, and whether the room's
/// server ACL denies the origin (why, if so).
struct RoomBatch {
    room_id: String,
    rules: RoomRules,
    denied: Option<String>,
    pdus: Vec<(String, Map<String, Value>)>,
}

/// Receives the PDUs of a transaction: per room, every PDU in one write job (one commit
/// instead of one per PDU: a 50-PDU transaction costs one flush); then the PDUs that
/// referenced unknown events, one by one, each after fetching its gap from the origin.
/// Returns the per-PDU answer, by event ID.
async fn receive_pdus(
    server: &Server,
    origin: &ServerName,
    pdus: Vec<Value>,
) -> Map<String, Value> {
    let mut results = Map::new();
    let mut rooms: Vec<RoomBatch> = Vec::new();
    for pdu in pdus {
        let Value::Object(pdu) = pdu else { continue };
        let Some(room_id) = pdu
            .get("room_id")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            continue;
        };
        if let Some(room) = rooms.iter_mut().find(|room| room.room_id == room_id) {
            if let Ok(event_id) = event_id_for(&room.rules, &pdu) {
                room.pdus.push((event_id, pdu));
            }
            continue;
        }
        let (lookup_room, acl_origin) = (room_id.clone(), origin.clone());
        let room = server
            .store
            .read(move |connection| {
                let Some(room) = events::room_by_id(connection, &lookup_room)? else {
                    return Ok(None);
                };
                let acl = acl_allows(connection, &room, &acl_origin)?;
                Ok(Some((room, acl)))
            })
            .await;
        // Without a room (or its version) the event ID cannot be computed, so there is no
        // key to report an error under: such PDUs are left out of the answer.
        let (rules, acl) = match room {
            Ok(Some((room, acl))) => (RoomRules::for_version(&room.room_version), acl),
            Ok(None) => continue,
            Err(e) => {
                crate::error!("transaction from {origin}: {}", internal(&e).error);
                continue;
            }
        };
        let Some(rules) = rules else { continue };
        let pdus = event_id_for(&rules, &pdu)
            .map(|event_id| vec![(event_id, pdu)])
            .unwrap_or_default();
        rooms.push(RoomBatch {
            room_id,
            rules,
            // Spec: s2s "Server ACLs": a denied origin's PDUs are ignored, each with an error.
            denied: acl.err().map(|denied| denied.error),
            pdus,
        });
    }
    for RoomBatch {
        room_id,
        rules,
        denied,
        pdus: mut batch,
    } in rooms
    {
        if let Some(denied) = denied {
            crate::info!("{} PDUs from {origin} ignored: {denied}", batch.len());
            for (event_id, _) in batch {
                results.insert(event_id, json!({ "error": denied }));
            }
            continue;
        }
        // Oldest first (stable): a sender may list an event before the one it follows.
        batch.sort_by_key(|(_, pdu)| pdu.get("depth").and_then(Value::as_i64).unwrap_or(0));
        let outcomes = receive_batch(
            server,
            &rules,
            &room_id,
            batch.iter().map(|(_, pdu)| pdu.clone()).collect(),
        )
        .await;
        for ((event_id, pdu), outcome) in batch.into_iter().zip(outcomes) {
            let outcome = match outcome {
                Ok(Received::Need(Need::Events(_))) => {
                    retry_after_gap(server, origin, &rules, &room_id, &event_id, pdu).await
                }
                other => other,
            };
            let result = match answer(outcome) {
                Ok(()) => json!({}),
                Err(why) => json!({ "error": why }),
            };
            results.insert(event_id, result);
        }
    }
    results
}

/// A PDU whose prev events were unknown: receive it again (an earlier PDU of the same
/// transaction may have supplied them), else fetch the gap from the origin once and retry.
async fn retry_after_gap(
    server: &Server,
    origin: &ServerName,
    rules: &RoomRules,
    room_id: &str,
    event_id: &str,
    pdu: Map<String, Value>,
) -> Result<Received, String> {
    let outcome = receive(server, rules, room_id, pdu.clone()).await;
    if !matches!(outcome, Ok(Received::Need(Need::Events(_)))) {
        return outcome;
    }
    if let Err(why) = fill_gap(server, origin, rules, room_id, &pdu).await {
        crate::info!("could not fill the gap before {event_id} from {origin}: {why}");
    }
    receive(server, rules, room_id, pdu).await
}

/// The transaction answer's form of an outcome.
fn answer(outcome: Result<Received, String>) -> Result<(), String> {
    match outcome {
        Ok(Received::Accepted(_) | Received::Duplicate) => Ok(()),
        // Spec: a soft-failed event is accepted into the DAG; it is not an error for the sender.
        Ok(Received::SoftFailed(_)) => Ok(()),
        Ok(Received::Rejected(why)) => Err(format!("rejected: {why}")),
        Ok(Received::Dropped(why)) => Err(format!("dropped: {why}")),
        Ok(Received::Need(need)) => Err(need.to_string()),
        Err(why) => Err(why),
    }
}

/// Receives one PDU (a retry, or an event of a gap).
async fn receive(
    server: &Server,
    rules: &RoomRules,
    room_id: &str,
    pdu: Map<String, Value>,
) -> Result<Received, String> {
    receive_batch(server, rules, room_id, vec![pdu])
        .await
        .pop()
        .unwrap_or_else(|| Err("no outcome".to_owned()))
}

/// Receives `pdus` of one room, in order: their signers' keys fetched first, format,
/// signatures and hashes checked on every core off the executor, then the rest of the
/// pipeline for all of them in one write job. One outcome per PDU.
async fn receive_batch(
    server: &Server,
    rules: &RoomRules,
    room_id: &str,
    pdus: Vec<Map<String, Value>>,
) -> Vec<Result<Received, String>> {
    let count = pdus.len();
    let keys = fetch_event_keys(server, rules, &pdus.iter().collect::<Vec<_>>()).await;
    let rules_for_check = *rules;
    let checked: Vec<Result<Result<Pdu, Received>, String>> = smol::unblock(move || {
        let lookup = |server_name: &ServerName, key_id: &str| {
            keys.get(&(server_name.clone(), key_id.to_owned())).cloned()
        };
        on_every_core(&pdus, |pdu| {
            checked_pdu(&rules_for_check, pdu.clone(), &lookup).map_err(|e| e.to_string())
        })
    })
    .await;
    let room_id = room_id.to_owned();
    let result = server
        .store
        .write(move |transaction| {
            let mut outcomes = Vec::with_capacity(checked.len());
            for check in checked {
                let pdu = match check {
                    Ok(Ok(pdu)) => pdu,
                    Ok(Err(outcome)) => {
                        outcomes.push(Ok(outcome));
                        continue;
                    }
                    Err(why) => {
                        outcomes.push(Err(why));
                        continue;
                    }
                };
                // Each PDU sees the room as the previous ones left it (current state,
                // extremities), so the room row is read again.
                let Some(room) = events::room_by_id(transaction, &room_id)? else {
                    outcomes.push(Err("unknown room".to_owned()));
                    continue;
                };
                outcomes.push(match receive_checked_pdu(transaction, &room, pdu) {
                    Ok(received) => Ok(received),
                    Err(RoomError::Store(e)) => return Err(e),
                    Err(e) => Err(e.to_string()),
                });
            }
            Ok(outcomes)
        })
        .await;
    match result {
        Ok(outcomes) => outcomes,
        Err(e) => {
            let why = format!("internal error: {}", internal(&e).error);
            (0..count).map(|_| Err(why.clone())).collect()
        }
    }
}

/// `POST /get_missing_events` to the origin for the events between our extremities and
/// `pdu`, then receives them oldest first.
async fn fill_gap(
    server: &Server,
    origin: &ServerName,
    rules: &RoomRules,
    room_id: &str,
    pdu: &Map<String, Value>,
) -> Result<(), String> {
    let lookup_room = room_id.to_owned();
    let earliest: Vec<String> = server
        .store
        .read(move |connection| {
            let Some(room) = events::room_by_id(connection, &lookup_room)? else {
                return Ok(Vec::new());
            };
            Ok(events::forward_extremities(connection, room.room_nid)?
                .into_iter()
                .map(|e| e.event_id)
                .collect())
        })
        .await
        .map_err(|e| e.to_string())?;
    let latest = event_id_for(rules, pdu).map_err(|e| e.to_string())?;
    let body = json!({
        "earliest_events": earliest,
        "latest_events": [latest],
        "limit": MISSING_EVENTS_LIMIT,
        "min_depth": 0,
    });
    let path = format!(
        "/_matrix/federation/v1/get_missing_events/{}",
        encode_path(room_id)
    );
    let (status, answer) = server
        .federation
        .client
        .request(origin, Method::Post, &path, Some(&body))
        .await
        .map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("get_missing_events answered {status}"));
    }
    let mut missing: Vec<Map<String, Value>> = answer
        .get("events")
        .and_then(Value::as_array)
        .map(|events| {
            events
                .iter()
                .filter_map(|e| e.as_object().cloned())
                .collect()
        })
        .unwrap_or_default();
    // Oldest first, so that each event's prev events are known when it is received.
    missing.sort_by_key(|event| event.get("depth").and_then(Value::as_i64).unwrap_or(0));
    let mut outcomes: BTreeMap<usize, String> = BTreeMap::new();
    for (index, event) in missing.into_iter().enumerate() {
        if let Err(why) = receive(server, rules, room_id, event).await.map(|_| ()) {
            outcomes.insert(index, why);
        }
    }
    if outcomes.is_empty() {
        Ok(())
    } else {
        Err(format!("{outcomes:?}"))
    }
}
