//! `GET/PUT /_matrix/client/v3/presence/{userId}/status` (spec: c2s "Presence"), for local
//! users only: what a user set is stored and read back; it is not yet sent to other users
//! in `/sync` nor over federation.

use serde_json::{Map, Value, json};

use super::auth::{authenticate, internal};
use crate::api::{ApiResult, Request, Response};
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::id::UserId;
use crate::server::{Server, now_ms};
use crate::store::profiles;

/// Synapse's limit on `status_msg`.
const MAX_STATUS_MSG_LEN: usize = 1024;

pub async fn put_status(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    if requester.user_id.as_str() != request.param(0) {
        return Err(MatrixError::new(
            403,
            ErrCode::Forbidden,
            "you may only set your own presence",
        ));
    }
    let body = request.json_object()?;
    let presence = match body.get("presence").and_then(Value::as_str) {
        Some(p @ ("online" | "offline" | "unavailable")) => p.to_owned(),
        Some(other) => {
            return Err(MatrixError::new(
                400,
                ErrCode::InvalidParam,
                format!("presence {other:?} is not one of online, offline, unavailable"),
            ));
        }
        None => {
            return Err(MatrixError::new(
                400,
                ErrCode::MissingParam,
                "presence is required",
            ));
        }
    };
    let status_msg = match body.get("status_msg") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if text.len() <= MAX_STATUS_MSG_LEN => Some(text.clone()),
        Some(_) => {
            return Err(MatrixError::new(
                400,
                ErrCode::BadJson,
                format!("status_msg must be a string of at most {MAX_STATUS_MSG_LEN} bytes"),
            ));
        }
    };
    let user = requester.user_id.clone();
    server
        .store
        .write(move |transaction| {
            profiles::set_presence(
                transaction,
                &user,
                &presence,
                status_msg.as_deref(),
                now_ms(),
            )
        })
        .await
        .map_err(|e| internal(&e))?;
    Ok(Response::ok(&json!({})))
}

pub async fn get_status(server: &Server, request: Request) -> ApiResult {
    authenticate(server, &request).await?;
    let text = request.param(0);
    let user_id = UserId::parse(text).map_err(|e| {
        MatrixError::new(
            400,
            ErrCode::InvalidParam,
            format!("invalid user ID {text:?}: {e}"),
        )
    })?;
    if user_id.server_name() != &server.name {
        return Err(MatrixError::new(
            404,
            ErrCode::NotFound,
            "presence of users on other servers is not available yet",
        ));
    }
    let (profile, presence) = server
        .store
        .read(move |connection| {
            Ok((
                profiles::get(connection, &user_id)?,
                profiles::get_presence(connection, &user_id)?,
            ))
        })
        .await
        .map_err(|e| internal(&e))?;
    if profile.is_none() {
        return Err(MatrixError::new(404, ErrCode::NotFound, "no such user"));
    }
    let mut body = Map::new();
    match presence {
        // Never set: offline, as Synapse answers.
        None => {
            body.insert("presence".into(), json!("offline"));
        }
        Some(presence) => {
            body.insert(
                "last_active_ago".into(),
                json!((now_ms() - presence.last_active_ts).max(0)),
            );
            body.insert(
                "currently_active".into(),
                json!(presence.presence == "online"),
            );
            body.insert("presence".into(), json!(presence.presence));
            if let Some(message) = presence.status_msg {
                body.insert("status_msg".into(), json!(message));
            }
        }
    }
    Ok(Response::ok(&Value::Object(body)))
}
