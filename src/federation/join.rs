//! Joining a room on another server (spec: s2s "Joining Rooms"): `make_join` to a resident
//! server (offering every room version hearth supports), sign the template, `send_join`,
//! then check and store the answer's state and auth chain (`rooms::ingest`).

use std::time::Instant;

use futures_lite::future;
use serde_json::{Map, Value};

use crate::api::Method;
use crate::federation::client::path::encode as encode_path;
use crate::federation::event_keys::fetch_keys;
use crate::federation::template::{Handshake, membership_handshake, peer_failure, remote_refusal};
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::hashes::event_id_for;
use crate::proto::id::{RoomAliasId, RoomId, ServerName, UserId};
use crate::proto::pdu::Pdu;
use crate::proto::room_version::RoomRules;
use crate::rooms::RoomError;
use crate::rooms::ingest::ingest_send_join;
use crate::rooms::join_answer::{SendJoinAnswer, check_channel};
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
    let started = Instant::now();
    // The resident signed most of what it will answer: its keys are fetched (unless
    // stored and valid) while it answers send_join, not after.
    let prefetch =
        server
            .federation
            .keys
            .prefetch(&server.store, &server.federation.client, resident);
    let handshake =
        membership_handshake(server, resident, room_id, user, "join", &versions, prefetch);
    let Handshake {
        rules,
        event_id,
        event,
        answer,
    } = handshake.await?;
    let answer_bytes = answer.len();
    let bad_answer =
        |why: String| MatrixError::new(502, ErrCode::Unknown, format!("send_join: {why}"));
    // Off the executor: reading 7 MB of JSON (a 10,000-member room) takes a while.
    let (answer, mut survey, signed_join) = smol::unblock(move || {
        let parsed = SendJoinAnswer::parse(&answer)?;
        let survey = parsed.survey(&rules);
        let signed_join = parsed
            .event
            .and_then(|raw| serde_json::from_str::<Map<String, Value>>(raw.get()).ok());
        Ok::<_, String>((answer, survey, signed_join))
    })
    .await
    .map_err(bad_answer)?;
    // A restricted join comes back signed by the resident server too: use that copy.
    let join_json = match signed_join {
        Some(signed)
            if event_id_for(&rules, &signed).ok().as_deref() == Some(event_id.as_str()) =>
        {
            signed
        }
        _ => event,
    };
    let received = started.elapsed();
    let keys = fetch_keys(server, &rules, std::mem::take(&mut survey.wanted)).await;
    let keyed = started.elapsed();
    let room_id_text = room_id.as_str().to_owned();
    // Signatures, hashes and IDs of every event, on every core, off the executor, a batch
    // at a time; the writer stores each batch (auth rules) while the next is checked.
    let (checked, checker) = check_channel(survey);
    let checks = smol::unblock(move || {
        let parsed = SendJoinAnswer::parse(&answer)?;
        let lookup =
            |name: &ServerName, key_id: &str| keys.get(&(name.clone(), key_id.to_owned())).cloned();
        checker.run(&rules, &room_id_text, &parsed, &lookup);
        Ok::<_, String>(Instant::now())
    });
    let room_id_text = room_id.as_str().to_owned();
    let join = Pdu::new(event_id.clone(), join_json);
    let stores = server.store.write(move |transaction| {
        match ingest_send_join(transaction, &rules, &room_id_text, checked, join) {
            Ok(joined) => Ok(Ok(joined)),
            Err(RoomError::Store(e)) => Err(e),
            Err(e) => Ok(Err(MatrixError::from(&e))),
        }
    });
    let (checked_at, joined) = future::zip(checks, stores).await;
    // A body that did not parse the second time cannot have parsed the first.
    let checked_at = checked_at.map_err(bad_answer)?;
    let joined = joined.map_err(|e| {
        crate::error!("storing the join of {room_id}: {e}");
        MatrixError::new(500, ErrCode::Unknown, "internal error")
    })??;
    server.notifier.notify();
    crate::info!(
        "{user} joined {room_id} via {resident}: {} events, {} left out; \
         {answer_bytes} bytes answered in {} ms, keys by {} ms, checked by {} ms, stored by {} ms",
        joined.events,
        joined.left_out,
        received.as_millis(),
        keyed.as_millis(),
        (checked_at - started).as_millis(),
        started.elapsed().as_millis()
    );
    Ok(event_id)
}
