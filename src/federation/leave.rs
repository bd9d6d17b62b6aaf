//! Leaving (or declining an invite to) a room this server is not in, through a resident
//! server: `make_leave`, sign, v2 `send_leave` (spec: s2s "Leaving Rooms (Rejecting Invites)").
//! The leave is kept as an outlier that ends the user's membership here.

use serde_json::{Map, Value, json};

use crate::api::Method;
use crate::federation::client::path::encode as encode_path;
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::hashes::{event_id_for, hash_and_sign_event};
use crate::proto::id::{RoomId, ServerName, UserId};
use crate::proto::room_version::{EventIdFormat, RoomRules};
use crate::server::{Server, now_ms};
use crate::store::events::{self, NewEvent};

pub async fn leave_remote(
    server: &Server,
    user: &UserId,
    room_id: &RoomId,
    via: &[ServerName],
) -> Result<(), MatrixError> {
    let mut failures = Vec::new();
    for resident in via.iter().filter(|name| **name != server.name) {
        match leave_via(server, user, room_id, resident).await {
            Ok(()) => return Ok(()),
            Err(e) => failures.push(format!("{resident}: {}", e.error)),
        }
    }
    Err(MatrixError::new(
        502,
        ErrCode::Unknown,
        format!("could not leave {room_id}: {}", failures.join("; ")),
    ))
}

async fn leave_via(
    server: &Server,
    user: &UserId,
    room_id: &RoomId,
    resident: &ServerName,
) -> Result<(), MatrixError> {
    let path = format!(
        "/_matrix/federation/v1/make_leave/{}/{}",
        encode_path(room_id.as_str()),
        encode_path(user.as_str())
    );
    let failed = |why: String| MatrixError::new(502, ErrCode::Unknown, why);
    let (status, template) = server
        .federation
        .client
        .request(resident, Method::Get, &path, None)
        .await
        .map_err(|e| failed(e.to_string()))?;
    if status != 200 {
        return Err(failed(format!("make_leave answered {status}: {template}")));
    }
    let version = template
        .get("room_version")
        .and_then(Value::as_str)
        .unwrap_or("1");
    let rules = RoomRules::for_version(version).ok_or_else(|| {
        MatrixError::new(
            400,
            ErrCode::UnsupportedRoomVersion,
            format!("room version {version}"),
        )
    })?;
    let mut event: Map<String, Value> =
        template
            .get("event")
            .and_then(Value::as_object)
            .cloned()
            .ok_or_else(|| failed("make_leave answered no event".into()))?;
    if event.get("state_key").and_then(Value::as_str) != Some(user.as_str()) {
        return Err(failed(
            "make_leave answered a template for someone else".into(),
        ));
    }
    for field in ["signatures", "hashes", "unsigned"] {
        event.remove(field);
    }
    event.insert("origin_server_ts".into(), json!(now_ms()));
    if rules.event_id_format == EventIdFormat::Explicit {
        let mut random = [0u8; 12];
        getrandom::fill(&mut random).map_err(|_| failed("no randomness".into()))?;
        let id: String = random.iter().map(|b| format!("{b:02x}")).collect();
        event.insert(
            "event_id".into(),
            json!(format!("${id}:{}", server.server_name())),
        );
    }
    hash_and_sign_event(&rules, &mut event, &server.name, &server.signing_key)
        .map_err(|e| failed(e.to_string()))?;
    let event_id = event_id_for(&rules, &event).map_err(|e| failed(e.to_string()))?;
    let path = format!(
        "/_matrix/federation/v2/send_leave/{}/{}",
        encode_path(room_id.as_str()),
        encode_path(&event_id)
    );
    let (status, answer) = server
        .federation
        .client
        .request(
            resident,
            Method::Put,
            &path,
            Some(&Value::Object(event.clone())),
        )
        .await
        .map_err(|e| failed(e.to_string()))?;
    if status != 200 {
        return Err(failed(format!("send_leave answered {status}: {answer}")));
    }
    let (room_id_text, user_text) = (room_id.as_str().to_owned(), user.as_str().to_owned());
    let version = rules.version;
    server
        .store
        .write(move |transaction| {
            let room_nid = match events::room_by_id(transaction, &room_id_text)? {
                Some(room) => room.room_nid,
                None => events::insert_room(transaction, &room_id_text, version)?,
            };
            let stream_ordering = events::next_stream_ordering(transaction)?;
            let text = Value::Object(event.clone()).to_string();
            let event_nid = events::insert_event(
                transaction,
                &NewEvent {
                    event_id: &event_id,
                    room_nid,
                    kind: "m.room.member",
                    state_key: Some(&user_text),
                    sender: &user_text,
                    origin_server_ts: event
                        .get("origin_server_ts")
                        .and_then(Value::as_i64)
                        .unwrap_or(0),
                    depth: event.get("depth").and_then(Value::as_i64).unwrap_or(0),
                    stream_ordering: Some(stream_ordering),
                    pdu: &text,
                    rejected: false,
                    soft_failed: false,
                    outlier: true,
                    state_group_before: None,
                    state_group_after: None,
                },
            )?;
            events::set_membership(
                transaction,
                &user_text,
                room_nid,
                "leave",
                event_nid,
                stream_ordering,
            )
        })
        .await
        .map_err(|e| {
            crate::error!("storing a remote leave: {e}");
            MatrixError::new(500, ErrCode::Unknown, "internal error")
        })?;
    server.notifier.notify();
    Ok(())
}
