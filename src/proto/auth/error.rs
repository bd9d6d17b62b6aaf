//! Why an event failed the authorization rules: one variant per kind of rejection, each
//! carrying the reason, and the one mapping of those reasons onto Matrix errors (STYLE 4.1).
//!
//! The texts are for logs and for local clients; a remote server only learns that its event
//! was rejected.

use std::fmt;

use super::power_levels::{CREATOR_POWER_LEVEL, PowerLevelsError};
use crate::proto::errcode::{ErrCode, MatrixError};

/// An event that the authorization rules reject, and which rule rejected it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// Rule 1.1: an `m.room.create` event with `prev_events`.
    CreateHasPrevEvents,
    /// Rule 1.2 (v1–11): the create event's `room_id` is on another server than its sender.
    CreateRoomIdDomainMismatch,
    /// Rule 1.2 (v12): a create event must not carry a `room_id`.
    CreateHasRoomId,
    /// Rule 1.3: `content.room_version` names a version hearth does not know (as JSON).
    UnknownRoomVersion(String),
    /// Rule 1.4 (v1–10): the create event has no `creator`.
    CreateWithoutCreator,
    /// Rule 1.4 (v12): `additional_creators` is not an array of valid user IDs.
    InvalidAdditionalCreators,
    /// Rule 2.1: two auth events share this `(type, state_key)`.
    DuplicateAuthEvent { kind: String, state_key: String },
    /// Rule 2.2: an auth event the auth events selection would not pick (v12: the create).
    UnexpectedAuthEvent { kind: String, state_key: String },
    /// Rule 2: the sender is not a user ID, so no auth event can be selected for it.
    InvalidSender,
    /// Rule 2.4 (v1–11): no `m.room.create` among the auth events or in the state.
    MissingCreateEvent,
    /// Rule 2.5 (v12: rule 2): this auth event, or the create event, is of another room.
    WrongRoom { event_id: String },
    /// Rule 3: the create event says `m.federate: false` and the sender is on another server.
    RoomNotFederated,
    /// Rule 4 (v1–5): an `m.room.aliases` event whose `state_key` is not the sender's server.
    AliasesStateKeyMismatch,
    /// Rule 5.1: a member event without `state_key` or `content.membership`.
    MalformedMembership,
    /// Rule 5.2 (v8+): no signature from the server of `join_authorised_via_users_server`
    /// (the value, as JSON).
    AuthorisingServerNotSigned(String),
    /// Rule 5.8: a membership this room version does not know.
    UnknownMembership(String),
    /// Rules 5.3.2 and 5.7.2: a join or knock on behalf of another user.
    SenderIsNotTarget,
    /// Rule 5.3.3: the joining user is banned.
    SenderBanned,
    /// Rules 5.4.1.1 and 5.4.3: the invited user is banned.
    TargetBanned,
    /// Rule 5.4.3: the invited user is already joined.
    TargetAlreadyJoined,
    /// Rules 5.3.4–5.3.7: the join rule does not let this user join.
    JoinNotAllowed { join_rule: String },
    /// Rule 5.3.5.2 (v8+): `join_authorised_via_users_server` is missing, not joined, or
    /// cannot invite.
    InvalidAuthorisingUser,
    /// Rule 5.4.1: the third-party invite does not check out.
    ThirdPartyInvite(ThirdPartyInviteError),
    /// Rule 5.5.1: a user may leave on their own only from `invite`, `join` (or `knock`).
    LeaveNotAllowed { membership: Option<String> },
    /// Rule 5.7.1 (v7+): the join rule does not allow knocking.
    KnockNotAllowed { join_rule: String },
    /// Rule 5.7.3 (v7+): a user who is banned, invited or joined cannot knock.
    KnockFromMembership(String),
    /// Rules 5.4.2, 5.5.2, 5.6.1 and 6: the sender is not joined to the room.
    SenderNotJoined,
    /// The sender's power level is below the level `action` needs.
    InsufficientPower {
        action: Action,
        required: i64,
        sender_level: i64,
    },
    /// Rules 5.5.4 and 5.6.2: a kick or ban of a user whose power is not below the sender's.
    TargetPowerNotLower {
        sender_level: i64,
        target_level: i64,
    },
    /// Rule 9 (v12: 9): a `state_key` starting with `@` that is not the sender.
    StateKeyIsAnotherUser,
    /// Rules 10.1–10.3: the new power levels content is not well formed.
    InvalidPowerLevels(PowerLevelsError),
    /// Rule 10.4 (v12): room creators must not be listed in `users`.
    CreatorInPowerLevels { user_id: String },
    /// Rules 10.6–10.10: a power level change the sender has no power for. `key` is the
    /// changed property, e.g. `ban`, `events.m.room.name` or `users.@bob:example.org`.
    PowerLevelChange { key: String, sender_level: i64 },
    /// Rule 11 (v1–2): the sender can neither redact others' events nor is the redacted
    /// event from the redaction's server.
    RedactionNotAllowed,
}

