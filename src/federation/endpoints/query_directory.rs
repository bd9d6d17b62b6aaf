//! `GET /_matrix/federation/v1/query/directory?room_alias=`: a local alias → the room and
//! the servers in it (spec: s2s "Room Aliases").

use serde_json::json;

use super::room_access::{internal, origin};
use crate::api::{ApiResult, Request, Response};
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::id::RoomAliasId;
use crate::rooms::remote::servers_in_room;
use crate::server::Server;
use crate::store::{aliases, events};

pub async fn handle(server: &Server, request: Request) -> ApiResult {
    origin(&request)?;
    let alias = request
        .query_param("room_alias")
        .ok_or_else(|| MatrixError::new(400, ErrCode::MissingParam, "room_alias is required"))?;
    let alias = RoomAliasId::parse(alias).map_err(|e| {
        MatrixError::new(
            400,
            ErrCode::InvalidParam,
            format!("invalid room alias: {e}"),
        )
    })?;
    if alias.server_name() != &server.name {
        return Err(MatrixError::new(
            404,
            ErrCode::NotFound,
            "that alias is not on this server",
        ));
    }
    let alias_text = alias.as_str().to_owned();
    let our_name = server.server_name().to_owned();
    let found = server
        .store
        .read(move |connection| {
            let Some(room_id) = aliases::room_of_alias(connection, &alias_text)? else {
                return Ok(None);
            };
            let mut servers = match events::room_by_id(connection, &room_id)? {
                Some(room) => servers_in_room(connection, room.room_nid).unwrap_or_default(),
                None => Vec::new(),
            };
            // This server first: it holds the alias and is in the room.
            servers.retain(|s| *s != our_name);
            servers.insert(0, our_name);
            Ok(Some((room_id, servers)))
        })
        .await
        .map_err(|e| internal(&e))?;
    match found {
        Some((room_id, servers)) => Ok(Response::ok(
            &json!({ "room_id": room_id, "servers": servers }),
        )),
        None => Err(MatrixError::new(
            404,
            ErrCode::NotFound,
            "room alias not found",
        )),
    }
}
