//! `GET /_matrix/federation/v1/make_join/{roomId}/{userId}` and `make_leave`: an unsigned
//! membership event for a remote user to sign (spec: s2s "Joining Rooms", "Leaving Rooms").

use serde_json::json;

use super::room_access::{
    allowed_room, internal, origin, room_error, room_id_param, user_id_param,
};
use crate::api::{ApiResult, Request, Response};
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::rooms::remote::membership_template;
use crate::server::{Server, now_ms};

pub async fn make_join(server: &Server, request: Request) -> ApiResult {
    make(server, request, "join").await
}

pub async fn make_leave(server: &Server, request: Request) -> ApiResult {
    make(server, request, "leave").await
}

pub async fn make_knock(server: &Server, request: Request) -> ApiResult {
    make(server, request, "knock").await
}

async fn make(server: &Server, request: Request, membership: &'static str) -> ApiResult {
    let origin = origin(&request)?;
    let room_id = room_id_param(request.param(0))?;
    let user_id = user_id_param(request.param(1))?;
    if user_id.server_name() != &origin {
        return Err(MatrixError::new(
            403,
            ErrCode::Forbidden,
            format!("{origin} may not {membership} for {user_id}"),
        ));
    }
    // Spec: without `ver`, the remote server only supports room version 1.
    let mut supported: Vec<String> = request
        .query
        .iter()
        .filter(|(key, _)| key == "ver")
        .map(|(_, value)| value.clone())
        .collect();
    if supported.is_empty() && membership != "leave" {
        supported.push("1".into());
    }
    let answer = server
        .store
        .read(move |connection| {
            let room = match allowed_room(connection, room_id.as_str(), &origin)? {
                Ok(room) => room,
                Err(e) => return Ok(Err(e)),
            };
            if membership != "leave" && !supported.contains(&room.room_version) {
                let mut error = MatrixError::new(
                    400,
                    ErrCode::IncompatibleRoomVersion,
                    format!(
                        "the room is version {}, which your server does not support",
                        room.room_version
                    ),
                );
                error.error = format!("{} (room_version {})", error.error, room.room_version);
                return Ok(Err(error));
            }
            match membership_template(connection, &room, &user_id, membership, now_ms()) {
                Ok(template) => Ok(Ok((room.room_version.clone(), template))),
                Err(crate::rooms::RoomError::Store(e)) => Err(e),
                Err(e) => Ok(Err(room_error(e))),
            }
        })
        .await
        .map_err(|e| internal(&e))?;
    let (room_version, template) = answer?;
    Ok(Response::ok(
        &json!({ "room_version": room_version, "event": template }),
    ))
}