/// What the sender tried to do when its power level was too low.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Invite,
    Kick,
    Ban,
    Unban,
    /// Sending `m.room.third_party_invite`, which needs the invite level (rule 7).
    ThirdPartyInvite,
    /// Sending an event of this type (rule 8, the required power level).
    Send(String),
}

/// Why a third-party invite (rule 5.4.1) was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThirdPartyInviteError {
    /// 5.4.1.2: no `signed` object.
    MissingSigned,
    /// 5.4.1.3: `signed` lacks `mxid` or `token`.
    MissingMxidOrToken,
    /// 5.4.1.4: `signed.mxid` is not the invited user.
    MxidMismatch,
    /// 5.4.1.5: no `m.room.third_party_invite` with `state_key` = `signed.token`.
    NoMatchingInvite,
    /// 5.4.1.6: the invite is sent by another user than the `m.room.third_party_invite`.
    SenderMismatch,
    /// 5.4.1.8: no signature in `signed` verifies with the invite's public keys.
    NoValidSignature,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Invite => write!(f, "invite"),
            Action::Kick => write!(f, "kick"),
            Action::Ban => write!(f, "ban"),
            Action::Unban => write!(f, "unban"),
            Action::ThirdPartyInvite => write!(f, "send a third-party invite"),
            Action::Send(kind) => write!(f, "send {kind}"),
        }
    }
}

impl fmt::Display for ThirdPartyInviteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            ThirdPartyInviteError::MissingSigned => "third_party_invite has no signed object",
            ThirdPartyInviteError::MissingMxidOrToken => "signed has no mxid or no token",
            ThirdPartyInviteError::MxidMismatch => "signed.mxid is not the invited user",
            ThirdPartyInviteError::NoMatchingInvite => "no m.room.third_party_invite for the token",
            ThirdPartyInviteError::SenderMismatch => {
                "the sender did not send the m.room.third_party_invite"
            }
            ThirdPartyInviteError::NoValidSignature => {
                "no signature in signed matches the invite's public keys"
            }
        };
        f.write_str(text)
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::CreateHasPrevEvents => write!(f, "create event has prev_events"),
            AuthError::CreateRoomIdDomainMismatch => {
                write!(f, "create event's room_id is not on the sender's server")
            }
            AuthError::CreateHasRoomId => write!(f, "create event must not have a room_id"),
            AuthError::UnknownRoomVersion(v) => write!(f, "unknown room version {v}"),
            AuthError::CreateWithoutCreator => write!(f, "create event has no creator"),
            AuthError::InvalidAdditionalCreators => {
                write!(f, "additional_creators is not an array of user IDs")
            }
            AuthError::DuplicateAuthEvent { kind, state_key } => {
                write!(f, "duplicate auth event ({kind}, {state_key:?})")
            }
            AuthError::UnexpectedAuthEvent { kind, state_key } => {
                write!(f, "unexpected auth event ({kind}, {state_key:?})")
            }
            AuthError::InvalidSender => write!(f, "sender is not a user ID"),
            AuthError::MissingCreateEvent => write!(f, "no create event"),
            AuthError::WrongRoom { event_id } => write!(f, "{event_id} is of another room"),
            AuthError::RoomNotFederated => write!(f, "room is not federated"),
            AuthError::AliasesStateKeyMismatch => {
                write!(f, "m.room.aliases state_key is not the sender's server")
            }
            AuthError::MalformedMembership => {
                write!(f, "member event lacks state_key or membership")
            }
            AuthError::AuthorisingServerNotSigned(user) => {
                write!(f, "not signed by the server of authorising user {user}")
            }
            AuthError::UnknownMembership(m) => write!(f, "unknown membership {m:?}"),
            AuthError::SenderIsNotTarget => write!(f, "sender is not the state_key"),
            AuthError::SenderBanned => write!(f, "sender is banned"),
            AuthError::TargetBanned => write!(f, "target user is banned"),
            AuthError::TargetAlreadyJoined => write!(f, "target user is already joined"),
            AuthError::JoinNotAllowed { join_rule } => {
                write!(f, "join rule {join_rule:?} does not allow this join")
            }
            AuthError::InvalidAuthorisingUser => {
                write!(f, "authorising user is not joined or cannot invite")
            }
            AuthError::ThirdPartyInvite(reason) => write!(f, "third-party invite: {reason}"),
            AuthError::LeaveNotAllowed { membership } => {
                write!(f, "cannot leave from membership {membership:?}")
            }
            AuthError::KnockNotAllowed { join_rule } => {
                write!(f, "join rule {join_rule:?} does not allow knocking")
            }
            AuthError::KnockFromMembership(m) => write!(f, "cannot knock from membership {m:?}"),
            AuthError::SenderNotJoined => write!(f, "sender is not joined to the room"),
            AuthError::InsufficientPower {
                action,
                required,
                sender_level,
            } => write!(
                f,
                "power level {sender_level} is below the {required} needed to {action}"
            ),
            AuthError::TargetPowerNotLower {
                sender_level,
                target_level,
            } => write!(
                f,
                "target's power level {} is not below the sender's {}",
                Level(*target_level),
                Level(*sender_level)
            ),
            AuthError::StateKeyIsAnotherUser => write!(f, "state_key is another user's ID"),
            AuthError::InvalidPowerLevels(reason) => write!(f, "invalid power levels: {reason}"),
            AuthError::CreatorInPowerLevels { user_id } => {
                write!(
                    f,
                    "room creator {user_id} must not be in power levels users"
                )
            }
            AuthError::PowerLevelChange { key, sender_level } => {
                write!(f, "power level {sender_level} may not change {key}")
            }
            AuthError::RedactionNotAllowed => write!(f, "not allowed to redact that event"),
        }
    }
}

