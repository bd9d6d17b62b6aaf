//! `m.room.member` events (rule 5 in v12, 4 in v6–11, 5 in v1–5): joins under each join
//! rule (public, invite, knock, restricted, knock_restricted), invites, leaves and kicks,
//! bans, and knocks. Third-party invites are in `third_party_invite.rs`.

use serde_json::Value;

use super::create::{creator_before_power_levels, server_name_of};
use super::{Action, AuthError, Context, third_party_invite};

/// Rule 5: an `m.room.member` event.
pub(super) fn check_member(context: &Context<'_, '_>) -> Result<(), AuthError> {
    let event = context.event;
    let content = event.content();
    // Rule 5.1.
    let (Some(target), Some(membership)) = (
        event.state_key(),
        content.get("membership").and_then(Value::as_str),
    ) else {
        return Err(AuthError::MalformedMembership);
    };
    // Rule 5.2 (v8+), for any membership. Only the signature's presence is checked here:
    // verifying it needs the server's keys, which the caller's signature check has.
    if context.rules.restricted_join_rule
        && let Some(authoriser) = content.get("join_authorised_via_users_server")
    {
        let server_name = authoriser.as_str().and_then(server_name_of);
        let signed = server_name.is_some_and(|server_name| {
            event
                .json()
                .get("signatures")
                .and_then(|signatures| signatures.get(server_name))
                .is_some()
        });
        if !signed {
            return Err(AuthError::AuthorisingServerNotSigned(
                authoriser.to_string(),
            ));
        }
    }
    match membership {
        "join" => check_join(context, target),
        "invite" => check_invite(context, target),
        "leave" => check_leave(context, target),
        "ban" => check_ban(context, target),
        "knock" if context.rules.knocking => check_knock(context, target),
        // Rule 5.8.
        other => Err(AuthError::UnknownMembership(other.to_string())),
    }
}

/// The room's join rule. A room without `m.room.join_rules` is treated as `invite`, as
/// Synapse (`_is_membership_change_allowed`) does; the spec leaves the case open.
fn join_rule<'a>(context: &Context<'a, '_>) -> &'a str {
    context
        .state("m.room.join_rules", "")
        .and_then(|event| event.content().get("join_rule"))
        .and_then(Value::as_str)
        .unwrap_or("invite")
}

/// Rule 5.3.
fn check_join(context: &Context<'_, '_>, target: &str) -> Result<(), AuthError> {
    let event = context.event;
    let rules = context.rules;
    // Rule 5.3.1: the creator's own join straight after the create event.
    let prev_events = event.prev_event_ids();
    if prev_events.len() == 1
        && prev_events.first() == Some(&context.create.event_id())
        && creator_before_power_levels(rules, context.create) == Some(target)
    {
        return Ok(());
    }
    // Rule 5.3.2.
    if event.sender() != target {
        return Err(AuthError::SenderIsNotTarget);
    }
    // Rule 5.3.3.
    let membership = context.membership(target);
    if membership == Some("ban") {
        return Err(AuthError::SenderBanned);
    }
    let invited_or_joined = matches!(membership, Some("invite" | "join"));
    let join_rule = join_rule(context);
    let not_allowed = || AuthError::JoinNotAllowed {
        join_rule: join_rule.to_string(),
    };
    match join_rule {
        // Rule 5.3.4 (`knock` from v7).
        "invite" => invited_or_joined.then_some(()).ok_or_else(not_allowed),
        "knock" if rules.knocking => invited_or_joined.then_some(()).ok_or_else(not_allowed),
        // Rule 5.3.5 (`restricted` from v8, `knock_restricted` from v10).
        "restricted" if rules.restricted_join_rule => {
            check_restricted_join(context, invited_or_joined)
        }
        "knock_restricted" if rules.knock_restricted_join_rule => {
            check_restricted_join(context, invited_or_joined)
        }
        // Rule 5.3.6.
        "public" => Ok(()),
        // Rule 5.3.7.
        _ => Err(not_allowed()),
    }
}

