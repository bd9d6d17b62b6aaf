//! Which events of a room's history a member may see (spec: c2s "History visibility"),
//! decided by `m.room.history_visibility` and the user's membership in the state before
//! each event. The caller has checked that the user is or was a member of the room.

use serde_json::Value;

use crate::store::events::{self, StoredEvent};
use crate::store::{Connection, StoreError, state};

/// Whether `user_id` may see `event`. Spec: `world_readable` and `shared` events are
/// visible to every member; `invited` ones to users invited or joined at the time; `joined`
/// ones to users joined at the time. A user always sees their own membership events; an
/// event without a known state (an outlier membership) is treated as `shared`.
pub fn visible_to(
    connection: &Connection,
    user_id: &str,
    event: &StoredEvent,
) -> Result<bool, StoreError> {
    if event.kind == "m.room.member" && event.state_key.as_deref() == Some(user_id) {
        return Ok(true);
    }
    let Some(before) = event.state_group_before else {
        return Ok(true);
    };
    let mut visibility = state_content(connection, before, "m.room.history_visibility", "")?
        .as_ref()
        .and_then(|content| content.get("history_visibility"))
        .and_then(Value::as_str)
        .map(rank)
        .unwrap_or(Rank::Shared);
    // Spec: a history visibility event itself is judged by the more permissive of the old
    // and the new value.
    if event.kind == "m.room.history_visibility"
        && let Ok(Value::Object(pdu)) = serde_json::from_str::<Value>(&event.pdu)
        && let Some(new) = pdu
            .get("content")
            .and_then(|content| content.get("history_visibility"))
            .and_then(Value::as_str)
    {
        visibility = visibility.max(rank(new));
    }
    if visibility >= Rank::Shared {
        return Ok(true);
    }
    let membership =
        state_content(connection, before, "m.room.member", user_id)?.and_then(|content| {
            content
                .get("membership")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
    Ok(match membership.as_deref() {
        Some("join") => true,
        Some("invite") => visibility == Rank::Invited,
        _ => false,
    })
}

/// The values from the strictest to the most permissive; an unknown value is `joined`,
/// the strictest that the spec defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    Joined,
    Invited,
    Shared,
    WorldReadable,
}

fn rank(value: &str) -> Rank {
    match value {
        "world_readable" => Rank::WorldReadable,
        "shared" => Rank::Shared,
        "invited" => Rank::Invited,
        _ => Rank::Joined,
    }
}

fn state_content(
    connection: &Connection,
    group: i64,
    kind: &str,
    state_key: &str,
) -> Result<Option<Value>, StoreError> {
    let Some(state_key_nid) = state::find_state_key_nid(connection, kind, state_key)? else {
        return Ok(None);
    };
    let Some(event_nid) = state::state_group_lookup(connection, group, state_key_nid)? else {
        return Ok(None);
    };
    let Some(stored) = events::event_by_nid(connection, event_nid)? else {
        return Ok(None);
    };
    Ok(match serde_json::from_str::<Value>(&stored.pdu) {
        Ok(Value::Object(mut pdu)) => pdu.remove("content"),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_order_from_strict_to_permissive() {
        assert!(rank("joined") < rank("invited"));
        assert!(rank("invited") < rank("shared"));
        assert!(rank("shared") < rank("world_readable"));
        assert_eq!(rank("something new"), Rank::Joined);
    }
}
