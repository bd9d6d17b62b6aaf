//! The `RoomEventFilter` of `/messages` and `/context` (spec: c2s "Filtering"): `types`,
//! `not_types` (with `*` wildcards), `senders`, `not_senders`; `lazy_load_members` and the
//! other fields are accepted and ignored. And the filtered walk through a timeline.

use serde_json::Value;

use crate::proto::errcode::{ErrCode, MatrixError};
use crate::store::events::{self, StoredEvent};
use crate::store::{Connection, StoreError};

/// How many events one filtered page looks through at most before it gives up.
const MAX_SCANNED: i64 = 5000;

#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    types: Option<Vec<String>>,
    not_types: Vec<String>,
    senders: Option<Vec<String>>,
    not_senders: Vec<String>,
}

impl EventFilter {
    /// Parses the `filter` query parameter (JSON); absent means everything.
    pub fn parse(parameter: Option<&str>) -> Result<EventFilter, MatrixError> {
        let Some(text) = parameter else {
            return Ok(EventFilter::default());
        };
        let bad = || {
            MatrixError::new(
                400,
                ErrCode::InvalidParam,
                "filter must be a RoomEventFilter object",
            )
        };
        let value: Value = serde_json::from_str(text).map_err(|_| bad())?;
        let object = value.as_object().ok_or_else(bad)?;
        let list = |key: &str| -> Result<Option<Vec<String>>, MatrixError> {
            match object.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|item| item.as_str().map(str::to_owned).ok_or_else(bad))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Some),
                Some(_) => Err(bad()),
            }
        };
        Ok(EventFilter {
            types: list("types")?,
            not_types: list("not_types")?.unwrap_or_default(),
            senders: list("senders")?,
            not_senders: list("not_senders")?.unwrap_or_default(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.types.is_none()
            && self.not_types.is_empty()
            && self.senders.is_none()
            && self.not_senders.is_empty()
    }

    pub fn allows(&self, event: &StoredEvent) -> bool {
        let type_listed =
            |patterns: &[String]| patterns.iter().any(|p| type_matches(p, &event.kind));
        self.types.as_deref().is_none_or(type_listed)
            && !type_listed(&self.not_types)
            && self
                .senders
                .as_ref()
                .is_none_or(|senders| senders.contains(&event.sender))
            && !self.not_senders.contains(&event.sender)
    }
}

/// Spec: "A '*' can be used as a wildcard to match any sequence of characters."
fn type_matches(pattern: &str, kind: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == kind,
        Some((prefix, rest)) => {
            // Each `*` matches any run; check the pieces in order.
            let Some(mut remaining) = kind.strip_prefix(prefix) else {
                return false;
            };
            let pieces: Vec<&str> = rest.split('*').collect();
            for (index, piece) in pieces.iter().enumerate() {
                if index + 1 == pieces.len() {
                    return remaining.ends_with(piece);
                }
                match remaining.find(piece) {
                    Some(at) => remaining = remaining.get(at + piece.len()..).unwrap_or(""),
                    None => return false,
                }
            }
            true
        }
    }
}

/// A page of a room's timeline between `after` (exclusive) and `up_to` (inclusive), in the
/// given direction, keeping only events the filter allows.
#[derive(Debug, Default)]
pub struct Page {
    pub events: Vec<StoredEvent>,
    /// The position of the last event looked at (kept or not), for the next token.
    pub last_scanned: Option<i64>,
    /// Whether the timeline has no more events in that direction.
    pub exhausted: bool,
}

pub fn filtered_page(
    connection: &Connection,
    room_nid: i64,
    (after, up_to): (i64, i64),
    limit: i64,
    backwards: bool,
    filter: &EventFilter,
) -> Result<Page, StoreError> {
    let mut page = Page::default();
    let (mut after, mut up_to) = (after, up_to);
    let mut scanned = 0;
    let batch = if filter.is_empty() {
        limit
    } else {
        (limit * 2).max(50)
    };
    while (page.events.len() as i64) < limit && scanned < MAX_SCANNED {
        let chunk = events::timeline(connection, room_nid, after, up_to, batch, backwards)?;
        let got = chunk.len() as i64;
        let mut full = false;
        for event in chunk {
            if (page.events.len() as i64) >= limit {
                full = true;
                break;
            }
            let position = event.stream_ordering.unwrap_or(0);
            page.last_scanned = Some(position);
            scanned += 1;
            if backwards {
                up_to = position - 1;
            } else {
                after = position;
            }
            if filter.allows(&event) {
                page.events.push(event);
            }
        }
        if full {
            break;
        }
        if got < batch {
            page.exhausted = true;
            break;
        }
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_wildcards() {
        for (pattern, kind, expected) in [
            ("m.room.message", "m.room.message", true),
            ("m.room.*", "m.room.message", true),
            ("m.room.*", "m.reaction", false),
            ("*", "anything", true),
            ("m.*.message", "m.room.message", true),
            ("m.*.member", "m.room.message", false),
        ] {
            assert_eq!(type_matches(pattern, kind), expected, "{pattern} ~ {kind}");
        }
    }
}
