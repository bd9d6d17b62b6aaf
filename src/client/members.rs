//! `GET /rooms/{roomId}/members` (with `at`, `membership`, `not_membership`) and
//! `GET /rooms/{roomId}/joined_members` (spec: c2s "Room membership"). Members who left
//! see the membership as of their leaving.

use serde_json::{Map, Value, json};

use super::auth::{authenticate, internal};
use super::format::client_event;
use super::room_read::{ReadableRoom, parse_room_id, readable_room};
use crate::api::{ApiResult, Request, Response};
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::server::{Server, now_ms};
use crate::store::events::StoredEvent;
use crate::store::{Connection, StoreError, room_directory};

const MEMBERSHIPS: [&str; 5] = ["join", "invite", "knock", "leave", "ban"];

pub async fn members(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let room_id = parse_room_id(request.param(0))?.as_str().to_owned();
    let at = match request.query_param("at") {
        Some(token) => Some(parse_at(token)?),
        None => None,
    };
    let only = membership_param(request.query_param("membership"))?;
    let except = membership_param(request.query_param("not_membership"))?;
    let user = requester.user_id.clone();
    let answer = server
        .store
        .read(move |connection| {
            let readable = match readable_room(connection, &user, &room_id)? {
                Ok(readable) => readable,
                Err(e) => return Ok(Err(e)),
            };
            // Spec: a user who left sees the members as of their leaving.
            let at = match (at, readable.visible_until) {
                (Some(at), Some(until)) => Some(at.min(until)),
                (at, _) => at,
            };
            let members = member_events(connection, &readable, at)?;
            let now = now_ms();
            let chunk: Vec<Value> = members
                .iter()
                .map(|event| client_event(event, &readable.room.room_id, &readable.rules, now))
                .filter(|event| {
                    let membership = event.pointer("/content/membership").and_then(Value::as_str);
                    only.is_none_or(|only| membership == Some(only))
                        && except.is_none_or(|except| membership != Some(except))
                })
                .collect();
            Ok(Ok(chunk))
        })
        .await
        .map_err(|e| internal(&e))??;
    Ok(Response::ok(&json!({ "chunk": answer })))
}

pub async fn joined_members(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let room_id = parse_room_id(request.param(0))?.as_str().to_owned();
    let user = requester.user_id.clone();
    let answer = server
        .store
        .read(move |connection| {
            let readable = match readable_room(connection, &user, &room_id)? {
                Ok(readable) => readable,
                Err(e) => return Ok(Err(e)),
            };
            let members = member_events(connection, &readable, None)?;
            let mut joined = Map::new();
            for event in members {
                let member = client_event(&event, &readable.room.room_id, &readable.rules, 0);
                if member
                    .pointer("/content/membership")
                    .and_then(Value::as_str)
                    != Some("join")
                {
                    continue;
                }
                let Some(user_id) = event.state_key.clone() else {
                    continue;
                };
                let mut profile = Map::new();
                for (from, to) in [
                    ("displayname", "display_name"),
                    ("avatar_url", "avatar_url"),
                ] {
                    if let Some(value) = member
                        .pointer(&format!("/content/{from}"))
                        .filter(|v| v.is_string())
                    {
                        profile.insert(to.to_owned(), value.clone());
                    }
                }
                joined.insert(user_id, Value::Object(profile));
            }
            Ok(Ok(joined))
        })
        .await
        .map_err(|e| internal(&e))??;
    Ok(Response::ok(&json!({ "joined": answer })))
}

/// The membership events of the state the requester sees (`ReadableRoom::state`), or as
/// of timeline position `at`.
fn member_events(
    connection: &Connection,
    readable: &ReadableRoom,
    at: Option<i64>,
) -> Result<Vec<StoredEvent>, StoreError> {
    match at {
        Some(at) => room_directory::members_at(connection, readable.room.room_nid, at),
        None => Ok(readable
            .state(connection)?
            .into_iter()
            .filter(|event| event.kind == "m.room.member")
            .collect()),
    }
}

fn membership_param(value: Option<&str>) -> Result<Option<&'static str>, MatrixError> {
    match value {
        None => Ok(None),
        Some(text) => MEMBERSHIPS
            .into_iter()
            .find(|membership| *membership == text)
            .map(Some)
            .ok_or_else(|| {
                MatrixError::new(
                    400,
                    ErrCode::InvalidParam,
                    format!("unknown membership {text:?}"),
                )
            }),
    }
}

/// `at` is a sync or pagination token; its events position is what counts.
fn parse_at(token: &str) -> Result<i64, MatrixError> {
    token
        .strip_prefix('s')
        .and_then(|rest| rest.split('_').next())
        .and_then(|n| n.parse::<i64>().ok())
        .ok_or_else(|| {
            MatrixError::new(
                400,
                ErrCode::InvalidParam,
                format!("invalid token {token:?}"),
            )
        })
}
