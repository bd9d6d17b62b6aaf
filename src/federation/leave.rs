//! Leaving (or declining an invite to) a room this server is not in, through a resident
//! server: `make_leave`, sign, v2 `send_leave` (spec: s2s "Leaving Rooms (Rejecting Invites)").
//! The leave is kept as an outlier that ends the user's membership here.

use crate::federation::template::{Handshake, membership_handshake};
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::id::{RoomId, ServerName, UserId};
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
    let Handshake {
        rules,
        event_id,
        event,
        ..
    } = membership_handshake(server, resident, room_id, user, "leave", "", async {}).await?;
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
