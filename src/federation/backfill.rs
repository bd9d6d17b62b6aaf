//! Fetching a room's history from before this server joined it (spec: s2s "Backfilling
//! and retrieving missing events"): `GET /backfill/{roomId}?v=…&limit=…` from the frontier
//! (`rooms::backfill::frontier`) to the servers in the room, one after the other until one
//! answers; the state before the answer's oldest events comes from `GET /state_ids` and
//! the auth and state events this server lacks from `GET /event/{eventId}` of the same
//! server; signing keys are fetched first; then one write job checks and stores it all
//! (`rooms::backfill::store_backfilled`).

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::api::Method;
use crate::federation::client::path::encode as encode_path;
use crate::federation::event_keys::fetch_event_keys;
use crate::proto::id::ServerName;
use crate::proto::room_version::RoomRules;
use crate::rooms::RoomError;
use crate::rooms::backfill::{
    Backfilled, events_needing_state, frontier, missing_auth_events, store_backfilled,
};
use crate::rooms::remote::servers_in_room;
use crate::server::Server;
use crate::store::{StoreError, events};

/// Spec: the server answering may send fewer; hearth asks for at most this many at once.
pub const MAX_LIMIT: usize = 100;
/// Rounds of fetching missing auth events (their own auth events may be missing too).
const AUTH_ROUNDS: usize = 3;
/// Events whose state before them is asked for (`/state_ids`) per answer.
const MAX_STATE_FETCHES: usize = 4;
/// At most this many auth or state events are fetched one by one per answer.
const MAX_EVENT_FETCHES: usize = 100;

/// Fetches up to `limit` events of `room_id`'s history before what this server holds and
/// stores them. `Ok` with nothing added when the history here is complete (it reaches the
/// room's creation) or no server had more; `Err` when no server could be asked.
pub async fn backfill(server: &Server, room_id: &str, limit: usize) -> Result<Backfilled, String> {
    let lookup_room = room_id.to_owned();
    let plan = server
        .store
        .read(move |connection| {
            let Some(room) = events::room_by_id(connection, &lookup_room)? else {
                return Ok(None);
            };
            let wanted = frontier(connection, room.room_nid).map_err(store_error)?;
            let servers = servers_in_room(connection, room.room_nid).map_err(store_error)?;
            Ok(Some((room, wanted, servers)))
        })
        .await
        .map_err(|e| e.to_string())?;
    let Some((room, wanted, servers)) = plan else {
        return Ok(Backfilled::default());
    };
    if wanted.is_empty() {
        return Ok(Backfilled::default());
    }
    let rules = RoomRules::for_version(&room.room_version)
        .ok_or_else(|| format!("unsupported room version {}", room.room_version))?;
    let query: Vec<String> = wanted
        .iter()
        .map(|id| format!("v={}", encode_path(id)))
        .collect();
    let path = format!(
        "/_matrix/federation/v1/backfill/{}?{}&limit={}",
        encode_path(room_id),
        query.join("&"),
        limit.clamp(1, MAX_LIMIT)
    );
    let mut failures = Vec::new();
    for name in servers.iter().filter(|name| *name != server.server_name()) {
        let Ok(destination) = ServerName::parse(name) else {
            continue;
        };
        let batch = match fetch_pdus(server, &destination, &path).await {
            Ok(batch) => batch,
            Err(why) => {
                crate::info!("backfill of {room_id} from {destination}: {why}");
                failures.push(why);
                continue;
            }
        };
        let (states, state_events) =
            fetch_states(server, &destination, &rules, room_id, &batch).await;
        let outliers =
            fetch_auth_events(server, &destination, &rules, room_id, &batch, state_events).await;
        let mut everything: Vec<&Map<String, Value>> = batch.iter().collect();
        everything.extend(outliers.iter());
        let keys = fetch_event_keys(server, &rules, &everything).await;
        let room_id_owned = room_id.to_owned();
        let stored = server
            .store
            .write(move |transaction| {
                let Some(room) = events::room_by_id(transaction, &room_id_owned)? else {
                    return Ok(Backfilled::default());
                };
                let lookup = |server_name: &ServerName, key_id: &str| {
                    keys.get(&(server_name.clone(), key_id.to_owned())).cloned()
                };
                store_backfilled(transaction, &room, batch, outliers, &states, &lookup)
                    .map_err(store_error)
            })
            .await
            .map_err(|e| e.to_string())?;
        crate::info!(
            "backfill of {room_id} from {destination}: {} added, {} rejected, {} dropped",
            stored.added,
            stored.rejected,
            stored.dropped
        );
        if stored.added > 0 {
            return Ok(stored);
        }
        failures.push(format!("{destination} had nothing new"));
    }
    if failures.is_empty() {
        Err("no other server is in the room".into())
    } else {
        Ok(Backfilled::default())
    }
}

