//! Inbound request authentication (spec: s2s "Request Authentication"; checklist §2.2):
//! the router runs [`authenticate`] before the handler of every route marked as signed,
//! and the handler gets the authenticated origin in `Request::origin`.

use serde_json::Value;

use crate::api::Request;
use crate::federation::FedError;
use crate::federation::keys::KeyUse;
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::id::ServerName;
use crate::proto::x_matrix::{self, XMatrixError};
use crate::server::{Server, now_ms};

/// Checks the request's `X-Matrix` header: `destination` (when present) is us, and the
/// origin's current key signed the method, `uri` (path and query exactly as received)
/// and body. Returns the origin; 401 `M_UNAUTHORIZED` saying why otherwise.
pub async fn authenticate(
    server: &Server,
    request: &Request,
    uri: &str,
) -> Result<ServerName, MatrixError> {
    let content: Option<Value> = if request.body.is_empty() {
        None
    } else {
        let parsed = serde_json::from_slice(&request.body)
            .map_err(|_| MatrixError::new(400, ErrCode::NotJson, "the body is not valid JSON"))?;
        Some(parsed)
    };
    // A sender with several keys may send one X-Matrix header per key (Synapse accepts
    // that): one that verifies is enough; otherwise the first failure is the answer.
    let mut first_error = None;
    let authorizations = request
        .headers
        .iter()
        .filter(|(name, _)| name == "authorization")
        .map(|(_, value)| value.as_str());
    for authorization in authorizations {
        match check_one(server, request, uri, content.as_ref(), authorization).await {
            Ok(origin) => return Ok(origin),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error
        .unwrap_or_else(|| MatrixError::from(&FedError::Unauthorized(XMatrixError::NotXMatrix))))
}

/// Checks one `Authorization` header value.
async fn check_one(
    server: &Server,
    request: &Request,
    uri: &str,
    content: Option<&Value>,
    authorization: &str,
) -> Result<ServerName, MatrixError> {
    let unauthorized = |e: XMatrixError| MatrixError::from(&FedError::Unauthorized(e));
    let header = x_matrix::parse_header(authorization).map_err(unauthorized)?;
    x_matrix::check_destination(&header, &server.name).map_err(unauthorized)?;
    // Our own name too (a request from this server to itself): the key ring knows our
    // keys without a fetch.
    let key = server
        .federation
        .keys
        .get_key(
            &server.store,
            &server.federation.client,
            &header.origin,
            &header.key_id,
            KeyUse::Request { now_ms: now_ms() },
        )
        .await
        .map_err(|e| key_error(&header.origin, &header.key_id, e))?;
    x_matrix::verify_request(
        &header,
        request.method.as_str(),
        uri,
        &server.name,
        content,
        &key.public_key,
    )
    .map_err(unauthorized)?;
    // A server that reaches us is up: its queued transactions go now, not after the backoff.
    server
        .federation
        .sender
        .handle_destination_up(&header.origin);
    Ok(header.origin)
}

/// Without the origin's key the request is unauthenticated (401), whatever kept us from
/// the key; only our own storage failing is a 500.
fn key_error(origin: &ServerName, key_id: &str, error: FedError) -> MatrixError {
    crate::info!("X-Matrix from {origin}: {error}");
    match error {
        FedError::Store(_) => MatrixError::from(&error),
        _ => MatrixError::new(
            401,
            ErrCode::Unauthorized,
            format!("no valid key {key_id} of {origin} could be found or fetched"),
        ),
    }
}
