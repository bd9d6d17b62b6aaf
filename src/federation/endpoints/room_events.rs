//! Reading a room's DAG over federation: `event/{eventId}`, `state/{roomId}`,
//! `state_ids/{roomId}`, `event_auth/{roomId}/{eventId}`, `get_missing_events/{roomId}`
//! and `backfill/{roomId}` (spec: s2s "Retrieving events", "Backfilling").
//! The origin must have (had) a member in the room, which must not deny it by server ACL;
//! an event of another room is unknown here.

use std::collections::{HashSet, VecDeque};

use serde_json::{Value, json};

use super::room_access::{internal, origin, room_id_param, visible_room};
use crate::api::{ApiResult, Request, Response};
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::id::ServerName;
use crate::proto::pdu::Pdu;
use crate::rooms::RoomError;
use crate::rooms::build::stored_to_pdu;
use crate::rooms::remote::{auth_chain, federation_pdu, state_pdus};
use crate::server::{Server, now_ms};
use crate::store::events::{self, StoredEvent};
use crate::store::{Connection, StoreError};

type Answer = Result<Result<Value, MatrixError>, StoreError>;

fn finish(result: Result<Value, RoomError>) -> Answer {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(RoomError::Store(e)) => Err(e),
        Err(e) => Ok(Err(MatrixError::from(&e))),
    }
}

async fn answer(
    server: &Server,
    job: impl FnOnce(&Connection) -> Answer + Send + 'static,
) -> ApiResult {
    let value = server.store.read(job).await.map_err(|e| internal(&e))??;
    Ok(Response::ok(&value))
}

/// An event of a room the origin is in.
fn event_in_visible_room(
    connection: &Connection,
    event_id: &str,
    origin: &ServerName,
) -> Result<Result<StoredEvent, MatrixError>, StoreError> {
    let Some(stored) = events::event_by_id(connection, event_id)? else {
        return Ok(Err(MatrixError::new(
            404,
            ErrCode::NotFound,
            "unknown event",
        )));
    };
    let Some(room_id) = events::room_id_of(connection, stored.room_nid)? else {
        return Ok(Err(MatrixError::new(
            404,
            ErrCode::NotFound,
            "unknown event",
        )));
    };
    Ok(visible_room(connection, &room_id, origin)?.map(|_| stored))
}

pub async fn event(server: &Server, request: Request) -> ApiResult {
    let origin = origin(&request)?;
    let event_id = request.param(0).to_owned();
    let our_name = server.server_name().to_owned();
    answer(server, move |connection| {
        let stored = match event_in_visible_room(connection, &event_id, &origin)? {
            Ok(stored) => stored,
            Err(e) => return Ok(Err(e)),
        };
        finish(
            federation_pdu(&stored).map(
                |pdu| json!({ "origin": our_name, "origin_server_ts": now_ms(), "pdus": [pdu] }),
            ),
        )
    })
    .await
}

/// The state before `event_id` (spec: the state at the event, excluding the event itself).
fn state_before(
    connection: &Connection,
    room_id: &str,
    event_id: &str,
    origin: &ServerName,
) -> Result<Result<Vec<Pdu>, MatrixError>, StoreError> {
    let room = match visible_room(connection, room_id, origin)? {
        Ok(room) => room,
        Err(e) => return Ok(Err(e)),
    };
    let Some(stored) = event_in_room(connection, event_id, room.room_nid)? else {
        return Ok(Err(MatrixError::new(
            404,
            ErrCode::NotFound,
            "unknown event",
        )));
    };
    match state_pdus(connection, stored.state_group_before) {
        Ok(state) => Ok(Ok(state)),
        Err(RoomError::Store(e)) => Err(e),
        Err(e) => Ok(Err(MatrixError::from(&e))),
    }
}

pub async fn state(server: &Server, request: Request) -> ApiResult {
    state_or_ids(server, request, false).await
}

pub async fn state_ids(server: &Server, request: Request) -> ApiResult {
    state_or_ids(server, request, true).await
}

async fn state_or_ids(server: &Server, request: Request, ids_only: bool) -> ApiResult {
    let origin = origin(&request)?;
    let room_id = room_id_param(request.param(0))?.as_str().to_owned();
    let event_id = request
        .query_param("event_id")
        .ok_or_else(|| MatrixError::new(400, ErrCode::MissingParam, "event_id is required"))?
        .to_owned();
    answer(server, move |connection| {
        let state = match state_before(connection, &room_id, &event_id, &origin)? {
            Ok(state) => state,
            Err(e) => return Ok(Err(e)),
        };
        let roots: Vec<&Pdu> = state.iter().collect();
        finish((|| {
            let chain = auth_chain(connection, &roots)?;
            if ids_only {
                Ok(json!({
                    "pdu_ids": state.iter().map(|pdu| pdu.event_id()).collect::<Vec<_>>(),
                    "auth_chain_ids": chain.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>(),
                }))
            } else {
                Ok(json!({
                    "pdus": state.iter().map(without_unsigned).collect::<Vec<_>>(),
                    "auth_chain": chain.iter().map(federation_pdu).collect::<Result<Vec<_>, _>>()?,
                }))
            }
        })())
    })
    .await
}