/// `pdus` of a `backfill` or `event` answer.
async fn fetch_pdus(
    server: &Server,
    destination: &ServerName,
    path: &str,
) -> Result<Vec<Map<String, Value>>, String> {
    let (status, answer) = server
        .federation
        .client
        .request(destination, Method::Get, path, None)
        .await
        .map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("answered {status}"));
    }
    Ok(answer
        .get("pdus")
        .and_then(Value::as_array)
        .map(|pdus| {
            pdus.iter()
                .filter_map(|pdu| pdu.as_object().cloned())
                .collect()
        })
        .unwrap_or_default())
}

/// The state before each event of `batch` whose prev events are not held (spec: s2s
/// `GET /state_ids/{roomId}?event_id=`), and the state events this server lacks, fetched
/// one by one (at most `MAX_EVENT_FETCHES`; beyond that the state stays approximate).
async fn fetch_states(
    server: &Server,
    destination: &ServerName,
    rules: &RoomRules,
    room_id: &str,
    batch: &[Map<String, Value>],
) -> (HashMap<String, Vec<String>>, Vec<Map<String, Value>>) {
    let mut states = HashMap::new();
    let mut fetched = Vec::new();
    let (rules_copy, known) = (*rules, batch.to_vec());
    let needing = server
        .store
        .read(move |connection| {
            events_needing_state(connection, &rules_copy, &known).map_err(store_error)
        })
        .await
        .unwrap_or_default();
    for event_id in needing.into_iter().take(MAX_STATE_FETCHES) {
        let path = format!(
            "/_matrix/federation/v1/state_ids/{}?event_id={}",
            encode_path(room_id),
            encode_path(&event_id)
        );
        let state_ids: Vec<String> = match server
            .federation
            .client
            .request(destination, Method::Get, &path, None)
            .await
        {
            Ok((200, answer)) => answer
                .get("pdu_ids")
                .and_then(Value::as_array)
                .map(|ids| {
                    ids.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            Ok((status, _)) => {
                crate::info!("backfill of {room_id}: state_ids at {event_id} answered {status}");
                continue;
            }
            Err(e) => {
                crate::info!("backfill of {room_id}: no state_ids at {event_id}: {e}");
                continue;
            }
        };
        let wanted = state_ids.clone();
        let missing: Vec<String> = server
            .store
            .read(move |connection| {
                let mut missing = Vec::new();
                for id in wanted {
                    if events::event_by_id(connection, &id)?.is_none() {
                        missing.push(id);
                    }
                }
                Ok(missing)
            })
            .await
            .unwrap_or_default();
        if missing.len() + fetched.len() > MAX_EVENT_FETCHES {
            crate::info!(
                "backfill of {room_id}: {} state events missing at {event_id}; state approximated",
                missing.len()
            );
            continue;
        }
        for id in missing {
            let path = format!("/_matrix/federation/v1/event/{}", encode_path(&id));
            match fetch_pdus(server, destination, &path).await {
                Ok(pdus) => fetched.extend(pdus),
                Err(why) => crate::info!("backfill of {room_id}: no state event {id}: {why}"),
            }
        }
        states.insert(event_id, state_ids);
    }
    (states, fetched)
}

/// `fetched` and the auth events `batch` and `fetched` refer to that this server lacks,
/// from `destination`.
async fn fetch_auth_events(
    server: &Server,
    destination: &ServerName,
    rules: &RoomRules,
    room_id: &str,
    batch: &[Map<String, Value>],
    mut fetched: Vec<Map<String, Value>>,
) -> Vec<Map<String, Value>> {
    let mut asked = 0;
    for _ in 0..AUTH_ROUNDS {
        let mut known: Vec<Map<String, Value>> = batch.to_vec();
        known.extend(fetched.iter().cloned());
        let rules_copy = *rules;
        let missing = server
            .store
            .read(move |connection| {
                missing_auth_events(connection, &rules_copy, &known).map_err(store_error)
            })
            .await
            .unwrap_or_default();
        if missing.is_empty() || asked >= MAX_EVENT_FETCHES {
            break;
        }
        for event_id in missing.into_iter().take(MAX_EVENT_FETCHES - asked) {
            asked += 1;
            let path = format!("/_matrix/federation/v1/event/{}", encode_path(&event_id));
            match fetch_pdus(server, destination, &path).await {
                Ok(pdus) => fetched.extend(pdus),
                Err(why) => {
                    crate::info!("backfill of {room_id}: no auth event {event_id}: {why}")
                }
            }
        }
    }
    fetched
}

fn store_error(e: RoomError) -> StoreError {
    match e {
        RoomError::Store(e) => e,
        other => StoreError::CommitFailed(other.to_string()),
    }
}
