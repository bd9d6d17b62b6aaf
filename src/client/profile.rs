//! Profiles (spec: c2s "Profiles"): `GET /profile/{userId}`, `GET/PUT
//! /profile/{userId}/displayname` and `/avatar_url`. A change is announced in every room
//! the user is joined to by a new `m.room.member` event carrying it, as Synapse does.
//! Profiles of users on other servers are asked of their server over federation.

use serde_json::{Map, Value, json};

use super::auth::{authenticate, internal};
use super::room_write::send_event;
use crate::api::{ApiResult, Method, Request, Response};
use crate::federation::client::path::with_query;
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::id::UserId;
use crate::rooms::LocalEvent;
use crate::server::Server;
use crate::store::profiles::{self, Profile};
use crate::store::{events, state};

/// Synapse's limits (`MAX_DISPLAYNAME_LEN`, `MAX_AVATAR_URL_LEN`).
const MAX_DISPLAYNAME_LEN: usize = 256;
const MAX_AVATAR_URL_LEN: usize = 1000;

/// `GET /profile/{userId}`.
pub async fn get_profile(server: &Server, request: Request) -> ApiResult {
    let profile = lookup(server, request.param(0)).await?;
    Ok(Response::ok(&profile_json(&profile)))
}

/// `GET /profile/{userId}/displayname`: `{}` when the user has none.
pub async fn get_displayname(server: &Server, request: Request) -> ApiResult {
    let profile = lookup(server, request.param(0)).await?;
    let mut body = Map::new();
    if let Some(name) = profile.displayname {
        body.insert("displayname".into(), json!(name));
    }
    Ok(Response::ok(&Value::Object(body)))
}

/// `GET /profile/{userId}/avatar_url`: `{}` when the user has none.
pub async fn get_avatar_url(server: &Server, request: Request) -> ApiResult {
    let profile = lookup(server, request.param(0)).await?;
    let mut body = Map::new();
    if let Some(url) = profile.avatar_url {
        body.insert("avatar_url".into(), json!(url));
    }
    Ok(Response::ok(&Value::Object(body)))
}

pub async fn put_displayname(server: &Server, request: Request) -> ApiResult {
    put_field(server, request, Field::Displayname).await
}

pub async fn put_avatar_url(server: &Server, request: Request) -> ApiResult {
    put_field(server, request, Field::AvatarUrl).await
}

/// The current profile of a local user (empty when unknown), for membership events.
pub async fn current_profile(server: &Server, user_id: &UserId) -> Result<Profile, MatrixError> {
    let user = user_id.clone();
    let found = server
        .store
        .read(move |connection| profiles::get(connection, &user))
        .await
        .map_err(|e| internal(&e))?;
    Ok(found.unwrap_or_default())
}

/// Sets `displayname` and `avatar_url` of a member event's content from `profile`.
pub fn add_profile(content: &mut Map<String, Value>, profile: &Profile) {
    for (key, value) in [
        ("displayname", &profile.displayname),
        ("avatar_url", &profile.avatar_url),
    ] {
        match value {
            Some(value) => content.insert(key.into(), json!(value)),
            None => content.remove(key),
        };
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Displayname,
    AvatarUrl,
}

async fn put_field(server: &Server, request: Request, field: Field) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let target = parse_user_id(request.param(0))?;
    if target != requester.user_id {
        return Err(MatrixError::new(
            403,
            ErrCode::Forbidden,
            "you may only change your own profile",
        ));
    }
    let body = request.json_object()?;
    let (key, max) = match field {
        Field::Displayname => ("displayname", MAX_DISPLAYNAME_LEN),
        Field::AvatarUrl => ("avatar_url", MAX_AVATAR_URL_LEN),
    };
    let value = match body.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if text.len() > max => {
            return Err(MatrixError::new(
                400,
                ErrCode::InvalidParam,
                format!("{key} is longer than {max} bytes"),
            ));
        }
        // An empty string clears the field, as Synapse treats it.
        Some(Value::String(text)) => (!text.is_empty()).then(|| text.clone()),
        Some(_) => {
            return Err(MatrixError::new(
                400,
                ErrCode::BadJson,
                format!("{key} must be a string"),
            ));
        }
    };
    let user = requester.user_id.clone();
    let (profile, rooms) = server
        .store
        .write(move |transaction| {
            match field {
                Field::Displayname => {
                    profiles::set_displayname(transaction, &user, value.as_deref())?
                }
                Field::AvatarUrl => profiles::set_avatar_url(transaction, &user, value.as_deref())?,
            };
            let profile = profiles::get(transaction, &user)?.unwrap_or_default();
            let rooms: Vec<(String, Map<String, Value>)> =
                joined_member_contents(transaction, &user)?;
            Ok((profile, rooms))
        })
        .await
        .map_err(|e| internal(&e))?;
    for (room_id, mut content) in rooms {
        add_profile(&mut content, &profile);
        let event = LocalEvent {
            kind: "m.room.member".into(),
            state_key: Some(requester.user_id.as_str().to_owned()),
            content,
            redacts: None,
        };
        // One room refusing the update (e.g. power levels) does not stop the others.
        if let Err(e) = send_event(server, &room_id, &requester.user_id, event).await {
            crate::warn!("profile update of {} in {room_id}: {e}", requester.user_id);
        }
    }
    Ok(Response::ok(&json!({})))
}

