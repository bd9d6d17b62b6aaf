//! Ephemeral events between servers (spec: s2s "Typing Notifications", "Receipts"):
//! `m.typing` and `m.receipt` EDUs received in transactions, and the ones our users' typing
//! and read receipts send to the other servers of a room.
//!
//! Checked like Synapse does: the user belongs to the origin, the room's server ACL allows
//! the origin, and the user is joined to the room; anything else is dropped (EDUs have no
//! answer).

use serde_json::{Value, json};

use crate::federation::endpoints::room_access::acl_allows;
use crate::proto::id::{ServerName, UserId};
use crate::rooms::remote::servers_in_room;
use crate::server::{Server, now_ms};
use crate::store::events;
use crate::store::receipts::{self, NewReceipt};

/// How long a remote user's typing lasts without a refresh (Synapse's federation timeout).
const REMOTE_TYPING_TIMEOUT_MS: i64 = 60_000;

/// Applies the typing and receipt EDUs of a transaction from `origin`.
pub async fn receive_edus(server: &Server, origin: &ServerName, edus: &[Value]) {
    let mut changed = false;
    for edu in edus {
        let content = edu.get("content").cloned().unwrap_or(Value::Null);
        match edu.get("edu_type").and_then(Value::as_str) {
            Some("m.typing") => changed |= typing(server, origin, &content).await,
            Some("m.receipt") => changed |= receipt(server, origin, content).await,
            other => crate::debug!("EDU {other:?} from {origin}: ignored"),
        }
    }
    if changed {
        server.notifier.notify();
    }
}

/// Whether `user` (of `origin`) is joined to `room_id` here.
async fn joined_member_of_origin(
    server: &Server,
    origin: &ServerName,
    user: &str,
    room_id: &str,
) -> bool {
    let Ok(user_id) = UserId::parse(user) else {
        return false;
    };
    if user_id.server_name() != origin {
        return false;
    }
    let (user, room_id, origin) = (user.to_owned(), room_id.to_owned(), origin.clone());
    server
        .store
        .read(move |connection| {
            let Some(room) = events::room_by_id(connection, &room_id)? else {
                return Ok(false);
            };
            // Spec: s2s "Server ACLs": typing and receipts from a denied origin are ignored.
            if acl_allows(connection, &room, &origin)?.is_err() {
                crate::info!("EDU from {origin} for {room_id} dropped: the server ACL denies it");
                return Ok(false);
            }
            Ok(events::membership_of(connection, &user, room.room_nid)?.as_deref() == Some("join"))
        })
        .await
        .unwrap_or(false)
}

async fn typing(server: &Server, origin: &ServerName, content: &Value) -> bool {
    let (Some(room_id), Some(user), Some(typing)) = (
        content.get("room_id").and_then(Value::as_str),
        content.get("user_id").and_then(Value::as_str),
        content.get("typing").and_then(Value::as_bool),
    ) else {
        return false;
    };
    if !joined_member_of_origin(server, origin, user, room_id).await {
        return false;
    }
    let timeout = typing.then_some(REMOTE_TYPING_TIMEOUT_MS);
    match server.typing.lock() {
        Ok(mut state) => state.set(room_id, user, timeout, now_ms()),
        Err(poisoned) => poisoned.into_inner().set(room_id, user, timeout, now_ms()),
    }
}

/// `{room_id: {receipt_type: {user_id: {event_ids, data}}}}`; public `m.read` only.
async fn receipt(server: &Server, origin: &ServerName, content: Value) -> bool {
    let Value::Object(rooms) = content else {
        return false;
    };
    let mut changed = false;
    for (room_id, by_type) in rooms {
        let Some(by_user) = by_type.get("m.read").and_then(Value::as_object) else {
            continue;
        };
        for (user, receipt) in by_user {
            if !joined_member_of_origin(server, origin, user, &room_id).await {
                continue;
            }
            let Some(event_id) = receipt
                .get("event_ids")
                .and_then(Value::as_array)
                .and_then(|ids| ids.first())
                .and_then(Value::as_str)
            else {
                continue;
            };
            let thread_id = receipt
                .get("data")
                .and_then(|data| data.get("thread_id"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let ts = receipt
                .get("data")
                .and_then(|d| d.get("ts"))
                .and_then(Value::as_i64)
                .unwrap_or_else(now_ms);
            let (room_id, user, event_id) = (room_id.clone(), user.clone(), event_id.to_owned());
            let stored = server
                .store
                .write(move |transaction| {
                    let Some(event) = events::event_by_id(transaction, &event_id)? else {
                        return Ok(false);
                    };
                    let Some(room) = events::room_by_id(transaction, &room_id)? else {
                        return Ok(false);
                    };
                    let (Some(position), false) =
                        (event.stream_ordering, event.room_nid != room.room_nid)
                    else {
                        return Ok(false);
                    };
                    let receipt = NewReceipt {
                        room_nid: room.room_nid,
                        user_id: &user,
                        receipt_type: "m.read",
                        thread_id: &thread_id,
                        event_id: &event_id,
                        event_stream_ordering: position,
                        ts,
                    };
                    Ok(receipts::put(transaction, &receipt)?.is_some())
                })
                .await;
            changed |= stored.unwrap_or(false);
        }
    }
    changed
}

/// Sends an EDU about `room_id` to every other server with joined members.
async fn send_to_room(server: &Server, room_id: &str, edu: Value) {
    let (lookup, our_name) = (room_id.to_owned(), server.name.clone());
    let destinations: Vec<ServerName> = server
        .store
        .read(move |connection| {
            let Some(room) = events::room_by_id(connection, &lookup)? else {
                return Ok(Vec::new());
            };
            Ok(servers_in_room(connection, room.room_nid).unwrap_or_default())
        })
        .await
        .unwrap_or_default()
        .iter()
        .filter_map(|name| ServerName::parse(name).ok())
        .filter(|name| *name != our_name)
        .collect();
    if destinations.is_empty() {
        return;
    }
    if let Err(e) = crate::federation::sender::enqueue_edu(server, &destinations, &edu).await {
        crate::warn!("queueing an EDU for {room_id}: {e}");
    }
}

/// Tells the room's other servers that `user` started or stopped typing.
pub async fn send_typing(server: &Server, room_id: &str, user: &UserId, typing: bool) {
    let edu = json!({
        "edu_type": "m.typing",
        "content": { "room_id": room_id, "user_id": user.as_str(), "typing": typing },
    });
    send_to_room(server, room_id, edu).await;
}

/// Tells the room's other servers that `user` read up to `event_id` (public receipts only).
pub async fn send_read_receipt(
    server: &Server,
    room_id: &str,
    user: &UserId,
    event_id: &str,
    thread_id: &str,
) {
    let mut data = json!({ "ts": now_ms() });
    if !thread_id.is_empty() {
        data["thread_id"] = json!(thread_id);
    }
    let edu = json!({
        "edu_type": "m.receipt",
        "content": { room_id: { "m.read": { user.as_str(): { "event_ids": [event_id], "data": data } } } },
    });
    send_to_room(server, room_id, edu).await;
}
