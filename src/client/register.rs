//! `POST /_matrix/client/v3/register` with user-interactive auth, and the availability and
//! token validity checks. Closed unless `[registration] open = true` or a `token` is set.

use serde_json::{Value, json};

use super::auth::{internal, random_text, start_session};
use super::password::hash_password;
use super::rate_limit;
use crate::api::{ApiResult, Request, Response};
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::id::UserId;
use crate::server::{Server, now_ms};
use crate::store::{StoreError, users};

const DUMMY: &str = "m.login.dummy";
const TOKEN: &str = "m.login.registration_token";

pub async fn register(server: &Server, request: Request) -> ApiResult {
    if request.query_param("kind") == Some("guest") {
        return Err(MatrixError::new(
            403,
            ErrCode::GuestAccessForbidden,
            "guest access is not enabled",
        ));
    }
    let settings = &server.config.registration;
    let stage = if settings.open {
        DUMMY
    } else if settings.token.is_some() {
        TOKEN
    } else {
        return Err(MatrixError::new(
            403,
            ErrCode::Forbidden,
            "registration is disabled on this server",
        ));
    };
    let body = request.json_object()?;
    let auth = body.get("auth").and_then(Value::as_object);
    let auth_type = auth.and_then(|a| a.get("type")).and_then(Value::as_str);
    let passed = match auth_type {
        Some(DUMMY) => stage == DUMMY,
        Some(TOKEN) => {
            let given = auth.and_then(|a| a.get("token")).and_then(Value::as_str);
            settings.token.is_some() && given == settings.token.as_deref()
        }
        _ => false,
    };
    if !passed {
        let session = auth
            .and_then(|a| a.get("session"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .map_or_else(|| random_text(12), Ok)?;
        let mut challenge = json!({
            "flows": [{ "stages": [stage] }],
            "params": {},
            "session": session,
        });
        if auth_type.is_some() {
            challenge["errcode"] = json!("M_FORBIDDEN");
            challenge["error"] = json!("the registration token is not valid");
        }
        return Ok(Response::json(401, &challenge));
    }
    // Counted once the stages passed, so the 401 challenge does not count twice.
    if let Some(refusal) = rate_limit::check(server, &request, rate_limit::Action::Registration) {
        return Ok(refusal);
    }
    let localpart = match body.get("username").and_then(Value::as_str) {
        Some(name) => name.to_lowercase(),
        None => random_text(9)?.to_lowercase().replace(['-', '_'], "x"),
    };
    let user_id = UserId::new_local(&localpart, &server.name).map_err(|e| {
        MatrixError::new(
            400,
            ErrCode::InvalidUsername,
            format!("invalid user name: {e}"),
        )
    })?;
    let password = body.get("password").and_then(Value::as_str).unwrap_or("");
    if password.is_empty() {
        return Err(MatrixError::new(
            400,
            ErrCode::MissingParam,
            "a password is required",
        ));
    }
    let candidate = password.to_owned();
    let hash = smol::unblock(move || hash_password(&candidate))
        .await
        .map_err(|e| MatrixError::new(500, ErrCode::Unknown, e))?;
    let id = user_id.as_str().to_owned();
    let created = server
        .store
        .write(move |transaction| users::create(transaction, &id, Some(&hash), false, now_ms()))
        .await;
    match created {
        Ok(()) => {}
        Err(StoreError::AlreadyExists) => {
            return Err(MatrixError::new(
                400,
                ErrCode::UserInUse,
                "that user name is taken",
            ));
        }
        Err(e) => return Err(internal(&e)),
    }
    crate::info!("registered {user_id}");
    if body.get("inhibit_login").and_then(Value::as_bool) == Some(true) {
        return Ok(Response::ok(&json!({ "user_id": user_id.as_str() })));
    }
    start_session(server, &user_id, &body).await
}

pub async fn available(server: &Server, request: Request) -> ApiResult {
    let localpart = request
        .query_param("username")
        .ok_or_else(|| MatrixError::new(400, ErrCode::MissingParam, "username is required"))?
        .to_lowercase();
    let user_id = UserId::new_local(&localpart, &server.name).map_err(|e| {
        MatrixError::new(
            400,
            ErrCode::InvalidUsername,
            format!("invalid user name: {e}"),
        )
    })?;
    let id = user_id.as_str().to_owned();
    let existing = server
        .store
        .read(move |connection| users::get(connection, &id))
        .await
        .map_err(|e| internal(&e))?;
    match existing {
        Some(_) => Err(MatrixError::new(
            400,
            ErrCode::UserInUse,
            "that user name is taken",
        )),
        None => Ok(Response::ok(&json!({ "available": true }))),
    }
}

pub async fn token_validity(server: &Server, request: Request) -> ApiResult {
    let token = request
        .query_param("token")
        .ok_or_else(|| MatrixError::new(400, ErrCode::MissingParam, "token is required"))?;
    let valid = server.config.registration.token.as_deref() == Some(token);
    Ok(Response::ok(&json!({ "valid": valid })))
}
