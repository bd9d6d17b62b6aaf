//! Access tokens: issuing them at login/registration and finding the user behind a request.
//!
//! Tokens are random (32 bytes), handed to the client once, and stored only as SHA-256
//! hashes. An in-memory cache saves a database read per authenticated request.

use sha2::{Digest, Sha256};

use crate::api::Request;
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::id::UserId;
use crate::server::{Server, now_ms};
use crate::store::devices;

/// The user and device behind an authenticated request.
#[derive(Debug, Clone)]
pub struct Requester {
    pub user_id: UserId,
    pub device_id: String,
}

/// Finds the requester from `Authorization: Bearer` (or the deprecated `access_token`
/// query parameter): 401 `M_MISSING_TOKEN` / `M_UNKNOWN_TOKEN` otherwise.
pub async fn authenticate(server: &Server, request: &Request) -> Result<Requester, MatrixError> {
    let token = bearer_token(request)
        .ok_or_else(|| MatrixError::new(401, ErrCode::MissingToken, "missing access token"))?;
    let hash = token_hash(token);
    let cached = server
        .token_cache
        .read()
        .ok()
        .and_then(|cache| cache.get(&hash).cloned());
    let (user_id, device_id) = match cached {
        Some(found) => found,
        None => {
            let lookup = hash.clone();
            let found = server
                .store
                .read(move |connection| devices::device_by_token_hash(connection, &lookup))
                .await
                .map_err(|e| internal(&e))?
                .ok_or_else(unknown_token)?;
            if let Ok(mut cache) = server.token_cache.write() {
                cache.insert(hash, found.clone());
            }
            found
        }
    };
    let user_id = UserId::parse(&user_id).map_err(|_| unknown_token())?;
    Ok(Requester { user_id, device_id })
}

fn unknown_token() -> MatrixError {
    MatrixError::new(
        401,
        ErrCode::UnknownToken,
        "unknown or expired access token",
    )
}

fn bearer_token(request: &Request) -> Option<&str> {
    if let Some(header) = request.header("authorization") {
        let (scheme, token) = header.trim().split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| token.trim());
    }
    request.query_param("access_token")
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    crate::proto::signing::encode_base64(&digest)
}

/// Creates (or re-keys) a device for `user_id` and returns (device ID, access token).
pub async fn issue_token(
    server: &Server,
    user_id: &UserId,
    device_id: Option<String>,
    display_name: Option<String>,
) -> Result<(String, String), MatrixError> {
    let device_id = match device_id {
        Some(id) if !id.is_empty() && id.len() <= 255 => id,
        Some(_) => {
            return Err(MatrixError::new(
                400,
                ErrCode::InvalidParam,
                "invalid device_id",
            ));
        }
        None => random_text(8)?.to_uppercase(),
    };
    let token = format!("hth_{}", random_text(32)?);
    let hash = token_hash(&token);
    let (user, device) = (user_id.as_str().to_owned(), device_id.clone());
    let old_hashes = server
        .store
        .write(move |transaction| {
            let old = devices::delete_device(transaction, &user, &device)?;
            devices::upsert_device(
                transaction,
                &user,
                &device,
                display_name.as_deref(),
                &hash,
                now_ms(),
            )?;
            Ok(old)
        })
        .await
        .map_err(|e| internal(&e))?;
    forget_tokens(server, old_hashes.iter());
    Ok((device_id, token))
}

/// Drops token hashes from the cache (logout, device deletion, password change).
pub fn forget_tokens<'a>(server: &Server, hashes: impl Iterator<Item = &'a String>) {
    if let Ok(mut cache) = server.token_cache.write() {
        for hash in hashes {
            cache.remove(hash);
        }
    }
}

/// URL-safe random text from `bytes` random bytes.
pub fn random_text(bytes: usize) -> Result<String, MatrixError> {
    use base64::Engine as _;
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer)
        .map_err(|_| MatrixError::new(500, ErrCode::Unknown, "no randomness"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&buffer))
}

/// A store error as the client sees it: 500 with a fixed text; details go to the log.
pub fn internal(error: &crate::store::StoreError) -> MatrixError {
    crate::error!("client API: {error}");
    MatrixError::new(500, ErrCode::Unknown, "internal error")
}

/// Logs `user_id` in on the device the login or registration body names (or a new one),
/// answering as both endpoints do: user ID, access token, device ID, server name.
pub async fn start_session(
    server: &Server,
    user_id: &UserId,
    body: &serde_json::Map<String, serde_json::Value>,
) -> Result<crate::api::Response, MatrixError> {
    let text = |name: &str| {
        body.get(name)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    let (device_id, access_token) = issue_token(
        server,
        user_id,
        text("device_id"),
        text("initial_device_display_name"),
    )
    .await?;
    Ok(crate::api::Response::ok(&serde_json::json!({
        "user_id": user_id.as_str(),
        "access_token": access_token,
        "device_id": device_id,
        "home_server": server.server_name(),
    })))
}
