//! `POST /_matrix/client/v3/createRoom` (spec: c2s "Creation"): presets, visibility,
//! alias, name, topic, invites, initial state, creation content, power level override and
//! room version; the room is made in one transaction.

use serde_json::{Map, Value, json};

use super::auth::{authenticate, internal};
use crate::api::{ApiResult, Request, Response};
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::id::{RoomAliasId, UserId};
use crate::proto::room_version::RoomRules;
use crate::rooms::create::create_room;
use crate::rooms::{LocalEvent, RoomError, Signer};
use crate::server::{Server, now_ms};
use crate::store::{StoreError, events};

/// The spec recommends version 12 as the default, as Synapse 1.163 uses.
pub const DEFAULT_ROOM_VERSION: &str = "12";

pub async fn handle(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let body = request.json_object()?;
    let version = match body.get("room_version") {
        None => DEFAULT_ROOM_VERSION,
        Some(Value::String(v)) => v.as_str(),
        Some(_) => return Err(bad_json("room_version must be a string")),
    };
    let rules = RoomRules::for_version(version).ok_or_else(|| {
        MatrixError::new(
            400,
            ErrCode::UnsupportedRoomVersion,
            format!("room version {version} is not supported"),
        )
    })?;
    let public = match body.get("visibility").and_then(Value::as_str) {
        Some("public") => true,
        Some("private") | None => false,
        Some(other) => return Err(bad_json(&format!("unknown visibility {other:?}"))),
    };
    let preset = match body.get("preset").and_then(Value::as_str) {
        Some(p @ ("public_chat" | "private_chat" | "trusted_private_chat")) => p,
        Some(other) => return Err(bad_json(&format!("unknown preset {other:?}"))),
        None if public => "public_chat",
        None => "private_chat",
    };
    let creator = requester.user_id.clone();
    let invitees = parse_invitees(&body)?;
    let alias = match body.get("room_alias_name").and_then(Value::as_str) {
        Some(name) => Some(
            RoomAliasId::parse(&format!("#{name}:{}", server.server_name())).map_err(|e| {
                MatrixError::new(
                    400,
                    ErrCode::InvalidParam,
                    format!("invalid room_alias_name: {e}"),
                )
            })?,
        ),
        None => None,
    };
    let creation_content = match body.get("creation_content") {
        Some(Value::Object(content)) => content.clone(),
        None => Map::new(),
        Some(_) => return Err(bad_json("creation_content must be an object")),
    };
    let is_direct = body.get("is_direct").and_then(Value::as_bool) == Some(true);

    let mut initial = vec![state(
        "m.room.power_levels",
        "",
        power_levels(
            &rules,
            &creator,
            preset,
            &invitees,
            body.get("power_level_content_override"),
        )?,
    )];
    if let Some(alias) = &alias {
        initial.push(state(
            "m.room.canonical_alias",
            "",
            json!({ "alias": alias.as_str() }),
        ));
    }
    let join_rule = if preset == "public_chat" {
        "public"
    } else {
        "invite"
    };
    initial.push(state(
        "m.room.join_rules",
        "",
        json!({ "join_rule": join_rule }),
    ));
    initial.push(state(
        "m.room.history_visibility",
        "",
        json!({ "history_visibility": "shared" }),
    ));
    let guest_access = if preset == "public_chat" {
        "forbidden"
    } else {
        "can_join"
    };
    initial.push(state(
        "m.room.guest_access",
        "",
        json!({ "guest_access": guest_access }),
    ));
    if let Some(Value::Array(events)) = body.get("initial_state") {
        for event in events {
            let kind = event
                .get("type")
                .and_then(Value::as_str)
                .ok_or_else(|| bad_json("initial_state entries need a type"))?;
            let state_key = event.get("state_key").and_then(Value::as_str).unwrap_or("");
            let content = event.get("content").cloned().unwrap_or_else(|| json!({}));
            initial.push(state(kind, state_key, content));
        }
    }
    if let Some(name) = body.get("name").and_then(Value::as_str) {
        initial.push(state("m.room.name", "", json!({ "name": name })));
    }
    if let Some(topic) = body.get("topic").and_then(Value::as_str) {
        initial.push(state("m.room.topic", "", json!({ "topic": topic })));
    }
    // Users of other servers are invited after the room exists, through their servers.
    let (local_invitees, remote_invitees): (Vec<UserId>, Vec<UserId>) = invitees
        .iter()
        .cloned()
        .partition(|user| user.server_name() == &server.name);
    for invitee in &local_invitees {
        let mut content = json!({ "membership": "invite" });
        if is_direct {
            content["is_direct"] = json!(true);
        }
        // The invitee's profile, as in every invite (client::membership).
        if let Some(fields) = content.as_object_mut() {
            let profile = super::profile::current_profile(server, invitee).await?;
            super::profile::add_profile(fields, &profile);
        }
        initial.push(state("m.room.member", invitee.as_str(), content));
    }

    let (server_name, key) = (server.name.clone(), server.signing_key.clone());
    let parsed = server.parsed_events.clone();
    let alias_text = alias.as_ref().map(|a| a.as_str().to_owned());
    let outcome = server
        .store
        .write(move |transaction| {
            if let Some(alias) = &alias_text
                && crate::store::aliases::room_of_alias(transaction, alias)?.is_some()
            {
                return Ok(Err(MatrixError::new(
                    400,
                    ErrCode::RoomInUse,
                    "that room alias is taken",
                )));
            }
            let signer = Signer {
                server_name: &server_name,
                key: &key,
                parsed: &parsed,
            };
            let created = match create_room(
                transaction,
                &signer,
                &creator,
                &rules,
                creation_content,
                initial,
                now_ms(),
            ) {
                Ok(created) => created,
                Err(RoomError::Store(e)) => return Err(e),
                Err(e) => return Ok(Err(MatrixError::from(&e))),
            };
            if let Some(alias) = &alias_text {
                crate::store::aliases::create_alias(
                    transaction,
                    alias,
                    &created.room_id,
                    creator.as_str(),
                )?;
            }
            if public {
                let room = events::room_by_id(transaction, &created.room_id)?
                    .ok_or(StoreError::AlreadyExists)?;
                events::set_published(transaction, room.room_nid, true)?;
            }
            Ok(Ok(created.room_id))
        })
        .await
        .map_err(|e| internal(&e))?;
    let room_id = outcome?;
    server.notifier.notify();
    if let Ok(room) = crate::proto::id::RoomId::parse(&room_id) {
        for invitee in &remote_invitees {
            if let Err(e) = crate::federation::invite::invite_remote(
                server,
                &requester.user_id,
                &room,
                invitee,
                None,
            )
            .await
            {
                crate::warn!("createRoom {room_id}: inviting {invitee} failed: {e}");
            }
        }
    }
    crate::info!(
        "{} created room {room_id} (version {})",
        requester.user_id,
        rules.version
    );
    Ok(Response::ok(&json!({ "room_id": room_id })))
}

