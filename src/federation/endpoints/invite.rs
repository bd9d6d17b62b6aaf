//! `PUT /_matrix/federation/v2/invite/{roomId}/{eventId}` (and v1 for old rooms): another
//! server invites one of our users. We check and countersign the invite; for a room this
//! server is not in, we keep the invite and its stripped state so the user sees it in sync
//! and can join or decline through the inviting server (spec: s2s "Inviting to a room").

use serde_json::{Map, Value, json};

use super::room_access::{acl_allows, internal, origin, room_id_param};
use crate::api::{ApiResult, Request, Response};
use crate::federation::event_keys::fetch_event_keys;
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::hashes::{event_id_for, sign_event};
use crate::proto::id::{ServerName, UserId};
use crate::proto::room_version::RoomRules;
use crate::rooms::receive::{Received, checked_pdu};
use crate::rooms::remote::store_outlier_membership;
use crate::server::Server;
use crate::store::events;
use crate::store::users;

pub async fn invite_v2(server: &Server, request: Request) -> ApiResult {
    let body = request.json_object()?;
    let version = body
        .get("room_version")
        .and_then(Value::as_str)
        .unwrap_or("1")
        .to_owned();
    let event = body
        .get("event")
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| bad("event is required"))?;
    let stripped = body
        .get("invite_room_state")
        .cloned()
        .unwrap_or_else(|| json!([]));
    let signed = invite(server, &request, &version, event, stripped).await?;
    Ok(Response::ok(&json!({ "event": signed })))
}

/// v1 (room versions 1 and 2 servers): the body is the event itself; the answer a pair.
pub async fn invite_v1(server: &Server, request: Request) -> ApiResult {
    let event = request.json_object()?;
    let stripped = event
        .get("unsigned")
        .and_then(|u| u.get("invite_room_state"))
        .cloned()
        .unwrap_or_else(|| json!([]));
    let signed = invite(server, &request, "1", event, stripped).await?;
    Ok(Response::ok(&json!([200, { "event": signed }])))
}

async fn invite(
    server: &Server,
    request: &Request,
    version: &str,
    mut event: Map<String, Value>,
    stripped: Value,
) -> Result<Value, MatrixError> {
    let origin = origin(request)?;
    let room_id = room_id_param(request.param(0))?;
    // Spec: s2s "Server ACLs" protect invite too; a room we do not know has no ACL here.
    let (acl_room, acl_origin) = (room_id.as_str().to_owned(), origin.clone());
    server
        .store
        .read(
            move |connection| match events::room_by_id(connection, &acl_room)? {
                Some(room) => acl_allows(connection, &room, &acl_origin),
                None => Ok(Ok(())),
            },
        )
        .await
        .map_err(|e| internal(&e))??;
    let rules = RoomRules::for_version(version).ok_or_else(|| {
        MatrixError::new(
            400,
            ErrCode::IncompatibleRoomVersion,
            format!("room version {version} is not supported"),
        )
    })?;
    let field = |name: &str| event.get(name).and_then(Value::as_str).map(str::to_owned);
    if field("type").as_deref() != Some("m.room.member")
        || event
            .get("content")
            .and_then(|c| c.get("membership"))
            .and_then(Value::as_str)
            != Some("invite")
    {
        return Err(bad("not an invite"));
    }
    if field("room_id").as_deref() != Some(room_id.as_str()) {
        return Err(bad("the event is for another room"));
    }
    let sender = field("sender")
        .and_then(|s| UserId::parse(&s).ok())
        .ok_or_else(|| bad("invalid sender"))?;
    if sender.server_name() != &origin {
        return Err(MatrixError::new(
            403,
            ErrCode::Forbidden,
            format!("{origin} may not invite for {sender}"),
        ));
    }
    let invitee = field("state_key")
        .and_then(|s| UserId::parse(&s).ok())
        .ok_or_else(|| bad("invalid state_key"))?;
    if invitee.server_name() != &server.name {
        return Err(MatrixError::new(
            403,
            ErrCode::Forbidden,
            "the invitee is not a user of this server",
        ));
    }
    let event_id = event_id_for(&rules, &event)
        .map_err(|e| bad(&format!("cannot compute the event ID: {e}")))?;
    if event_id != request.param(1) {
        return Err(bad("the event ID does not match the event"));
    }
    let invitee_text = invitee.as_str().to_owned();
    let exists = server
        .store
        .read(move |connection| users::get(connection, &invitee_text))
        .await
        .map_err(|e| internal(&e))?
        .is_some_and(|user| !user.deactivated);
    if !exists {
        return Err(MatrixError::new(
            404,
            ErrCode::NotFound,
            format!("{invitee} does not exist"),
        ));
    }
    // The inviting server's signature must hold before we add ours.
    let keys = fetch_event_keys(server, &rules, &[&event]).await;
    let lookup =
        |name: &ServerName, key_id: &str| keys.get(&(name.clone(), key_id.to_owned())).cloned();
    match checked_pdu(&rules, event.clone(), &lookup) {
        Ok(Ok(_)) => {}
        Ok(Err(Received::Need(_))) => {
            return Err(MatrixError::new(
                401,
                ErrCode::Unauthorized,
                "cannot get the inviting server's key",
            ));
        }
        Ok(Err(other)) => {
            return Err(MatrixError::new(
                403,
                ErrCode::Forbidden,
                format!("invalid invite: {other}"),
            ));
        }
        Err(e) => return Err(MatrixError::from(&e)),
    }
    sign_event(&rules, &mut event, &server.name, &server.signing_key)
        .map_err(|e| bad(&format!("cannot sign the invite: {e}")))?;
    let (room_id_text, our_name, stored_event) = (
        room_id.as_str().to_owned(),
        server.server_name().to_owned(),
        event.clone(),
    );
    let stripped_text = stripped.to_string();
    let invitee_text = invitee.as_str().to_owned();
    let version = rules.version;
    server
        .store
        .write(move |transaction| {
            // A room we are in: the invite arrives in a transaction like any event.
            if let Some(room) = events::room_by_id(transaction, &room_id_text)?
                && events::server_has_joined_member(transaction, room.room_nid, &our_name)?
            {
                return Ok(());
            }
            if events::event_by_id(transaction, &event_id)?.is_some() {
                return Ok(());
            }
            let room_nid = store_outlier_membership(
                transaction,
                &room_id_text,
                version,
                &event_id,
                &stored_event,
            )?;
            events::set_invite_room_state(transaction, &invitee_text, room_nid, &stripped_text)?;
            Ok(())
        })
        .await
        .map_err(|e| internal(&e))?;
    server.notifier.notify();
    crate::info!("{sender} invited {invitee} to {room_id}");
    Ok(Value::Object(event))
}

fn bad(why: &str) -> MatrixError {
    MatrixError::new(400, ErrCode::BadJson, why)
}
