//! Keys for checking event signatures, fetched before a write job runs: the receive
//! pipeline is synchronous and does no I/O, so every key it may need is looked up first.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::federation::keys::KeyUse;
use crate::proto::hashes::{WantedKeys, add_wanted_keys};
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
    let mut wanted = WantedKeys::new();
    for event in events {
        add_wanted_keys(rules, event, &mut wanted);
    }
    fetch_keys(server, rules, wanted).await
}

/// Fetches the `wanted` keys; those that cannot be had are left out.
pub async fn fetch_keys(server: &Server, rules: &RoomRules, wanted: WantedKeys) -> EventKeys {
    let mut keys = EventKeys::new();
    for ((server_name, key_id), origin_server_ts) in wanted {
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
