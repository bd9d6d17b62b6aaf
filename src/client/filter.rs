//! Sync filters (spec: c2s "Filtering"): `POST /user/{userId}/filter`, `GET
//! /user/{userId}/filter/{filterId}`, and the parsed form `/sync` applies, from a stored ID
//! or inline JSON.
//!
//! Applied: `room.rooms`, `room.not_rooms`, `room.timeline.limit`, `room.timeline.types`
//! and `not_types` (with `*` wildcards). Accepted and not applied (the spec lets a server
//! send more than asked): `room.state.lazy_load_members` and the other fields; a client
//! that lazy-loads simply receives every member.

use serde_json::{Value, json};

use super::auth::{authenticate, internal};
use crate::api::{ApiResult, Request, Response};
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::id::UserId;
use crate::server::Server;
use crate::store::events::{self, StoredEvent};
use crate::store::{Connection, StoreError, filters};

/// Timeline events per room when the filter does not say.
pub const DEFAULT_TIMELINE_LIMIT: i64 = 10;
/// The most timeline events per room a sync sends, whatever the filter asks.
pub const MAX_TIMELINE_LIMIT: i64 = 500;
/// How many events a type-filtered timeline looks through before calling it limited.
const MAX_SCANNED: i64 = 2000;

/// The parts of a filter `/sync` applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncFilter {
    pub timeline_limit: i64,
    /// Only these rooms, when given.
    pub rooms: Option<Vec<String>>,
    pub not_rooms: Vec<String>,
    /// Only these timeline event types (patterns), when given.
    pub timeline_types: Option<Vec<String>>,
    pub timeline_not_types: Vec<String>,
    /// `room.state.lazy_load_members` (accepted; every member is sent).
    pub lazy_load_members: bool,
}

impl Default for SyncFilter {
    fn default() -> Self {
        SyncFilter {
            timeline_limit: DEFAULT_TIMELINE_LIMIT,
            rooms: None,
            not_rooms: Vec::new(),
            timeline_types: None,
            timeline_not_types: Vec::new(),
            lazy_load_members: false,
        }
    }
}

