//! Keys for checking event signatures, fetched before a write job runs: the receive
//! pipeline is synchronous and does no I/O, so every key it may need is looked up first.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::federation::keys::KeyUse;
use crate::proto::hashes::{ed25519_signature_key_ids, servers_that_must_sign};
use crate::proto::id::ServerName;
use crate::proto::room_version::RoomRules;
use crate::server::Server;

/// (server, key ID) → public key, for the receive pipeline's key lookup.
pub type EventKeys = HashMap<(ServerName, String), String>;

/// Fetches the keys of every server that must sign each of `events`. Keys that cannot be
/// had are left out: the pipeline then drops those events as unverifiable.
pub async fn fetch_event_keys(
    server: &Server,
    rules: &RoomRules,
    events: &[&Map<String, Value>],
) -> EventKeys {
    let mut wanted: Vec<(ServerName, String, Option<i64>)> = Vec::new();
    for event in events {
        let Ok(signers) = servers_that_must_sign(rules, event) else {
            continue;
        };
        let origin_server_ts = event.get("origin_server_ts").and_then(Value::as_i64);
        for signer in signers {
            let key_ids = ed25519_signature_key_ids(event, &signer);
            for key_id in key_ids {
                if !wanted.iter().any(|(s, k, _)| *s == signer && *k == key_id) {
                    wanted.push((signer.clone(), key_id, origin_server_ts));
                }
            }
        }
    }
    let mut keys = EventKeys::new();
    for (server_name, key_id, origin_server_ts) in wanted {
        if server_name == server.name {
            if key_id == server.signing_key.key_id() {
                keys.insert(
                    (server_name, key_id),
                    server.signing_key.public_key_base64(),
                );
            }
            continue;
        }
        let key_use = KeyUse::Event {
            valid_at_ms: if rules.enforce_key_validity {
                origin_server_ts
            } else {
                None
            },
        };
        match server
            .federation
            .keys
            .get_key(
                &server.store,
                &server.federation.client,
                &server_name,
                &key_id,
                key_use,
            )
            .await
        {
            Ok(key) => {
                keys.insert((server_name, key_id), key.public_key);
            }
            Err(e) => crate::info!("no key {key_id} of {server_name} for an event: {e}"),
        }
    }
    keys
}
