//! The authorization rules of room versions 1–12: whether an event is allowed, given the
//! state it is authorised by (its auth events, the state before it, or the current state).
//!
//! Sources: spec `content/rooms/fragments/v1-auth-rules.md`, `v3-auth-rules.md`,
//! `v8-auth-rules.md` and the inline rules of `rooms/v6.md`, `v7.md`, `v10.md`, `v11.md`,
//! `v12.md`; checklist §3.5. Rule numbers in comments are v12's unless a version is named.
//!
//! Fields are read lazily out of the event JSON (STYLE 3.2): no remote PDU is deserialized
//! into a strict struct first. Room-version differences are `RoomRules` flags (STYLE 3.3).
//!
//! What this module deliberately does not do, because it needs data the rules do not see:
//! - verify signatures on the event itself (rule "signed by the sender's server", and the
//!   cryptographic half of rule 5.2: the caller's signature check must require the server of
//!   `join_authorised_via_users_server`; here only the presence of its signature is checked);
//! - rule 2.3 (auth events that were themselves rejected) and, for v12, that the create
//!   event is accepted: the caller knows which events it rejected;
//! - rule 2 over the `auth_events` list itself: see [`check_auth_events`], which the caller
//!   runs once per received PDU before [`check`] against its auth events;
//! - the v3+ redaction check, which happens when a redaction is applied (spec:
//!   rooms/fragments/v3-handling-redactions.md).

mod create;
mod error;
mod membership;
mod power_levels;
mod selection;
mod third_party_invite;

#[cfg(test)]
mod tests;

use serde_json::Value;

pub use error::{Action, AuthError, ThirdPartyInviteError};
pub use power_levels::{CREATOR_POWER_LEVEL, PowerLevels, PowerLevelsError, power_level_of_user};
pub use selection::check_auth_events;

use crate::proto::pdu::Pdu;
use crate::proto::room_version::{EventIdFormat, RoomRules};
use create::server_name_of;
use power_levels::{NO_POWER_LEVELS, user_power_level};

/// Checks `event` against the auth rules of `rules`, given the state it is authorised by
/// (its auth events, or the state before it). `auth_state(type, state_key)` returns that state.
///
/// The caller must return the room's `m.room.create` event for `("m.room.create", "")` in
/// every room version, including v12, where it is not among the auth events but is named
/// by the `room_id`. The state is trusted to be of this room; only the create event's link
/// to the room is checked here (rule 2.5, and v12 rule 2).
pub fn check<'a>(
    rules: &RoomRules,
    event: &Pdu,
    auth_state: impl Fn(&str, &str) -> Option<&'a Pdu>,
) -> Result<(), AuthError> {
    // Rule 1.
    if event.kind() == "m.room.create" {
        return create::check_create(rules, event);
    }
    let create = auth_state("m.room.create", "").ok_or(AuthError::MissingCreateEvent)?;
    check_create_is_of_room(rules, event, create)?;
    // Rule 3 (v1–11 numbering; rule 4 in v12).
    if create.content().get("m.federate") == Some(&Value::Bool(false))
        && server_name_of(event.sender()) != server_name_of(create.sender())
    {
        return Err(AuthError::RoomNotFederated);
    }
    // Rule 4 (v1–5 only): aliases are the sender's server's business, even for non-members.
    if rules.special_case_aliases_auth && event.kind() == "m.room.aliases" {
        return match event.state_key() {
            Some(state_key) if server_name_of(event.sender()) == Some(state_key) => Ok(()),
            _ => Err(AuthError::AliasesStateKeyMismatch),
        };
    }
    let power_levels_event = auth_state("m.room.power_levels", "");
    let context = Context {
        rules,
        event,
        create,
        levels: power_levels_event.map(|pl| PowerLevels::parse_lenient(rules, pl.content())),
        auth_state: &auth_state,
    };
    // Rule 5.
    if event.kind() == "m.room.member" {
        return membership::check_member(&context);
    }
    // Rule 6.
    if context.membership(event.sender()) != Some("join") {
        return Err(AuthError::SenderNotJoined);
    }
    let sender_level = context.power_level(event.sender());
    // Rule 7.
    if event.kind() == "m.room.third_party_invite" {
        let required = context.levels().invite_level();
        return context.require(Action::ThirdPartyInvite, required, sender_level);
    }
    // Rule 8.
    let required = context
        .levels()
        .required_level(event.kind(), event.is_state());
    context.require(
        Action::Send(event.kind().to_string()),
        required,
        sender_level,
    )?;
    // Rule 9.
    if let Some(state_key) = event.state_key()
        && state_key.starts_with('@')
        && state_key != event.sender()
    {
        return Err(AuthError::StateKeyIsAnotherUser);
    }
    // Rule 10.
    if event.kind() == "m.room.power_levels" {
        // "The previous m.room.power_levels event" is the one this event would replace. An
        // event of this type with another (or no) state key replaces nothing, so it is
        // only checked for form, as Synapse does (`_check_power_levels`).
        let previous = match event.state_key() {
            Some("") => context.levels.clone(),
            Some(state_key) => context
                .state("m.room.power_levels", state_key)
                .map(|other| PowerLevels::parse_lenient(rules, other.content())),
            None => None,
        };
        return power_levels::check_change(rules, event, create, previous.as_ref(), sender_level);
    }
    // Rule 11 (v1–2): the domain rule compares event ID domains, which only exist while
    // event IDs are explicit; from v3 the check moves to redaction time.
    if rules.event_id_format == EventIdFormat::Explicit && event.kind() == "m.room.redaction" {
        return check_redaction_v1(&context, sender_level);
    }
    Ok(())
}

