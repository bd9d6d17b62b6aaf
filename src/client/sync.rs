//! `GET /_matrix/client/v3/sync`: initial and incremental sync with long-polling.
//!
//! The token is `s<stream position>`. A new event wakes waiting syncs at once through the
//! server's notifier; the sync then reads what is new since its token.

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::account_data::AccountDataForSync;
use super::auth::{authenticate, internal};
use super::filter::{SyncFilter, add_state_left_out, filtered_timeline};
use super::format::{client_event, stripped_state};
use super::history_visibility::{MembershipEnd, Viewer, membership_end};
use super::sync_ephemeral::{
    CountedRoom, TypingSnapshot, room_ephemeral, typing_snapshot, unread_notifications,
    until_next_typing_expiry,
};
use crate::api::{ApiResult, Request, Response};
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::id::UserId;
use crate::proto::room_version::RoomRules;
use crate::server::{Server, now_ms};
use crate::store::events::{self, Membership, StoredEvent};
use crate::store::{Connection, StoreError};
use crate::store::{account_data, state};

/// Longest a sync waits, whatever the client asks (the route's timeout is longer).
pub const MAX_SYNC_WAIT: Duration = Duration::from_secs(90);

/// A sync position: one counter per stream. Written `s<events>_<account_data>_<receipts>_<typing>`;
/// a shorter token (older hearth, `prev_batch`) leaves the missing counters at 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncToken {
    /// Timeline events (`events.stream_ordering`).
    pub events: i64,
    /// Global and per-room account data.
    pub account_data: i64,
    /// Read receipts and read markers.
    pub receipts: i64,
    /// Typing notifications (in memory; restarts from 0 with the server).
    pub typing: i64,
}

impl SyncToken {
    pub fn parse(token: &str) -> Option<SyncToken> {
        let mut parts = token.strip_prefix('s')?.split('_');
        let mut next = || -> Option<i64> {
            match parts.next() {
                None => Some(0),
                Some(part) => part.parse::<i64>().ok().filter(|n| *n >= 0),
            }
        };
        let token = SyncToken {
            events: next()?,
            account_data: next()?,
            receipts: next()?,
            typing: next()?,
        };
        Some(token)
    }

    pub fn format(&self) -> String {
        format!(
            "s{}_{}_{}_{}",
            self.events, self.account_data, self.receipts, self.typing
        )
    }
}

/// What the client asked for.
#[derive(Debug, Clone)]
struct SyncRequest {
    user_id: String,
    /// The events position of `since_token`.
    since: Option<i64>,
    since_token: Option<SyncToken>,
    full_state: bool,
    /// Typing as of this attempt (`client::sync_ephemeral`).
    typing: TypingSnapshot,
    /// `Server::unread_counts`, shared with the read job.
    unread_counts: std::sync::Arc<std::sync::Mutex<crate::proto::push::unread::UnreadCounts>>,
    /// `Server::push_rulesets`, shared with the read job.
    push_rulesets: std::sync::Arc<std::sync::Mutex<crate::server::PushRulesets>>,
    /// The requester, typed (`user_id` is its text).
    user: UserId,
    /// The stored or inline filter (`client::filter`).
    filter: SyncFilter,
}

pub async fn handle(server: &Server, request: Request) -> ApiResult {
    let requester = authenticate(server, &request).await?;
    let since_token = match request.query_param("since") {
        Some(token) => Some(parse_token(token)?),
        None => None,
    };
    let since = since_token.map(|token| token.events);
    let timeout = request
        .query_param("timeout")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::ZERO)
        .min(MAX_SYNC_WAIT);
    let (user, filter_parameter) = (
        requester.user_id.clone(),
        request.query_param("filter").map(str::to_owned),
    );
    let filter = server
        .store
        .read(move |connection| SyncFilter::resolve(connection, &user, filter_parameter.as_deref()))
        .await
        .map_err(|e| internal(&e))??;
    let sync = SyncRequest {
        user_id: requester.user_id.as_str().to_owned(),
        since,
        since_token,
        full_state: request.query_param("full_state") == Some("true"),
        typing: TypingSnapshot::default(),
        unread_counts: server.unread_counts.clone(),
        push_rulesets: server.push_rulesets.clone(),
        user: requester.user_id.clone(),
        filter,
    };
    let deadline = Instant::now() + timeout;
    loop {
        let seen = server.notifier.position();
        let mut job = sync.clone();
        job.typing = typing_snapshot(server, sync.since_token.map(|token| token.typing));
        let (response, has_news) = server
            .store
            .read(move |connection| build(connection, &job))
            .await
            .map_err(|e| internal(&e))?;
        let remaining = deadline.saturating_duration_since(Instant::now());
        if has_news || sync.since.is_none() || sync.full_state || remaining.is_zero() {
            return Ok(Response::ok(&response));
        }
        // A typer's timeout ending is news too: wake for it.
        let wait =
            until_next_typing_expiry(server).map_or(remaining, |expiry| expiry.min(remaining));
        if !server.notifier.wait_for_change(seen, wait).await && wait == remaining {
            // Timed out with nothing new: answer with the same position.
            return Ok(Response::ok(&response));
        }
    }
}

