//! The parts of a sync's joined room that h9's features add: `ephemeral` (`m.typing` and
//! `m.receipt`) and `unread_notifications` (push rules over the events since the user's
//! read receipt). `sync.rs` calls these; they read, never write.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::format::client_event;
use super::push_rules::load_ruleset_cached;
use super::room_power::RoomPower;
use crate::proto::id::UserId;
use crate::proto::push::eval::{Context, evaluate};
use crate::proto::push::unread::{UnreadCounts, UnreadEntry};
use crate::proto::room_version::RoomRules;
use crate::proto::typing::Typing;
use crate::server::PushRulesets;
use crate::server::{Server, now_ms};
use crate::store::{Connection, StoreError, events, receipts, state};

/// How many unread events are counted at most per room (older ones are not looked at).
const MAX_COUNTED: i64 = 1000;

/// Runs `f` on the typing state. A panic that poisoned the lock left a consistent state
/// (every method completes its change before it can panic), so the state is used anyway.
pub fn with_typing<T>(server: &Server, f: impl FnOnce(&mut Typing) -> T) -> T {
    match server.typing.lock() {
        Ok(mut typing) => f(&mut typing),
        Err(poisoned) => f(&mut poisoned.into_inner()),
    }
}

/// Typing as a sync sees it, taken before the sync reads the store.
#[derive(Debug, Clone, Default)]
pub struct TypingSnapshot {
    /// The `typing` counter of the next token.
    pub serial: i64,
    /// Room ID → current typers, for the rooms to report.
    pub rooms: BTreeMap<String, Vec<String>>,
}

/// Expires old typers (waking other syncs if that changed anything) and takes the rooms
/// whose typers changed after `since` (every room with typers for an initial sync).
pub fn typing_snapshot(server: &Server, since: Option<i64>) -> TypingSnapshot {
    let (expired, snapshot) = with_typing(server, |typing| {
        let expired = typing.expire(now_ms());
        let snapshot = TypingSnapshot {
            serial: typing.serial(),
            rooms: typing.changes_since(since),
        };
        (expired, snapshot)
    });
    if expired {
        server.notifier.notify();
    }
    snapshot
}

/// How long until the next typer expires (a waiting sync wakes then to report it).
pub fn until_next_typing_expiry(server: &Server) -> Option<Duration> {
    with_typing(server, |typing| typing.next_expiry())
        .map(|expiry| Duration::from_millis((expiry - now_ms()).max(0) as u64 + 1))
}

/// The ephemeral events of a joined room: its typers (when reported) and the receipts
/// written after position `receipts_since` (0: all). Private receipts go to their owner only.
pub fn room_ephemeral(
    connection: &Connection,
    user_id: &str,
    room_nid: i64,
    typers: Option<&Vec<String>>,
    receipts_since: i64,
) -> Result<Vec<Value>, StoreError> {
    let mut ephemeral = Vec::new();
    if let Some(typers) = typers {
        // Someone who left while typing is no longer shown (their timeout may still run).
        let mut user_ids = Vec::with_capacity(typers.len());
        for typer in typers {
            if events::membership_of(connection, typer, room_nid)?.as_deref() == Some("join") {
                user_ids.push(typer);
            }
        }
        ephemeral.push(json!({ "type": "m.typing", "content": { "user_ids": user_ids } }));
    }
    let mut content = Map::new();
    for receipt in receipts::changed_since(connection, room_nid, receipts_since)? {
        if receipt.receipt_type == "m.read.private" && receipt.user_id != user_id {
            continue;
        }
        let mut entry = json!({ "ts": receipt.ts });
        if !receipt.thread_id.is_empty() {
            entry["thread_id"] = json!(receipt.thread_id);
        }
        let by_type = content.entry(receipt.event_id).or_insert_with(|| json!({}));
        if let Some(by_type) = by_type.as_object_mut() {
            let by_user = by_type
                .entry(receipt.receipt_type)
                .or_insert_with(|| json!({}));
            if let Some(by_user) = by_user.as_object_mut() {
                by_user.insert(receipt.user_id, entry);
            }
        }
    }
    if !content.is_empty() {
        ephemeral.push(json!({ "type": "m.receipt", "content": content }));
    }
    Ok(ephemeral)
}

