//! The room directory (spec: c2s "Room aliases", "Listing rooms"): `PUT/GET/DELETE
//! /directory/room/{roomAlias}` for this server's aliases, `GET /rooms/{roomId}/aliases`,
//! and `GET/PUT /directory/list/room/{roomId}` (whether a room is in the public list).
//! A remote alias is resolved by asking its server (`federation::join::resolve_alias`).

use serde_json::{Value, json};

use super::auth::{authenticate, internal};
use super::room_power::RoomPower;
use super::room_read::{parse_room_id, readable_room};
use crate::api::{ApiResult, Request, Response};
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::id::{RoomAliasId, UserId};
use crate::proto::room_version::RoomRules;
use crate::server::Server;
use crate::store::{Connection, StoreError, aliases, events, users};

/// `PUT /directory/room/{roomAlias}`: members of a room may name it.
pub async fn put_alias(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let alias = local_alias(server, request.param(0))?;
    let body = request.json_object()?;
    let room_id = body
        .get("room_id")
        .and_then(Value::as_str)
        .ok_or_else(|| MatrixError::new(400, ErrCode::BadJson, "room_id is required"))?;
    let room_id = parse_room_id(room_id)?.as_str().to_owned();
    let user = requester.user_id.clone();
    let outcome = server
        .store
        .write(move |transaction| {
            let Some(room) = events::room_by_id(transaction, &room_id)? else {
                return Ok(Err(MatrixError::new(
                    404,
                    ErrCode::NotFound,
                    "unknown room",
                )));
            };
            if events::membership_of(transaction, user.as_str(), room.room_nid)?.as_deref()
                != Some("join")
            {
                return Ok(Err(MatrixError::new(
                    403,
                    ErrCode::Forbidden,
                    "you are not in this room",
                )));
            }
            if aliases::room_of_alias(transaction, alias.as_str())?.is_some() {
                return Ok(Err(MatrixError::new(
                    409,
                    ErrCode::Unknown,
                    "that room alias is taken",
                )));
            }
            aliases::create_alias(transaction, alias.as_str(), &room_id, user.as_str())?;
            Ok(Ok(()))
        })
        .await
        .map_err(|e| internal(&e))?;
    outcome?;
    Ok(Response::ok(&json!({})))
}

/// `GET /directory/room/{roomAlias}`: no authentication needed.
pub async fn get_alias(server: &Server, request: Request) -> ApiResult {
    let alias = parse_alias(request.param(0))?;
    if alias.server_name() != &server.name {
        // Spec: c2s "Room aliases": the alias's server answers (s2s `query/directory`).
        let (room_id, servers) = crate::federation::join::resolve_alias(server, &alias).await?;
        let servers: Vec<&str> = servers.iter().map(|name| name.as_str()).collect();
        return Ok(Response::ok(
            &json!({ "room_id": room_id.as_str(), "servers": servers }),
        ));
    }
    let text = alias.as_str().to_owned();
    let room_id = server
        .store
        .read(move |connection| aliases::room_of_alias(connection, &text))
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(|| MatrixError::new(404, ErrCode::NotFound, "room alias not found"))?;
    Ok(Response::ok(
        &json!({ "room_id": room_id, "servers": [server.server_name()] }),
    ))
}

/// `DELETE /directory/room/{roomAlias}`: by the alias's creator, a server admin, or a room
/// member allowed to change `m.room.canonical_alias` (spec: "Room aliases", as Synapse).
pub async fn delete_alias(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let alias = local_alias(server, request.param(0))?;
    let user = requester.user_id.clone();
    let outcome = server
        .store
        .write(move |transaction| {
            let Some(room_id) = aliases::room_of_alias(transaction, alias.as_str())? else {
                return Ok(Err(MatrixError::new(
                    404,
                    ErrCode::NotFound,
                    "room alias not found",
                )));
            };
            let creator = aliases::alias_creator(transaction, alias.as_str())?;
            let allowed = creator.as_deref() == Some(user.as_str())
                || is_admin(transaction, &user)?
                || may_edit_room(transaction, &user, &room_id, "m.room.canonical_alias")?;
            if !allowed {
                return Ok(Err(MatrixError::new(
                    403,
                    ErrCode::Forbidden,
                    "you may not remove this alias",
                )));
            }
            aliases::delete_alias(transaction, alias.as_str())?;
            Ok(Ok(()))
        })
        .await
        .map_err(|e| internal(&e))?;
    outcome?;
    Ok(Response::ok(&json!({})))
}

