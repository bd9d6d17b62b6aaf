//! `POST /rooms/{roomId}/receipt/{receiptType}/{eventId}` and `POST /rooms/{roomId}/read_markers`
//! (spec: c2s "Receipts", "Fully read markers"). `m.read` and `m.read.private` are receipts
//! (stored with a position in the receipts stream; threaded receipts keep their
//! `thread_id`); `m.fully_read` is room account data. Both wake syncs.

use serde_json::{Map, Value, json};

use super::auth::{authenticate, internal};
use super::room_read::{parse_room_id, readable_room};
use crate::api::{ApiResult, Request, Response};
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::id::UserId;
use crate::server::{Server, now_ms};
use crate::store::receipts::{self, NewReceipt};
use crate::store::{Connection, StoreError, account_data, events};

const READ: &str = "m.read";
const READ_PRIVATE: &str = "m.read.private";
const FULLY_READ: &str = "m.fully_read";

/// One marker to record.
#[derive(Debug, Clone)]
struct Marker {
    kind: &'static str,
    event_id: String,
    /// "" when unthreaded.
    thread_id: String,
}

pub async fn receipt(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let room_id = parse_room_id(request.param(0))?.as_str().to_owned();
    let kind = marker_kind(request.param(1))
        .ok_or_else(|| MatrixError::new(400, ErrCode::InvalidParam, "unknown receipt type"))?;
    let body = if request.body.is_empty() {
        Map::new()
    } else {
        request.json_object()?
    };
    let thread_id = match body.get("thread_id") {
        None => String::new(),
        Some(Value::String(thread)) if !thread.is_empty() && kind != FULLY_READ => thread.clone(),
        Some(_) => {
            return Err(MatrixError::new(
                400,
                ErrCode::InvalidParam,
                "thread_id must be \"main\" or an event ID, and only on m.read and m.read.private",
            ));
        }
    };
    let marker = Marker {
        kind,
        event_id: request.param(2).to_owned(),
        thread_id,
    };
    record(server, &requester.user_id, room_id, vec![marker]).await?;
    Ok(Response::ok(&json!({})))
}

pub async fn read_markers(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let room_id = parse_room_id(request.param(0))?.as_str().to_owned();
    let body = request.json_object()?;
    let mut markers = Vec::new();
    for kind in [FULLY_READ, READ, READ_PRIVATE] {
        match body.get(kind) {
            None | Some(Value::Null) => {}
            Some(Value::String(event_id)) => markers.push(Marker {
                kind,
                event_id: event_id.clone(),
                thread_id: String::new(),
            }),
            Some(_) => {
                return Err(MatrixError::new(
                    400,
                    ErrCode::BadJson,
                    format!("{kind} must be an event ID"),
                ));
            }
        }
    }
    record(server, &requester.user_id, room_id, markers).await?;
    Ok(Response::ok(&json!({})))
}

fn marker_kind(text: &str) -> Option<&'static str> {
    [READ, READ_PRIVATE, FULLY_READ]
        .into_iter()
        .find(|kind| *kind == text)
}

/// Checks every marker's event, then writes them all in one job and wakes syncs.
async fn record(
    server: &Server,
    user: &UserId,
    room_id: String,
    markers: Vec<Marker>,
) -> Result<(), MatrixError> {
    let public: Vec<(String, String)> = markers
        .iter()
        .filter(|marker| marker.kind == READ)
        .map(|marker| (marker.event_id.clone(), marker.thread_id.clone()))
        .collect();
    let (job_user, job_room_id) = (user.clone(), room_id.clone());
    let outcome = server
        .store
        .write(move |transaction| write_markers(transaction, &job_user, &job_room_id, &markers))
        .await
        .map_err(|e| internal(&e))?;
    outcome?;
    server.notifier.notify();
    // Public read receipts go to the room's other servers; private ones and m.fully_read stay here.
    for (event_id, thread_id) in public {
        crate::federation::edus::send_read_receipt(server, &room_id, user, &event_id, &thread_id)
            .await;
    }
    Ok(())
}

fn write_markers(
    connection: &Connection,
    user: &UserId,
    room_id: &str,
    markers: &[Marker],
) -> Result<Result<(), MatrixError>, StoreError> {
    let readable = match readable_room(connection, user, room_id)? {
        Ok(readable) if readable.visible_until.is_none() => readable,
        Ok(_) => {
            return Ok(Err(MatrixError::new(
                403,
                ErrCode::Forbidden,
                "you are not in this room",
            )));
        }
        Err(e) => return Ok(Err(e)),
    };
    // Check every event first: a refused marker leaves nothing half-written.
    let mut positions = Vec::with_capacity(markers.len());
    for marker in markers {
        let event = events::event_by_id(connection, &marker.event_id)?
            .filter(|event| event.room_nid == readable.room.room_nid && !event.rejected);
        let Some(stream_ordering) = event.and_then(|event| event.stream_ordering) else {
            return Ok(Err(MatrixError::new(
                404,
                ErrCode::NotFound,
                format!("no event {} in this room", marker.event_id),
            )));
        };
        positions.push(stream_ordering);
    }
    let now = now_ms();
    for (marker, stream_ordering) in markers.iter().zip(positions) {
        if marker.kind == FULLY_READ {
            let content = json!({ "event_id": marker.event_id }).to_string();
            account_data::put(connection, user, Some(room_id), FULLY_READ, &content)?;
        } else {
            receipts::put(
                connection,
                &NewReceipt {
                    room_nid: readable.room.room_nid,
                    user_id: user.as_str(),
                    receipt_type: marker.kind,
                    thread_id: &marker.thread_id,
                    event_id: &marker.event_id,
                    event_stream_ordering: stream_ordering,
                    ts: now,
                },
            )?;
        }
    }
    Ok(Ok(()))
}