pub async fn event_auth(server: &Server, request: Request) -> ApiResult {
    let origin = origin(&request)?;
    let room_id = room_id_param(request.param(0))?.as_str().to_owned();
    let event_id = request.param(1).to_owned();
    answer(server, move |connection| {
        let room = match visible_room(connection, &room_id, &origin)? {
            Ok(room) => room,
            Err(e) => return Ok(Err(e)),
        };
        let Some(stored) = event_in_room(connection, &event_id, room.room_nid)? else {
            return Ok(Err(MatrixError::new(404, ErrCode::NotFound, "unknown event")));
        };
        finish((|| {
            let pdu = stored_to_pdu(&stored)?;
            let chain = auth_chain(connection, &[&pdu])?;
            Ok(json!({ "auth_chain": chain.iter().map(federation_pdu).collect::<Result<Vec<_>, _>>()? }))
        })())
    })
    .await
}

pub async fn get_missing_events(server: &Server, request: Request) -> ApiResult {
    let origin = origin(&request)?;
    let room_id = room_id_param(request.param(0))?.as_str().to_owned();
    let body = request.json_object()?;
    let list = |name: &str| -> Vec<String> {
        body.get(name)
            .and_then(Value::as_array)
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| id.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (earliest, latest) = (list("earliest_events"), list("latest_events"));
    let limit = body
        .get("limit")
        .and_then(Value::as_u64)
        .unwrap_or(10)
        .min(100) as usize;
    let min_depth = body.get("min_depth").and_then(Value::as_i64).unwrap_or(0);
    answer(server, move |connection| {
        let room = match visible_room(connection, &room_id, &origin)? {
            Ok(room) => room,
            Err(e) => return Ok(Err(e)),
        };
        finish((|| {
            let walk = Walk { room_nid: room.room_nid, limit, min_depth, include_start: false };
            let found = walk_back(connection, &walk, &latest, &earliest)?;
            Ok(json!({ "events": found.iter().map(federation_pdu).collect::<Result<Vec<_>, _>>()? }))
        })())
    })
    .await
}

pub async fn backfill(server: &Server, request: Request) -> ApiResult {
    let origin = origin(&request)?;
    let room_id = room_id_param(request.param(0))?.as_str().to_owned();
    let from: Vec<String> = request
        .query
        .iter()
        .filter(|(k, _)| k == "v")
        .map(|(_, v)| v.clone())
        .collect();
    let limit = request
        .query_param("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(10)
        .min(100);
    let our_name = server.server_name().to_owned();
    answer(server, move |connection| {
        let room = match visible_room(connection, &room_id, &origin)? {
            Ok(room) => room,
            Err(e) => return Ok(Err(e)),
        };
        finish((|| {
            let walk = Walk {
                room_nid: room.room_nid,
                limit,
                min_depth: 0,
                include_start: true,
            };
            let found = walk_back(connection, &walk, &from, &[])?;
            Ok(json!({
                "origin": our_name,
                "origin_server_ts": now_ms(),
                "pdus": found.iter().map(federation_pdu).collect::<Result<Vec<_>, _>>()?,
            }))
        })())
    })
    .await
}

/// An event of the room `room_nid`: the ID of another room's event is as unknown as any
/// (a peer must not read a room it is not in, or is denied, through one it is in).
fn event_in_room(
    connection: &Connection,
    event_id: &str,
    room_nid: i64,
) -> Result<Option<StoredEvent>, StoreError> {
    Ok(events::event_by_id(connection, event_id)?.filter(|stored| stored.room_nid == room_nid))
}

/// How far `walk_back` goes: events of `room_nid` only, at most `limit`, none below
/// `min_depth`; `include_start` for backfill (which returns the starting events too).
struct Walk {
    room_nid: i64,
    limit: usize,
    min_depth: i64,
    include_start: bool,
}

/// Breadth-first walk through `prev_events` from `start`, stopping at `stop`. Oldest first.
fn walk_back(
    connection: &Connection,
    walk: &Walk,
    start: &[String],
    stop: &[String],
) -> Result<Vec<StoredEvent>, RoomError> {
    let Walk {
        room_nid,
        limit,
        min_depth,
        include_start,
    } = *walk;
    let stop: HashSet<&str> = stop.iter().map(String::as_str).collect();
    let mut seen: HashSet<String> = HashSet::new();
    let mut queue: VecDeque<String> = VecDeque::new();
    let mut found = Vec::new();
    for id in start {
        if include_start {
            queue.push_back(id.clone());
        } else if let Some(stored) = event_in_room(connection, id, room_nid)? {
            for prev in stored_to_pdu(&stored)?.prev_event_ids() {
                queue.push_back(prev.to_owned());
            }
        }
    }
    while let Some(id) = queue.pop_front() {
        if found.len() >= limit || stop.contains(id.as_str()) || !seen.insert(id.clone()) {
            continue;
        }
        let Some(stored) = event_in_room(connection, &id, room_nid)? else {
            continue;
        };
        if stored.depth < min_depth || stored.rejected {
            continue;
        }
        for prev in stored_to_pdu(&stored)?.prev_event_ids() {
            queue.push_back(prev.to_owned());
        }
        found.push(stored);
    }
    found.sort_by_key(|e| (e.depth, e.event_nid));
    Ok(found)
}

fn without_unsigned(pdu: &Pdu) -> Value {
    let mut json = pdu.json().clone();
    json.remove("unsigned");
    Value::Object(json)
}
