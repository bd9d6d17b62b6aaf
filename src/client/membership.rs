//! Membership changes of local rooms: join (by room ID or alias), leave, invite, kick, ban,
//! unban (spec: c2s "Room membership"). Joining rooms on other servers comes with
//! federation (issue 6).

use serde_json::{Map, Value, json};

use super::auth::{authenticate, internal};
use super::room_read::parse_room_id;
use super::room_write::send_event;
use crate::api::{ApiResult, Request, Response};
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::id::{RoomAliasId, UserId};
use crate::rooms::LocalEvent;
use crate::server::Server;
use crate::store::{aliases, events};

/// `POST /join/{roomIdOrAlias}` and `POST /rooms/{roomId}/join`.
pub async fn join(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let target = request.param(0).to_owned();
    let room_id = if target.starts_with('#') {
        let alias = RoomAliasId::parse(&target).map_err(|e| {
            MatrixError::new(
                400,
                ErrCode::InvalidParam,
                format!("invalid room alias: {e}"),
            )
        })?;
        let alias_text = alias.as_str().to_owned();
        server
            .store
            .read(move |connection| aliases::room_of_alias(connection, &alias_text))
            .await
            .map_err(|e| internal(&e))?
            .ok_or_else(|| {
                MatrixError::new(
                    404,
                    ErrCode::NotFound,
                    format!("room alias {alias} not found"),
                )
            })?
    } else {
        parse_room_id(&target)?.as_str().to_owned()
    };
    let lookup = room_id.clone();
    let known = server
        .store
        .read(move |connection| events::room_by_id(connection, &lookup))
        .await
        .map_err(|e| internal(&e))?;
    if known.is_none() {
        return Err(MatrixError::new(
            404,
            ErrCode::NotFound,
            "unknown room; joining rooms on other servers is not supported yet",
        ));
    }
    let mut content = Map::new();
    content.insert("membership".into(), json!("join"));
    if let Ok(body) = request.json_object()
        && let Some(reason) = body.get("reason").and_then(Value::as_str)
    {
        content.insert("reason".into(), json!(reason));
    }
    // Spec: joins carry the user's current displayname and avatar_url.
    let profile = super::profile::current_profile(server, &requester.user_id).await?;
    super::profile::add_profile(&mut content, &profile);
    let event = member_event(&requester.user_id, content);
    send_event(server, &room_id, &requester.user_id, event, None).await?;
    Ok(Response::ok(&json!({ "room_id": room_id })))
}

pub async fn leave(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let room_id = parse_room_id(request.param(0))?;
    let reason = reason_of(&request);
    let event = member_event(&requester.user_id, membership_content("leave", reason));
    send_event(server, room_id.as_str(), &requester.user_id, event, None).await?;
    Ok(Response::ok(&json!({})))
}

/// invite, kick, ban and unban: a membership for another user (`user_id` in the body).
async fn change_other(server: &Server, request: Request, membership: &str) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let room_id = parse_room_id(request.param(0))?;
    let body = request.json_object()?;
    let target = body
        .get("user_id")
        .and_then(Value::as_str)
        .ok_or_else(|| MatrixError::new(400, ErrCode::BadJson, "user_id is required"))?;
    let target = UserId::parse(target).map_err(|e| {
        MatrixError::new(400, ErrCode::InvalidParam, format!("invalid user_id: {e}"))
    })?;
    if membership == "invite" && target.server_name() != &server.name {
        return Err(MatrixError::new(
            400,
            ErrCode::Unknown,
            format!("inviting {target} needs federation, which this server does not do yet"),
        ));
    }
    let reason = body
        .get("reason")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let event = member_event(&target, membership_content(membership, reason));
    send_event(server, room_id.as_str(), &requester.user_id, event, None).await?;
    Ok(Response::ok(&json!({})))
}

pub async fn invite(server: &Server, request: Request) -> ApiResult {
    change_other(server, request, "invite").await
}

pub async fn kick(server: &Server, request: Request) -> ApiResult {
    change_other(server, request, "leave").await
}

pub async fn ban(server: &Server, request: Request) -> ApiResult {
    change_other(server, request, "ban").await
}

pub async fn unban(server: &Server, request: Request) -> ApiResult {
    change_other(server, request, "leave").await
}

fn member_event(target: &UserId, content: Map<String, Value>) -> LocalEvent {
    LocalEvent {
        kind: "m.room.member".into(),
        state_key: Some(target.as_str().to_owned()),
        content,
        redacts: None,
    }
}

fn membership_content(membership: &str, reason: Option<String>) -> Map<String, Value> {
    let mut content = Map::new();
    content.insert("membership".into(), json!(membership));
    if let Some(reason) = reason {
        content.insert("reason".into(), json!(reason));
    }
    content
}

fn reason_of(request: &Request) -> Option<String> {
    request.json_object().ok().and_then(|body| {
        body.get("reason")
            .and_then(Value::as_str)
            .map(str::to_owned)
    })
}