fn parse_token(token: &str) -> Result<SyncToken, MatrixError> {
    SyncToken::parse(token).ok_or_else(|| {
        MatrixError::new(
            400,
            ErrCode::InvalidParam,
            format!("invalid sync token {token:?}"),
        )
    })
}

/// Builds the response; the flag says whether anything is new since the token.
fn build(connection: &Connection, sync: &SyncRequest) -> Result<(Value, bool), StoreError> {
    let position = events::max_stream_ordering(connection)?;
    // `full_state` sends all account data again, as Synapse does.
    let account_data_since = match sync.since_token {
        Some(token) if !sync.full_state => token.account_data,
        _ => 0,
    };
    // The position first, then what is up to it: a write committed in between is left
    // for the next sync instead of being skipped by the token.
    let account_data_position = account_data::max_stream_id(connection)?.max(account_data_since);
    let mut account_data = AccountDataForSync::from_entries(
        account_data::changed_since(connection, &sync.user, account_data_since)?
            .into_iter()
            .filter(|entry| entry.stream_id <= account_data_position)
            .collect(),
    );
    let next_token = SyncToken {
        events: position,
        receipts: crate::store::receipts::max_position(connection)?,
        typing: sync.typing.serial,
        account_data: account_data_position,
    };
    if sync.since.is_none() {
        super::push_rules::add_default_push_rules(
            connection,
            &sync.user_id,
            &mut account_data.global,
        )?;
    }
    let now = now_ms();
    let mut joined = Map::new();
    let mut invited = Map::new();
    let mut left = Map::new();
    let mut knocked = Map::new();
    for membership in events::memberships_of_user(connection, &sync.user_id)? {
        let changed_since = sync
            .since
            .is_none_or(|since| membership.stream_ordering > since);
        if !sync.filter.allows_room(&membership.room_id) {
            continue;
        }
        let Some(room) = events::room_by_id(connection, &membership.room_id)? else {
            continue;
        };
        let Some(rules) = RoomRules::for_version(&room.room_version) else {
            continue;
        };
        match membership.membership.as_str() {
            "join" => {
                let since = if changed_since { None } else { sync.since };
                let room_account_data = account_data
                    .rooms
                    .remove(&membership.room_id)
                    .unwrap_or_default();
                if let Some(section) = joined_room(
                    connection,
                    sync,
                    &membership,
                    &rules,
                    since,
                    position,
                    now,
                    room_account_data,
                )? {
                    joined.insert(membership.room_id.clone(), section);
                }
            }
            "knock" if changed_since => {
                let stripped = invited_room(connection, &membership)?;
                knocked.insert(
                    membership.room_id.clone(),
                    json!({ "knock_state": stripped["invite_state"] }),
                );
            }
            "invite" if changed_since => {
                invited.insert(
                    membership.room_id.clone(),
                    invited_room(connection, &membership)?,
                );
            }
            // Spec: c2s "Leaving rooms": a forgotten room leaves the sync too.
            "leave" | "ban"
                if changed_since
                    && sync.since.is_some()
                    && !crate::store::room_directory::is_forgotten(
                        connection,
                        &sync.user_id,
                        membership.room_nid,
                    )? =>
            {
                let section = left_room(connection, sync, &membership, &rules, now)?;
                left.insert(membership.room_id.clone(), section);
            }
            _ => {}
        }
    }
    let has_news = !(joined.is_empty()
        && invited.is_empty()
        && left.is_empty()
        && account_data.global.is_empty());
    let response = json!({
        "next_batch": next_token.format(),
        "rooms": { "join": joined, "invite": invited, "leave": left, "knock": knocked },
        "presence": { "events": [] },
        "account_data": { "events": account_data.global },
        "to_device": { "events": [] },
        "device_lists": { "changed": [], "left": [] },
        "device_one_time_keys_count": {},
    });
    Ok((response, has_news))
}