fn state(kind: &str, state_key: &str, content: Value) -> LocalEvent {
    LocalEvent {
        kind: kind.to_owned(),
        state_key: Some(state_key.to_owned()),
        content: content.as_object().cloned().unwrap_or_default(),
        redacts: None,
    }
}

fn bad_json(why: &str) -> MatrixError {
    MatrixError::new(400, ErrCode::BadJson, why)
}

fn parse_invitees(body: &Map<String, Value>) -> Result<Vec<UserId>, MatrixError> {
    let Some(list) = body.get("invite") else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| bad_json("invite must be a list of user IDs"))?;
    let mut invitees = Vec::new();
    for entry in list {
        let text = entry
            .as_str()
            .ok_or_else(|| bad_json("invite must be a list of user IDs"))?;
        let user_id = UserId::parse(text).map_err(|e| {
            MatrixError::new(
                400,
                ErrCode::InvalidParam,
                format!("invalid user ID {text:?}: {e}"),
            )
        })?;
        invitees.push(user_id);
    }
    Ok(invitees)
}

/// Synapse's default power levels, with the creator at 100 (v1–11; v12 creators have
/// infinite power and are not listed), trusted-private invitees at 100, then the override.
fn power_levels(
    rules: &RoomRules,
    creator: &UserId,
    preset: &str,
    invitees: &[UserId],
    override_content: Option<&Value>,
) -> Result<Value, MatrixError> {
    let mut users = Map::new();
    if !rules.creators_have_infinite_power {
        users.insert(creator.as_str().to_owned(), json!(100));
    }
    if preset == "trusted_private_chat" {
        for invitee in invitees {
            users.insert(invitee.as_str().to_owned(), json!(100));
        }
    }
    let mut content = json!({
        "users": users,
        "users_default": 0,
        "events": {
            "m.room.name": 50,
            "m.room.power_levels": 100,
            "m.room.history_visibility": 100,
            "m.room.canonical_alias": 50,
            "m.room.avatar": 50,
            "m.room.tombstone": 100,
            "m.room.server_acl": 100,
            "m.room.encryption": 100,
        },
        "events_default": 0,
        "state_default": 50,
        "ban": 50,
        "kick": 50,
        "redact": 50,
        "invite": if preset == "public_chat" { 0 } else { 50 },
        "notifications": { "room": 50 },
    });
    match override_content {
        None => {}
        Some(Value::Object(overrides)) => {
            for (key, value) in overrides {
                content[key] = value.clone();
            }
        }
        Some(_) => return Err(bad_json("power_level_content_override must be an object")),
    }
    Ok(content)
}
