//! The push rule evaluator: the first enabled matching rule decides an event's actions
//! (spec: c2s "Push Rules"). Pure: the caller supplies the room facts the conditions need
//! (member count, power levels, the user's display name).

use serde_json::{Map, Value};

use super::glob::{contains_words, matches_whole, matches_words};
use super::{Kind, Rule, Ruleset};

/// What the evaluator needs to know besides the event and the rules.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// The user whose rules these are.
    pub user_id: &'a str,
    /// Their display name in the room, for `contains_display_name`.
    pub display_name: Option<&'a str>,
    /// Joined members of the room, for `room_member_count`.
    pub member_count: u64,
    /// The sender's power level in the room.
    pub sender_power_level: i64,
    /// `notifications` of the room's `m.room.power_levels` (missing: empty).
    pub notification_power_levels: Option<&'a Map<String, Value>>,
}

/// The outcome for one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Outcome {
    pub notify: bool,
    pub highlight: bool,
}

/// Rules that look for mentions in the body; skipped when the event carries `m.mentions`
/// (spec: c2s "User and room mentions", as Synapse applies MSC3952).
const LEGACY_MENTION_RULES: [&str; 3] = [
    ".m.rule.contains_display_name",
    ".m.rule.roomnotif",
    ".m.rule.contains_user_name",
];

/// Evaluates `ruleset` for `event` (the client form: `type`, `content`, `sender`,
/// `state_key`, `room_id`). The user's own events never notify.
pub fn evaluate(ruleset: &Ruleset, event: &Map<String, Value>, context: &Context<'_>) -> Outcome {
    if event.get("sender").and_then(Value::as_str) == Some(context.user_id) {
        return Outcome::default();
    }
    let has_mentions = event
        .get("content")
        .and_then(Value::as_object)
        .is_some_and(|content| content.contains_key("m.mentions"));
    for kind in Kind::ALL {
        for rule in ruleset.rules(kind) {
            if !rule.enabled
                || (has_mentions && LEGACY_MENTION_RULES.contains(&rule.rule_id.as_str()))
            {
                continue;
            }
            if rule_matches(kind, rule, event, context) {
                return outcome_of(&rule.actions);
            }
        }
    }
    Outcome::default()
}

fn rule_matches(
    kind: Kind,
    rule: &Rule,
    event: &Map<String, Value>,
    context: &Context<'_>,
) -> bool {
    match kind {
        Kind::Override | Kind::Underride => rule
            .conditions
            .as_deref()
            .unwrap_or_default()
            .iter()
            .all(|condition| condition_matches(condition, event, context)),
        Kind::Content => match (&rule.pattern, property(event, "content.body")) {
            (Some(pattern), Some(Value::String(body))) => matches_words(pattern, body),
            _ => false,
        },
        Kind::Room => event.get("room_id").and_then(Value::as_str) == Some(rule.rule_id.as_str()),
        Kind::Sender => event.get("sender").and_then(Value::as_str) == Some(rule.rule_id.as_str()),
    }
}

fn condition_matches(condition: &Value, event: &Map<String, Value>, context: &Context<'_>) -> bool {
    let text = |name: &str| condition.get(name).and_then(Value::as_str);
    match text("kind") {
        Some("event_match") => match (text("key"), text("pattern")) {
            (Some(key), Some(pattern)) => match property(event, key) {
                Some(Value::String(value)) if key == "content.body" => {
                    matches_words(pattern, value)
                }
                Some(Value::String(value)) => matches_whole(pattern, value),
                _ => false,
            },
            _ => false,
        },
        Some("event_property_is") => match (text("key"), condition.get("value")) {
            (Some(key), Some(expected)) => {
                property(event, key).is_some_and(|value| is_simple(value) && value == expected)
            }
            _ => false,
        },
        Some("event_property_contains") => match (text("key"), condition.get("value")) {
            (Some(key), Some(expected)) => match property(event, key) {
                Some(Value::Array(values)) => values
                    .iter()
                    .any(|value| is_simple(value) && value == expected),
                _ => false,
            },
            _ => false,
        },
        Some("contains_display_name") => {
            match (context.display_name, property(event, "content.body")) {
                (Some(name), Some(Value::String(body))) if !name.is_empty() => {
                    contains_words(name, body)
                }
                _ => false,
            }
        }
        Some("room_member_count") => {
            text("is")
                .and_then(parse_member_count)
                .is_some_and(|(operator, count)| {
                    let members = context.member_count;
                    match operator {
                        "==" => members == count,
                        "<" => members < count,
                        ">" => members > count,
                        "<=" => members <= count,
                        ">=" => members >= count,
                        _ => false,
                    }
                })
        }
        Some("sender_notification_permission") => match text("key") {
            Some(key) => {
                let required = context
                    .notification_power_levels
                    .and_then(|levels| levels.get(key))
                    .and_then(power_level)
                    // Spec: m.room.power_levels, `notifications.room` defaults to 50.
                    .unwrap_or(50);
                context.sender_power_level >= required
            }
            None => false,
        },
        // Spec: "Unrecognised conditions MUST NOT match any events".
        _ => false,
    }
}

/// `notify` and the `highlight` tweak (no `value` means true).
fn outcome_of(actions: &[Value]) -> Outcome {
    let mut outcome = Outcome::default();
    for action in actions {
        match action {
            Value::String(name) if name == "notify" => outcome.notify = true,
            Value::Object(tweak)
                if tweak.get("set_tweak").and_then(Value::as_str) == Some("highlight") =>
            {
                outcome.highlight = tweak.get("value").and_then(Value::as_bool).unwrap_or(true);
            }
            _ => {}
        }
    }
    outcome
}

/// Follows a dot-separated path (spec: appendices "Dot-separated property paths": `\.` is
/// a literal dot, `\\` a literal backslash).
pub fn property<'e>(event: &'e Map<String, Value>, path: &str) -> Option<&'e Value> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(next @ ('.' | '\\')) => current.push(next),
                Some(other) => {
                    current.push('\\');
                    current.push(other);
                }
                None => current.push('\\'),
            },
            '.' => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);
    let (first, rest) = parts.split_first()?;
    let mut value = event.get(first)?;
    for part in rest {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// Strings, integers, booleans and null (spec: `event_property_is` matches only those).
fn is_simple(value: &Value) -> bool {
    matches!(value, Value::String(_) | Value::Bool(_) | Value::Null)
        || value.is_i64()
        || value.is_u64()
}

fn power_level(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
}

/// `is` of `room_member_count`: an optional operator, then a decimal number.
fn parse_member_count(text: &str) -> Option<(&'static str, u64)> {
    for operator in ["==", "<=", ">=", "<", ">"] {
        if let Some(number) = text.strip_prefix(operator) {
            return number.parse().ok().map(|count| (operator, count));
        }
    }
    text.parse().ok().map(|count| ("==", count))
}