/// A joined room's section, or `None` when nothing changed since `since`.
#[allow(clippy::too_many_arguments)]
fn joined_room(
    connection: &Connection,
    sync: &SyncRequest,
    membership: &Membership,
    rules: &RoomRules,
    since: Option<i64>,
    position: i64,
    now: i64,
    room_account_data: Vec<Value>,
) -> Result<Option<Value>, StoreError> {
    let room_nid = membership.room_nid;
    let room_id = &membership.room_id;
    let after = since.unwrap_or(0);
    let receipts_since = since
        .and(sync.since_token)
        .map_or(0, |token| token.receipts);
    let typers = sync.typing.rooms.get(room_id.as_str());
    let ephemeral = room_ephemeral(connection, &sync.user_id, room_nid, typers, receipts_since)?;
    let (mut timeline, limited) =
        filtered_timeline(connection, &sync.filter, room_nid, after, position)?;
    timeline.reverse();
    // Spec: c2s "History visibility". Joined before the oldest event of the window, the
    // user sees all of it whatever the visibility; only a window that reaches back before
    // the join (the first sync of the room, or since the join) is checked event by event.
    if since.is_none()
        && timeline
            .first()
            .and_then(|e| e.stream_ordering)
            .is_some_and(|oldest| oldest <= membership.stream_ordering)
    {
        Viewer::member(&sync.user_id).retain_seen(connection, &mut timeline)?;
    }
    if timeline.is_empty()
        && since.is_some()
        && !sync.full_state
        && room_account_data.is_empty()
        && ephemeral.is_empty()
    {
        return Ok(None);
    }
    let timeline_start = timeline
        .first()
        .and_then(|e| e.stream_ordering)
        .unwrap_or(position + 1);
    let state_events: Vec<StoredEvent> = if since.is_none() || sync.full_state {
        // Spec: the state at the start of the timeline.
        match timeline.first().and_then(|e| e.state_group_before) {
            Some(group) => state::state_group_events(connection, group)?,
            None => state::current_state_events(connection, room_nid)?,
        }
    } else {
        // State that changed in the gap between the token and the timeline.
        state::current_state_changed_between(connection, room_nid, after, timeline_start)?
    };
    let state_events = add_state_left_out(
        connection,
        &sync.filter,
        room_nid,
        state_events,
        &timeline,
        timeline_start,
        position,
    )?;
    let prev_batch = format!("s{}", timeline_start - 1);
    // Counts and a few names, never the whole member list: a sync of a 10,000-member room
    // must not read 10,000 rows for its summary.
    let joined_count = events::member_count(connection, room_nid, "join")?;
    let invited_count = events::member_count(connection, room_nid, "invite")?;
    let mut heroes = events::some_members_with(connection, room_nid, "join", 6)?;
    if heroes.len() < 6 {
        heroes.extend(events::some_members_with(
            connection, room_nid, "invite", 6,
        )?);
    }
    let heroes: Vec<String> = heroes
        .into_iter()
        .filter(|user| *user != sync.user_id)
        .take(5)
        .collect();
    Ok(Some(json!({
        "timeline": {
            "events": timeline.iter().map(|e| client_event(e, room_id, rules, now)).collect::<Vec<_>>(),
            "limited": limited,
            "prev_batch": prev_batch,
        },
        "state": {
            "events": state_events.iter().map(|e| client_event(e, room_id, rules, now)).collect::<Vec<_>>(),
        },
        "ephemeral": { "events": ephemeral },
        "account_data": { "events": room_account_data },
        "summary": {
            "m.heroes": heroes,
            "m.joined_member_count": joined_count,
            "m.invited_member_count": invited_count,
        },
        "unread_notifications": unread_notifications(
            connection,
            &sync.user_id,
            &CountedRoom {
                nid: room_nid,
                id: room_id,
                rules,
                joined_members: joined_count,
            },
            membership.stream_ordering,
            position,
            (&sync.unread_counts, &sync.push_rulesets),
        )?,
    })))
}

