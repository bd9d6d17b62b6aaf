//! User-interactive authentication with one stage, `m.login.password`, for the operations
//! that need the user to prove it is them again: deleting devices, changing the password,
//! deactivating (spec: c2s "User-Interactive Authentication API").
//!
//! As Synapse does, the first request without `auth` gets 401 with the flows and a
//! session; the retry carries the password. Sessions are not stored: with a single stage
//! there is nothing to remember between requests, and the password is checked every time.

use serde_json::{Map, Value, json};

use super::auth::{internal, random_text};
use super::login::local_user_id;
use super::password::verify_password;
use crate::api::Response;
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::id::UserId;
use crate::server::Server;
use crate::store::users;

const PASSWORD: &str = "m.login.password";

/// Checks the body's `auth` for `user_id`. `Ok(None)`: passed. `Ok(Some(response))`: send
/// that 401 challenge back (first request, or a wrong password).
pub async fn require_password(
    server: &Server,
    user_id: &UserId,
    body: &Map<String, Value>,
) -> Result<Option<Response>, MatrixError> {
    let auth = body.get("auth").and_then(Value::as_object);
    let session = match auth.and_then(|a| a.get("session")).and_then(Value::as_str) {
        Some(session) => session.to_owned(),
        None => random_text(12)?,
    };
    let Some(auth) = auth.filter(|a| a.get("type").and_then(Value::as_str) == Some(PASSWORD))
    else {
        return Ok(Some(challenge(&session, None)));
    };
    // The identifier may be left out; when given, it must name the requester.
    let named = auth
        .get("identifier")
        .and_then(|identifier| identifier.get("user"))
        .or_else(|| auth.get("user"))
        .and_then(Value::as_str);
    if let Some(named) = named
        && local_user_id(server, named).as_ref() != Some(user_id)
    {
        return Err(MatrixError::new(
            403,
            ErrCode::Forbidden,
            "the authenticated user must be the requester",
        ));
    }
    let password = auth
        .get("password")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let lookup = user_id.as_str().to_owned();
    let record = server
        .store
        .read(move |connection| users::get(connection, &lookup))
        .await
        .map_err(|e| internal(&e))?;
    let hash = record
        .filter(|r| !r.deactivated)
        .and_then(|r| r.password_hash)
        .unwrap_or_default();
    // argon2 is slow on purpose: keep it off the executor threads.
    let matches = smol::unblock(move || verify_password(&password, &hash)).await;
    if matches {
        Ok(None)
    } else {
        Ok(Some(challenge(&session, Some("invalid password"))))
    }
}

fn challenge(session: &str, error: Option<&str>) -> Response {
    let mut body = json!({
        "flows": [{ "stages": [PASSWORD] }],
        "params": {},
        "session": session,
        "completed": [],
    });
    if let Some(error) = error {
        body["errcode"] = json!("M_FORBIDDEN");
        body["error"] = json!(error);
    }
    Response::json(401, &body)
}
