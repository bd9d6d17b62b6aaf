//! Leaving (or declining an invite to) a room this server is not in, through a resident
//! server: `make_leave`, sign, v2 `send_leave` (spec: s2s "Leaving Rooms (Rejecting Invites)").
//! The leave is kept as an outlier that ends the user's membership here.

use serde_json::Value;

use crate::api::Method;
use crate::federation::client::path::encode as encode_path;
use crate::federation::template::sign_membership_template;
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::id::{RoomId, ServerName, UserId};
use crate::proto::room_version::RoomRules;
use crate::rooms::remote::store_outlier_membership;
use crate::server::Server;

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
    let (event_id, event) = sign_membership_template(server, &rules, user, &template)
        .map_err(|why| failed(format!("make_leave: {why}")))?;
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
    let room_id_text = room_id.as_str().to_owned();
    let version = rules.version;
    server
        .store
        .write(move |transaction| {
            store_outlier_membership(transaction, &room_id_text, version, &event_id, &event)
        })
        .await
        .map_err(|e| {
            crate::error!("storing a remote leave: {e}");
            MatrixError::new(500, ErrCode::Unknown, "internal error")
        })?;
    server.notifier.notify();
    Ok(())
}
