//! `GET /_matrix/key/v2/server` (and the legacy `/_matrix/key/v2/server/{keyId}`): the
//! server's published signing keys, signed by the current key.
//!
//! Spec: s2s "Publishing Keys" (data/api/server-server/keys_server.yaml).

use serde_json::{Map, Value, json};

use crate::api::{ApiResult, Request, Response};
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::signing::sign_json;
use crate::server::{Server, now_ms};
use crate::store::server_keys::{self, OldVerifyKey};

/// How long other servers may cache our key document. Synapse publishes one day; a week
/// lets a peer keep verifying our events through a longer outage of ours, and hearth keys
/// rotate rarely.
pub const KEY_VALIDITY_MS: i64 = 7 * 24 * 3600 * 1000;

pub async fn handle(server: &Server, _request: Request) -> ApiResult {
    let old_keys = server
        .store
        .read(server_keys::old_verify_keys)
        .await
        .map_err(|e| internal(&e))?;
    let document = key_document(server, &old_keys, now_ms())?;
    Ok(Response::ok(&document))
}

/// Builds and signs the key document for `now_ms`.
pub fn key_document(
    server: &Server,
    old_keys: &[OldVerifyKey],
    now_ms: i64,
) -> Result<Value, MatrixError> {
    let key = &server.signing_key;
    let mut old_verify_keys = Map::new();
    for old in old_keys {
        old_verify_keys.insert(
            old.key_id.clone(),
            json!({ "key": old.public_key, "expired_ts": old.expired_ts }),
        );
    }
    let mut document = json!({
        "server_name": server.server_name(),
        "verify_keys": { key.key_id(): { "key": key.public_key_base64() } },
        "old_verify_keys": old_verify_keys,
        "valid_until_ts": now_ms + KEY_VALIDITY_MS,
    });
    let object = document
        .as_object_mut()
        .ok_or_else(|| MatrixError::new(500, ErrCode::Unknown, "internal error"))?;
    sign_json(object, server.server_name(), key)
        .map_err(|_| MatrixError::new(500, ErrCode::Unknown, "internal error"))?;
    Ok(document)
}

fn internal(error: &crate::store::StoreError) -> MatrixError {
    crate::error!("key document: {error}");
    MatrixError::new(500, ErrCode::Unknown, "internal error")
}
