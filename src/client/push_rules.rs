//! `/pushrules/` (spec: c2s "Push Rules: API"): the user's global ruleset (the server
//! defaults until they edit it), single rules, and edits of rules, `enabled` and
//! `actions`. Each edit is stored and mirrored as `m.push_rules` global account data, which
//! is how other clients hear of it through `/sync`.

use serde_json::{Value, json};

use super::auth::{authenticate, internal};
use crate::api::{ApiResult, Request, Response};
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::id::UserId;
use crate::proto::push::{Kind, PushError, Ruleset, default_ruleset};
use crate::server::Server;
use crate::store::{Connection, StoreError, account_data, push_rules};

/// The user's ruleset: stored if they edited it, else the server defaults.
pub fn load_ruleset(connection: &Connection, user: &UserId) -> Result<Ruleset, StoreError> {
    Ok(ruleset_from(
        user,
        push_rules::get(connection, user)?.as_deref(),
    ))
}

/// The ruleset the stored text describes, or the defaults when there is none (or it no
/// longer parses).
fn ruleset_from(user: &UserId, stored: Option<&str>) -> Ruleset {
    stored
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_else(|| default_ruleset(user.as_str(), user.localpart()))
}

/// As [`load_ruleset`], parsing only when the stored text differs from the one `cache`
/// parsed last for this user (one read, one string comparison).
pub fn load_ruleset_cached(
    connection: &Connection,
    user: &UserId,
    cache: &std::sync::Mutex<crate::server::PushRulesets>,
) -> Result<std::sync::Arc<Ruleset>, StoreError> {
    let stored = push_rules::get(connection, user)?;
    let mut cache = match cache.lock() {
        Ok(cache) => cache,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some((text, ruleset)) = cache.get(user.as_str())
        && *text == stored
    {
        return Ok(ruleset.clone());
    }
    let ruleset = std::sync::Arc::new(ruleset_from(user, stored.as_deref()));
    // Bounded: a server with more users than this rebuilds the cache as they sync.
    if cache.len() >= 10_000 {
        cache.clear();
    }
    cache.insert(user.as_str().to_owned(), (stored, ruleset.clone()));
    Ok(ruleset)
}

/// Spec: c2s "Push Rules: Events": clients learn the rules from `m.push_rules` account
/// data. A user who never edited them has none stored; an initial sync gets the defaults
/// (as Synapse sends them).
pub fn add_default_push_rules(
    connection: &Connection,
    user_id: &str,
    global_account_data: &mut Vec<Value>,
) -> Result<(), StoreError> {
    if global_account_data
        .iter()
        .any(|event| event["type"] == "m.push_rules")
    {
        return Ok(());
    }
    let Ok(user) = UserId::parse(user_id) else {
        return Ok(());
    };
    let ruleset = load_ruleset(connection, &user)?;
    global_account_data.push(json!({
        "type": "m.push_rules",
        "content": { "global": ruleset.to_json() },
    }));
    Ok(())
}

/// `GET /pushrules/`.
pub async fn get_all(server: &Server, request: Request) -> ApiResult {
    let ruleset = read_ruleset(server, &request).await?;
    Ok(Response::ok(&json!({ "global": ruleset.to_json() })))
}

/// `GET /pushrules/global/`.
pub async fn get_global(server: &Server, request: Request) -> ApiResult {
    let ruleset = read_ruleset(server, &request).await?;
    Ok(Response::ok(&ruleset.to_json()))
}

/// `GET /pushrules/global/{kind}/{ruleId}`.
pub async fn get_rule(server: &Server, request: Request) -> ApiResult {
    let kind = parse_kind(request.param(0))?;
    let ruleset = read_ruleset(server, &request).await?;
    let rule = ruleset.get(kind, request.param(1)).ok_or_else(not_found)?;
    Ok(Response::ok(
        &serde_json::to_value(rule).unwrap_or(Value::Null),
    ))
}

/// `GET /pushrules/global/{kind}/{ruleId}/enabled`.
pub async fn get_enabled(server: &Server, request: Request) -> ApiResult {
    let kind = parse_kind(request.param(0))?;
    let ruleset = read_ruleset(server, &request).await?;
    let rule = ruleset.get(kind, request.param(1)).ok_or_else(not_found)?;
    Ok(Response::ok(&json!({ "enabled": rule.enabled })))
}

/// `GET /pushrules/global/{kind}/{ruleId}/actions`.
pub async fn get_actions(server: &Server, request: Request) -> ApiResult {
    let kind = parse_kind(request.param(0))?;
    let ruleset = read_ruleset(server, &request).await?;
    let rule = ruleset.get(kind, request.param(1)).ok_or_else(not_found)?;
    Ok(Response::ok(&json!({ "actions": rule.actions })))
}

/// `PUT /pushrules/global/{kind}/{ruleId}` with `before`/`after` query parameters.
pub async fn put_rule(server: &Server, request: Request) -> ApiResult {
    let kind = parse_kind(request.param(0))?;
    let rule_id = request.param(1).to_owned();
    let body = request.json_object()?;
    let before = request.query_param("before").map(str::to_owned);
    let after = request.query_param("after").map(str::to_owned);
    if matches!(kind, Kind::Room | Kind::Sender) && !valid_rule_id(kind, &rule_id) {
        return Err(MatrixError::new(
            400,
            ErrCode::InvalidParam,
            "a room rule is named by a room ID, a sender rule by a user ID",
        ));
    }
    edit(server, &request, move |ruleset| {
        ruleset.put(kind, &rule_id, &body, before.as_deref(), after.as_deref())
    })
    .await
}

/// `DELETE /pushrules/global/{kind}/{ruleId}`.
pub async fn delete_rule(server: &Server, request: Request) -> ApiResult {
    let kind = parse_kind(request.param(0))?;
    let rule_id = request.param(1).to_owned();
    edit(server, &request, move |ruleset| {
        ruleset.delete(kind, &rule_id)
    })
    .await
}

/// `PUT /pushrules/global/{kind}/{ruleId}/enabled`.
pub async fn put_enabled(server: &Server, request: Request) -> ApiResult {
    let kind = parse_kind(request.param(0))?;
    let rule_id = request.param(1).to_owned();
    let enabled = match request.json_object()?.get("enabled") {
        Some(Value::Bool(enabled)) => *enabled,
        _ => {
            return Err(MatrixError::new(
                400,
                ErrCode::BadJson,
                "enabled must be a boolean",
            ));
        }
    };
    edit(server, &request, move |ruleset| {
        ruleset.set_enabled(kind, &rule_id, enabled)
    })
    .await
}

/// `PUT /pushrules/global/{kind}/{ruleId}/actions`.
pub async fn put_actions(server: &Server, request: Request) -> ApiResult {
    let kind = parse_kind(request.param(0))?;
    let rule_id = request.param(1).to_owned();
    let body = request.json_object()?;
    edit(server, &request, move |ruleset| {
        ruleset.set_actions(kind, &rule_id, body.get("actions"))
    })
    .await
}

async fn read_ruleset(server: &Server, request: &Request) -> Result<Ruleset, MatrixError> {
    let user = authenticate(server, request).await?.user_id;
    server
        .store
        .read(move |connection| load_ruleset(connection, &user))
        .await
        .map_err(|e| internal(&e))
}

/// Loads, edits and stores the ruleset in one writer job, then wakes syncs.
async fn edit(
    server: &Server,
    request: &Request,
    change: impl FnOnce(&mut Ruleset) -> Result<(), PushError> + Send + 'static,
) -> ApiResult {
    let user = authenticate(server, request).await?.user_id;
    let forget = user.as_str().to_owned();
    let outcome = server
        .store
        .write(move |transaction| {
            let mut ruleset = load_ruleset(transaction, &user)?;
            if let Err(e) = change(&mut ruleset) {
                return Ok(Err(e));
            }
            let text = serde_json::to_string(&ruleset).unwrap_or_default();
            push_rules::put(transaction, &user, &text)?;
            let content = json!({ "global": ruleset.to_json() }).to_string();
            account_data::put(transaction, &user, None, "m.push_rules", &content)?;
            Ok(Ok(()))
        })
        .await
        .map_err(|e| internal(&e))?;
    outcome.map_err(|e| push_error(&e))?;
    // Counts remembered under the old rules are stale now.
    match server.unread_counts.lock() {
        Ok(mut counts) => counts.forget_user(&forget),
        Err(poisoned) => poisoned.into_inner().forget_user(&forget),
    }
    server.notifier.notify();
    Ok(Response::ok(&json!({})))
}

fn parse_kind(text: &str) -> Result<Kind, MatrixError> {
    Kind::parse(text).ok_or_else(|| {
        MatrixError::new(
            400,
            ErrCode::InvalidParam,
            format!("unknown push rule kind {text:?}"),
        )
    })
}

fn valid_rule_id(kind: Kind, rule_id: &str) -> bool {
    match kind {
        Kind::Room => crate::proto::id::RoomId::parse(rule_id).is_ok(),
        Kind::Sender => UserId::parse(rule_id).is_ok(),
        _ => true,
    }
}

fn not_found() -> MatrixError {
    MatrixError::new(404, ErrCode::NotFound, "no such push rule")
}

/// Spec: pushrules.yaml: an unknown rule is 404 `M_NOT_FOUND`; a bad rule or position 400.
fn push_error(error: &PushError) -> MatrixError {
    match error {
        PushError::NotFound => not_found(),
        PushError::DefaultRule => MatrixError::new(400, ErrCode::InvalidParam, error.to_string()),
        PushError::BadPosition => MatrixError::new(400, ErrCode::InvalidParam, error.to_string()),
        PushError::BadRule(_) => MatrixError::new(400, ErrCode::BadJson, error.to_string()),
    }
}
