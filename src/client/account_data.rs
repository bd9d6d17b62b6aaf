//! Account data (spec: c2s "Client Config"): `GET/PUT /user/{userId}/account_data/{type}`
//! and `/user/{userId}/rooms/{roomId}/account_data/{type}`. Each write takes a position
//! in the account-data stream and wakes syncs; `/sync` sends what changed since its token
//! (global in `account_data`, per room in each joined room's `account_data`).

use serde_json::{Map, Value, json};

use super::auth::{authenticate, internal};
use super::room_read::parse_room_id;
use crate::api::{ApiResult, Request, Response};
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::id::UserId;
use crate::server::Server;
use crate::store::account_data::{self, AccountDataEntry};

/// `PUT /user/{userId}/account_data/{type}`.
pub async fn put_global(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    check_owner(&requester.user_id, request.param(0))?;
    let kind = request.param(1).to_owned();
    let content = Value::Object(request.json_object()?);
    check_settable(&kind)?;
    put_account_data(server, &requester.user_id, None, &kind, &content).await?;
    Ok(Response::ok(&json!({})))
}

/// `GET /user/{userId}/account_data/{type}`.
pub async fn get_global(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    check_owner(&requester.user_id, request.param(0))?;
    get(server, requester.user_id, None, request.param(1).to_owned()).await
}

/// `PUT /user/{userId}/rooms/{roomId}/account_data/{type}`.
pub async fn put_room(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    check_owner(&requester.user_id, request.param(0))?;
    let room_id = parse_room_id(request.param(1))?;
    let kind = request.param(2).to_owned();
    let content = Value::Object(request.json_object()?);
    check_settable(&kind)?;
    put_account_data(
        server,
        &requester.user_id,
        Some(room_id.as_str()),
        &kind,
        &content,
    )
    .await?;
    Ok(Response::ok(&json!({})))
}

/// `GET /user/{userId}/rooms/{roomId}/account_data/{type}`.
pub async fn get_room(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    check_owner(&requester.user_id, request.param(0))?;
    let room_id = parse_room_id(request.param(1))?;
    get(
        server,
        requester.user_id,
        Some(room_id.as_str().to_owned()),
        request.param(2).to_owned(),
    )
    .await
}

/// Stores account data and wakes syncs; for other handlers too (e.g. `m.fully_read` from
/// read markers). Returns the entry's stream position.
pub async fn put_account_data(
    server: &Server,
    user_id: &UserId,
    room_id: Option<&str>,
    kind: &str,
    content: &Value,
) -> Result<i64, MatrixError> {
    let (user, room, kind, text) = (
        user_id.clone(),
        room_id.map(str::to_owned),
        kind.to_owned(),
        content.to_string(),
    );
    let position = server
        .store
        .write(move |transaction| {
            account_data::put(transaction, &user, room.as_deref(), &kind, &text)
        })
        .await
        .map_err(|e| internal(&e))?;
    server.notifier.notify();
    Ok(position)
}

/// The account data a sync sends: global events, and per-room events by room ID.
#[derive(Debug, Default)]
pub struct AccountDataForSync {
    pub global: Vec<Value>,
    pub rooms: std::collections::HashMap<String, Vec<Value>>,
}

impl AccountDataForSync {
    /// Sorts stored entries (already limited to those after the token) into sections.
    pub fn from_entries(entries: Vec<AccountDataEntry>) -> Self {
        let mut sections = AccountDataForSync::default();
        for entry in entries {
            let content: Value = serde_json::from_str(&entry.content).unwrap_or_else(|_| json!({}));
            let event = json!({ "type": entry.kind, "content": content });
            match entry.room_id {
                None => sections.global.push(event),
                Some(room_id) => sections.rooms.entry(room_id).or_default().push(event),
            }
        }
        sections
    }
}

async fn get(server: &Server, user: UserId, room_id: Option<String>, kind: String) -> ApiResult {
    let found = server
        .store
        .read(move |connection| account_data::get(connection, &user, room_id.as_deref(), &kind))
        .await
        .map_err(|e| internal(&e))?;
    let text =
        found.ok_or_else(|| MatrixError::new(404, ErrCode::NotFound, "account data not found"))?;
    let content: Value = serde_json::from_str(&text).unwrap_or_else(|_| Value::Object(Map::new()));
    Ok(Response::ok(&content))
}

/// Spec: "Clients can only set account data for their own user ID" (403 otherwise).
fn check_owner(requester: &UserId, path_user: &str) -> Result<(), MatrixError> {
    if requester.as_str() == path_user {
        Ok(())
    } else {
        Err(MatrixError::new(
            403,
            ErrCode::Forbidden,
            "you may only read and set your own account data",
        ))
    }
}

/// Spec: "This `type` of account data is controlled by the server; it cannot be modified
/// by clients": 405 `M_BAD_JSON`. `m.fully_read` is set through read markers and
/// `m.push_rules` through the push rules API.
fn check_settable(kind: &str) -> Result<(), MatrixError> {
    match kind {
        "m.fully_read" | "m.push_rules" => Err(MatrixError::new(
            405,
            ErrCode::BadJson,
            format!("cannot set {kind} through the account data API"),
        )),
        _ => Ok(()),
    }
}
