//! Inviting a user of another server (spec: s2s "Inviting to a room"): build and sign the
//! invite, have the invitee's server countersign it through v2 `/invite` (with the room's
//! stripped state; the full create event, as room version 12 needs), then add it to the
//! room like any other event.

use serde_json::{Value, json};

use crate::api::Method;
use crate::federation::client::path::encode as encode_path;
use crate::federation::event_keys::fetch_event_keys;
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::hashes::{event_id_for, hash_and_sign_event};
use crate::proto::id::{RoomId, ServerName, UserId};
use crate::proto::room_version::EventIdFormat;
use crate::rooms::RoomError;
use crate::rooms::build::{LocalEvent, prepare_event, rules_of, stored_to_pdu};
use crate::rooms::receive::{Received, receive_pdu};
use crate::rooms::remote::federation_pdu;
use crate::server::{Server, now_ms};
use crate::store::{events, state};

/// Stripped state sent with an invite: these state events, and the full create event.
const STRIPPED_TYPES: &[&str] = &[
    "m.room.join_rules",
    "m.room.name",
    "m.room.avatar",
    "m.room.canonical_alias",
    "m.room.encryption",
    "m.room.topic",
];

pub async fn invite_remote(
    server: &Server,
    sender: &UserId,
    room_id: &RoomId,
    invitee: &UserId,
    reason: Option<String>,
) -> Result<String, MatrixError> {
    let (room_id_text, sender_owned) = (room_id.as_str().to_owned(), sender.clone());
    let invitee_text = invitee.as_str().to_owned();
    let (server_name, key) = (server.name.clone(), server.signing_key.clone());
    let prepared = server
        .store
        .read(move |connection| {
            let build = || -> Result<_, RoomError> {
                let room = events::room_by_id(connection, &room_id_text)?.ok_or(RoomError::UnknownRoom)?;
                let rules = rules_of(&room)?;
                let mut content = serde_json::Map::new();
                content.insert("membership".into(), json!("invite"));
                if let Some(reason) = reason {
                    content.insert("reason".into(), json!(reason));
                }
                let event = LocalEvent { kind: "m.room.member".into(), state_key: Some(invitee_text.clone()), content, redacts: None };
                let mut json = prepare_event(connection, &rules, &room, &sender_owned, event, now_ms(), None)?.json;
                if rules.event_id_format == EventIdFormat::Explicit {
                    json.insert("event_id".into(), json!(format!("${}:{}", crate::rooms::build::random_token(18)?, server_name.as_str())));
                }
                hash_and_sign_event(&rules, &mut json, &server_name, &key).map_err(RoomError::NotCanonical)?;
                let mut stripped: Vec<Value> = Vec::new();
                for kind in STRIPPED_TYPES {
                    if let Some(event) = state::current_state_event(connection, room.room_nid, kind, "")? {
                        let pdu = stored_to_pdu(&event)?;
                        stripped.push(json!({ "type": kind, "state_key": "", "sender": pdu.sender(), "content": pdu.content() }));
                    }
                }
                if let Some(create) = state::current_state_event(connection, room.room_nid, "m.room.create", "")? {
                    stripped.push(federation_pdu(&create)?);
                }
                Ok((rules, json, stripped))
            };
            match build() {
                Ok(built) => Ok(Ok(built)),
                Err(RoomError::Store(e)) => Err(e),
                Err(e) => Ok(Err(MatrixError::from(&e))),
            }
        })
        .await
        .map_err(|e| internal(&e))??;
    let (rules, event, stripped) = prepared;
    let event_id = event_id_for(&rules, &event)
        .map_err(|e| MatrixError::new(500, ErrCode::Unknown, e.to_string()))?;
    let path = format!(
        "/_matrix/federation/v2/invite/{}/{}",
        encode_path(room_id.as_str()),
        encode_path(&event_id)
    );
    let body =
        json!({ "room_version": rules.version, "event": event, "invite_room_state": stripped });
    let destination: &ServerName = invitee.server_name();
    let (status, answer) = server
        .federation
        .client
        .request(destination, Method::Put, &path, Some(&body))
        .await
        .map_err(|e| {
            MatrixError::new(
                502,
                ErrCode::Unknown,
                format!("cannot reach {destination}: {e}"),
            )
        })?;
    if status != 200 {
        let errcode = answer.get("errcode").and_then(Value::as_str).unwrap_or("?");
        let error = answer.get("error").and_then(Value::as_str).unwrap_or("");
        return Err(MatrixError::new(
            if status == 403 { 403 } else { 502 },
            ErrCode::Forbidden,
            format!("{destination} refused the invite: {errcode} {error}"),
        ));
    }
    let countersigned = answer
        .get("event")
        .and_then(Value::as_object)
        .cloned()
        .filter(|signed| event_id_for(&rules, signed).ok().as_deref() == Some(event_id.as_str()))
        .ok_or_else(|| {
            MatrixError::new(
                502,
                ErrCode::Unknown,
                format!("{destination} answered a different invite"),
            )
        })?;
    let keys = fetch_event_keys(server, &rules, &[&countersigned]).await;
    let (room_id_text, our_name) = (room_id.as_str().to_owned(), server.name.clone());
    let queued = server
        .store
        .write(move |transaction| {
            let Some(room) = events::room_by_id(transaction, &room_id_text)? else {
                return Ok(Err(MatrixError::from(&RoomError::UnknownRoom)));
            };
            let lookup = |name: &ServerName, key_id: &str| {
                keys.get(&(name.clone(), key_id.to_owned())).cloned()
            };
            match receive_pdu(transaction, &room, countersigned, &lookup) {
                Ok(Received::Accepted(accepted)) => {
                    match crate::federation::sender::enqueue_local_event(
                        transaction,
                        &our_name,
                        room.room_nid,
                        &accepted.pdu,
                    ) {
                        Ok(rows) => Ok(Ok(rows)),
                        Err(RoomError::Store(e)) => Err(e),
                        Err(e) => Ok(Err(MatrixError::from(&e))),
                    }
                }
                Ok(other) => Ok(Err(MatrixError::new(
                    403,
                    ErrCode::Forbidden,
                    format!("the invite was not accepted here: {other}"),
                ))),
                Err(RoomError::Store(e)) => Err(e),
                Err(e) => Ok(Err(MatrixError::from(&e))),
            }
        })
        .await
        .map_err(|e| internal(&e))??;
    server.federation.sender.wake(queued);
    server.notifier.notify();
    Ok(event_id)
}

fn internal(error: &crate::store::StoreError) -> MatrixError {
    crate::error!("invite over federation: {error}");
    MatrixError::new(500, ErrCode::Unknown, "internal error")
}