impl std::error::Error for AuthError {}

/// A power level for messages: a v12 creator's is shown as infinite, not as `i64::MAX`.
struct Level(i64);

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == CREATOR_POWER_LEVEL {
            f.write_str("infinite (room creator)")
        } else {
            write!(f, "{}", self.0)
        }
    }
}

/// A rejected event is `M_FORBIDDEN`; content that is not well formed is `M_BAD_JSON`
/// (Synapse answers 400 for those too). Exhaustive so that a new variant forces a choice.
impl From<&AuthError> for MatrixError {
    fn from(error: &AuthError) -> Self {
        let (status, errcode) = match error {
            AuthError::MalformedMembership
            | AuthError::InvalidSender
            | AuthError::InvalidAdditionalCreators
            | AuthError::InvalidPowerLevels(_)
            | AuthError::CreatorInPowerLevels { .. } => (400, ErrCode::BadJson),
            AuthError::CreateHasPrevEvents
            | AuthError::CreateRoomIdDomainMismatch
            | AuthError::CreateHasRoomId
            | AuthError::UnknownRoomVersion(_)
            | AuthError::CreateWithoutCreator
            | AuthError::DuplicateAuthEvent { .. }
            | AuthError::UnexpectedAuthEvent { .. }
            | AuthError::MissingCreateEvent
            | AuthError::WrongRoom { .. }
            | AuthError::RoomNotFederated
            | AuthError::AliasesStateKeyMismatch
            | AuthError::AuthorisingServerNotSigned(_)
            | AuthError::UnknownMembership(_)
            | AuthError::SenderIsNotTarget
            | AuthError::SenderBanned
            | AuthError::TargetBanned
            | AuthError::TargetAlreadyJoined
            | AuthError::JoinNotAllowed { .. }
            | AuthError::InvalidAuthorisingUser
            | AuthError::ThirdPartyInvite(_)
            | AuthError::LeaveNotAllowed { .. }
            | AuthError::KnockNotAllowed { .. }
            | AuthError::KnockFromMembership(_)
            | AuthError::SenderNotJoined
            | AuthError::InsufficientPower { .. }
            | AuthError::TargetPowerNotLower { .. }
            | AuthError::StateKeyIsAnotherUser
            | AuthError::PowerLevelChange { .. }
            | AuthError::RedactionNotAllowed => (403, ErrCode::Forbidden),
        };
        MatrixError::new(status, errcode, error.to_string())
    }
}
