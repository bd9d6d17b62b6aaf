//! `POST /_matrix/client/v3/user_directory/search` (spec: c2s "User Directory"), which
//! Element's invite dialog calls as the user types.
//!
//! As Synapse does by default (`search_all_users: false`), the directory holds the users
//! who share a joined room with the requester, so that a search never enumerates the
//! server's accounts. Public rooms the requester is not in are not searched (Synapse
//! includes their members); a full user ID can always be typed in. A user matches when the
//! term, case-insensitively, is part of the user ID or of the display name.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::auth::{authenticate, internal};
use crate::api::{ApiResult, Request, Response};
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::id::UserId;
use crate::server::Server;
use crate::store::{Connection, StoreError, events, profiles, state};

const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 100;

pub async fn search(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let body = request.json_object()?;
    let term = body
        .get("search_term")
        .and_then(Value::as_str)
        .ok_or_else(|| MatrixError::new(400, ErrCode::BadJson, "search_term is required"))?
        .trim()
        .to_lowercase();
    let limit = body
        .get("limit")
        .and_then(Value::as_u64)
        .map_or(DEFAULT_LIMIT, |n| usize::try_from(n).unwrap_or(MAX_LIMIT))
        .clamp(1, MAX_LIMIT);
    let server_name = server.name.clone();
    let user = requester.user_id.clone();
    let mut found = server
        .store
        .read(move |connection| {
            let mut found = Vec::new();
            for (user_id, profile) in shared_room_users(connection, &user)? {
                let local = UserId::parse(&user_id)
                    .ok()
                    .filter(|id| id.server_name() == &server_name);
                let profile = match local {
                    // Local users: the profile itself (None for deactivated accounts).
                    Some(id) => match profiles::get(connection, &id)? {
                        Some(profile) => (profile.displayname, profile.avatar_url),
                        None => continue,
                    },
                    None => profile,
                };
                let matches = user_id.to_lowercase().contains(&term)
                    || profile
                        .0
                        .as_deref()
                        .is_some_and(|name| name.to_lowercase().contains(&term));
                if matches {
                    found.push((user_id, profile));
                }
            }
            Ok(found)
        })
        .await
        .map_err(|e| internal(&e))?;
    let limited = found.len() > limit;
    found.truncate(limit);
    let results: Vec<Value> = found
        .into_iter()
        .map(|(user_id, (display_name, avatar_url))| {
            let mut entry = json!({ "user_id": user_id });
            if let Some(name) = display_name {
                entry["display_name"] = json!(name);
            }
            if let Some(url) = avatar_url {
                entry["avatar_url"] = json!(url);
            }
            entry
        })
        .collect();
    Ok(Response::ok(
        &json!({ "results": results, "limited": limited }),
    ))
}

/// (display name, avatar URL) as a member event states them.
type MemberProfile = (Option<String>, Option<String>);

/// Every user joined to a room the requester is joined to, in user ID order, with the
/// profile of their member event in the first such room.
fn shared_room_users(
    connection: &Connection,
    requester: &UserId,
) -> Result<BTreeMap<String, MemberProfile>, StoreError> {
    let mut users = BTreeMap::new();
    for membership in events::memberships_of_user(connection, requester.as_str())? {
        if membership.membership != "join" {
            continue;
        }
        for member in events::members_with(connection, membership.room_nid, "join")? {
            if users.contains_key(&member) {
                continue;
            }
            let content = state::current_state_event(
                connection,
                membership.room_nid,
                "m.room.member",
                &member,
            )?
            .and_then(|event| serde_json::from_str::<Value>(&event.pdu).ok())
            .and_then(|pdu| pdu.get("content").cloned())
            .unwrap_or(Value::Null);
            let field = |key: &str| content.get(key).and_then(Value::as_str).map(str::to_owned);
            users.insert(member, (field("displayname"), field("avatar_url")));
        }
    }
    Ok(users)
}
