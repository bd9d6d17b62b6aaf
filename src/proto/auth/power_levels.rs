//! `m.room.power_levels`: reading the content into [`PowerLevels`] as each room version
//! allows (strings in v1–9, floats in v1–5, integers only from v10), a user's power level
//! (infinite for v12 creators), and the rule for changing power levels (rule 10 in v12).
//!
//! Sources: rooms/fragments/v1-stringy-power-levels.md, v1-floaty-power-levels.md, the
//! `m.room.power_levels` schema (defaults), rooms/v10.md and v12.md "Authorization rules".

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use super::AuthError;
use super::create::{creator_before_power_levels, is_creator, is_valid_user_id};
use crate::proto::pdu::Pdu;
use crate::proto::room_version::RoomRules;

/// The power level of a v12 room creator, which the spec calls infinite.
///
/// Power levels in a v12 room are integers within ±(2^53 − 1) (canonical JSON), so this
/// value can only mean "creator"; every comparison in the auth rules treats it as above
/// any level that can be written down. Two creators are equal: neither can kick the other.
pub const CREATOR_POWER_LEVEL: i64 = i64::MAX;

/// The power levels content, with the values that are present in it (absent ones are
/// `None`; the accessors apply the spec's defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PowerLevels {
    pub users_default: Option<i64>,
    pub events_default: Option<i64>,
    pub state_default: Option<i64>,
    pub ban: Option<i64>,
    pub redact: Option<i64>,
    pub kick: Option<i64>,
    pub invite: Option<i64>,
    pub events: BTreeMap<String, i64>,
    pub notifications: BTreeMap<String, i64>,
    pub users: BTreeMap<String, i64>,
}

/// A room without a power levels event: every level takes its default.
pub(super) static NO_POWER_LEVELS: PowerLevels = PowerLevels {
    users_default: None,
    events_default: None,
    state_default: None,
    ban: None,
    redact: None,
    kick: None,
    invite: None,
    events: BTreeMap::new(),
    notifications: BTreeMap::new(),
    users: BTreeMap::new(),
};

/// Why a power levels content is not well formed for its room version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PowerLevelsError {
    /// `events`, `notifications` or `users` is present and not an object.
    NotAnObject(&'static str),
    /// This level (e.g. `ban`, `users.@a:b`) is not an integer the room version accepts.
    NotAnInteger(String),
    /// A key of `users` is not a user ID.
    InvalidUserId(String),
}

impl fmt::Display for PowerLevelsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PowerLevelsError::NotAnObject(key) => write!(f, "{key} is not an object"),
            PowerLevelsError::NotAnInteger(key) => write!(f, "{key} is not an integer"),
            PowerLevelsError::InvalidUserId(user) => write!(f, "{user:?} is not a user ID"),
        }
    }
}

impl std::error::Error for PowerLevelsError {}

/// The seven single levels, in the order rule 10 lists them.
const NAMED_LEVELS: [&str; 7] = [
    "users_default",
    "events_default",
    "state_default",
    "ban",
    "redact",
    "kick",
    "invite",
];

impl PowerLevels {
    /// Reads a power levels content strictly for its room version: rules 10.1–10.3 reject a
    /// content for which this fails. v1–9 accept integers written as strings (and v1–5
    /// floats, truncated); v10+ accept only integers.
    ///
    /// v1–9 only name `users` in the rule; hearth also rejects an unreadable level
    /// elsewhere, as Synapse cannot use such an event either (its `int()` raises).
    /// `notifications` is not read strictly before v6, where no rule looks at it.
    pub fn parse(
        rules: &RoomRules,
        content: &Map<String, Value>,
    ) -> Result<Self, PowerLevelsError> {
        read(rules, content, true)
    }

    /// Reads the content of a power levels event already in the room state, skipping any
    /// value that cannot be read (it then takes its default). Never fails.
    pub fn parse_lenient(rules: &RoomRules, content: &Map<String, Value>) -> Self {
        // With `strict` false, `read` skips bad values and never returns an error.
        read(rules, content, false).unwrap_or_default()
    }

    /// The level of a user listed in `users`, else `users_default` (default 0).
    pub fn user_level(&self, user_id: &str) -> i64 {
        self.users
            .get(user_id)
            .copied()
            .unwrap_or(self.users_default.unwrap_or(0))
    }

    /// The *required power level* to send an event of `kind`: `events[kind]`, else
    /// `state_default` (default 50) for state events, else `events_default` (default 0).
    pub fn required_level(&self, kind: &str, is_state: bool) -> i64 {
        match self.events.get(kind) {
            Some(level) => *level,
            None if is_state => self.state_default.unwrap_or(50),
            None => self.events_default.unwrap_or(0),
        }
    }

