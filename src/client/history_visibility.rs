//! Which events of a room's history a member may see (spec: c2s "History visibility"),
//! decided by `m.room.history_visibility` and the user's membership in the state before
//! each event. The caller has checked that the user is or was a member of the room.
//!
//! A user who left sees nothing after their leave but their own membership events, and
//! `shared` history only if they had joined before leaving (spec: "shared": visible when
//! "the user joined the room at any point after the event was sent"); an invitee who
//! declined (or a user banned before ever joining) sees only what `invited` would show.

use std::collections::HashMap;

use serde_json::Value;

use crate::store::events::{self, StoredEvent};
use crate::store::{Connection, StoreError, state};

/// Membership changes followed back from a leave to find where membership ended.
const MAX_MEMBERSHIP_WALK: usize = 16;

/// What one user may see of one room; answers per state group are cached, as a page of
/// events mostly shares a few groups.
pub struct Viewer<'a> {
    user_id: &'a str,
    /// The user stopped being a member at this position: later events are hidden, except
    /// the user's own membership events.
    until: Option<i64>,
    /// Whether `shared` history is open to the user: they joined before `until`.
    joined: bool,
    /// Per state group: the visibility and the user's membership in it.
    groups: HashMap<i64, (Rank, Option<String>)>,
}

impl<'a> Viewer<'a> {
    /// A user who is joined now.
    pub fn member(user_id: &'a str) -> Viewer<'a> {
        Viewer::new(user_id, MembershipEnd::default())
    }

    /// A user whose membership ended as `end` says (`None` until: joined now).
    pub fn new(user_id: &'a str, end: MembershipEnd) -> Viewer<'a> {
        Viewer {
            user_id,
            until: end.until,
            joined: end.joined,
            groups: HashMap::new(),
        }
    }

    /// Whether the user may see `event`. Spec: `world_readable` and `shared` events are
    /// visible to every member; `invited` ones to users invited or joined at the time;
    /// `joined` ones to users joined at the time. A user always sees their own membership
    /// events; an event without a known state (an outlier) is treated as `shared`.
    pub fn sees(
        &mut self,
        connection: &Connection,
        event: &StoredEvent,
    ) -> Result<bool, StoreError> {
        if event.kind == "m.room.member" && event.state_key.as_deref() == Some(self.user_id) {
            return Ok(true);
        }
        if let (Some(until), Some(position)) = (self.until, event.stream_ordering)
            && position > until
        {
            return Ok(false);
        }
        let Some(before) = event.state_group_before else {
            return Ok(self.joined);
        };
        let (mut visibility, membership) = self.group(connection, before)?;
        // Spec: a history visibility event itself is judged by the more permissive of the
        // old and the new value.
        if event.kind == "m.room.history_visibility"
            && let Ok(Value::Object(pdu)) = serde_json::from_str::<Value>(&event.pdu)
            && let Some(new) = pdu
                .get("content")
                .and_then(|content| content.get("history_visibility"))
                .and_then(Value::as_str)
        {
            visibility = visibility.max(rank(new));
        }
        if visibility == Rank::WorldReadable || (visibility == Rank::Shared && self.joined) {
            return Ok(true);
        }
        Ok(match membership.as_deref() {
            Some("join") => true,
            Some("invite") => visibility >= Rank::Invited,
            _ => false,
        })
    }

    /// Keeps the events of `timeline` the user may see.
    pub fn retain_seen(
        &mut self,
        connection: &Connection,
        timeline: &mut Vec<StoredEvent>,
    ) -> Result<(), StoreError> {
        let mut seen = Vec::with_capacity(timeline.len());
        for event in timeline.drain(..) {
            if self.sees(connection, &event)? {
                seen.push(event);
            }
        }
        *timeline = seen;
        Ok(())
    }

    fn group(
        &mut self,
        connection: &Connection,
        group: i64,
    ) -> Result<(Rank, Option<String>), StoreError> {
        if let Some(known) = self.groups.get(&group) {
            return Ok(known.clone());
        }
        let visibility = state_event(connection, group, "m.room.history_visibility", "")?
            .as_ref()
            .and_then(|event| content_field(event, "history_visibility"))
            .map(|value| rank(&value))
            .unwrap_or(Rank::Shared);
        // Spec: `world_readable` and `shared` need no membership (but see `joined`).
        let membership =
            if visibility == Rank::WorldReadable || (visibility == Rank::Shared && self.joined) {
                None
            } else {
                state_event(connection, group, "m.room.member", self.user_id)?
                    .and_then(|event| content_field(&event, "membership"))
            };
        self.groups.insert(group, (visibility, membership.clone()));
        Ok((visibility, membership))
    }
}

/// Where a user's membership of a room ended: `until` (a stream position) is the event
/// that first made them neither joined nor invited after their last membership;
/// `joined` says whether they had joined by then. The default is a user joined now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MembershipEnd {
    pub until: Option<i64>,
    pub joined: bool,
    /// The event at `until`.
    pub event_nid: Option<i64>,
}

impl Default for MembershipEnd {
    fn default() -> MembershipEnd {
        MembershipEnd {
            until: None,
            joined: true,
            event_nid: None,
        }
    }
}

/// Follows a user's membership back from `event_nid` (their current `leave` or `ban`)
/// through earlier non-memberships (a leave then a ban, a knock then its withdrawal) to
/// the event that ended their last `join` or `invite`.
pub fn membership_end(
    connection: &Connection,
    user_id: &str,
    event_nid: i64,
) -> Result<Option<MembershipEnd>, StoreError> {
    let Some(mut event) = events::event_by_nid(connection, event_nid)? else {
        return Ok(None);
    };
    let mut joined = false;
    for _ in 0..MAX_MEMBERSHIP_WALK {
        let Some(before) = event.state_group_before else {
            break;
        };
        let Some(prior) = state_event(connection, before, "m.room.member", user_id)? else {
            break;
        };
        match content_field(&prior, "membership").as_deref() {
            Some("join") => {
                joined = true;
                break;
            }
            Some("invite") => break,
            _ if prior.stream_ordering.is_some() => event = prior,
            _ => break,
        }
    }
    Ok(event.stream_ordering.map(|until| MembershipEnd {
        until: Some(until),
        joined,
        event_nid: Some(event.event_nid),
    }))
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

fn state_event(
    connection: &Connection,
    group: i64,
    kind: &str,
    state_key: &str,
) -> Result<Option<StoredEvent>, StoreError> {
    let Some(state_key_nid) = state::find_state_key_nid(connection, kind, state_key)? else {
        return Ok(None);
    };
    let Some(event_nid) = state::state_group_lookup(connection, group, state_key_nid)? else {
        return Ok(None);
    };
    events::event_by_nid(connection, event_nid)
}

/// A string field of an event's content.
fn content_field(event: &StoredEvent, field: &str) -> Option<String> {
    match serde_json::from_str::<Value>(&event.pdu) {
        Ok(Value::Object(pdu)) => pdu
            .get("content")
            .and_then(|content| content.get(field))
            .and_then(Value::as_str)
            .map(str::to_owned),
        _ => None,
    }
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