/// Whether `event` is a *power event* for state resolution v2: `m.room.power_levels`,
/// `m.room.join_rules` or `m.room.create` with an empty `state_key`, or a kick or ban (an
/// `m.room.member` `leave` or `ban` whose sender is not its `state_key`).
///
/// Spec: rooms/fragments/v2-state-res.md "Power events" omits the create event; Synapse
/// (`state/v2.py`, `_is_power_event`) includes it, and so does hearth, since it has no
/// auth events and must sort first either way.
pub fn is_power_event(event: &Pdu) -> bool {
    match (event.kind(), event.state_key()) {
        ("m.room.power_levels" | "m.room.join_rules" | "m.room.create", Some("")) => true,
        ("m.room.member", Some(state_key)) => {
            let membership = event.content().get("membership").and_then(Value::as_str);
            matches!(membership, Some("leave" | "ban")) && event.sender() != state_key
        }
        _ => false,
    }
}

/// Rule 2.5 for the create event, and v12's rule 2: the create event found in the state
/// must be the one that names this room.
fn check_create_is_of_room(rules: &RoomRules, event: &Pdu, create: &Pdu) -> Result<(), AuthError> {
    let matches = if rules.room_id_is_create_event_hash {
        // Spec: rooms/v12 rule 2: the room ID is the create event's ID with `!` for `$`.
        let room_id = event.room_id().and_then(|id| id.strip_prefix('!'));
        room_id.is_some() && room_id == create.event_id().strip_prefix('$')
    } else {
        create.room_id().is_some() && create.room_id() == event.room_id()
    };
    if matches {
        Ok(())
    } else {
        Err(AuthError::WrongRoom {
            event_id: create.event_id().to_string(),
        })
    }
}

/// Rule 11 (v1–2): `m.room.redaction` needs the redact level, or the redacted event must be
/// from the redaction's own server (by event ID domain).
fn check_redaction_v1(context: &Context<'_, '_>, sender_level: i64) -> Result<(), AuthError> {
    if sender_level >= context.levels().redact_level() {
        return Ok(());
    }
    let redacts = context.event.json().get("redacts").and_then(Value::as_str);
    let redacts_server = redacts.and_then(server_name_of);
    if redacts_server.is_some() && redacts_server == server_name_of(context.event.event_id()) {
        return Ok(());
    }
    Err(AuthError::RedactionNotAllowed)
}

/// What the rules for one event look at: the event, the create event, the current power
/// levels (read once), and the rest of the state on demand.
struct Context<'a, 'e> {
    rules: &'e RoomRules,
    event: &'e Pdu,
    create: &'a Pdu,
    /// `None` when the room has no power levels event yet.
    levels: Option<PowerLevels>,
    auth_state: &'e dyn Fn(&str, &str) -> Option<&'a Pdu>,
}

impl<'a> Context<'a, '_> {
    /// `content.membership` of the user's member event in the state, if any.
    fn membership(&self, user_id: &str) -> Option<&'a str> {
        (self.auth_state)("m.room.member", user_id)
            .and_then(|member| member.content().get("membership"))
            .and_then(Value::as_str)
    }

    fn power_level(&self, user_id: &str) -> i64 {
        user_power_level(self.rules, Some(self.create), self.levels.as_ref(), user_id)
    }

    /// The current power levels, or all defaults when the room has none.
    fn levels(&self) -> &PowerLevels {
        self.levels.as_ref().unwrap_or(&NO_POWER_LEVELS)
    }

    fn require(&self, action: Action, required: i64, sender_level: i64) -> Result<(), AuthError> {
        if sender_level >= required {
            Ok(())
        } else {
            Err(AuthError::InsufficientPower {
                action,
                required,
                sender_level,
            })
        }
    }

    fn state(&self, kind: &str, state_key: &str) -> Option<&'a Pdu> {
        (self.auth_state)(kind, state_key)
    }
}
