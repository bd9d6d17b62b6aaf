//! The membership handshake with a resident server (spec: s2s "Joining Rooms" and
//! "Leaving Rooms"): `make_join`/`make_leave` gives a template, we stamp, hash and sign it,
//! and `send_join`/`send_leave` (v2) delivers it.

use futures_lite::future;
use serde_json::{Map, Value, json};

use crate::api::Method;
use crate::federation::FedError;
use crate::federation::client::Outgoing;
use crate::federation::client::path::encode as encode_path;
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::proto::hashes::{event_id_for, hash_and_sign_event};
use crate::proto::id::{RoomId, ServerName, UserId};
use crate::proto::room_version::{EventIdFormat, RoomRules};
use crate::server::{Server, now_ms};

/// What a completed handshake leaves: the room's rules, our signed event and its ID, and
/// the resident server's answer to the send, as received (a big room's `send_join`
/// answer is parsed in place by the join, never held as one `Value`).
pub struct Handshake {
    pub rules: RoomRules,
    pub event_id: String,
    pub event: Map<String, Value>,
    pub answer: Vec<u8>,
}

/// `make_<membership>` (with `make_query`, e.g. the `ver=` list of a join), sign, then v2
/// `send_<membership>` to `resident`. A 403 of the resident stays a 403; anything else that
/// goes wrong is a 502 naming the step and the reason. `alongside_send` runs while the
/// resident answers `send_<membership>` (only once `make_<membership>` went well).
pub async fn membership_handshake(
    server: &Server,
    resident: &ServerName,
    room_id: &RoomId,
    user: &UserId,
    membership: &str,
    make_query: &str,
    alongside_send: impl Future<Output = ()>,
) -> Result<Handshake, MatrixError> {
    let separator = if make_query.is_empty() { "" } else { "?" };
    let path = format!(
        "/_matrix/federation/v1/make_{membership}/{}/{}{separator}{make_query}",
        encode_path(room_id.as_str()),
        encode_path(user.as_str())
    );
    let (status, template) = server
        .federation
        .client
        .request(resident, Method::Get, &path, None)
        .await
        .map_err(|e| peer_failure(&format!("make_{membership}"), &e))?;
    if status != 200 {
        return Err(remote_refusal(
            &format!("make_{membership}"),
            status,
            &template,
        ));
    }
    let version = template
        .get("room_version")
        .and_then(Value::as_str)
        .unwrap_or("1");
    let rules = RoomRules::for_version(version).ok_or_else(|| {
        MatrixError::new(
            400,
            ErrCode::UnsupportedRoomVersion,
            format!("room version {version} is not supported"),
        )
    })?;
    let (event_id, event) =
        sign_membership_template(server, &rules, user, &template).map_err(|why| {
            MatrixError::new(502, ErrCode::Unknown, format!("make_{membership}: {why}"))
        })?;
    let path = format!(
        "/_matrix/federation/v2/send_{membership}/{}/{}",
        encode_path(room_id.as_str()),
        encode_path(&event_id)
    );
    let body = Value::Object(event.clone());
    let outgoing = Outgoing {
        method: Method::Put,
        path_and_query: &path,
        body: Some(&body),
        sign: true,
        ignore_backoff: false,
    };
    let send = server.federation.client.send_raw(resident, &outgoing);
    let (sent, ()) = future::zip(send, alongside_send).await;
    let (status, answer) = sent.map_err(|e| peer_failure(&format!("send_{membership}"), &e))?;
    // Still JSON or a failure, as `request` has it; the bytes are only checked here (a big
    // room's answer is read in place by the join, never held as one `Value`).
    if serde_json::from_slice::<serde::de::IgnoredAny>(&answer).is_err() {
        let error = FedError::NotJson(resident.clone(), status);
        return Err(peer_failure(&format!("send_{membership}"), &error));
    }
    if status != 200 {
        let error = serde_json::from_slice(&answer).unwrap_or(Value::Null);
        return Err(remote_refusal(
            &format!("send_{membership}"),
            status,
            &error,
        ));
    }
    Ok(Handshake {
        rules,
        event_id,
        event,
        answer,
    })
}

