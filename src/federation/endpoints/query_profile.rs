//! `GET /_matrix/federation/v1/query/profile?user_id=...&field=...`: a local user's
//! display name and avatar for another server (spec: data/api/server-server/query.yaml).
//! Behind `X-Matrix` authentication (the router checks it before this runs).

use serde_json::{Map, Value};

use crate::api::{ApiResult, Request, Response};
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::id::UserId;
use crate::server::Server;
use crate::store::profiles;

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
    let user = user_id.clone();
    let profile = server
        .store
        .read(move |connection| profiles::get(connection, &user))
        .await
        .map_err(|e| {
            crate::error!("profile query: {e}");
            MatrixError::new(500, ErrCode::Unknown, "internal error")
        })?
        // Unknown and deactivated users alike (spec: "The user does not exist or does not
        // have a profile").
        .ok_or_else(|| MatrixError::new(404, ErrCode::NotFound, "no such user"))?;
    let mut answer = Map::new();
    // A user who never set a display name is shown by the localpart, the name Synapse
    // gives every account at registration.
    let displayname = profile
        .displayname
        .unwrap_or_else(|| user_id.localpart().to_owned());
    answer.insert("displayname".into(), Value::String(displayname));
    if let Some(avatar_url) = profile.avatar_url {
        answer.insert("avatar_url".into(), Value::String(avatar_url));
    }
    // Spec: "If specified, the server will only return the given field in the response";
    // a field the user has not set gives `{}`, not an error (the user exists).
    if let Some(field) = field {
        answer.retain(|name, _| name == field);
    }
    Ok(Response::ok(&Value::Object(answer)))
}
