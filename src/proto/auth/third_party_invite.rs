//! Invites through a third-party identifier (rule 5.4.1): the `signed` block of
//! `content.third_party_invite` must be signed by one of the public keys of the room's
//! `m.room.third_party_invite` event for the same token, sent by the same user.
//!
//! Spec: rooms/fragments/v1-auth-rules.md rule 5.3.1 (the same in every later version),
//! and client-server "Third-party invites" for the shape of `signed`.

use serde_json::Value;

use super::{AuthError, Context, ThirdPartyInviteError};
use crate::proto::pdu::Pdu;
use crate::proto::signing::verify_json;

/// Rule 5.4.1. An invite that passes is allowed without the sender being joined or having
/// the invite level: the identity server vouched for it.
pub(super) fn check(context: &Context<'_, '_>, target: &str) -> Result<(), AuthError> {
    let reject = |reason| Err(AuthError::ThirdPartyInvite(reason));
    // Rule 5.4.1.1.
    if context.membership(target) == Some("ban") {
        return Err(AuthError::TargetBanned);
    }
    // Rule 5.4.1.2.
    let Some(signed) = context
        .event
        .content()
        .get("third_party_invite")
        .and_then(|invite| invite.get("signed"))
        .and_then(Value::as_object)
    else {
        return reject(ThirdPartyInviteError::MissingSigned);
    };
    // Rule 5.4.1.3.
    let (Some(mxid), Some(token)) = (
        signed.get("mxid").and_then(Value::as_str),
        signed.get("token").and_then(Value::as_str),
    ) else {
        return reject(ThirdPartyInviteError::MissingMxidOrToken);
    };
    // Rule 5.4.1.4.
    if mxid != target {
        return reject(ThirdPartyInviteError::MxidMismatch);
    }
    // Rule 5.4.1.5.
    let Some(invite_event) = context.state("m.room.third_party_invite", token) else {
        return reject(ThirdPartyInviteError::NoMatchingInvite);
    };
    // Rule 5.4.1.6.
    if invite_event.sender() != context.event.sender() {
        return reject(ThirdPartyInviteError::SenderMismatch);
    }
    // Rules 5.4.1.7–5.4.1.8: any ed25519 signature in `signed` by any of the keys.
    let public_keys = public_keys(invite_event);
    let signatures = signed.get("signatures").and_then(Value::as_object);
    for (signer, by_key_id) in signatures.into_iter().flatten() {
        let key_ids = by_key_id
            .as_object()
            .into_iter()
            .flat_map(|keys| keys.keys());
        for key_id in key_ids.filter(|key_id| key_id.starts_with("ed25519:")) {
            let verified = public_keys
                .iter()
                .any(|public_key| verify_json(signed, signer, key_id, public_key).is_ok());
            if verified {
                return Ok(());
            }
        }
    }
    reject(ThirdPartyInviteError::NoValidSignature)
}

/// The invite's keys: `content.public_key` and each `content.public_keys[].public_key`.
///
/// Identity servers may publish URL-safe base64 (Synapse decodes both alphabets), so the
/// keys are turned into the standard alphabet that `verify_json` reads.
fn public_keys(invite_event: &Pdu) -> Vec<String> {
    let content = invite_event.content();
    let single = content.get("public_key").and_then(Value::as_str);
    let listed = content
        .get("public_keys")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.get("public_key").and_then(Value::as_str));
    single
        .into_iter()
        .chain(listed)
        .map(|key| key.replace('-', "+").replace('_', "/"))
        .collect()
}
