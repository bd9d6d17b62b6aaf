//! `PUT /_matrix/federation/v2/send_join/{roomId}/{eventId}` and `v2/send_leave`: the
//! remote server's signed membership event goes through the receive pipeline; a join is
//! answered with the room's state and auth chain (spec: s2s "Joining Rooms"), with
//! `omit_members` support (MSC3706, in the spec since v1.6).

use serde_json::{Map, Value, json};

use super::room_access::{allowed_room, internal, origin, room_id_param};
use crate::api::{ApiResult, Request, Response};
use crate::federation::event_keys::fetch_event_keys;
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::hashes::event_id_for;
use crate::proto::id::{ServerName, UserId};
use crate::proto::pdu::Pdu;
use crate::proto::room_version::RoomRules;
use crate::rooms::RoomError;
use crate::rooms::receive::{Received, receive_pdu};
use crate::rooms::remote::{auth_chain, federation_pdu, servers_in_room, state_pdus};
use crate::server::Server;
use crate::store::events;

pub async fn send_join(server: &Server, request: Request) -> ApiResult {
    let omit_members = request.query_param("omit_members") == Some("true");
    send(server, request, "join", omit_members).await
}

pub async fn send_leave(server: &Server, request: Request) -> ApiResult {
    send(server, request, "leave", false).await
}

pub async fn send_knock(server: &Server, request: Request) -> ApiResult {
    send(server, request, "knock", false).await
}

async fn send(
    server: &Server,
    request: Request,
    membership: &'static str,
    omit_members: bool,
) -> ApiResult {
    let origin = origin(&request)?;
    let room_id = room_id_param(request.param(0))?;
    let event_id = request.param(1).to_owned();
    let event = request.json_object()?;
    let (room_id_text, acl_origin) = (room_id.as_str().to_owned(), origin.clone());
    let room = server
        .store
        .read(move |connection| allowed_room(connection, &room_id_text, &acl_origin))
        .await
        .map_err(|e| internal(&e))??;
    let rules = RoomRules::for_version(&room.room_version).ok_or_else(|| {
        MatrixError::new(
            400,
            ErrCode::UnsupportedRoomVersion,
            "unsupported room version",
        )
    })?;
    check_membership_event(
        &rules,
        &event,
        &origin,
        room_id.as_str(),
        &event_id,
        membership,
    )?;
    let keys = fetch_event_keys(server, &rules, &[&event]).await;
    let room_id_text = room_id.as_str().to_owned();
    let our_name = server.name.clone();
    let (outcome, queued) = server
        .store
        .write(move |transaction| {
            let Some(room) = events::room_by_id(transaction, &room_id_text)? else {
                return Ok(Err(MatrixError::new(
                    404,
                    ErrCode::NotFound,
                    "unknown room",
                )));
            };
            let lookup = |server_name: &ServerName, key_id: &str| {
                keys.get(&(server_name.clone(), key_id.to_owned())).cloned()
            };
            let received = match receive_pdu(transaction, &room, event, &lookup) {
                Ok(received) => received,
                Err(RoomError::Store(e)) => return Err(e),
                Err(e) => return Ok(Err(MatrixError::from(&e))),
            };
            // Spec: the resident server sends the new membership to the other servers.
            let queued = match &received {
                Received::Accepted(accepted) => {
                    match crate::federation::sender::enqueue_local_event(
                        transaction,
                        &our_name,
                        room.room_nid,
                        &accepted.pdu,
                    ) {
                        Ok(rows) => rows,
                        Err(RoomError::Store(e)) => return Err(e),
                        Err(e) => return Ok(Err(MatrixError::from(&e))),
                    }
                }
                _ => Vec::new(),
            };
            Ok(Ok((received, queued)))
        })
        .await
        .map_err(|e| internal(&e))??;
    server.federation.sender.wake(queued);
    let accepted = match outcome {
        Received::Accepted(accepted) => accepted,
        Received::Duplicate => {
            // A retried send_join: answer again from what is stored.
            let id = event_id.clone();
            let stored = server
                .store
                .read(move |connection| events::event_by_id(connection, &id))
                .await
                .map_err(|e| internal(&e))?
                .ok_or_else(|| MatrixError::new(404, ErrCode::NotFound, "unknown event"))?;
            crate::rooms::persist::Accepted {
                event_nid: stored.event_nid,
                stream_ordering: stored.stream_ordering.unwrap_or(0),
                pdu: crate::rooms::build::stored_to_pdu(&stored)
                    .map_err(|e| MatrixError::from(&e))?,
            }
        }
        Received::SoftFailed(why) | Received::Rejected(why) | Received::Dropped(why) => {
            return Err(MatrixError::new(
                403,
                ErrCode::Forbidden,
                format!("the {membership} event was refused: {why}"),
            ));
        }
        Received::Need(need) => {
            return Err(MatrixError::new(
                400,
                ErrCode::Unknown,
                format!("the {membership} event refers to what this server cannot check: {need}"),
            ));
        }
    };
    server.notifier.notify();
    crate::info!(
        "{} {membership}ed {} over federation (via {origin})",
        accepted.pdu.sender(),
        room.room_id
    );
    if membership != "join" {
        return Ok(Response::ok(&json!({})));
    }
    let join_event = accepted.pdu.clone();
    let room_nid = room.room_nid;
    let our_name = server.server_name().to_owned();
    let body = server
        .store
        .read(move |connection| {
            let stored = events::event_by_id(connection, join_event.event_id())?;
            let before = stored.and_then(|e| e.state_group_before);
            let build = || -> Result<Value, RoomError> {
                let mut state = state_pdus(connection, before)?;
                if omit_members {
                    state.retain(|pdu| {
                        pdu.kind() != "m.room.member"
                            || pdu.state_key() == Some(join_event.sender())
                    });
                }
                let mut roots: Vec<&Pdu> = state.iter().collect();
                roots.push(&join_event);
                let chain = auth_chain(connection, &roots)?;
                let state_json: Vec<Value> =
                    state.iter().map(|pdu| strip_unsigned(pdu.json())).collect();
                let chain_json = chain
                    .iter()
                    .map(federation_pdu)
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(json!({
                    "origin": our_name,
                    "state": state_json,
                    "auth_chain": chain_json,
                    "event": strip_unsigned(join_event.json()),
                    "members_omitted": omit_members,
                    "servers_in_room": servers_in_room(connection, room_nid)?,
                }))
            };
            match build() {
                Ok(body) => Ok(Ok(body)),
                Err(RoomError::Store(e)) => Err(e),
                Err(e) => Ok(Err(MatrixError::from(&e))),
            }
        })
        .await
        .map_err(|e| internal(&e))??;
    Ok(Response::ok(&body))
}

