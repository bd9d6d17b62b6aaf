//! `GET /rooms/{roomId}/messages`: pagination through a room's timeline with `from`, `to`,
//! `dir`, `limit` and `filter` (a `RoomEventFilter`, `client::event_filter`); tokens are
//! stream positions (`s<N>`), as in sync's `prev_batch`.

use serde_json::{Value, json};

use super::auth::{authenticate, internal};
use super::event_filter::{EventFilter, filtered_page};
use super::format::client_event;
use super::room_read::{parse_room_id, readable_room};
use crate::api::{ApiResult, Request, Response};
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::server::{Server, now_ms};
use crate::store::events;

const MAX_LIMIT: i64 = 1000;

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
    let user = requester.user_id.clone();
    let answer = server
        .store
        .read(move |connection| {
            let readable = match readable_room(connection, &user, &room_id)? {
                Ok(readable) => readable,
                Err(e) => return Ok(Err(e)),
            };
            let newest = events::max_stream_ordering(connection)?;
            let ceiling = readable.visible_until.unwrap_or(newest);
            let (after, up_to) = if backwards {
                (to.unwrap_or(0), from.unwrap_or(newest).min(ceiling))
            } else {
                (from.unwrap_or(0), to.unwrap_or(newest).min(ceiling))
            };
            let page = filtered_page(
                connection,
                readable.room.room_nid,
                (after, up_to),
                limit,
                backwards,
                &filter,
            )?;
            let chunk = page.events;
            let now = now_ms();
            let end = page.last_scanned.map(|s| if backwards { s - 1 } else { s });
            let start = if backwards { up_to } else { after };
            let mut body = json!({
                "start": format!("s{start}"),
                "chunk": chunk
                    .iter()
                    .map(|e| client_event(e, &readable.room.room_id, &readable.rules, now))
                    .collect::<Vec<Value>>(),
            });
            // Spec: no `end` when there are no more events in that direction.
            if let Some(end) = end.filter(|_| !page.exhausted) {
                body["end"] = json!(format!("s{end}"));
            }
            Ok(Ok(body))
        })
        .await
        .map_err(|e| internal(&e))?;
    Ok(Response::ok(&answer?))
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
