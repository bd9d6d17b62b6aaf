//! Membership changes: join (by room ID or alias, locally or through a resident server
//! over federation), leave, invite, kick, ban, unban (spec: c2s "Room membership").

use serde_json::{Map, Value, json};

use super::auth::{authenticate, internal};
use super::room_read::parse_room_id;
use super::room_write::send_event;
use crate::api::{ApiResult, Request, Response};
use crate::federation;
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::id::{RoomAliasId, ServerName, UserId};
use crate::rooms::LocalEvent;
use crate::server::Server;
use crate::store::{aliases, events};

/// `POST /join/{roomIdOrAlias}` and `POST /rooms/{roomId}/join`.
pub async fn join(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let target = request.param(0).to_owned();
    // `via` (and the older `server_name`) name servers to join through.
    let mut via: Vec<ServerName> = request
        .query
        .iter()
        .filter(|(key, _)| key == "via" || key == "server_name")
        .filter_map(|(_, value)| ServerName::parse(value).ok())
        .collect();
    let room_id = if target.starts_with('#') {
        let alias = RoomAliasId::parse(&target).map_err(|e| {
            MatrixError::new(
                400,
                ErrCode::InvalidParam,
                format!("invalid room alias: {e}"),
            )
        })?;
        if alias.server_name() != &server.name {
            let (room_id, servers) = federation::join::resolve_alias(server, &alias).await?;
            via.extend(servers);
            room_id.as_str().to_owned()
        } else {
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
        }
    } else {
        parse_room_id(&target)?.as_str().to_owned()
    };
    let lookup = room_id.clone();
    let our_name = server.server_name().to_owned();
    // A room this server takes part in (one of our users is joined) is joined locally;
    // any other room through a resident server.
    let resident_here = server
        .store
        .read(move |connection| {
            Ok(match events::room_by_id(connection, &lookup)? {
                Some(room) => {
                    events::server_has_joined_member(connection, room.room_nid, &our_name)?
                }
                None => false,
            })
        })
        .await
        .map_err(|e| internal(&e))?;
    if !resident_here {
        let room_id = parse_room_id(&room_id)?;
        // Accepting an invite: the inviting server is in the room.
        via.extend(inviter_server(server, &requester.user_id, room_id.as_str()).await?);
        federation::join::join_remote(server, &requester.user_id, &room_id, &via).await?;
        return Ok(Response::ok(&json!({ "room_id": room_id.as_str() })));
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
    send_event(server, &room_id, &requester.user_id, event).await?;
    Ok(Response::ok(&json!({ "room_id": room_id })))
}

pub async fn leave(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let room_id = parse_room_id(request.param(0))?;
    // Declining an invite to a room this server is not in: through the inviting server.
    if let Some(inviter) = inviter_server(server, &requester.user_id, room_id.as_str()).await?
        && !resident(server, room_id.as_str()).await?
    {
        federation::leave::leave_remote(server, &requester.user_id, &room_id, &[inviter]).await?;
        return Ok(Response::ok(&json!({})));
    }
    let reason = reason_of(&request);
    let event = member_event(&requester.user_id, membership_content("leave", reason));
    send_event(server, room_id.as_str(), &requester.user_id, event).await?;
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
    let reason = body
        .get("reason")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if membership == "invite" && target.server_name() != &server.name {
        federation::invite::invite_remote(server, &requester.user_id, &room_id, &target, reason)
            .await?;
        return Ok(Response::ok(&json!({})));
    }
    let mut content = membership_content(membership, reason);
    if membership == "invite" {
        // The invitee's profile, as Synapse adds it: clients name the invitee from it.
        let profile = super::profile::current_profile(server, &target).await?;
        super::profile::add_profile(&mut content, &profile);
    }
    let event = member_event(&target, content);
    send_event(server, room_id.as_str(), &requester.user_id, event).await?;
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

/// The server of whoever invited `user` to `room_id`, when the user's membership is an invite.
async fn inviter_server(
    server: &Server,
    user: &UserId,
    room_id: &str,
) -> Result<Option<ServerName>, MatrixError> {
    let (user, room_id) = (user.as_str().to_owned(), room_id.to_owned());
    server
        .store
        .read(move |connection| {
            let Some(room) = events::room_by_id(connection, &room_id)? else {
                return Ok(None);
            };
            let invite = events::memberships_of_user(connection, &user)?
                .into_iter()
                .find(|m| m.room_nid == room.room_nid && m.membership == "invite");
            let Some(invite) = invite else {
                return Ok(None);
            };
            Ok(events::event_by_nid(connection, invite.event_nid)?
                .and_then(|event| UserId::parse(&event.sender).ok())
                .map(|sender| sender.server_name().clone()))
        })
        .await
        .map_err(|e| internal(&e))
}

/// Whether one of this server's users is joined to the room.
async fn resident(server: &Server, room_id: &str) -> Result<bool, MatrixError> {
    let (room_id, our_name) = (room_id.to_owned(), server.server_name().to_owned());
    server
        .store
        .read(move |connection| {
            Ok(match events::room_by_id(connection, &room_id)? {
                Some(room) => {
                    events::server_has_joined_member(connection, room.room_nid, &our_name)?
                }
                None => false,
            })
        })
        .await
        .map_err(|e| internal(&e))
}