/// Rule 5.3.5: a member may rejoin and an invited user may join; anyone else needs a
/// joined `join_authorised_via_users_server` with the power to invite.
fn check_restricted_join(
    context: &Context<'_, '_>,
    invited_or_joined: bool,
) -> Result<(), AuthError> {
    if invited_or_joined {
        return Ok(());
    }
    let authoriser = context
        .event
        .content()
        .get("join_authorised_via_users_server")
        .and_then(Value::as_str)
        .ok_or(AuthError::InvalidAuthorisingUser)?;
    let joined = context.membership(authoriser) == Some("join");
    if joined && context.power_level(authoriser) >= context.levels().invite_level() {
        Ok(())
    } else {
        Err(AuthError::InvalidAuthorisingUser)
    }
}

/// Rule 5.4.
fn check_invite(context: &Context<'_, '_>, target: &str) -> Result<(), AuthError> {
    let event = context.event;
    // Rule 5.4.1.
    if event.content().contains_key("third_party_invite") {
        return third_party_invite::check(context, target);
    }
    // Rule 5.4.2.
    if context.membership(event.sender()) != Some("join") {
        return Err(AuthError::SenderNotJoined);
    }
    // Rule 5.4.3.
    match context.membership(target) {
        Some("join") => return Err(AuthError::TargetAlreadyJoined),
        Some("ban") => return Err(AuthError::TargetBanned),
        _ => {}
    }
    // Rules 5.4.4–5.4.5.
    let required = context.levels().invite_level();
    context.require(
        Action::Invite,
        required,
        context.power_level(event.sender()),
    )
}

/// Rule 5.5.
fn check_leave(context: &Context<'_, '_>, target: &str) -> Result<(), AuthError> {
    let event = context.event;
    let sender = event.sender();
    let sender_membership = context.membership(sender);
    // Rule 5.5.1: leaving on one's own, or rejecting an invite (or, v7+, a knock).
    if sender == target {
        return match sender_membership {
            Some("invite" | "join") => Ok(()),
            Some("knock") if context.rules.knocking => Ok(()),
            other => Err(AuthError::LeaveNotAllowed {
                membership: other.map(str::to_string),
            }),
        };
    }
    // Rule 5.5.2.
    if sender_membership != Some("join") {
        return Err(AuthError::SenderNotJoined);
    }
    let levels = context.levels();
    let sender_level = context.power_level(sender);
    // Rule 5.5.3: lifting a ban needs the ban level (and, below, the kick level).
    if context.membership(target) == Some("ban") {
        context.require(Action::Unban, levels.ban_level(), sender_level)?;
    }
    // Rules 5.5.4–5.5.5.
    context.require(Action::Kick, levels.kick_level(), sender_level)?;
    require_target_below(context, target, sender_level)
}

/// Rule 5.6.
fn check_ban(context: &Context<'_, '_>, target: &str) -> Result<(), AuthError> {
    let sender = context.event.sender();
    // Rule 5.6.1.
    if context.membership(sender) != Some("join") {
        return Err(AuthError::SenderNotJoined);
    }
    // Rules 5.6.2–5.6.3.
    let sender_level = context.power_level(sender);
    context.require(Action::Ban, context.levels().ban_level(), sender_level)?;
    require_target_below(context, target, sender_level)
}

/// Rules 5.5.4 and 5.6.2: the target's power must be strictly below the sender's.
fn require_target_below(
    context: &Context<'_, '_>,
    target: &str,
    sender_level: i64,
) -> Result<(), AuthError> {
    let target_level = context.power_level(target);
    if target_level < sender_level {
        Ok(())
    } else {
        Err(AuthError::TargetPowerNotLower {
            sender_level,
            target_level,
        })
    }
}

/// Rule 5.7 (v7+).
fn check_knock(context: &Context<'_, '_>, target: &str) -> Result<(), AuthError> {
    let sender = context.event.sender();
    // Rule 5.7.1 (`knock_restricted` from v10).
    let join_rule = join_rule(context);
    let knockable = join_rule == "knock"
        || (context.rules.knock_restricted_join_rule && join_rule == "knock_restricted");
    if !knockable {
        return Err(AuthError::KnockNotAllowed {
            join_rule: join_rule.to_string(),
        });
    }
    // Rule 5.7.2.
    if sender != target {
        return Err(AuthError::SenderIsNotTarget);
    }
    // Rules 5.7.3–5.7.4.
    match context.membership(sender) {
        Some(membership @ ("ban" | "invite" | "join")) => {
            Err(AuthError::KnockFromMembership(membership.to_string()))
        }
        _ => Ok(()),
    }
}
