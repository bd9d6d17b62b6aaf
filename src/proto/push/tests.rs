//! The default rules through the evaluator, one line per rule, and the edits of the API.

use serde_json::{Map, Value, json};

use super::eval::{Context, Outcome, evaluate};
use super::{Kind, PushError, default_ruleset};

const ME: &str = "@alice:hearth.test";

fn context(member_count: u64, sender_power_level: i64) -> Context<'static> {
    Context {
        user_id: ME,
        display_name: Some("Alice Liddell"),
        member_count,
        sender_power_level,
        notification_power_levels: None,
    }
}

fn event(value: Value) -> Map<String, Value> {
    let mut event = value.as_object().cloned().unwrap_or_default();
    event.entry("sender").or_insert(json!("@bob:hearth.test"));
    event.entry("room_id").or_insert(json!("!room:hearth.test"));
    event
}

/// (notify, highlight) of the default rules for `value` in a room of `members`.
fn check(value: Value, members: u64, expected: (bool, bool)) {
    let rules = default_ruleset(ME, "alice");
    let outcome = evaluate(&rules, &event(value.clone()), &context(members, 0));
    let expected = Outcome {
        notify: expected.0,
        highlight: expected.1,
    };
    assert_eq!(outcome, expected, "{value}");
}

fn message(body: &str) -> Value {
    json!({"type": "m.room.message", "content": {"msgtype": "m.text", "body": body}})
}

#[test]
fn default_rules() {
    check(message("hello"), 3, (true, false)); // .m.rule.message
    check(message("hello"), 2, (true, false)); // .m.rule.room_one_to_one
    check(
        json!({"type": "m.room.message", "content": {"msgtype": "m.notice", "body": "alice"}}),
        3,
        (false, false),
    );
    check(message("hi alice!"), 3, (true, true)); // .m.rule.contains_user_name
    check(message("hi malice"), 3, (true, false));
    check(message("hi ALICE LIDDELL"), 3, (true, true)); // .m.rule.contains_display_name
    // With m.mentions the body is not searched for names.
    check(
        json!({"type": "m.room.message", "content": {"body": "alice", "m.mentions": {}}}),
        3,
        (true, false),
    );
    check(
        json!({"type": "m.room.message", "content": {"body": "x", "m.mentions": {"user_ids": [ME]}}}),
        3,
        (true, true),
    );
    // @room needs power level 50 by default; this sender has 0.
    check(message("@room hi"), 3, (true, false));
    check(
        json!({"type": "m.room.member", "state_key": ME, "content": {"membership": "invite"}}),
        3,
        (true, false),
    );
    check(
        json!({"type": "m.room.member", "state_key": "@carol:x", "content": {"membership": "join"}}),
        3,
        (false, false),
    );
    check(
        json!({"type": "m.room.tombstone", "state_key": "", "content": {}}),
        3,
        (true, true),
    );
    check(
        json!({"type": "m.reaction", "content": {}}),
        2,
        (false, false),
    );
    check(
        json!({"type": "m.room.encrypted", "content": {}}),
        2,
        (true, false),
    );
    check(
        json!({"type": "m.call.invite", "content": {}}),
        5,
        (true, false),
    );
    check(
        json!({"type": "m.room.message", "content": {"body": "* hi", "m.relates_to": {"rel_type": "m.replace"}}}),
        3,
        (false, false),
    );
    check(
        json!({"type": "m.room.topic", "state_key": "", "content": {"topic": "t"}}),
        3,
        (false, false),
    );
}

#[test]
fn own_events_and_power_levels() {
    let rules = default_ruleset(ME, "alice");
    let own = event(json!({"type": "m.room.message", "sender": ME, "content": {"body": "alice"}}));
    assert_eq!(evaluate(&rules, &own, &context(2, 100)), Outcome::default());
    let room_mention = event(message("@room look"));
    let outcome = evaluate(&rules, &room_mention, &context(3, 50));
    assert!(outcome.highlight);
    let levels = json!({"room": 100}).as_object().cloned().unwrap();
    let strict = Context {
        notification_power_levels: Some(&levels),
        ..context(3, 50)
    };
    assert!(!evaluate(&rules, &room_mention, &strict).highlight);
}

#[test]
fn edits() {
    let mut rules = default_ruleset(ME, "alice");
    let body = |value: Value| value.as_object().cloned().unwrap();
    // A room rule that silences a room.
    rules
        .put(
            Kind::Room,
            "!room:hearth.test",
            &body(json!({"actions": []})),
            None,
            None,
        )
        .unwrap();
    let outcome = evaluate(&rules, &event(message("hello")), &context(3, 0));
    assert_eq!(outcome, Outcome::default());
    // Disabling it brings the message rule back.
    rules
        .set_enabled(Kind::Room, "!room:hearth.test", false)
        .unwrap();
    assert!(evaluate(&rules, &event(message("hello")), &context(3, 0)).notify);
    // The master rule silences everything, and stays first when overrides are added.
    rules
        .put(
            Kind::Override,
            "mine",
            &body(json!({"actions": ["notify"], "conditions": []})),
            None,
            None,
        )
        .unwrap();
    assert_eq!(rules.override_rules[0].rule_id, ".m.rule.master");
    assert_eq!(rules.override_rules[1].rule_id, "mine");
    rules
        .put(
            Kind::Override,
            "first",
            &body(json!({"actions": []})),
            Some("mine"),
            None,
        )
        .unwrap();
    assert_eq!(rules.override_rules[1].rule_id, "first");
    rules
        .set_enabled(Kind::Override, ".m.rule.master", true)
        .unwrap();
    assert_eq!(
        evaluate(&rules, &event(message("alice")), &context(3, 0)),
        Outcome::default()
    );
    // Refused edits.
    assert_eq!(
        rules.put(
            Kind::Override,
            ".mine",
            &body(json!({"actions": []})),
            None,
            None
        ),
        Err(PushError::DefaultRule)
    );
    assert_eq!(
        rules.put(
            Kind::Override,
            "x",
            &body(json!({"actions": []})),
            Some(".m.rule.master"),
            None
        ),
        Err(PushError::BadPosition)
    );
    assert_eq!(
        rules.delete(Kind::Override, ".m.rule.master"),
        Err(PushError::DefaultRule)
    );
    assert_eq!(
        rules.delete(Kind::Sender, "@nobody:x"),
        Err(PushError::NotFound)
    );
    assert!(matches!(
        rules.put(
            Kind::Content,
            "c",
            &body(json!({"actions": []})),
            None,
            None
        ),
        Err(PushError::BadRule(_))
    ));
    rules.delete(Kind::Override, "mine").unwrap();
    assert!(rules.get(Kind::Override, "mine").is_none());
    // Historical actions are dropped.
    rules
        .set_actions(
            Kind::Underride,
            ".m.rule.message",
            Some(&json!(["notify", "coalesce"])),
        )
        .unwrap();
    assert_eq!(
        rules
            .get(Kind::Underride, ".m.rule.message")
            .unwrap()
            .actions,
        vec![json!("notify")]
    );
}
