//! The server-default push rules (spec: c2s "Predefined Rules"), in Synapse's order, as a
//! data table. The rules dropped from the spec in v1.17 (`.m.rule.contains_display_name`,
//! `.m.rule.roomnotif`, `.m.rule.contains_user_name`) are kept, as Synapse 1.163 keeps
//! them: clients that send no `m.mentions` still rely on them (the evaluator skips them for
//! events that carry `m.mentions`).

use serde_json::{Value, json};

use super::{Rule, Ruleset};

/// The default global ruleset of `user_id` (whose localpart is `localpart`).
pub fn default_ruleset(user_id: &str, localpart: &str) -> Ruleset {
    let sound = json!({"set_tweak": "sound", "value": "default"});
    let highlight = json!({"set_tweak": "highlight"});
    let notify_sound = || vec![json!("notify"), sound.clone()];
    let event_match =
        |key: &str, pattern: &str| json!({"kind": "event_match", "key": key, "pattern": pattern});
    let override_rules = vec![
        rule(".m.rule.master", false, vec![], vec![]),
        rule(
            ".m.rule.suppress_notices",
            true,
            vec![event_match("content.msgtype", "m.notice")],
            vec![],
        ),
        rule(
            ".m.rule.invite_for_me",
            true,
            vec![
                event_match("type", "m.room.member"),
                event_match("content.membership", "invite"),
                event_match("state_key", user_id),
            ],
            notify_sound(),
        ),
        rule(
            ".m.rule.member_event",
            true,
            vec![event_match("type", "m.room.member")],
            vec![],
        ),
        rule(
            ".m.rule.is_user_mention",
            true,
            vec![json!({
                "kind": "event_property_contains",
                "key": "content.m\\.mentions.user_ids",
                "value": user_id,
            })],
            vec![json!("notify"), sound.clone(), highlight.clone()],
        ),
        rule(
            ".m.rule.contains_display_name",
            true,
            vec![json!({"kind": "contains_display_name"})],
            vec![json!("notify"), sound.clone(), highlight.clone()],
        ),
        rule(
            ".m.rule.is_room_mention",
            true,
            vec![
                json!({"kind": "event_property_is", "key": "content.m\\.mentions.room", "value": true}),
                json!({"kind": "sender_notification_permission", "key": "room"}),
            ],
            vec![json!("notify"), highlight.clone()],
        ),
        rule(
            ".m.rule.roomnotif",
            true,
            vec![
                json!({"kind": "sender_notification_permission", "key": "room"}),
                event_match("content.body", "@room"),
            ],
            vec![json!("notify"), highlight.clone()],
        ),
        rule(
            ".m.rule.tombstone",
            true,
            vec![
                event_match("type", "m.room.tombstone"),
                event_match("state_key", ""),
            ],
            vec![json!("notify"), highlight.clone()],
        ),
        rule(
            ".m.rule.reaction",
            true,
            vec![event_match("type", "m.reaction")],
            vec![],
        ),
        rule(
            ".m.rule.room.server_acl",
            true,
            vec![
                event_match("type", "m.room.server_acl"),
                event_match("state_key", ""),
            ],
            vec![],
        ),
        rule(
            ".m.rule.suppress_edits",
            true,
            vec![json!({
                "kind": "event_property_is",
                "key": "content.m\\.relates_to.rel_type",
                "value": "m.replace",
            })],
            vec![],
        ),
    ];
    let content = vec![Rule {
        rule_id: ".m.rule.contains_user_name".into(),
        default: true,
        enabled: true,
        actions: vec![json!("notify"), sound.clone(), highlight.clone()],
        conditions: None,
        pattern: Some(localpart.to_owned()),
    }];
    let one_to_one = json!({"kind": "room_member_count", "is": "2"});
    let underride = vec![
        rule(
            ".m.rule.call",
            true,
            vec![event_match("type", "m.call.invite")],
            vec![
                json!("notify"),
                json!({"set_tweak": "sound", "value": "ring"}),
            ],
        ),
        rule(
            ".m.rule.encrypted_room_one_to_one",
            true,
            vec![one_to_one.clone(), event_match("type", "m.room.encrypted")],
            notify_sound(),
        ),
        rule(
            ".m.rule.room_one_to_one",
            true,
            vec![one_to_one, event_match("type", "m.room.message")],
            notify_sound(),
        ),
        rule(
            ".m.rule.message",
            true,
            vec![event_match("type", "m.room.message")],
            vec![json!("notify")],
        ),
        rule(
            ".m.rule.encrypted",
            true,
            vec![event_match("type", "m.room.encrypted")],
            vec![json!("notify")],
        ),
    ];
    Ruleset {
        override_rules,
        content,
        room: Vec::new(),
        sender: Vec::new(),
        underride,
    }
}

fn rule(rule_id: &str, enabled: bool, conditions: Vec<Value>, actions: Vec<Value>) -> Rule {
    Rule {
        rule_id: rule_id.to_owned(),
        default: true,
        enabled,
        actions,
        conditions: Some(conditions),
        pattern: None,
    }
}
