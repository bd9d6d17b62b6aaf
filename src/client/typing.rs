//! `PUT /rooms/{roomId}/typing/{userId}` (spec: c2s "Typing Notifications"): kept in
//! memory (`Server::typing`), expiring after the client's timeout; a change wakes syncs,
//! which show the room's typers as `m.typing` in `ephemeral`.

use serde_json::{Value, json};

use super::auth::{authenticate, internal};
use super::room_read::parse_room_id;
use super::sync_ephemeral::with_typing;
use crate::api::{ApiResult, Request, Response};
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::server::{Server, now_ms};
use crate::store::events;

/// Typing is forgotten after at most this long, whatever the client asks.
const MAX_TIMEOUT_MS: i64 = 120_000;
/// Used when `typing` is true and `timeout` is missing.
const DEFAULT_TIMEOUT_MS: i64 = 30_000;

pub async fn handle(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let room_id = parse_room_id(request.param(0))?.as_str().to_owned();
    if request.param(1) != requester.user_id.as_str() {
        return Err(MatrixError::new(
            403,
            ErrCode::Forbidden,
            "you may only set your own typing state",
        ));
    }
    let body = request.json_object()?;
    let typing = match body.get("typing") {
        Some(Value::Bool(typing)) => *typing,
        _ => {
            return Err(MatrixError::new(
                400,
                ErrCode::BadJson,
                "typing must be a boolean",
            ));
        }
    };
    let timeout = match body.get("timeout") {
        None | Some(Value::Null) => DEFAULT_TIMEOUT_MS,
        Some(value) => value
            .as_i64()
            .filter(|t| *t >= 0)
            .ok_or_else(|| MatrixError::new(400, ErrCode::BadJson, "timeout must be a number"))?,
    }
    .min(MAX_TIMEOUT_MS);
    let (user, job_room_id) = (requester.user_id.as_str().to_owned(), room_id.clone());
    let joined = server
        .store
        .read(move |connection| {
            let Some(room) = events::room_by_id(connection, &job_room_id)? else {
                return Ok(false);
            };
            Ok(events::membership_of(connection, &user, room.room_nid)?.as_deref() == Some("join"))
        })
        .await
        .map_err(|e| internal(&e))?;
    if !joined {
        return Err(MatrixError::new(
            403,
            ErrCode::Forbidden,
            "you are not in this room",
        ));
    }
    let changed = with_typing(server, |state| {
        state.set(
            &room_id,
            requester.user_id.as_str(),
            typing.then_some(timeout),
            now_ms(),
        )
    });
    if changed {
        server.notifier.notify();
        crate::federation::edus::send_typing(server, &room_id, &requester.user_id, typing).await;
    }
    Ok(Response::ok(&json!({})))
}
