//! `GET/POST /_matrix/client/v3/login` (password login) and logout.
//!
//! Spec: c2s "Login" (`m.login.password` with an `m.id.user` identifier, full user IDs or
//! localparts; the deprecated top-level `user` is accepted too).

use serde_json::{Value, json};

use super::auth::{self, authenticate, internal, start_session};
use super::password::verify_password;
use super::rate_limit;
use crate::api::{ApiResult, Request, Response};
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::id::UserId;
use crate::server::Server;
use crate::store::{devices, users};

pub async fn flows(_server: &Server, _request: Request) -> ApiResult {
    Ok(Response::ok(
        &json!({ "flows": [{ "type": "m.login.password" }] }),
    ))
}

pub async fn login(server: &Server, request: Request) -> ApiResult {
    if let Some(refusal) = rate_limit::check(server, &request, rate_limit::Action::Login) {
        return Ok(refusal);
    }
    let body = request.json_object()?;
    let login_type = body.get("type").and_then(Value::as_str).unwrap_or("");
    if login_type != "m.login.password" {
        return Err(MatrixError::new(
            400,
            ErrCode::Unknown,
            format!("login type {login_type:?} is not supported; use m.login.password"),
        ));
    }
    let user_text = body
        .get("identifier")
        .and_then(|identifier| {
            (identifier.get("type").and_then(Value::as_str) == Some("m.id.user"))
                .then(|| identifier.get("user").and_then(Value::as_str))
                .flatten()
        })
        .or_else(|| body.get("user").and_then(Value::as_str))
        .ok_or_else(|| {
            MatrixError::new(400, ErrCode::BadJson, "an m.id.user identifier is required")
        })?;
    let password = body
        .get("password")
        .and_then(Value::as_str)
        .ok_or_else(|| MatrixError::new(400, ErrCode::BadJson, "password is required"))?;
    let user_id = local_user_id(server, user_text).ok_or_else(forbidden)?;
    let lookup = user_id.as_str().to_owned();
    let record = server
        .store
        .read(move |connection| users::get(connection, &lookup))
        .await
        .map_err(|e| internal(&e))?;
    let Some(record) = record.filter(|r| !r.deactivated) else {
        return Err(forbidden());
    };
    let hash = record.password_hash.unwrap_or_default();
    let candidate = password.to_owned();
    // argon2 is slow on purpose: keep it off the executor threads.
    let matches = smol::unblock(move || verify_password(&candidate, &hash)).await;
    if !matches {
        return Err(forbidden());
    }
    start_session(server, &user_id, &body).await
}

/// `@alice:server`, or a bare localpart of this server; `None` for other servers' users.
pub fn local_user_id(server: &Server, text: &str) -> Option<UserId> {
    let full = if text.starts_with('@') {
        text.to_owned()
    } else {
        format!("@{}:{}", text.to_lowercase(), server.server_name())
    };
    let user_id = UserId::parse(&full).ok()?;
    (user_id.server_name() == &server.name).then_some(user_id)
}

fn forbidden() -> MatrixError {
    MatrixError::new(403, ErrCode::Forbidden, "invalid user name or password")
}

pub async fn logout(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let (user, device) = (
        requester.user_id.as_str().to_owned(),
        requester.device_id.clone(),
    );
    let hash = server
        .store
        .write(move |transaction| devices::delete_device(transaction, &user, &device))
        .await
        .map_err(|e| internal(&e))?;
    auth::forget_tokens(server, hash.iter());
    Ok(Response::ok(&json!({})))
}

pub async fn logout_all(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let user = requester.user_id.as_str().to_owned();
    let hashes = server
        .store
        .write(move |transaction| {
            let mut hashes = Vec::new();
            for device in devices::devices_of(transaction, &user)? {
                hashes.extend(devices::delete_device(
                    transaction,
                    &user,
                    &device.device_id,
                )?);
            }
            Ok(hashes)
        })
        .await
        .map_err(|e| internal(&e))?;
    auth::forget_tokens(server, hashes.iter());
    Ok(Response::ok(&json!({})))
}

pub async fn whoami(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    Ok(Response::ok(&json!({
        "user_id": requester.user_id.as_str(),
        "device_id": requester.device_id,
        "is_guest": false,
    })))
}
