//! `POST /knock/{roomIdOrAlias}` (spec: c2s "Knocking on rooms") for rooms of this server:
//! an `m.room.member` event with `membership: knock`, authorised like any event (so only
//! rooms whose version supports knocking and whose join rule allows it accept it).
//! Knocking on other servers' rooms comes with federation.

use serde_json::{Map, Value, json};

use super::auth::{authenticate, internal};
use super::room_read::parse_room_id;
use super::room_write::send_event;
use crate::api::{ApiResult, Request, Response};
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::id::RoomAliasId;
use crate::proto::room_version::RoomRules;
use crate::rooms::LocalEvent;
use crate::server::Server;
use crate::store::{aliases, events};

pub async fn handle(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let target = request.param(0).to_owned();
    let alias = if target.starts_with('#') {
        Some(
            RoomAliasId::parse(&target)
                .map_err(|e| {
                    MatrixError::new(
                        400,
                        ErrCode::InvalidParam,
                        format!("invalid room alias: {e}"),
                    )
                })?
                .as_str()
                .to_owned(),
        )
    } else {
        parse_room_id(&target)?;
        None
    };
    let room = server
        .store
        .read(move |connection| {
            let room_id = match alias {
                Some(alias) => match aliases::room_of_alias(connection, &alias)? {
                    Some(room_id) => room_id,
                    None => return Ok(None),
                },
                None => target,
            };
            events::room_by_id(connection, &room_id)
        })
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(|| {
            MatrixError::new(
                404,
                ErrCode::NotFound,
                "unknown room; knocking on rooms of other servers is not supported yet",
            )
        })?;
    if !RoomRules::for_version(&room.room_version).is_some_and(|rules| rules.knocking) {
        return Err(MatrixError::new(
            403,
            ErrCode::Forbidden,
            "this room's version does not support knocking",
        ));
    }
    let mut content = Map::new();
    content.insert("membership".into(), json!("knock"));
    if let Ok(body) = request.json_object()
        && let Some(reason) = body.get("reason").and_then(Value::as_str)
    {
        content.insert("reason".into(), json!(reason));
    }
    let event = LocalEvent {
        kind: "m.room.member".into(),
        state_key: Some(requester.user_id.as_str().to_owned()),
        content,
        redacts: None,
    };
    send_event(server, &room.room_id, &requester.user_id, event).await?;
    Ok(Response::ok(&json!({ "room_id": room.room_id })))
}
