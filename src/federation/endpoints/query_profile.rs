//! `GET /_matrix/federation/v1/query/profile?user_id=...&field=...`: a local user's
//! display name and avatar for another server (spec: data/api/server-server/query.yaml).
//! Behind `X-Matrix` authentication (the router checks it before this runs).
//!
//! Until profiles are stored, the display name is the localpart and there is no avatar.

use serde_json::{Map, Value};

use crate::api::{ApiResult, Request, Response};
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::id::UserId;
use crate::server::Server;
use crate::store::users;

pub async fn handle(server: &Server, request: Request) -> ApiResult {
    let user_id = request.query_param("user_id").ok_or_else(|| {
        MatrixError::new(
            400,
            ErrCode::MissingParam,
            "the user_id parameter is required",
        )
    })?;
    let user_id = UserId::parse(user_id)
        .map_err(|e| MatrixError::new(400, ErrCode::InvalidParam, format!("user_id: {e}")))?;
    if user_id.server_name() != &server.name {
        return Err(MatrixError::new(
            400,
            ErrCode::InvalidParam,
            "the user is not hosted on this server",
        ));
    }
    let field = request.query_param("field");
    let key = user_id.as_str().to_owned();
    let record = server
        .store
        .read(move |connection| users::get(connection, &key))
        .await
        .map_err(|e| {
            crate::error!("profile query: {e}");
            MatrixError::new(500, ErrCode::Unknown, "internal error")
        })?;
    if record.is_none() {
        return Err(MatrixError::new(404, ErrCode::NotFound, "no such user"));
    }
    let mut profile = Map::new();
    profile.insert(
        "displayname".into(),
        Value::String(user_id.localpart().to_owned()),
    );
    if let Some(field) = field {
        // Spec: "field: The field to query. If specified, the server will only return the
        // given field in the response."
        profile.retain(|name, _| name == field);
        if profile.is_empty() {
            return Err(MatrixError::new(
                404,
                ErrCode::NotFound,
                format!("the user has no {field}"),
            ));
        }
    }
    Ok(Response::ok(&Value::Object(profile)))
}