    pub fn ban_level(&self) -> i64 {
        self.ban.unwrap_or(50)
    }

    pub fn kick_level(&self) -> i64 {
        self.kick.unwrap_or(50)
    }

    pub fn invite_level(&self) -> i64 {
        self.invite.unwrap_or(0)
    }

    pub fn redact_level(&self) -> i64 {
        self.redact.unwrap_or(50)
    }

    fn named(&self) -> [Option<i64>; 7] {
        [
            self.users_default,
            self.events_default,
            self.state_default,
            self.ban,
            self.redact,
            self.kick,
            self.invite,
        ]
    }
}

/// A user's power level in the room whose create event and current power levels event
/// are given.
///
/// v12: room creators (the create event's sender and `content.additional_creators`) get
/// [`CREATOR_POWER_LEVEL`] (= `i64::MAX`, "infinite"). Otherwise the `users` entry or
/// `users_default`; with no power levels event, the creator has 100 (v1–11) and everyone
/// else 0. Power levels content is read leniently (see [`PowerLevels::parse_lenient`]).
pub fn power_level_of_user(
    rules: &RoomRules,
    create: Option<&Pdu>,
    power_levels: Option<&Pdu>,
    user_id: &str,
) -> i64 {
    let levels = power_levels.map(|event| PowerLevels::parse_lenient(rules, event.content()));
    user_power_level(rules, create, levels.as_ref(), user_id)
}

/// [`power_level_of_user`] with the power levels already read.
pub(super) fn user_power_level(
    rules: &RoomRules,
    create: Option<&Pdu>,
    levels: Option<&PowerLevels>,
    user_id: &str,
) -> i64 {
    if let Some(create) = create
        && is_creator(rules, create, user_id)
    {
        return CREATOR_POWER_LEVEL;
    }
    match levels {
        Some(levels) => levels.user_level(user_id),
        // Spec: m.room.power_levels schema: without a power levels event "the room's
        // creator has a power level of 100, and all other users have a power level of 0".
        None if create.and_then(|c| creator_before_power_levels(rules, c)) == Some(user_id) => 100,
        None => 0,
    }
}

/// Rule 10 (v12 numbering): `event` is an `m.room.power_levels` event whose sender has
/// `sender_level`; `previous` is the power levels event in the state, if any.
pub(super) fn check_change(
    rules: &RoomRules,
    event: &Pdu,
    create: &Pdu,
    previous: Option<&PowerLevels>,
    sender_level: i64,
) -> Result<(), AuthError> {
    // Rules 10.1–10.3: the content must be readable for the room version.
    let new = PowerLevels::parse(rules, event.content()).map_err(AuthError::InvalidPowerLevels)?;
    // Rule 10.4 (v12): creators' power cannot be written down, so it cannot be lowered.
    if rules.creators_have_infinite_power
        && let Some(user_id) = new
            .users
            .keys()
            .find(|user| is_creator(rules, create, user))
    {
        return Err(AuthError::CreatorInPowerLevels {
            user_id: user_id.clone(),
        });
    }
    // Rule 10.5: the first power levels event is allowed.
    let Some(old) = previous else {
        return Ok(());
    };
    let too_high = |key: String| AuthError::PowerLevelChange { key, sender_level };
    // Rule 10.6: an added, changed or removed single level may be neither above the sender
    // before nor after.
    for ((name, old_value), new_value) in NAMED_LEVELS.iter().zip(old.named()).zip(new.named()) {
        let above_sender = |value: Option<i64>| value.is_some_and(|level| level > sender_level);
        if old_value != new_value && (above_sender(old_value) || above_sender(new_value)) {
            return Err(too_high((*name).to_string()));
        }
    }
    // Rules 10.7–10.8, for `events` and (v6+) `notifications`.
    check_map_change("events", &old.events, &new.events, sender_level)?;
    if rules.limit_notifications_power_levels {
        check_map_change(
            "notifications",
            &old.notifications,
            &new.notifications,
            sender_level,
        )?;
    }
    // Rules 10.9–10.10: another user's entry may be changed or removed only when it is
    // below the sender's level; no entry may be set above it.
    for user_id in old.users.keys().chain(new.users.keys()) {
        let old_value = old.users.get(user_id);
        let new_value = new.users.get(user_id);
        if old_value == new_value {
            continue;
        }
        let removes_equal_or_higher =
            user_id != event.sender() && old_value.is_some_and(|level| *level >= sender_level);
        if removes_equal_or_higher || new_value.is_some_and(|level| *level > sender_level) {
            return Err(too_high(format!("users.{user_id}")));
        }
    }
    Ok(())
}

