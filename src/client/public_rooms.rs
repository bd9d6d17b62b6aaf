//! `GET/POST /publicRooms` (spec: c2s "Listing rooms"): the rooms published in this
//! server's directory, most members first, with `filter.generic_search_term` (name, topic
//! and canonical alias, ignoring case), `limit` and `since`/`next_batch` pagination
//! (`p<offset>` tokens). Other servers' directories (`server=`) need federation: 404.
//! The same list answers other servers at `/_matrix/federation/v1/publicRooms`.

use serde_json::{Map, Value, json};

use super::auth::{authenticate, internal};
use crate::api::{ApiResult, Request, Response};
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::server::Server;
use crate::store::{Connection, StoreError, events, room_directory, state};

const MAX_LIMIT: usize = 500;

/// What the client asked for.
#[derive(Debug, Clone, Default)]
struct Query {
    limit: Option<usize>,
    offset: usize,
    search: Option<String>,
    /// `filter.room_types`: `None` in the list stands for rooms without a type.
    room_types: Option<Vec<Option<String>>>,
}

/// `GET /publicRooms`: `limit`, `since`, `server`; no authentication needed.
pub async fn get(server: &Server, request: Request) -> ApiResult {
    check_server(server, request.query_param("server"))?;
    list(server, get_query(&request)?).await
}

/// `GET /_matrix/federation/v1/publicRooms` (spec: s2s "Public Room Directory"): the same
/// list for another server, whose signature the router checked.
pub async fn federation_get(server: &Server, request: Request) -> ApiResult {
    list(server, get_query(&request)?).await
}

/// `POST /_matrix/federation/v1/publicRooms`: with `filter` in a body, as the client's POST.
pub async fn federation_post(server: &Server, request: Request) -> ApiResult {
    list(server, post_query(&request)?).await
}

fn get_query(request: &Request) -> Result<Query, MatrixError> {
    let limit =
        match request.query_param("limit") {
            Some(text) => Some(text.parse::<usize>().map_err(|_| {
                MatrixError::new(400, ErrCode::InvalidParam, "limit must be a number")
            })?),
            None => None,
        };
    let query = Query {
        limit,
        offset: parse_since(request.query_param("since"))?,
        search: None,
        room_types: None,
    };
    Ok(query)
}

/// `POST /publicRooms`: the same with `filter` in a body; needs authentication.
pub async fn post(server: &Server, request: Request) -> ApiResult {
    authenticate(server, &request).await?;
    check_server(server, request.query_param("server"))?;
    list(server, post_query(&request)?).await
}

