//! The notary endpoints: `POST /_matrix/key/v2/query` and
//! `GET /_matrix/key/v2/query/{serverName}` (spec: s2s "Querying Keys Through Another
//! Server", data/api/server-server/keys_query.yaml). hearth answers with each server's
//! key document as that server signed it, fetched on demand or from the cache (also when
//! the server is offline), countersigned with our own key.
//!
//! Unauthenticated, like every `/_matrix/key/*` endpoint.

use serde_json::{Value, json};

use crate::api::{ApiResult, Request, Response};
use crate::federation::endpoints::server_keys::key_document;
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::id::ServerName;
use crate::proto::signing::sign_json;
use crate::server::{Server, now_ms};
use crate::store::server_keys as own_keys;

/// A query names at most this many servers: each may cost a fetch.
const MAX_SERVERS: usize = 50;

/// `GET /_matrix/key/v2/query/{serverName}?minimum_valid_until_ts=`.
pub async fn handle_get(server: &Server, request: Request) -> ApiResult {
    let server_name = ServerName::parse(request.param(0))
        .map_err(|e| MatrixError::new(400, ErrCode::InvalidParam, format!("serverName: {e}")))?;
    let minimum = match request.query_param("minimum_valid_until_ts") {
        None => None,
        Some(text) => Some(text.parse::<i64>().map_err(|_| {
            MatrixError::new(
                400,
                ErrCode::InvalidParam,
                "minimum_valid_until_ts must be an integer",
            )
        })?),
    };
    let documents = answer(server, &[(server_name, minimum, Vec::new())]).await?;
    Ok(Response::ok(&json!({ "server_keys": documents })))
}

/// `POST /_matrix/key/v2/query` with `{"server_keys": {name: {keyId: {criteria}}}}`.
pub async fn handle_post(server: &Server, request: Request) -> ApiResult {
    let body = request.json_object()?;
    let queries = body
        .get("server_keys")
        .and_then(Value::as_object)
        .ok_or_else(|| MatrixError::new(400, ErrCode::BadJson, "server_keys must be an object"))?;
    if queries.len() > MAX_SERVERS {
        return Err(MatrixError::new(
            400,
            ErrCode::InvalidParam,
            format!("at most {MAX_SERVERS} servers per query"),
        ));
    }
    let mut wanted = Vec::new();
    for (name, key_criteria) in queries {
        // A name that is not a server name has no keys anywhere: leave it out, as for
        // any server that cannot be reached.
        let Ok(server_name) = ServerName::parse(name) else {
            continue;
        };
        let criteria = key_criteria.as_object().cloned().unwrap_or_default();
        // The strictest `minimum_valid_until_ts` of the keys asked about.
        let minimum = criteria
            .values()
            .filter_map(|c| c.get("minimum_valid_until_ts").and_then(Value::as_i64))
            .max();
        wanted.push((server_name, minimum, criteria.keys().cloned().collect()));
    }
    let documents = answer(server, &wanted).await?;
    Ok(Response::ok(&json!({ "server_keys": documents })))
}

/// One countersigned document per server that has one; servers with none are left out
/// (spec: "Servers which are offline and have no cached keys will not be included").
async fn answer(
    server: &Server,
    wanted: &[(ServerName, Option<i64>, Vec<String>)],
) -> Result<Vec<Value>, MatrixError> {
    let now = now_ms();
    let mut documents = Vec::new();
    for (server_name, minimum, key_ids) in wanted {
        let document = if server_name == &server.name {
            let old_keys = server
                .store
                .read(own_keys::old_verify_keys)
                .await
                .map_err(|e| internal(&e))?;
            Some(key_document(server, &old_keys, now)?)
        } else {
            // Spec: "If not supplied, the notary server MUST use the current time."
            server
                .federation
                .keys
                .document(
                    &server.store,
                    &server.federation.client,
                    server_name,
                    minimum.unwrap_or(now),
                    key_ids,
                )
                .await
                .map_err(|e| internal(&e))?
        };
        let Some(Value::Object(mut object)) = document else {
            continue;
        };
        sign_json(&mut object, server.server_name(), &server.signing_key)
            .map_err(|_| MatrixError::new(500, ErrCode::Unknown, "internal error"))?;
        documents.push(Value::Object(object));
    }
    Ok(documents)
}

fn internal(error: &dyn std::fmt::Display) -> MatrixError {
    crate::error!("notary: {error}");
    MatrixError::new(500, ErrCode::Unknown, "internal error")
}