/// Rules 10.7 and 10.8: a changed or removed entry must not have been above the sender's
/// level, and an added or changed one must not be set above it.
fn check_map_change(
    name: &str,
    old: &BTreeMap<String, i64>,
    new: &BTreeMap<String, i64>,
    sender_level: i64,
) -> Result<(), AuthError> {
    for key in old.keys().chain(new.keys()) {
        let old_value = old.get(key);
        let new_value = new.get(key);
        if old_value != new_value
            && (old_value.is_some_and(|level| *level > sender_level)
                || new_value.is_some_and(|level| *level > sender_level))
        {
            return Err(AuthError::PowerLevelChange {
                key: format!("{name}.{key}"),
                sender_level,
            });
        }
    }
    Ok(())
}

/// Reads a power levels content; `strict` turns an unreadable value into an error instead
/// of skipping it.
fn read(
    rules: &RoomRules,
    content: &Map<String, Value>,
    strict: bool,
) -> Result<PowerLevels, PowerLevelsError> {
    let mut levels = PowerLevels::default();
    let mut named = [None; 7];
    for (slot, name) in named.iter_mut().zip(NAMED_LEVELS) {
        if let Some(value) = content.get(name) {
            match read_level(rules, value) {
                Some(level) => *slot = Some(level),
                None if strict => return Err(PowerLevelsError::NotAnInteger(name.to_string())),
                None => {}
            }
        }
    }
    let [
        users_default,
        events_default,
        state_default,
        ban,
        redact,
        kick,
        invite,
    ] = named;
    levels.users_default = users_default;
    levels.events_default = events_default;
    levels.state_default = state_default;
    levels.ban = ban;
    levels.redact = redact;
    levels.kick = kick;
    levels.invite = invite;
    levels.events = read_map(rules, content, "events", strict, false)?;
    let strict_notifications = strict && rules.limit_notifications_power_levels;
    levels.notifications = read_map(rules, content, "notifications", strict_notifications, false)?;
    levels.users = read_map(rules, content, "users", strict, true)?;
    Ok(levels)
}

fn read_map(
    rules: &RoomRules,
    content: &Map<String, Value>,
    name: &'static str,
    strict: bool,
    keys_are_users: bool,
) -> Result<BTreeMap<String, i64>, PowerLevelsError> {
    let mut map = BTreeMap::new();
    let object = match content.get(name) {
        None => return Ok(map),
        Some(Value::Object(object)) => object,
        Some(_) if strict => return Err(PowerLevelsError::NotAnObject(name)),
        Some(_) => return Ok(map),
    };
    for (key, value) in object {
        // Spec: rule 10.1 (v1–9) / 10.3 (v10+): keys of `users` must be valid user IDs.
        if keys_are_users && !is_valid_user_id(key) {
            if strict {
                return Err(PowerLevelsError::InvalidUserId(key.clone()));
            }
            continue;
        }
        match read_level(rules, value) {
            Some(level) => {
                map.insert(key.clone(), level);
            }
            None if strict => return Err(PowerLevelsError::NotAnInteger(format!("{name}.{key}"))),
            None => {}
        }
    }
    Ok(map)
}

/// One level value as the room version allows it.
fn read_level(rules: &RoomRules, value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => match number.as_i64() {
            Some(level) => Some(level),
            // Spec: rooms/fragments/v1-floaty-power-levels.md (v1–5, where canonical JSON
            // is not enforced): floats are truncated; out-of-range values are rejected.
            None if !rules.strict_canonical_json => number
                .as_f64()
                .map(f64::trunc)
                .filter(|float| float.is_finite() && float.abs() < 9.2e18)
                .map(|float| float as i64),
            None => None,
        },
        // Spec: rooms/fragments/v1-stringy-power-levels.md (v1–9).
        Value::String(text) if !rules.integer_power_levels => parse_stringy_level(text),
        _ => None,
    }
}

/// A base-10 integer with optional surrounding whitespace, one optional sign and any
/// number of leading zeroes (`" +0100 "` is 100). Values beyond i64 are not integers here.
fn parse_stringy_level(text: &str) -> Option<i64> {
    let trimmed = text.trim();
    let digits = trimmed.strip_prefix(['+', '-']).unwrap_or(trimmed);
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    trimmed.parse().ok()
}