/// Stripped state the invitee may see (spec: c2s "Stripped state").
fn invited_room(connection: &Connection, membership: &Membership) -> Result<Value, StoreError> {
    let mut stripped = Vec::new();
    // An invite from another server: the stripped state that server sent, and the invite.
    if let Some(Ok(Value::Array(remote))) = events::invite_room_state(
        connection,
        &membership_user(connection, membership)?,
        membership.room_nid,
    )?
    .map(|text| serde_json::from_str::<Value>(&text))
    {
        stripped.extend(remote);
        if let Some(invite) = events::event_by_nid(connection, membership.event_nid)? {
            stripped.push(stripped_state(&invite));
        }
        return Ok(json!({ "invite_state": { "events": stripped } }));
    }
    for kind in [
        "m.room.create",
        "m.room.join_rules",
        "m.room.name",
        "m.room.avatar",
        "m.room.canonical_alias",
        "m.room.encryption",
        "m.room.topic",
    ] {
        if let Some(event) = state::current_state_event(connection, membership.room_nid, kind, "")?
        {
            stripped.push(stripped_state(&event));
        }
    }
    if let Some(invite) = events::event_by_nid(connection, membership.event_nid)? {
        if let Some(inviter) = state::current_state_event(
            connection,
            membership.room_nid,
            "m.room.member",
            &invite.sender,
        )? {
            stripped.push(stripped_state(&inviter));
        }
        stripped.push(stripped_state(&invite));
    }
    Ok(json!({ "invite_state": { "events": stripped } }))
}

/// A room left since the token: the timeline up to the leave.
fn left_room(
    connection: &Connection,
    sync: &SyncRequest,
    membership: &Membership,
    rules: &RoomRules,
    now: i64,
) -> Result<Value, StoreError> {
    let after = sync.since.unwrap_or(0);
    let (mut timeline, limited) = filtered_timeline(
        connection,
        &sync.filter,
        membership.room_nid,
        after,
        membership.stream_ordering,
    )?;
    timeline.reverse();
    // Up to the event that ended the membership (a leave before a ban), the user's own
    // membership events after it, and what the room's history visibility shows.
    // A leave held without a place in the timeline (a declined remote invite) ended nothing.
    let end =
        membership_end(connection, &sync.user_id, membership.event_nid)?.unwrap_or(MembershipEnd {
            until: Some(membership.stream_ordering),
            joined: false,
            event_nid: Some(membership.event_nid),
        });
    Viewer::new(&sync.user_id, end).retain_seen(connection, &mut timeline)?;
    let prev_batch = format!(
        "s{}",
        timeline
            .first()
            .and_then(|e| e.stream_ordering)
            .unwrap_or(membership.stream_ordering)
            - 1
    );
    Ok(json!({
        "timeline": {
            "events": timeline.iter().map(|e| client_event(e, &membership.room_id, rules, now)).collect::<Vec<_>>(),
            "limited": limited,
            "prev_batch": prev_batch,
        },
        "state": { "events": [] },
        "account_data": { "events": [] },
    }))
}

/// The user a membership row belongs to: the state key of its event.
fn membership_user(connection: &Connection, membership: &Membership) -> Result<String, StoreError> {
    Ok(events::event_by_nid(connection, membership.event_nid)?
        .and_then(|event| event.state_key)
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_short_tokens_fill_zeros() {
        let token = SyncToken {
            events: 5,
            account_data: 2,
            receipts: 9,
            typing: 1,
        };
        assert_eq!(SyncToken::parse(&token.format()), Some(token));
        assert_eq!(
            SyncToken::parse("s7"),
            Some(SyncToken {
                events: 7,
                ..SyncToken::default()
            })
        );
        assert_eq!(SyncToken::parse("x7"), None);
        assert_eq!(SyncToken::parse("s-1"), None);
        assert_eq!(SyncToken::parse("s1_a"), None);
    }
}