fn post_query(request: &Request) -> Result<Query, MatrixError> {
    let body = request.json_object()?;
    let limit = match body.get("limit") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            value
                .as_u64()
                .ok_or_else(|| MatrixError::new(400, ErrCode::BadJson, "limit must be a number"))?
                as usize,
        ),
    };
    let search = body
        .get("filter")
        .and_then(|filter| filter.get("generic_search_term"))
        .and_then(Value::as_str)
        .filter(|term| !term.trim().is_empty())
        .map(|term| term.trim().to_lowercase());
    let room_types = match body
        .get("filter")
        .and_then(|filter| filter.get("room_types"))
    {
        None | Some(Value::Null) => None,
        Some(Value::Array(kinds)) => Some(
            kinds
                .iter()
                .map(|kind| match kind {
                    Value::Null => Ok(None),
                    Value::String(kind) => Ok(Some(kind.clone())),
                    _ => Err(MatrixError::new(
                        400,
                        ErrCode::BadJson,
                        "room_types holds strings or null",
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => {
            return Err(MatrixError::new(
                400,
                ErrCode::BadJson,
                "room_types must be an array",
            ));
        }
    };
    let query = Query {
        limit,
        offset: parse_since(body.get("since").and_then(Value::as_str))?,
        search,
        room_types,
    };
    Ok(query)
}

fn check_server(server: &Server, requested: Option<&str>) -> Result<(), MatrixError> {
    match requested {
        Some(name) if name != server.server_name() => Err(MatrixError::new(
            404,
            ErrCode::NotFound,
            "the room directories of other servers are not available yet",
        )),
        _ => Ok(()),
    }
}

fn parse_since(since: Option<&str>) -> Result<usize, MatrixError> {
    match since {
        None => Ok(0),
        Some(token) => token
            .strip_prefix('p')
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| MatrixError::new(400, ErrCode::InvalidParam, "invalid since token")),
    }
}

async fn list(server: &Server, query: Query) -> ApiResult {
    let mut rooms = server
        .store
        .read(move |connection| {
            let mut rooms = Vec::new();
            for (room_nid, room_id) in room_directory::published_rooms(connection)? {
                rooms.push(room_chunk(connection, room_nid, &room_id)?);
            }
            Ok(rooms)
        })
        .await
        .map_err(|e| internal(&e))?;
    if let Some(term) = &query.search {
        rooms.retain(|room| matches_search(room, term));
    }
    if let Some(kinds) = &query.room_types {
        rooms.retain(|room| kinds.contains(&room["room_type"].as_str().map(str::to_owned)));
    }
    // Spec: "in order of number of joined members, largest first"; room ID breaks ties.
    rooms.sort_by(|a, b| {
        let members = |room: &Value| room["num_joined_members"].as_u64().unwrap_or(0);
        members(b)
            .cmp(&members(a))
            .then_with(|| a["room_id"].as_str().cmp(&b["room_id"].as_str()))
    });
    let total = rooms.len();
    let limit = query.limit.unwrap_or(MAX_LIMIT).min(MAX_LIMIT);
    let start = query.offset.min(total);
    let end = start.saturating_add(limit).min(total);
    let chunk: Vec<Value> = rooms
        .get(start..end)
        .map(<[Value]>::to_vec)
        .unwrap_or_default();
    let mut answer = json!({ "chunk": chunk, "total_room_count_estimate": total });
    if end < total {
        answer["next_batch"] = json!(format!("p{end}"));
    }
    if start > 0 {
        answer["prev_batch"] = json!(format!("p{}", start.saturating_sub(limit)));
    }
    Ok(Response::ok(&answer))
}

fn matches_search(room: &Value, term: &str) -> bool {
    ["name", "topic", "canonical_alias"].iter().any(|key| {
        room[*key]
            .as_str()
            .is_some_and(|text| text.to_lowercase().contains(term))
    })
}

/// One `PublishedRoomsChunk` from the room's current state.
fn room_chunk(connection: &Connection, room_nid: i64, room_id: &str) -> Result<Value, StoreError> {
    let content = |kind: &str| -> Result<Map<String, Value>, StoreError> {
        let event = state::current_state_event(connection, room_nid, kind, "")?;
        Ok(event
            .and_then(|event| serde_json::from_str::<Value>(&event.pdu).ok())
            .and_then(|pdu| pdu.get("content").and_then(Value::as_object).cloned())
            .unwrap_or_default())
    };
    let text = |content: &Map<String, Value>, key: &str| {
        content.get(key).and_then(Value::as_str).map(str::to_owned)
    };
    let join_rule =
        text(&content("m.room.join_rules")?, "join_rule").unwrap_or_else(|| "invite".into());
    let history = text(&content("m.room.history_visibility")?, "history_visibility");
    let guest_access = text(&content("m.room.guest_access")?, "guest_access");
    let mut chunk = json!({
        "room_id": room_id,
        "num_joined_members": events::members_with(connection, room_nid, "join")?.len(),
        "world_readable": history.as_deref() == Some("world_readable"),
        "guest_can_join": guest_access.as_deref() == Some("can_join"),
        "join_rule": join_rule,
    });
    let optional = [
        ("name", text(&content("m.room.name")?, "name")),
        ("topic", text(&content("m.room.topic")?, "topic")),
        (
            "canonical_alias",
            text(&content("m.room.canonical_alias")?, "alias"),
        ),
        ("avatar_url", text(&content("m.room.avatar")?, "url")),
        ("room_type", text(&content("m.room.create")?, "type")),
    ];
    for (key, value) in optional {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            chunk[key] = json!(value);
        }
    }
    Ok(chunk)
}
