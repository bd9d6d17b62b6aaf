//! `GET /_matrix/client/v3/joined_rooms` (spec: c2s "Room membership"): the rooms the
//! requester is joined to now.

use serde_json::json;

use super::auth::{authenticate, internal};
use crate::api::{ApiResult, Request, Response};
use crate::server::Server;
use crate::store::events;

pub async fn handle(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let user = requester.user_id.as_str().to_owned();
    let memberships = server
        .store
        .read(move |connection| events::memberships_of_user(connection, &user))
        .await
        .map_err(|e| internal(&e))?;
    let mut rooms: Vec<String> = memberships
        .into_iter()
        .filter(|m| m.membership == "join")
        .map(|m| m.room_id)
        .collect();
    rooms.sort();
    Ok(Response::ok(&json!({ "joined_rooms": rooms })))
}
