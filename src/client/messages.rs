//! `GET /rooms/{roomId}/messages`: pagination through a room's timeline with `from`, `to`,
//! `dir`, `limit` and `filter` (a `RoomEventFilter`, `client::event_filter`); tokens are
//! stream positions (`s<N>`), as in sync's `prev_batch`. Going back past the earliest event
//! held fetches older history from other servers (backfill); events are shown per the
//! room's history visibility (`client::history_visibility`).

use serde_json::{Value, json};

use super::auth::{authenticate, internal};
use super::event_filter::{EventFilter, filtered_page};
use super::format::client_event;
use super::room_read::{parse_room_id, readable_room};
use crate::api::{ApiResult, Request, Response};
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::id::UserId;
use crate::server::{Server, now_ms};
use crate::store::{Connection, StoreError, events};

const MAX_LIMIT: i64 = 1000;
/// Backfill requests one `/messages` request may make before it answers with what it has.
const MAX_BACKFILL_ROUNDS: usize = 3;
/// Events asked of other servers at least, so that short pages do not mean many requests.
const MIN_BACKFILL: i64 = 50;

pub async fn handle(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let room_id = parse_room_id(request.param(0))?.as_str().to_owned();
    let backwards = match request.query_param("dir") {
        Some("b") | None => true,
        Some("f") => false,
        Some(other) => {
            return Err(MatrixError::new(
                400,
                ErrCode::InvalidParam,
                format!("dir must be b or f, not {other:?}"),
            ));
        }
    };
    let from = request
        .query_param("from")
        .map(parse_position)
        .transpose()?;
    let to = request.query_param("to").map(parse_position).transpose()?;
    let limit = match request.query_param("limit") {
        Some(text) => text
            .parse::<i64>()
            .map_err(|_| MatrixError::new(400, ErrCode::InvalidParam, "limit must be a number"))?,
        None => 10,
    }
    .clamp(0, MAX_LIMIT);
    let filter = EventFilter::parse(request.query_param("filter"))?;
    // Going back from the earliest event held, history from before this server joined is
    // fetched from other servers (`federation::backfill`) and the walk goes on through it.
    let may_backfill = backwards && to.is_none();
    let mut chunk: Vec<Value> = Vec::new();
    let mut start: Option<i64> = None;
    let mut end: Option<i64> = None;
    let mut bounds: Option<(i64, i64)> = None;
    let mut rounds = 0;
    loop {
        let (user, room, filter) = (requester.user_id.clone(), room_id.clone(), filter.clone());
        let wanted = limit - chunk.len() as i64;
        let part = server
            .store
            .read(move |connection| {
                read_part(
                    connection,
                    &user,
                    &room,
                    (from, to),
                    bounds,
                    backwards,
                    wanted,
                    &filter,
                )
            })
            .await
            .map_err(|e| internal(&e))??;
        start.get_or_insert(part.start);
        chunk.extend(part.events);
        end = part.end.or(end);
        bounds = Some(part.next_bounds);
        if !may_backfill || chunk.len() as i64 >= limit || !part.exhausted {
            break;
        }
        if rounds == MAX_BACKFILL_ROUNDS {
            // More may be had: the next request goes on from here.
            end = Some(part.next_bounds.1);
            break;
        }
        rounds += 1;
        let wanted = (limit - chunk.len() as i64).max(MIN_BACKFILL) as usize;
        match crate::federation::backfill::backfill(server, &room_id, wanted).await {
            Ok(stored) if stored.added > 0 => {}
            Ok(_) => break,
            Err(why) => {
                crate::info!("no backfill of {room_id}: {why}");
                break;
            }
        }
    }
    let mut body = json!({
        "start": format!("s{}", start.unwrap_or(0)),
        "chunk": chunk,
    });
    // Spec: no `end` when there are no more events in that direction.
    if let Some(end) = end {
        body["end"] = json!(format!("s{end}"));
    }
    Ok(Response::ok(&body))
}

/// One page of the timeline as it is held now.
struct Part {
    start: i64,
    events: Vec<Value>,
    /// The token for the next page, unless the timeline held here is exhausted.
    end: Option<i64>,
    exhausted: bool,
    /// `(after, up_to)` for the rest of the walk.
    next_bounds: (i64, i64),
}

#[allow(clippy::too_many_arguments)]
fn read_part(
    connection: &Connection,
    user: &UserId,
    room_id: &str,
    (from, to): (Option<i64>, Option<i64>),
    bounds: Option<(i64, i64)>,
    backwards: bool,
    limit: i64,
    filter: &EventFilter,
) -> Result<Result<Part, MatrixError>, StoreError> {
    let readable = match readable_room(connection, user, room_id)? {
        Ok(readable) => readable,
        Err(e) => return Ok(Err(e)),
    };
    let (after, up_to) = match bounds {
        Some(bounds) => bounds,
        None => {
            let newest = events::max_stream_ordering(connection)?;
            let ceiling = readable.visible_until.unwrap_or(newest);
            // Backfilled history has positions below zero: the bottom is the lowest i64.
            if backwards {
                (to.unwrap_or(i64::MIN), from.unwrap_or(newest).min(ceiling))
            } else {
                (from.unwrap_or(i64::MIN), to.unwrap_or(newest).min(ceiling))
            }
        }
    };
    let page = filtered_page(
        connection,
        readable.room.room_nid,
        (after, up_to),
        limit,
        backwards,
        filter,
    )?;
    let now = now_ms();
    let mut events = Vec::new();
    let mut viewer = readable.viewer(user.as_str());
    for event in &page.events {
        if viewer.sees(connection, event)? {
            events.push(client_event(
                event,
                &readable.room.room_id,
                &readable.rules,
                now,
            ));
        }
    }
    let end = page.last_scanned.map(|s| if backwards { s - 1 } else { s });
    let next_bounds = match end {
        Some(end) if backwards => (after, end),
        Some(end) => (end, up_to),
        None => (after, up_to),
    };
    Ok(Ok(Part {
        start: if backwards { up_to } else { after },
        events,
        end: end.filter(|_| !page.exhausted),
        exhausted: page.exhausted,
        next_bounds,
    }))
}

fn parse_position(token: &str) -> Result<i64, MatrixError> {
    token
        .strip_prefix('s')
        .and_then(|n| n.split('_').next())
        .and_then(|n| n.parse::<i64>().ok())
        .ok_or_else(|| {
            MatrixError::new(
                400,
                ErrCode::InvalidParam,
                format!("invalid pagination token {token:?}"),
            )
        })
}