impl SyncFilter {
    /// Parses a filter definition; `M_BAD_JSON` names the field that has the wrong shape.
    pub fn parse(filter: &Value) -> Result<SyncFilter, MatrixError> {
        if !filter.is_object() {
            return Err(bad_filter("a filter must be a JSON object"));
        }
        let timeline_limit = match filter.pointer("/room/timeline/limit") {
            None => DEFAULT_TIMELINE_LIMIT,
            Some(limit) => limit
                .as_i64()
                .ok_or_else(|| bad_filter("room.timeline.limit must be an integer"))?
                .clamp(1, MAX_TIMELINE_LIMIT),
        };
        Ok(SyncFilter {
            timeline_limit,
            rooms: string_list(filter, "/room/rooms")?,
            not_rooms: string_list(filter, "/room/not_rooms")?.unwrap_or_default(),
            timeline_types: string_list(filter, "/room/timeline/types")?,
            timeline_not_types: string_list(filter, "/room/timeline/not_types")?
                .unwrap_or_default(),
            lazy_load_members: filter
                .pointer("/room/state/lazy_load_members")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }

    /// The filter of a sync's `filter` parameter: inline JSON or a stored filter's ID.
    pub fn resolve(
        connection: &Connection,
        user_id: &UserId,
        parameter: Option<&str>,
    ) -> Result<Result<SyncFilter, MatrixError>, StoreError> {
        let Some(parameter) = parameter else {
            return Ok(Ok(SyncFilter::default()));
        };
        let text = if parameter.trim_start().starts_with('{') {
            parameter.to_owned()
        } else {
            let stored = match parameter.parse::<i64>() {
                Ok(id) => filters::get(connection, user_id, id)?,
                Err(_) => None,
            };
            match stored {
                Some(text) => text,
                None => {
                    return Ok(Err(MatrixError::new(
                        404,
                        ErrCode::NotFound,
                        format!("no filter with ID {parameter:?}"),
                    )));
                }
            }
        };
        Ok(match serde_json::from_str::<Value>(&text) {
            Ok(value) => SyncFilter::parse(&value),
            Err(e) => Err(bad_filter(&format!("the filter is not valid JSON: {e}"))),
        })
    }

    pub fn allows_room(&self, room_id: &str) -> bool {
        let listed = self
            .rooms
            .as_ref()
            .is_none_or(|rooms| rooms.iter().any(|r| r == room_id));
        listed && !self.not_rooms.iter().any(|r| r == room_id)
    }

    pub fn allows_timeline_event(&self, kind: &str) -> bool {
        let listed = self
            .timeline_types
            .as_ref()
            .is_none_or(|types| types.iter().any(|t| type_matches(t, kind)));
        listed
            && !self
                .timeline_not_types
                .iter()
                .any(|t| type_matches(t, kind))
    }

    fn filters_types(&self) -> bool {
        self.timeline_types.is_some() || !self.timeline_not_types.is_empty()
    }
}

/// The newest timeline events of a room with `after < stream_ordering <= up_to` that pass
/// the filter, newest first, at most `timeline_limit`; and whether older ones were left out.
pub fn filtered_timeline(
    connection: &Connection,
    filter: &SyncFilter,
    room_nid: i64,
    after: i64,
    up_to: i64,
) -> Result<(Vec<StoredEvent>, bool), StoreError> {
    let wanted = filter.timeline_limit;
    if !filter.filters_types() {
        let mut timeline = events::timeline(connection, room_nid, after, up_to, wanted + 1, true)?;
        let limited = timeline.len() as i64 > wanted;
        timeline.truncate(wanted as usize);
        return Ok((timeline, limited));
    }
    // Types are filtered after reading: read batches backwards until enough pass.
    let mut kept = Vec::new();
    let mut before = up_to;
    let mut scanned = 0;
    loop {
        let batch = events::timeline(connection, room_nid, after, before, wanted + 1, true)?;
        let exhausted = (batch.len() as i64) <= wanted;
        scanned += batch.len() as i64;
        for event in batch {
            before = event.stream_ordering.unwrap_or(after).min(before);
            if filter.allows_timeline_event(&event.kind) {
                kept.push(event);
            }
        }
        before -= 1;
        if kept.len() as i64 > wanted {
            kept.truncate(wanted as usize);
            return Ok((kept, true));
        }
        if exhausted || before <= after {
            return Ok((kept, false));
        }
        if scanned >= MAX_SCANNED {
            return Ok((kept, true));
        }
    }
}

/// Completes a sync's `state` when the timeline was filtered by type: state events from
/// `timeline_start` up to `up_to` that the filter left out of the timeline would otherwise
/// never reach the client (e.g. a join hidden by `types: ["m.room.message"]`). Synapse
/// does the same: state is what the timeline does not show, up to its end.
pub fn add_state_left_out(
    connection: &Connection,
    filter: &SyncFilter,
    room_nid: i64,
    mut state: Vec<StoredEvent>,
    timeline: &[StoredEvent],
    timeline_start: i64,
    up_to: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    if !filter.filters_types() {
        return Ok(state);
    }
    for event in crate::store::state::current_state_events(connection, room_nid)? {
        let in_window = event
            .stream_ordering
            .is_some_and(|s| s >= timeline_start && s <= up_to);
        if !in_window || timeline.iter().any(|t| t.event_id == event.event_id) {
            continue;
        }
        state.retain(|e| !(e.kind == event.kind && e.state_key == event.state_key));
        state.push(event);
    }
    Ok(state)
}

/// `POST /user/{userId}/filter`.
pub async fn create(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    check_owner(&requester.user_id, request.param(0))?;
    let body = serde_json::Value::Object(request.json_object()?);
    SyncFilter::parse(&body)?;
    let (user, text) = (requester.user_id.clone(), body.to_string());
    let filter_id = server
        .store
        .write(move |transaction| filters::create(transaction, &user, &text))
        .await
        .map_err(|e| internal(&e))?;
    Ok(Response::ok(&json!({ "filter_id": filter_id.to_string() })))
}

/// `GET /user/{userId}/filter/{filterId}`.
pub async fn get(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    check_owner(&requester.user_id, request.param(0))?;
    let not_found = || MatrixError::new(404, ErrCode::NotFound, "no such filter");
    let filter_id = request.param(1).parse::<i64>().map_err(|_| not_found())?;
    let user = requester.user_id.clone();
    let found = server
        .store
        .read(move |connection| filters::get(connection, &user, filter_id))
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(not_found)?;
    let filter: Value = serde_json::from_str(&found).unwrap_or_else(|_| json!({}));
    Ok(Response::ok(&filter))
}

fn check_owner(requester: &UserId, path_user: &str) -> Result<(), MatrixError> {
    if requester.as_str() == path_user {
        Ok(())
    } else {
        Err(MatrixError::new(
            403,
            ErrCode::Forbidden,
            "you may only use your own filters",
        ))
    }
}

fn bad_filter(why: &str) -> MatrixError {
    MatrixError::new(400, ErrCode::BadJson, format!("invalid filter: {why}"))
}

fn string_list(filter: &Value, pointer: &str) -> Result<Option<Vec<String>>, MatrixError> {
    let Some(value) = filter.pointer(pointer) else {
        return Ok(None);
    };
    let field = pointer.trim_start_matches('/').replace('/', ".");
    let list = value
        .as_array()
        .ok_or_else(|| bad_filter(&format!("{field} must be a list of strings")))?;
    list.iter()
        .map(|entry| {
            entry
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| bad_filter(&format!("{field} must be a list of strings")))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Spec: "A '*' can be used as a wildcard to match any sequence of characters."
fn type_matches(pattern: &str, kind: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return pattern == kind;
    };
    let Some(mut rest) = kind.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.split_once(part) {
            Some((_, after)) => rest = after,
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_patterns() {
        for (pattern, kind, expected) in [
            ("m.room.message", "m.room.message", true),
            ("m.room.message", "m.room.messages", false),
            ("m.room.*", "m.room.member", true),
            ("m.room.*", "m.reaction", false),
            ("*", "anything", true),
            ("m.*.member", "m.room.member", true),
            ("m.*.member", "m.room.name", false),
            ("*.name", "m.room.name", true),
            ("a*a", "a", false),
            ("a*a", "aa", true),
        ] {
            assert_eq!(type_matches(pattern, kind), expected, "{pattern} {kind}");
        }
    }

    #[test]
    fn parsing_and_room_and_type_checks() {
        let filter = SyncFilter::parse(&json!({
            "room": {
                "rooms": ["!a:x", "!b:x"],
                "not_rooms": ["!b:x"],
                "timeline": {"limit": 5000, "not_types": ["m.room.member"], "types": ["m.room.*"]},
                "state": {"lazy_load_members": true},
            }
        }))
        .unwrap();
        assert_eq!(filter.timeline_limit, MAX_TIMELINE_LIMIT);
        assert!(filter.lazy_load_members);
        assert!(filter.allows_room("!a:x"));
        assert!(!filter.allows_room("!b:x"));
        assert!(!filter.allows_room("!c:x"));
        assert!(filter.allows_timeline_event("m.room.message"));
        assert!(!filter.allows_timeline_event("m.room.member"));
        assert!(!filter.allows_timeline_event("m.reaction"));
        assert_eq!(
            SyncFilter::parse(&json!({})).unwrap(),
            SyncFilter::default()
        );
        for bad in [
            json!([]),
            json!({"room": {"timeline": {"limit": "ten"}}}),
            json!({"room": {"rooms": "!a:x"}}),
            json!({"room": {"timeline": {"types": [1]}}}),
        ] {
            assert_eq!(
                SyncFilter::parse(&bad).unwrap_err().errcode,
                ErrCode::BadJson
            );
        }
    }
}
