//! Joining a room on another server (spec: s2s "Joining Rooms"): `make_join` to a resident
//! server (offering every room version hearth supports), sign the template, `send_join`,
//! then check and store the answer's state and auth chain (`rooms::ingest`).

use serde_json::{Map, Value};

use crate::api::Method;
use crate::federation::client::path::encode as encode_path;
use crate::federation::event_keys::fetch_event_keys;
use crate::federation::template::{Handshake, membership_handshake, peer_failure, remote_refusal};
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::hashes::event_id_for;
use crate::proto::id::{RoomAliasId, RoomId, ServerName, UserId};
use crate::proto::pdu::Pdu;
use crate::proto::room_version::RoomRules;
use crate::rooms::RoomError;
use crate::rooms::ingest::ingest_send_join;
use crate::server::Server;

/// Resolves a remote alias through its server's `query/directory`: (room ID, servers).
pub async fn resolve_alias(
    server: &Server,
    alias: &RoomAliasId,
) -> Result<(RoomId, Vec<ServerName>), MatrixError> {
    let path = format!(
        "/_matrix/federation/v1/query/directory?room_alias={}",
        encode_path(alias.as_str())
    );
    let (status, body) = server
        .federation
        .client
        .request(alias.server_name(), Method::Get, &path, None)
        .await
        .map_err(|e| peer_failure("directory query", &e))?;
    if status == 404 {
        return Err(MatrixError::new(
            404,
            ErrCode::NotFound,
            format!("{alias} not found on {}", alias.server_name()),
        ));
    }
    if status != 200 {
        // Not "not found": a 401 here means the peer cannot check our signature.
        return Err(remote_refusal("query/directory", status, &body));
    }
    let room_id = body
        .get("room_id")
        .and_then(Value::as_str)
        .and_then(|id| RoomId::parse(id).ok())
        .ok_or_else(|| {
            MatrixError::new(
                502,
                ErrCode::Unknown,
                "the directory answer has no valid room_id",
            )
        })?;
    let servers = body
        .get("servers")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|s| s.as_str().and_then(|s| ServerName::parse(s).ok()))
                .collect()
        })
        .unwrap_or_default();
    Ok((room_id, servers))
}

/// Joins `user` to the remote room `room_id` through one of `via`; returns the join event ID.
pub async fn join_remote(
    server: &Server,
    user: &UserId,
    room_id: &RoomId,
    via: &[ServerName],
) -> Result<String, MatrixError> {
    let mut candidates: Vec<ServerName> = Vec::new();
    for name in via.iter().cloned().chain(room_id.server_name().cloned()) {
        if name != server.name && !candidates.contains(&name) {
            candidates.push(name);
        }
    }
    if candidates.is_empty() {
        return Err(MatrixError::new(
            404,
            ErrCode::NotFound,
            "no server to join the room through; give `via`",
        ));
    }
    let mut failures = Vec::new();
    for resident in &candidates {
        match join_via(server, user, room_id, resident).await {
            Ok(event_id) => return Ok(event_id),
            // The room's own answer (forbidden, a version we lack) holds for every
            // resident, as Synapse takes it; a server that failed is worth a next try.
            Err(e) if (400..500).contains(&e.status) => {
                crate::info!("join of {room_id} via {resident} refused: {e}");
                return Err(e);
            }
            Err(e) => {
                crate::info!("join of {room_id} via {resident} failed: {e}");
                failures.push(format!("{resident}: {}", e.error));
            }
        }
    }
    Err(MatrixError::new(
        502,
        ErrCode::Unknown,
        format!("could not join {room_id}: {}", failures.join("; ")),
    ))
}

async fn join_via(
    server: &Server,
    user: &UserId,
    room_id: &RoomId,
    resident: &ServerName,
) -> Result<String, MatrixError> {
    let versions: String = RoomRules::ALL
        .iter()
        .map(|r| format!("ver={}", r.version))
        .collect::<Vec<_>>()
        .join("&");
    let Handshake {
        rules,
        event_id,
        event,
        answer,
    } = membership_handshake(server, resident, room_id, user, "join", &versions).await?;
    // A restricted join comes back signed by the resident server too: use that copy.
    let join_json = match answer.get("event").and_then(Value::as_object) {
        Some(signed) if event_id_for(&rules, signed).ok().as_deref() == Some(event_id.as_str()) => {
            signed.clone()
        }
        _ => event,
    };
    let objects = |name: &str| -> Vec<Map<String, Value>> {
        answer
            .get(name)
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(|e| e.as_object().cloned()).collect())
            .unwrap_or_default()
    };
    let (state, auth_chain) = (objects("state"), objects("auth_chain"));
    let all: Vec<&Map<String, Value>> = state.iter().chain(auth_chain.iter()).collect();
    let keys = fetch_event_keys(server, &rules, &all).await;
    let room_id_text = room_id.as_str().to_owned();
    let join = Pdu::new(event_id.clone(), join_json);
    let count = state.len();
    let joined = server
        .store
        .write(move |transaction| {
            let lookup = |name: &ServerName, key_id: &str| {
                keys.get(&(name.clone(), key_id.to_owned())).cloned()
            };
            match ingest_send_join(
                transaction,
                &rules,
                &room_id_text,
                state,
                auth_chain,
                join,
                &lookup,
            ) {
                Ok(joined) => Ok(Ok(joined.left_out)),
                Err(RoomError::Store(e)) => Err(e),
                Err(e) => Ok(Err(MatrixError::from(&e))),
            }
        })
        .await
        .map_err(|e| {
            crate::error!("storing the join of {room_id}: {e}");
            MatrixError::new(500, ErrCode::Unknown, "internal error")
        })??;
    server.notifier.notify();
    crate::info!("{user} joined {room_id} via {resident}: {count} state events, {joined} left out");
    Ok(event_id)
}
