//! Endpoints clients call at start-up for features hearth does not have yet (end-to-end
//! encryption, media, OAuth, TURN, third-party networks). Each answers at once, either
//! with the empty answer the spec allows (so that Element and matrix-nio carry on) or with
//! a Matrix error that says what is missing; never a hang or a 500 (checklist §5.4–5.5).
//!
//! Empty answers: `keys/upload` (no one-time keys stored, as Conduit answers), `keys/query`
//! and `keys/claim` (no devices with keys), `keys/changes`, `voip/turnServer` (`{}` means
//! no TURN server, as Synapse answers when none is configured), `thirdparty/protocols`,
//! `account/3pid`. Errors: `sendToDevice`, cross-signing uploads, key backup, media and
//! `auth_metadata`.

use serde_json::json;

use super::auth::authenticate;
use crate::api::{ApiResult, Request, Response};
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::server::Server;

/// `GET /_matrix/client/v1/auth_metadata` (and MSC2965's unstable forms): no OAuth 2.0 here;
/// spec: 404 `M_UNRECOGNIZED`, and clients fall back to password login.
pub async fn auth_metadata(_server: &Server, _request: Request) -> ApiResult {
    Err(MatrixError::new(
        404,
        ErrCode::Unrecognized,
        "this server does not support OAuth 2.0 authentication; use m.login.password",
    ))
}

/// `POST /keys/upload`: keys are not stored yet, so no one-time keys are counted.
pub async fn keys_upload(server: &Server, request: Request) -> ApiResult {
    authenticate(server, &request).await?;
    Ok(Response::ok(&json!({ "one_time_key_counts": {} })))
}

/// `POST /keys/query`: no device has keys here.
pub async fn keys_query(server: &Server, request: Request) -> ApiResult {
    authenticate(server, &request).await?;
    Ok(Response::ok(&json!({ "device_keys": {}, "failures": {} })))
}

/// `POST /keys/claim`: there are no one-time keys to claim.
pub async fn keys_claim(server: &Server, request: Request) -> ApiResult {
    authenticate(server, &request).await?;
    Ok(Response::ok(
        &json!({ "one_time_keys": {}, "failures": {} }),
    ))
}

/// `GET /keys/changes`: device lists never change without keys.
pub async fn keys_changes(server: &Server, request: Request) -> ApiResult {
    authenticate(server, &request).await?;
    Ok(Response::ok(&json!({ "changed": [], "left": [] })))
}

/// `PUT /sendToDevice/{type}/{txnId}`, `POST /keys/device_signing/upload`,
/// `POST /keys/signatures/upload`.
pub async fn encryption_unsupported(server: &Server, request: Request) -> ApiResult {
    authenticate(server, &request).await?;
    Err(MatrixError::new(
        404,
        ErrCode::Unrecognized,
        "end-to-end encryption (device keys, to-device messages, cross-signing) is not supported by this server yet",
    ))
}

/// `GET /room_keys/version`: spec: 404 `M_NOT_FOUND` when there is no backup.
pub async fn room_keys_version(server: &Server, request: Request) -> ApiResult {
    authenticate(server, &request).await?;
    Err(MatrixError::new(
        404,
        ErrCode::NotFound,
        "no current key backup version (key backup is not supported by this server yet)",
    ))
}

/// Media uploads, configuration and previews (legacy `/_matrix/media/*` and
/// `/_matrix/client/v1/media/*`).
pub async fn media_unsupported(_server: &Server, _request: Request) -> ApiResult {
    Err(MatrixError::new(
        404,
        ErrCode::Unrecognized,
        "media (upload, download, thumbnails) is not supported by this server yet",
    ))
}

/// Media downloads and thumbnails: nothing was ever uploaded here.
pub async fn media_not_found(_server: &Server, _request: Request) -> ApiResult {
    Err(MatrixError::new(
        404,
        ErrCode::NotFound,
        "media not found: media is not supported by this server yet",
    ))
}

/// `GET /voip/turnServer`: `{}` means no TURN server (Synapse's answer when unconfigured).
pub async fn turn_server(server: &Server, request: Request) -> ApiResult {
    authenticate(server, &request).await?;
    Ok(Response::ok(&json!({})))
}

/// `GET /thirdparty/protocols`: no bridges.
pub async fn thirdparty_protocols(server: &Server, request: Request) -> ApiResult {
    authenticate(server, &request).await?;
    Ok(Response::ok(&json!({})))
}

/// `GET /account/3pid`: no third-party identifiers.
pub async fn threepids(server: &Server, request: Request) -> ApiResult {
    authenticate(server, &request).await?;
    Ok(Response::ok(&json!({ "threepids": [] })))
}
