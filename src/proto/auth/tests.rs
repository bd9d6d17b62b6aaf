//! Tests of the authorization rules: one crafted event accepted and one rejected (with the
//! expected [`AuthError`]) per rule, for the room versions where the rule differs.
//!
//! Every case goes through [`check`] with a [`Room`] (the state) built from small event
//! builders; the cases themselves are in `tests/`, one file per group of rules.

mod create;
mod events;
mod membership;
mod power_levels;
mod synapse;
mod third_party_invite;

use serde_json::{Map, Value, json};

use super::{AuthError, check as auth_check};
use crate::proto::pdu::Pdu;
use crate::proto::room_version::RoomRules;

pub(super) const ALICE: &str = "@alice:a.example";
pub(super) const BOB: &str = "@bob:b.example";
pub(super) const CAROL: &str = "@carol:a.example";
pub(super) const DAVE: &str = "@dave:d.example";

/// Asserts that `event` gets `expect` in `room`.
#[track_caller]
pub(super) fn check(room: &Room, event: &Pdu, expect: Result<(), AuthError>) {
    let state = |kind: &str, state_key: &str| {
        room.state
            .iter()
            .find(|pdu| pdu.kind() == kind && pdu.state_key() == Some(state_key))
    };
    let actual = auth_check(&room.rules, event, state);
    assert_eq!(
        actual,
        expect,
        "room v{}, event {}",
        room.rules.version,
        event.event_id()
    );
}

pub(super) fn room_id(rules: &RoomRules) -> &'static str {
    if rules.room_id_is_create_event_hash {
        "!create"
    } else {
        "!room:a.example"
    }
}

fn create_id(rules: &RoomRules) -> &'static str {
    if rules.room_id_is_create_event_hash {
        "$create"
    } else {
        "$create:a.example"
    }
}

pub(super) fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// An event of the test room, signed (in name) by the sender's server. Its ID is made of
/// its type, state key and sender, so events in one test are distinct.
pub(super) fn pdu(
    rules: &RoomRules,
    sender: &str,
    kind: &str,
    state_key: Option<&str>,
    content: Value,
) -> Pdu {
    let server_name = sender.split_once(':').map_or("", |(_, server)| server);
    let mut json = json!({
        "type": kind, "sender": sender, "room_id": room_id(rules), "content": content,
        "prev_events": ["$prev:a.example"], "auth_events": [], "depth": 5, "origin_server_ts": 1,
        "signatures": {server_name: {"ed25519:1": "c2ln"}},
    });
    if let Some(state_key) = state_key {
        json["state_key"] = state_key.into();
    }
    let id = format!("${kind}/{}/{sender}", state_key.unwrap_or("-"));
    Pdu::new(id, object(json))
}

pub(super) fn with_id(event: Pdu, event_id: &str) -> Pdu {
    Pdu::new(event_id.to_string(), event.into_json())
}

pub(super) fn set_field(event: Pdu, name: &str, value: Value) -> Pdu {
    let id = event.event_id().to_string();
    let mut json = event.into_json();
    json.insert(name.to_string(), value);
    Pdu::new(id, json)
}

/// Alice's create event, with `extra` merged into its content (`creator` is set for v1–10).
pub(super) fn create(rules: &RoomRules, extra: Value) -> Pdu {
    let mut content = object(json!({"room_version": rules.version}));
    if !rules.use_room_create_sender {
        content.insert("creator".into(), ALICE.into());
    }
    content.extend(object(extra));
    let event = pdu(
        rules,
        ALICE,
        "m.room.create",
        Some(""),
        Value::Object(content),
    );
    let mut json = event.into_json();
    json.insert("prev_events".into(), json!([]));
    if rules.room_id_is_create_event_hash {
        json.remove("room_id");
    }
    Pdu::new(create_id(rules).to_string(), json)
}

pub(super) fn member(rules: &RoomRules, sender: &str, target: &str, membership: &str) -> Pdu {
    member_with(rules, sender, target, json!({ "membership": membership }))
}

pub(super) fn member_with(rules: &RoomRules, sender: &str, target: &str, content: Value) -> Pdu {
    pdu(rules, sender, "m.room.member", Some(target), content)
}

pub(super) fn message(rules: &RoomRules, sender: &str) -> Pdu {
    pdu(rules, sender, "m.room.message", None, json!({"body": "hi"}))
}

/// The test room's state: a list of state events, the last one per key wins.
pub(super) struct Room {
    pub rules: RoomRules,
    pub state: Vec<Pdu>,
}

impl Room {
    /// Alice created the room and joined it; no power levels and no join rules yet.
    pub fn bare(rules: RoomRules) -> Room {
        let room = Room {
            rules,
            state: vec![create(&rules, json!({}))],
        };
        room.joined(ALICE)
    }

    /// A room with `join_rule`, and power levels giving Alice 100 (v12: Alice is the
    /// creator, so unlisted) and Carol 50, who is joined too.
    pub fn with_rule(rules: RoomRules, join_rule: &str) -> Room {
        Room::bare(rules)
            .set(pdu(
                &rules,
                ALICE,
                "m.room.join_rules",
                Some(""),
                json!({ "join_rule": join_rule }),
            ))
            .levels(json!({}))
            .joined(CAROL)
    }

    /// Replaces the state event with the same type and state key.
    pub fn set(mut self, event: Pdu) -> Room {
        self.state
            .retain(|pdu| (pdu.kind(), pdu.state_key()) != (event.kind(), event.state_key()));
        self.state.push(event);
        self
    }

    pub fn joined(self, user_id: &str) -> Room {
        self.membership(user_id, "join")
    }

    pub fn membership(self, user_id: &str, membership: &str) -> Room {
        let rules = self.rules;
        self.set(member(&rules, user_id, user_id, membership))
    }

    /// Sets the power levels: Alice 100 (listed before v12), Carol 50, plus `extra`.
    pub fn levels(self, extra: Value) -> Room {
        let rules = self.rules;
        let mut users = object(json!({ CAROL: 50 }));
        if !rules.creators_have_infinite_power {
            users.insert(ALICE.into(), 100.into());
        }
        let mut content = object(json!({ "users": users }));
        content.extend(object(extra));
        self.set(pdu(
            &rules,
            ALICE,
            "m.room.power_levels",
            Some(""),
            Value::Object(content),
        ))
    }
}