/// `GET /rooms/{roomId}/aliases`: for those who may read the room.
pub async fn room_aliases(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let room_id = parse_room_id(request.param(0))?.as_str().to_owned();
    let user = requester.user_id.clone();
    let answer = server
        .store
        .read(move |connection| {
            if let Err(e) = readable_room(connection, &user, &room_id)? {
                return Ok(Err(e));
            }
            Ok(Ok(aliases::aliases_of_room(connection, &room_id)?))
        })
        .await
        .map_err(|e| internal(&e))??;
    Ok(Response::ok(&json!({ "aliases": answer })))
}

/// `GET /directory/list/room/{roomId}`: no authentication needed.
pub async fn get_visibility(server: &Server, request: Request) -> ApiResult {
    let room_id = parse_room_id(request.param(0))?.as_str().to_owned();
    let room = server
        .store
        .read(move |connection| events::room_by_id(connection, &room_id))
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(|| MatrixError::new(404, ErrCode::NotFound, "unknown room"))?;
    let visibility = if room.published { "public" } else { "private" };
    Ok(Response::ok(&json!({ "visibility": visibility })))
}

/// `PUT /directory/list/room/{roomId}`: by members who may change the room's canonical
/// alias (as Synapse), or a server admin.
pub async fn put_visibility(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let room_id = parse_room_id(request.param(0))?.as_str().to_owned();
    let body = request.json_object()?;
    let published = match body.get("visibility").and_then(Value::as_str) {
        Some("public") => true,
        Some("private") | None => false,
        Some(other) => {
            return Err(MatrixError::new(
                400,
                ErrCode::InvalidParam,
                format!("unknown visibility {other:?}"),
            ));
        }
    };
    let user = requester.user_id.clone();
    let outcome = server
        .store
        .write(move |transaction| {
            let Some(room) = events::room_by_id(transaction, &room_id)? else {
                return Ok(Err(MatrixError::new(
                    404,
                    ErrCode::NotFound,
                    "unknown room",
                )));
            };
            let allowed = is_admin(transaction, &user)?
                || may_edit_room(transaction, &user, &room_id, "m.room.canonical_alias")?;
            if !allowed {
                return Ok(Err(MatrixError::new(
                    403,
                    ErrCode::Forbidden,
                    "you may not change this room's visibility",
                )));
            }
            events::set_published(transaction, room.room_nid, published)?;
            Ok(Ok(()))
        })
        .await
        .map_err(|e| internal(&e))?;
    outcome?;
    Ok(Response::ok(&json!({})))
}

/// Whether `user` is joined to the room and may send state of `kind` there.
fn may_edit_room(
    connection: &Connection,
    user: &UserId,
    room_id: &str,
    kind: &str,
) -> Result<bool, StoreError> {
    let Some(room) = events::room_by_id(connection, room_id)? else {
        return Ok(false);
    };
    let Some(rules) = RoomRules::for_version(&room.room_version) else {
        return Ok(false);
    };
    if events::membership_of(connection, user.as_str(), room.room_nid)?.as_deref() != Some("join") {
        return Ok(false);
    }
    Ok(RoomPower::load(connection, room.room_nid, &rules)?.may_send_state(user.as_str(), kind))
}

fn is_admin(connection: &Connection, user: &UserId) -> Result<bool, StoreError> {
    Ok(users::get(connection, user.as_str())?.is_some_and(|record| record.admin))
}

fn parse_alias(text: &str) -> Result<RoomAliasId, MatrixError> {
    RoomAliasId::parse(text).map_err(|e| {
        MatrixError::new(
            400,
            ErrCode::InvalidParam,
            format!("invalid room alias {text:?}: {e}"),
        )
    })
}

/// An alias of this server (others cannot be created or removed here).
fn local_alias(server: &Server, text: &str) -> Result<RoomAliasId, MatrixError> {
    let alias = parse_alias(text)?;
    if alias.server_name() != &server.name {
        return Err(MatrixError::new(
            400,
            ErrCode::InvalidParam,
            "room aliases of other servers cannot be changed here",
        ));
    }
    Ok(alias)
}