/// A request to a peer that got no usable answer (unreachable, broken connection, not
/// JSON, in backoff): 502 naming the step, the peer and the reason.
pub fn peer_failure(step: &str, error: &FedError) -> MatrixError {
    MatrixError::new(502, ErrCode::Unknown, format!("{step} failed: {error}"))
}

/// A peer's refusal of `step`, its errcode and error passed on: 403 stays 403, the rest is
/// 502. A 401 gets a hint: the peer could not verify our signature, which almost always
/// means it cannot reach us to fetch our keys (docs/deployment.md, "Troubleshooting").
pub fn remote_refusal(step: &str, status: u16, body: &Value) -> MatrixError {
    let errcode = body.get("errcode").and_then(Value::as_str).unwrap_or("?");
    let error = body.get("error").and_then(Value::as_str).unwrap_or("");
    let hint = if status == 401 {
        " (it could not verify this server's signature, usually because it cannot reach \
         this server to fetch its keys: run `hearth check`)"
    } else {
        ""
    };
    let (status, code) = if status == 403 {
        (403, ErrCode::Forbidden)
    } else {
        (502, ErrCode::Unknown)
    };
    MatrixError::new(
        status,
        code,
        format!("{step} refused: {errcode} {error}{hint}"),
    )
}

/// Our signed copy of the `event` of a make_* answer for `user`, with its event ID; an error
/// text when the answer has no event, is for someone else, or cannot be signed.
fn sign_membership_template(
    server: &Server,
    rules: &RoomRules,
    user: &UserId,
    answer: &Value,
) -> Result<(String, Map<String, Value>), String> {
    let mut event: Map<String, Value> = answer
        .get("event")
        .and_then(Value::as_object)
        .cloned()
        .ok_or("the answer has no event")?;
    let field = |name: &str| event.get(name).and_then(Value::as_str);
    if field("sender") != Some(user.as_str())
        || field("state_key") != Some(user.as_str())
        || field("type") != Some("m.room.member")
    {
        return Err("the template is for someone else".into());
    }
    for name in ["signatures", "hashes", "unsigned"] {
        event.remove(name);
    }
    event.insert("origin_server_ts".into(), json!(now_ms()));
    if rules.event_id_format == EventIdFormat::Explicit {
        // Room versions 1 and 2: the event ID is chosen by its server, not hashed.
        let mut random = [0u8; 12];
        getrandom::fill(&mut random).map_err(|_| "no randomness".to_owned())?;
        let id: String = random.iter().map(|b| format!("{b:02x}")).collect();
        event.insert(
            "event_id".into(),
            json!(format!("${id}:{}", server.server_name())),
        );
    }
    hash_and_sign_event(rules, &mut event, &server.name, &server.signing_key)
        .map_err(|e| format!("cannot sign it: {e}"))?;
    let event_id = event_id_for(rules, &event).map_err(|e| e.to_string())?;
    Ok((event_id, event))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_pass_the_peers_words_on() {
        let body = json!({"errcode": "M_UNAUTHORIZED", "error": "Failed to find any key"});
        let refused = remote_refusal("make_join", 401, &body);
        assert_eq!(refused.status, 502);
        let text = refused.body()["error"].as_str().unwrap_or("").to_owned();
        assert!(
            text.starts_with("make_join refused: M_UNAUTHORIZED Failed to find any key"),
            "{text}"
        );
        assert!(text.contains("hearth check"), "{text}");
        let body = json!({"errcode": "M_FORBIDDEN", "error": "banned"});
        let refused = remote_refusal("make_join", 403, &body);
        assert_eq!(refused.status, 403);
        assert_eq!(
            refused.body()["error"],
            "make_join refused: M_FORBIDDEN banned"
        );
    }
}