fn strip_unsigned(json: &Map<String, Value>) -> Value {
    let mut json = json.clone();
    json.remove("unsigned");
    Value::Object(json)
}

/// The event must be the membership the endpoint is for, of a user of the origin, in this
/// room, with the event ID of the path.
fn check_membership_event(
    rules: &RoomRules,
    event: &Map<String, Value>,
    origin: &ServerName,
    room_id: &str,
    event_id: &str,
    membership: &str,
) -> Result<(), MatrixError> {
    let bad = |why: String| MatrixError::new(400, ErrCode::BadJson, why);
    let field = |name: &str| event.get(name).and_then(Value::as_str);
    if field("type") != Some("m.room.member") {
        return Err(bad("not an m.room.member event".into()));
    }
    if field("room_id") != Some(room_id) {
        return Err(bad("the event is for another room".into()));
    }
    let sender = field("sender").ok_or_else(|| bad("no sender".into()))?;
    if field("state_key") != Some(sender) {
        return Err(bad("state_key must be the sender".into()));
    }
    let sender = UserId::parse(sender).map_err(|e| bad(format!("invalid sender: {e}")))?;
    if sender.server_name() != origin {
        return Err(MatrixError::new(
            403,
            ErrCode::Forbidden,
            format!("{origin} may not send for {sender}"),
        ));
    }
    let actual = event
        .get("content")
        .and_then(|c| c.get("membership"))
        .and_then(Value::as_str);
    if actual != Some(membership) {
        return Err(bad(format!("membership must be {membership}")));
    }
    let computed =
        event_id_for(rules, event).map_err(|e| bad(format!("cannot compute the event ID: {e}")))?;
    if computed != event_id {
        return Err(bad(format!("the event ID is {computed}, not {event_id}")));
    }
    Ok(())
}