/// Room ID → content of the user's current member event there.
type MemberContents = Vec<(String, Map<String, Value>)>;

/// The rooms `user` is joined to, each with the content of its current member event.
fn joined_member_contents(
    connection: &crate::store::Connection,
    user: &UserId,
) -> Result<MemberContents, crate::store::StoreError> {
    let mut rooms = Vec::new();
    for membership in events::memberships_of_user(connection, user.as_str())? {
        if membership.membership != "join" {
            continue;
        }
        let current = state::current_state_event(
            connection,
            membership.room_nid,
            "m.room.member",
            user.as_str(),
        )?;
        let content = current
            .and_then(|event| serde_json::from_str::<Value>(&event.pdu).ok())
            .and_then(|pdu| pdu.get("content").and_then(Value::as_object).cloned())
            .unwrap_or_default();
        let mut content: Map<String, Value> = content;
        // A reason and a restricted-join authoriser belong to the join that carried them,
        // not to a profile update (Synapse drops both too).
        content.remove("reason");
        content.remove("join_authorised_via_users_server");
        content.insert("membership".into(), json!("join"));
        rooms.push((membership.room_id, content));
    }
    Ok(rooms)
}

async fn lookup(server: &Server, text: &str) -> Result<Profile, MatrixError> {
    let user_id = parse_user_id(text)?;
    if user_id.server_name() != &server.name {
        return remote_profile(server, &user_id).await;
    }
    let found = server
        .store
        .read(move |connection| profiles::get(connection, &user_id))
        .await
        .map_err(|e| internal(&e))?;
    found.ok_or_else(|| MatrixError::new(404, ErrCode::NotFound, "no such user"))
}

/// Spec: s2s "Query: profile" (`GET /_matrix/federation/v1/query/profile`). A remote 404
/// is passed on; an unreachable server is 502 with its name (`FedError`'s mapping).
async fn remote_profile(server: &Server, user_id: &UserId) -> Result<Profile, MatrixError> {
    let path = with_query(
        "/_matrix/federation/v1/query/profile",
        &[("user_id", user_id.as_str())],
    );
    let (status, body) = server
        .federation
        .client
        .request(user_id.server_name(), Method::Get, &path, None)
        .await
        .map_err(|e| {
            crate::warn!("profile of {user_id}: {e}");
            MatrixError::from(&e)
        })?;
    match status {
        200 => {
            // Only strings count: a remote server's odd values are dropped, not passed on.
            let field = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
            Ok(Profile {
                displayname: field("displayname"),
                avatar_url: field("avatar_url"),
            })
        }
        404 => Err(MatrixError::new(
            404,
            ErrCode::NotFound,
            format!("{} knows no profile for {user_id}", user_id.server_name()),
        )),
        other => Err(MatrixError::new(
            502,
            ErrCode::Unknown,
            format!(
                "{} answered {other} to the profile query",
                user_id.server_name()
            ),
        )),
    }
}

fn parse_user_id(text: &str) -> Result<UserId, MatrixError> {
    UserId::parse(text).map_err(|e| {
        MatrixError::new(
            400,
            ErrCode::InvalidParam,
            format!("invalid user ID {text:?}: {e}"),
        )
    })
}

fn profile_json(profile: &Profile) -> Value {
    let mut body = Map::new();
    add_profile(&mut body, profile);
    Value::Object(body)
}
