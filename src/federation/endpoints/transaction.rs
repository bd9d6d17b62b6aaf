//! `PUT /_matrix/federation/v1/send/{txnId}`: a transaction of PDUs and EDUs from another
//! server. Deduplicated per origin; each PDU goes through the receive pipeline, gaps are
//! filled with `get_missing_events`; the answer is 200 with per-PDU errors (spec: s2s
//! "Transactions").

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::room_access::{acl_allows, internal, origin};
use crate::api::{ApiResult, Method, Request, Response};
use crate::federation::client::path::encode as encode_path;
use crate::federation::event_keys::fetch_event_keys;
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::hashes::event_id_for;
use crate::proto::id::ServerName;
use crate::proto::room_version::RoomRules;
use crate::rooms::RoomError;
use crate::rooms::receive::{Need, Received, receive_pdu};
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
    let (origin_text, txn) = (origin.as_str().to_owned(), txn_id.clone());
    let earlier = server
        .store
        .read(move |connection| federation_transactions::response(connection, &origin_text, &txn))
        .await
        .map_err(|e| internal(&e))?;
    if let Some(response) = earlier {
        return Ok(Response::ok(&response));
    }
    let mut results = Map::new();
    for pdu in pdus {
        let Value::Object(pdu) = pdu else { continue };
        let (event_id, outcome) = receive_one(server, &origin, pdu).await;
        let result = match outcome {
            Ok(()) => json!({}),
            Err(why) => json!({ "error": why }),
        };
        if let Some(event_id) = event_id {
            results.insert(event_id, result);
        }
    }
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

/// Receives one PDU, fetching missing prev events from the origin once. Returns the event
/// ID (when it could be computed) and the outcome as the transaction answer reports it.
async fn receive_one(
    server: &Server,
    origin: &ServerName,
    pdu: Map<String, Value>,
) -> (Option<String>, Result<(), String>) {
    let Some(room_id) = pdu
        .get("room_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return (None, Err("no room_id".into()));
    };
    let (lookup_room, acl_origin) = (room_id.clone(), origin.clone());
    let (room, acl) = match server
        .store
        .read(move |connection| {
            let Some(room) = events::room_by_id(connection, &lookup_room)? else {
                return Ok(None);
            };
            let acl = acl_allows(connection, &room, &acl_origin)?;
            Ok(Some((room, acl)))
        })
        .await
    {
        Ok(Some(found)) => found,
        Ok(None) => return (None, Err("this server is not in that room".into())),
        Err(e) => return (None, Err(format!("internal error: {}", internal(&e).error))),
    };
    let Some(rules) = RoomRules::for_version(&room.room_version) else {
        return (None, Err("unsupported room version".into()));
    };
    let event_id = event_id_for(&rules, &pdu).ok();
    // Spec: s2s "Server ACLs": a denied origin's PDUs are ignored, each with an error.
    if let Err(denied) = acl {
        crate::info!("PDU {event_id:?} from {origin} ignored: {}", denied.error);
        return (event_id, Err(denied.error));
    }
    let mut outcome = receive(server, &rules, &room_id, pdu.clone()).await;
    if let Ok(Received::Need(Need::Events(_))) = &outcome {
        if let Err(why) = fill_gap(server, origin, &rules, &room_id, &pdu).await {
            crate::info!("could not fill the gap before {event_id:?} from {origin}: {why}");
        }
        outcome = receive(server, &rules, &room_id, pdu).await;
    }
    let result = match outcome {
        Ok(Received::Accepted(_) | Received::Duplicate) => Ok(()),
        // Spec: a soft-failed event is accepted into the DAG; it is not an error for the sender.
        Ok(Received::SoftFailed(_)) => Ok(()),
        Ok(Received::Rejected(why)) => Err(format!("rejected: {why}")),
        Ok(Received::Dropped(why)) => Err(format!("dropped: {why}")),
        Ok(Received::Need(need)) => Err(need.to_string()),
        Err(why) => Err(why),
    };
    (event_id, result)
}

async fn receive(
    server: &Server,
    rules: &RoomRules,
    room_id: &str,
    pdu: Map<String, Value>,
) -> Result<Received, String> {
    let keys = fetch_event_keys(server, rules, &[&pdu]).await;
    let room_id = room_id.to_owned();
    let result = server
        .store
        .write(move |transaction| {
            let Some(room) = events::room_by_id(transaction, &room_id)? else {
                return Ok(Err("unknown room".to_owned()));
            };
            let lookup = |server_name: &ServerName, key_id: &str| {
                keys.get(&(server_name.clone(), key_id.to_owned())).cloned()
            };
            match receive_pdu(transaction, &room, pdu, &lookup) {
                Ok(received) => Ok(Ok(received)),
                Err(RoomError::Store(e)) => Err(e),
                Err(e) => Ok(Err(e.to_string())),
            }
        })
        .await;
    match result {
        Ok(outcome) => outcome,
        Err(e) => Err(format!("internal error: {}", internal(&e).error)),
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
