//! Sending events: `PUT /rooms/{roomId}/send/{eventType}/{txnId}` (idempotent per device),
//! `PUT /rooms/{roomId}/state/{eventType}/{stateKey}`, `PUT /rooms/{roomId}/redact/{eventId}/{txnId}`,
//! and reading state with `GET /rooms/{roomId}/state[/{eventType}[/{stateKey}]]`.

use serde_json::{Value, json};

use super::auth::{authenticate, internal};
use super::format::client_event;
use super::room_read::{parse_room_id, readable_room};
use super::room_write::{send_event, send_event_once};
use crate::api::{ApiResult, Request, Response};
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::server_acl::ServerAcl;
use crate::rooms::LocalEvent;
use crate::server::{Server, now_ms};

pub async fn send_message(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let room_id = parse_room_id(request.param(0))?;
    let kind = request.param(1).to_owned();
    // Like Synapse, a transaction ID is scoped to the device and the request path: the same
    // ID in another room or for another event type is another request.
    let txn_id = format!("send/{}/{kind}/{}", room_id.as_str(), request.param(2));
    let content = request.json_object()?;
    let event = LocalEvent {
        kind,
        state_key: None,
        content,
        redacts: None,
    };
    let event_id = send_event_once(
        server,
        room_id.as_str(),
        &requester.user_id,
        event,
        requester.device_id,
        txn_id,
    )
    .await?;
    Ok(Response::ok(&json!({ "event_id": event_id })))
}

pub async fn redact(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let room_id = parse_room_id(request.param(0))?;
    let target = request.param(1).to_owned();
    let txn_id = format!(
        "redact/{}/{}/{}",
        room_id.as_str(),
        request.param(1),
        request.param(2)
    );
    let mut content = request.json_object()?;
    content.retain(|key, _| key == "reason");
    let event = LocalEvent {
        kind: "m.room.redaction".into(),
        state_key: None,
        content,
        redacts: Some(target),
    };
    let event_id = send_event_once(
        server,
        room_id.as_str(),
        &requester.user_id,
        event,
        requester.device_id,
        txn_id,
    )
    .await?;
    Ok(Response::ok(&json!({ "event_id": event_id })))
}

pub async fn put_state(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let room_id = parse_room_id(request.param(0))?;
    let kind = request.param(1).to_owned();
    let state_key = request.params.get(2).cloned().unwrap_or_default();
    let content = request.json_object()?;
    // As Synapse: an ACL that shuts this server out of its own room is a mistake.
    if kind == "m.room.server_acl"
        && !ServerAcl::from_content(&Value::Object(content.clone())).allows(&server.name)
    {
        return Err(MatrixError::new(
            400,
            ErrCode::BadJson,
            "this server ACL would deny this server itself",
        ));
    }
    let event = LocalEvent {
        kind,
        state_key: Some(state_key),
        content,
        redacts: None,
    };
    let accepted = send_event(server, room_id.as_str(), &requester.user_id, event).await?;
    Ok(Response::ok(
        &json!({ "event_id": accepted.pdu.event_id() }),
    ))
}

pub async fn get_state(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let room_id = parse_room_id(request.param(0))?.as_str().to_owned();
    let wanted: Option<(String, String)> = request.params.get(1).map(|kind| {
        (
            kind.clone(),
            request.params.get(2).cloned().unwrap_or_default(),
        )
    });
    let user = requester.user_id.clone();
    let answer = server
        .store
        .read(move |connection| {
            let readable = match readable_room(connection, &user, &room_id)? {
                Ok(readable) => readable,
                Err(e) => return Ok(Err(e)),
            };
            let room = &readable.room;
            let events = readable.state(connection)?;
            let now = now_ms();
            let answer = match &wanted {
                None => Ok(Value::Array(
                    events
                        .iter()
                        .map(|e| client_event(e, &room.room_id, &readable.rules, now))
                        .collect(),
                )),
                Some((kind, state_key)) => events
                    .iter()
                    .find(|e| &e.kind == kind && e.state_key.as_deref() == Some(state_key.as_str()))
                    .map(|e| {
                        client_event(e, &room.room_id, &readable.rules, now)["content"].clone()
                    })
                    .ok_or_else(|| MatrixError::new(404, ErrCode::NotFound, "no such state event")),
            };
            Ok(answer)
        })
        .await
        .map_err(|e| internal(&e))?;
    Ok(Response::ok(&answer?))
}
