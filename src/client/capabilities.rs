//! `GET /_matrix/client/v3/capabilities` (spec: c2s "Capabilities negotiation"): the room
//! versions hearth creates and joins (1–12, all stable; default 12, as `createRoom` uses),
//! password changes on, and profile changes on; third-party identifiers off.

use serde_json::{Map, Value, json};

use super::auth::authenticate;
use super::create_room::DEFAULT_ROOM_VERSION;
use crate::api::{ApiResult, Request, Response};
use crate::proto::room_version::RoomRules;
use crate::server::Server;

pub async fn handle(server: &Server, request: Request) -> ApiResult {
    authenticate(server, &request).await?;
    let available: Map<String, Value> = RoomRules::ALL
        .iter()
        .map(|rules| (rules.version.to_owned(), json!("stable")))
        .collect();
    Ok(Response::ok(&json!({
        "capabilities": {
            "m.room_versions": { "default": DEFAULT_ROOM_VERSION, "available": available },
            "m.change_password": { "enabled": true },
            "m.set_displayname": { "enabled": true },
            "m.set_avatar_url": { "enabled": true },
            "m.3pid_changes": { "enabled": false },
            "m.get_login_token": { "enabled": false },
        }
    })))
}
