//! `GET /rooms/{roomId}/event/{eventId}` and `GET /rooms/{roomId}/context/{eventId}`
//! (spec: c2s "Getting events for a room", "Events in context"). Context tokens are the
//! `s<N>` positions of `/messages`: `start` pages backwards from before `events_before`,
//! `end` forwards from after `events_after`.

use serde_json::{Value, json};

use super::auth::{authenticate, internal};
use super::event_filter::{EventFilter, filtered_page};
use super::format::client_event;
use super::room_read::{ReadableRoom, parse_room_id, readable_room};
use crate::api::{ApiResult, Request, Response};
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::server::{Server, now_ms};
use crate::store::events::{self, StoredEvent};
use crate::store::{Connection, StoreError, state};

const DEFAULT_CONTEXT_LIMIT: i64 = 10;
const MAX_CONTEXT_LIMIT: i64 = 100;

pub async fn get_event(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let room_id = parse_room_id(request.param(0))?.as_str().to_owned();
    let event_id = request.param(1).to_owned();
    let user = requester.user_id.clone();
    let answer = server
        .store
        .read(move |connection| {
            let readable = match readable_room(connection, &user, &room_id)? {
                Ok(readable) => readable,
                Err(e) => return Ok(Err(e)),
            };
            Ok(
                visible_event(connection, &readable, user.as_str(), &event_id)?.map(|event| {
                    client_event(&event, &readable.room.room_id, &readable.rules, now_ms())
                }),
            )
        })
        .await
        .map_err(|e| internal(&e))??;
    Ok(Response::ok(&answer))
}

pub async fn context(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let room_id = parse_room_id(request.param(0))?.as_str().to_owned();
    let event_id = request.param(1).to_owned();
    let limit = match request.query_param("limit") {
        Some(text) => text
            .parse::<i64>()
            .map_err(|_| MatrixError::new(400, ErrCode::InvalidParam, "limit must be a number"))?,
        None => DEFAULT_CONTEXT_LIMIT,
    }
    .clamp(0, MAX_CONTEXT_LIMIT);
    let filter = EventFilter::parse(request.query_param("filter"))?;
    let user = requester.user_id.clone();
    let answer = server
        .store
        .read(move |connection| {
            let readable = match readable_room(connection, &user, &room_id)? {
                Ok(readable) => readable,
                Err(e) => return Ok(Err(e)),
            };
            let event = match visible_event(connection, &readable, user.as_str(), &event_id)? {
                Ok(event) => event,
                Err(e) => return Ok(Err(e)),
            };
            Ok(Ok(context_of(
                connection,
                &readable,
                user.as_str(),
                event,
                limit,
                &filter,
            )?))
        })
        .await
        .map_err(|e| internal(&e))??;
    Ok(Response::ok(&answer))
}

/// The event if it is in the room's timeline and within what the user may read (up to
/// their leave, and as the room's history visibility allows).
fn visible_event(
    connection: &Connection,
    readable: &ReadableRoom,
    user: &str,
    event_id: &str,
) -> Result<Result<StoredEvent, MatrixError>, StoreError> {
    // The viewer hides what came after the user's leave, but their own later membership.
    let event = events::event_by_id(connection, event_id)?.filter(|event| {
        event.room_nid == readable.room.room_nid
            && !event.rejected
            && !event.soft_failed
            && event.stream_ordering.is_some()
    });
    let event = match event {
        Some(event) if readable.viewer(user).sees(connection, &event)? => Some(event),
        _ => None,
    };
    Ok(event.ok_or_else(|| MatrixError::new(404, ErrCode::NotFound, "event not found")))
}

fn context_of(
    connection: &Connection,
    readable: &ReadableRoom,
    user: &str,
    event: StoredEvent,
    limit: i64,
    filter: &EventFilter,
) -> Result<Value, StoreError> {
    let room_nid = readable.room.room_nid;
    let position = event.stream_ordering.unwrap_or(0);
    let newest = events::max_stream_ordering(connection)?;
    let ceiling = readable.visible_until.unwrap_or(newest);
    // As Synapse: the lower half of the limit before, the rest after.
    let before_limit = limit / 2;
    let before = filtered_page(
        connection,
        room_nid,
        // Backfilled history has positions below zero.
        (i64::MIN, position - 1),
        before_limit,
        true,
        filter,
    )?;
    let after = filtered_page(
        connection,
        room_nid,
        (position, ceiling),
        limit - before_limit,
        false,
        filter,
    )?;
    let start = before.last_scanned.unwrap_or(position) - 1;
    let end = after.last_scanned.unwrap_or(position);
    // Spec: "The state of the room at the last event returned".
    let last = after.events.last().unwrap_or(&event);
    let mut state_events = match last.state_group_before {
        Some(group) => state::state_group_events(connection, group)?,
        None => state::current_state_events(connection, room_nid)?,
    };
    if last.state_key.is_some() {
        state_events.retain(|e| !(e.kind == last.kind && e.state_key == last.state_key));
        state_events.push(last.clone());
    }
    let now = now_ms();
    let format = |events: &[StoredEvent]| -> Vec<Value> {
        events
            .iter()
            .map(|e| client_event(e, &readable.room.room_id, &readable.rules, now))
            .collect()
    };
    let mut viewer = readable.viewer(user);
    let mut shown = |events: Vec<StoredEvent>| -> Result<Vec<Value>, StoreError> {
        let mut kept = Vec::new();
        for event in events {
            if viewer.sees(connection, &event)? {
                kept.push(event);
            }
        }
        Ok(format(&kept))
    };
    let events_before = shown(before.events)?;
    let events_after = shown(after.events)?;
    Ok(json!({
        "event": client_event(&event, &readable.room.room_id, &readable.rules, now),
        "events_before": events_before,
        "events_after": events_after,
        "state": format(&state_events),
        "start": format!("s{start}"),
        "end": format!("s{end}"),
    }))
}
