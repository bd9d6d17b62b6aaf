//! `POST /account/password` and `POST /account/deactivate` (spec: c2s "Account
//! management"), both behind user-interactive auth with the current password.
//!
//! A password change logs out every other device unless `logout_devices` is false.
//! Deactivation removes every device, leaves every room (and declines invites), and
//! forgets the profile; the user ID stays taken.

use serde_json::{Map, Value, json};

use super::auth::{self, authenticate, internal};
use super::password::hash_password;
use super::room_write::send_event;
use super::uia::require_password;
use crate::api::{ApiResult, Request, Response};
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::rooms::LocalEvent;
use crate::server::Server;
use crate::store::{devices, events, profiles};

pub async fn change_password(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let body = request.json_object()?;
    let new_password = match body.get("new_password") {
        Some(Value::String(password)) if !password.is_empty() => password.clone(),
        Some(Value::String(_)) | None => {
            return Err(MatrixError::new(
                400,
                ErrCode::MissingParam,
                "new_password is required",
            ));
        }
        Some(_) => {
            return Err(MatrixError::new(
                400,
                ErrCode::BadJson,
                "new_password must be a string",
            ));
        }
    };
    let logout_devices = body
        .get("logout_devices")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    if let Some(challenge) = require_password(server, &requester.user_id, &body).await? {
        return Ok(challenge);
    }
    let hash = smol::unblock(move || hash_password(&new_password))
        .await
        .map_err(|e| MatrixError::new(500, ErrCode::Unknown, e))?;
    let (user, keep) = (requester.user_id.clone(), requester.device_id.clone());
    let hashes = server
        .store
        .write(move |transaction| {
            profiles::set_password_hash(transaction, &user, &hash)?;
            let mut hashes = Vec::new();
            if logout_devices {
                for device in devices::devices_of(transaction, user.as_str())? {
                    if device.device_id != keep {
                        hashes.extend(devices::delete_device(
                            transaction,
                            user.as_str(),
                            &device.device_id,
                        )?);
                    }
                }
            }
            Ok(hashes)
        })
        .await
        .map_err(|e| internal(&e))?;
    auth::forget_tokens(server, hashes.iter());
    crate::info!("{} changed their password", requester.user_id);
    Ok(Response::ok(&json!({})))
}

pub async fn deactivate(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let body = if request.body.is_empty() {
        Map::new()
    } else {
        request.json_object()?
    };
    if let Some(challenge) = require_password(server, &requester.user_id, &body).await? {
        return Ok(challenge);
    }
    let user = requester.user_id.clone();
    let (hashes, rooms) = server
        .store
        .write(move |transaction| {
            profiles::deactivate(transaction, &user)?;
            let mut hashes = Vec::new();
            for device in devices::devices_of(transaction, user.as_str())? {
                hashes.extend(devices::delete_device(
                    transaction,
                    user.as_str(),
                    &device.device_id,
                )?);
            }
            let rooms: Vec<String> = events::memberships_of_user(transaction, user.as_str())?
                .into_iter()
                .filter(|m| matches!(m.membership.as_str(), "join" | "invite" | "knock"))
                .map(|m| m.room_id)
                .collect();
            Ok((hashes, rooms))
        })
        .await
        .map_err(|e| internal(&e))?;
    auth::forget_tokens(server, hashes.iter());
    for room_id in rooms {
        let mut content = Map::new();
        content.insert("membership".into(), json!("leave"));
        let event = LocalEvent {
            kind: "m.room.member".into(),
            state_key: Some(requester.user_id.as_str().to_owned()),
            content,
            redacts: None,
        };
        if let Err(e) = send_event(server, &room_id, &requester.user_id, event).await {
            crate::warn!(
                "deactivation of {}: leaving {room_id}: {e}",
                requester.user_id
            );
        }
    }
    crate::info!("{} deactivated their account", requester.user_id);
    Ok(Response::ok(
        &json!({ "id_server_unbind_result": "no-support" }),
    ))
}
