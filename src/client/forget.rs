//! `POST /rooms/{roomId}/forget` (spec: c2s "Leaving rooms"): a room the user left or was
//! banned from is forgotten; its history is no longer readable to them until their
//! membership changes again.

use serde_json::json;

use super::auth::{authenticate, internal};
use super::room_read::parse_room_id;
use crate::api::{ApiResult, Request, Response};
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::server::Server;
use crate::store::{events, room_directory};

pub async fn handle(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let room_id = parse_room_id(request.param(0))?.as_str().to_owned();
    let user = requester.user_id.as_str().to_owned();
    let outcome = server
        .store
        .write(move |transaction| {
            let Some(room) = events::room_by_id(transaction, &room_id)? else {
                return Ok(Err(MatrixError::new(
                    404,
                    ErrCode::NotFound,
                    "unknown room",
                )));
            };
            match events::membership_of(transaction, &user, room.room_nid)?.as_deref() {
                // Spec: 400 when the user is still in the room (joined, invited or knocking).
                Some("join" | "invite" | "knock") => Ok(Err(MatrixError::new(
                    400,
                    ErrCode::Unknown,
                    "leave the room before forgetting it",
                ))),
                Some(_) => {
                    room_directory::forget(transaction, &user, room.room_nid)?;
                    Ok(Ok(()))
                }
                None => Ok(Err(MatrixError::new(
                    404,
                    ErrCode::NotFound,
                    "you were never in this room",
                ))),
            }
        })
        .await
        .map_err(|e| internal(&e))?;
    outcome?;
    Ok(Response::ok(&json!({})))
}