/// `unread_notifications` of a joined room: the events after the user's read receipt (or
/// after `joined_at` when they have none) and after their own last event, that their push
/// rules notify or highlight for.
/// Counts are remembered in `cache`, so a sync evaluates only events new since the last;
/// parsed push rules in `rulesets`.
pub fn unread_notifications(
    connection: &Connection,
    user_id: &str,
    room: &CountedRoom<'_>,
    joined_at: i64,
    up_to: i64,
    (cache, rulesets): (&Mutex<UnreadCounts>, &Mutex<PushRulesets>),
) -> Result<Value, StoreError> {
    let Ok(user) = UserId::parse(user_id) else {
        return Ok(json!({ "notification_count": 0, "highlight_count": 0 }));
    };
    let room_nid = room.nid;
    let read_up_to = receipts::read_up_to(connection, room_nid, user_id)?.unwrap_or(joined_at);
    let cached = with_counts(cache, |counts| counts.get(user_id, room_nid, read_up_to))
        .filter(|entry| entry.counted_up_to <= up_to);
    let mut entry = cached.unwrap_or(UnreadEntry {
        read_up_to,
        counted_up_to: read_up_to,
        notifications: 0,
        highlights: 0,
    });
    if entry.counted_up_to < up_to {
        let counted = count(
            connection,
            rulesets,
            &user,
            room,
            (entry.counted_up_to, up_to),
        )?;
        if counted.sent_own_event {
            entry.notifications = 0;
            entry.highlights = 0;
        }
        entry.notifications += counted.notifications;
        entry.highlights += counted.highlights;
        entry.counted_up_to = up_to;
        with_counts(cache, |counts| counts.set(user_id, room_nid, entry));
    }
    Ok(json!({
        "notification_count": entry.notifications,
        "highlight_count": entry.highlights,
    }))
}

/// The room whose unread notifications are counted, with what the sync knows of it.
pub struct CountedRoom<'a> {
    pub nid: i64,
    pub id: &'a str,
    pub rules: &'a RoomRules,
    /// Its joined members (the push rules' `room_member_count`), counted once per sync.
    pub joined_members: i64,
}

fn with_counts<T>(cache: &Mutex<UnreadCounts>, f: impl FnOnce(&mut UnreadCounts) -> T) -> T {
    match cache.lock() {
        Ok(mut counts) => f(&mut counts),
        Err(poisoned) => f(&mut poisoned.into_inner()),
    }
}

/// What counting a stretch of the timeline found.
struct Counted {
    notifications: i64,
    highlights: i64,
    /// The user sent an event in it: everything before that counts as read (spec: c2s
    /// "Marking notifications as read": "either by using the API or by sending an event").
    sent_own_event: bool,
}

/// Evaluates the push rules for the events of others in `(after, up_to]`, counting only
/// those after the user's own last event there.
fn count(
    connection: &Connection,
    rulesets: &Mutex<PushRulesets>,
    user: &UserId,
    room: &CountedRoom<'_>,
    (after, up_to): (i64, i64),
) -> Result<Counted, StoreError> {
    let (room_nid, room_id, rules) = (room.nid, room.id, room.rules);
    let mut unread = events::timeline(connection, room_nid, after, up_to, MAX_COUNTED, true)?;
    let sent_own_event = match unread
        .iter()
        .position(|event| event.sender == user.as_str())
    {
        // Newest first: keep only what came after the user's own newest event.
        Some(own) => {
            unread.truncate(own);
            true
        }
        None => false,
    };
    let mut counted = Counted {
        notifications: 0,
        highlights: 0,
        sent_own_event,
    };
    if unread.is_empty() {
        return Ok(counted);
    }
    let ruleset = load_ruleset_cached(connection, user, rulesets)?;
    let power = RoomPower::load(connection, room_nid, rules)?;
    let member_count = u64::try_from(room.joined_members).unwrap_or_default();
    let display_name =
        state::current_state_event(connection, room_nid, "m.room.member", user.as_str())?
            .and_then(|member| {
                client_event(&member, room_id, rules, 0)
                    .pointer("/content/displayname")
                    .cloned()
            })
            .and_then(|name| name.as_str().map(str::to_owned));
    for stored in &unread {
        let Value::Object(event) = client_event(stored, room_id, rules, 0) else {
            continue;
        };
        let context = Context {
            user_id: user.as_str(),
            display_name: display_name.as_deref(),
            member_count,
            sender_power_level: power.user_level(&stored.sender),
            notification_power_levels: power.notifications(),
        };
        let outcome = evaluate(&ruleset, &event, &context);
        counted.notifications += i64::from(outcome.notify);
        counted.highlights += i64::from(outcome.notify && outcome.highlight);
    }
    Ok(counted)
}
