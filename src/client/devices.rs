//! Devices (spec: c2s "Device Management"): `GET /devices`, `GET/PUT/DELETE
//! /devices/{deviceId}`, `POST /delete_devices`. Deleting needs the password again
//! (user-interactive auth) and ends the device's access token at once.

use serde_json::{Value, json};

use super::auth::{self, authenticate, internal};
use super::uia::require_password;
use crate::api::{ApiResult, Request, Response};
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::server::Server;
use crate::store::devices::{self, Device};

pub async fn list(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let user = requester.user_id.as_str().to_owned();
    let found = server
        .store
        .read(move |connection| devices::devices_of(connection, &user))
        .await
        .map_err(|e| internal(&e))?;
    let list: Vec<Value> = found.iter().map(device_json).collect();
    Ok(Response::ok(&json!({ "devices": list })))
}

pub async fn get(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let device = find(server, requester.user_id.as_str(), request.param(0)).await?;
    Ok(Response::ok(&device_json(&device)))
}

/// `PUT /devices/{deviceId}`: only `display_name` can change.
pub async fn put(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let body = request.json_object()?;
    let display_name = match body.get("display_name") {
        None => return Ok(Response::ok(&json!({}))),
        Some(Value::Null) => None,
        Some(Value::String(name)) if name.len() <= 100 => Some(name.clone()),
        Some(Value::String(_)) => {
            return Err(MatrixError::new(
                400,
                ErrCode::InvalidParam,
                "display_name is longer than 100 bytes",
            ));
        }
        Some(_) => {
            return Err(MatrixError::new(
                400,
                ErrCode::BadJson,
                "display_name must be a string",
            ));
        }
    };
    let (user, device) = (
        requester.user_id.as_str().to_owned(),
        request.param(0).to_owned(),
    );
    let changed = server
        .store
        .write(move |transaction| {
            devices::set_device_display_name(transaction, &user, &device, display_name.as_deref())
        })
        .await
        .map_err(|e| internal(&e))?;
    if !changed {
        return Err(not_found());
    }
    Ok(Response::ok(&json!({})))
}

/// `DELETE /devices/{deviceId}` (user-interactive auth).
pub async fn delete(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    // Spec: 200 also when the device "had been removed previously" (no 404 here).
    let device_id = request.param(0).to_owned();
    let body = if request.body.is_empty() {
        serde_json::Map::new()
    } else {
        request.json_object()?
    };
    if let Some(challenge) = require_password(server, &requester.user_id, &body).await? {
        return Ok(challenge);
    }
    delete_devices(server, requester.user_id.as_str(), vec![device_id]).await?;
    Ok(Response::ok(&json!({})))
}

/// `POST /delete_devices` with `devices: [...]` (user-interactive auth); unknown IDs are
/// ignored, as the spec allows.
pub async fn delete_many(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let body = request.json_object()?;
    let list = body
        .get("devices")
        .and_then(Value::as_array)
        .ok_or_else(|| MatrixError::new(400, ErrCode::BadJson, "devices must be a list"))?;
    let mut device_ids = Vec::new();
    for entry in list {
        let id = entry
            .as_str()
            .ok_or_else(|| MatrixError::new(400, ErrCode::BadJson, "devices must be strings"))?;
        device_ids.push(id.to_owned());
    }
    if let Some(challenge) = require_password(server, &requester.user_id, &body).await? {
        return Ok(challenge);
    }
    delete_devices(server, requester.user_id.as_str(), device_ids).await?;
    Ok(Response::ok(&json!({})))
}

/// Deletes the devices and forgets their tokens.
pub async fn delete_devices(
    server: &Server,
    user_id: &str,
    device_ids: Vec<String>,
) -> Result<(), MatrixError> {
    let user = user_id.to_owned();
    let hashes = server
        .store
        .write(move |transaction| {
            let mut hashes = Vec::new();
            for device in &device_ids {
                hashes.extend(devices::delete_device(transaction, &user, device)?);
            }
            Ok(hashes)
        })
        .await
        .map_err(|e| internal(&e))?;
    auth::forget_tokens(server, hashes.iter());
    Ok(())
}

async fn find(server: &Server, user_id: &str, device_id: &str) -> Result<Device, MatrixError> {
    let (user, device_id) = (user_id.to_owned(), device_id.to_owned());
    let found = server
        .store
        .read(move |connection| devices::devices_of(connection, &user))
        .await
        .map_err(|e| internal(&e))?;
    found
        .into_iter()
        .find(|device| device.device_id == device_id)
        .ok_or_else(not_found)
}

fn not_found() -> MatrixError {
    MatrixError::new(404, ErrCode::NotFound, "no such device")
}

/// Every field present, `null` when unknown: matrix-nio's schema requires all four (as
/// Synapse sends them).
fn device_json(device: &Device) -> Value {
    json!({
        "device_id": device.device_id,
        "display_name": device.display_name,
        "last_seen_ip": device.last_seen_ip,
        "last_seen_ts": device.last_seen_ts,
    })
}
