//! Other servers' signing keys: looked up in the store, fetched from the server itself
//! (`GET /_matrix/key/v2/server`) when missing or too old, or through a notary
//! (`KeyRing::fetch_via_notary`), checked (`proto::server_keys`) and cached
//! (`store::remote_keys`).
//!
//! Spec: s2s "Retrieving server keys"; checklist §2.1. Which validity applies is the
//! caller's: a request's key must be a current key valid now; an event's key (room
//! versions 5 and later, rooms/fragments/v5-signing-requirements.md) must be valid at the
//! event's `origin_server_ts`, and an old (expired) key still counts for events it signed
//! before it expired.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::api::Method;
use crate::federation::FedError;
use crate::federation::client::{FederationClient, Outgoing};
use crate::proto::id::ServerName;
use crate::proto::server_keys::{ServerKey, ServerKeys, check_key_document};
use crate::proto::signing::verify_json;
use crate::server::now_ms;
use crate::store::Store;
use crate::store::remote_keys;
use crate::store::server_keys as own_keys;

/// After a fetch that did not yield the key asked for, the same server is not asked
/// again for this long: a peer sending random key IDs must not make us hammer it.
const REFETCH_COOLDOWN: Duration = Duration::from_secs(60);
/// Past this many servers in the fetch table, entries out of their cooldown are dropped.
const MAX_REMEMBERED_FETCHES: usize = 1024;

/// What a key is wanted for: the rule for "valid" differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    /// Authenticating a request now: a current key (not in `old_verify_keys`) whose
    /// validity reaches `now_ms`.
    Request { now_ms: i64 },
    /// Checking an event signature: valid at `origin_server_ts` (room versions 5 and
    /// later), or at any time (`None`, room versions 1 to 4, which do not enforce it).
    Event { valid_at_ms: Option<i64> },
}

impl KeyUse {
    /// Whether `key` may be used for this.
    pub fn accepts(self, key: &ServerKey) -> bool {
        match self {
            KeyUse::Request { now_ms } => key.expired_ts.is_none() && key.valid_until_ts >= now_ms,
            KeyUse::Event { valid_at_ms } => {
                valid_at_ms.is_none_or(|valid_at| key.valid_until_ts >= valid_at)
            }
        }
    }
}

/// The key fetcher: remembers recent fetches so that concurrent and repeated requests for
/// one server share one fetch.
#[derive(Default)]
pub struct KeyRing {
    /// Per server: a lock held during a fetch, and when the last fetch ended.
    fetches: Mutex<HashMap<ServerName, Arc<smol::lock::Mutex<Option<Instant>>>>>,
}

impl KeyRing {
    /// The key `key_id` of `server_name`, fit for `key_use`: from the store, else fetched
    /// from the server (at most once per [`REFETCH_COOLDOWN`] when that does not help).
    pub async fn get_key(
        &self,
        store: &Store,
        client: &FederationClient,
        server_name: &ServerName,
        key_id: &str,
        key_use: KeyUse,
    ) -> Result<ServerKey, FedError> {
        if server_name == client.origin() {
            return own_key(store, client, key_id, key_use).await;
        }
        if let Some(key) = stored_key(store, server_name, key_id).await?
            && key_use.accepts(&key)
        {
            return Ok(key);
        }
        let slot = self.fetch_slot(server_name);
        let mut last_fetch = slot.lock().await;
        // Another task may have fetched while this one waited for the lock.
        if let Some(key) = stored_key(store, server_name, key_id).await?
            && key_use.accepts(&key)
        {
            return Ok(key);
        }
        if last_fetch.is_some_and(|at| at.elapsed() < REFETCH_COOLDOWN) {
            return Err(FedError::KeyNotFound(
                server_name.clone(),
                key_id.to_owned(),
            ));
        }
        let fetched = fetch_direct(store, client, server_name).await;
        *last_fetch = Some(Instant::now());
        drop(last_fetch);
        let keys = fetched?;
        keys.keys
            .into_iter()
            .find(|key| key.key_id == key_id && key_use.accepts(key))
            .ok_or_else(|| FedError::KeyNotFound(server_name.clone(), key_id.to_owned()))
    }

    /// Fetches `server_name`'s keys ahead of need, unless its stored document is valid
    /// now (a join fetches the resident's while the resident answers). A failed fetch
    /// does not count for the cooldown: `get_key` tries again when the key is needed.
    pub async fn prefetch(
        &self,
        store: &Store,
        client: &FederationClient,
        server_name: &ServerName,
    ) {
        if let Ok(Some((_, valid_until_ts))) = read_document(store, server_name).await
            && valid_until_ts >= now_ms()
        {
            return;
        }
        let slot = self.fetch_slot(server_name);
        let mut last_fetch = slot.lock().await;
        if last_fetch.is_some_and(|at| at.elapsed() < REFETCH_COOLDOWN) {
            return;
        }
        match fetch_direct(store, client, server_name).await {
            Ok(_) => *last_fetch = Some(Instant::now()),
            Err(e) => crate::info!("prefetching the keys of {server_name}: {e}"),
        }
    }

    /// The last key document of `server_name` that is valid until at least
    /// `minimum_valid_until_ts` and lists `key_ids`, fetching a fresh one when the stored
    /// one falls short; an older stored document when the server cannot be reached (spec:
    /// notaries "can return keys for servers that are offline ... by using cached
    /// responses"). `None` when there is none at all.
    pub async fn document(
        &self,
        store: &Store,
        client: &FederationClient,
        server_name: &ServerName,
        minimum_valid_until_ts: i64,
        key_ids: &[String],
    ) -> Result<Option<Value>, FedError> {
        let stored = read_document(store, server_name).await?;
        let good_enough = |document: &Value, valid_until_ts: i64| {
            valid_until_ts >= minimum_valid_until_ts
                && key_ids.iter().all(|key_id| lists_key(document, key_id))
        };
        if let Some((document, valid_until_ts)) = &stored
            && good_enough(document, *valid_until_ts)
        {
            return Ok(stored.map(|(document, _)| document));
        }
        let slot = self.fetch_slot(server_name);
        let mut last_fetch = slot.lock().await;
        if last_fetch.is_none_or(|at| at.elapsed() >= REFETCH_COOLDOWN) {
            let fetched = fetch_direct(store, client, server_name).await;
            *last_fetch = Some(Instant::now());
            if let Err(e) = fetched {
                crate::info!("key fetch for notary answer: {e}");
            }
        }
        drop(last_fetch);
        Ok(read_document(store, server_name)
            .await?
            .map(|(document, _)| document))
    }

    /// Fetches `server_name`'s keys through `notary` (`POST /_matrix/key/v2/query`; spec:
    /// "Querying Keys Through Another Server"), for when the server itself cannot be
    /// reached. The answer must be signed by `server_name` (as a direct fetch) and by the
    /// notary with one of its own current keys, which is fetched from the notary itself.
    /// Stored like a direct fetch. `key_ids` may be empty (then: whatever the notary has).
    pub async fn fetch_via_notary(
        &self,
        store: &Store,
        client: &FederationClient,
        notary: &ServerName,
        server_name: &ServerName,
        key_ids: &[String],
    ) -> Result<ServerKeys, FedError> {
        let query = notary_query(server_name, key_ids, now_ms());
        let outgoing = Outgoing {
            method: Method::Post,
            path_and_query: "/_matrix/key/v2/query",
            body: Some(&query),
            sign: true,
            ignore_backoff: true,
        };
        let (status, answer) = client.send(notary, &outgoing).await?;
        let bad = |why: String| FedError::BadKeys(notary.clone(), why);
        if status != 200 {
            return Err(bad(format!("POST /_matrix/key/v2/query answered {status}")));
        }
        let documents = answer
            .get("server_keys")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("no server_keys list in the notary's answer".into()))?;
        let fetched_ts = now_ms();
        for document in documents {
            if document.get("server_name").and_then(Value::as_str) != Some(server_name.as_str()) {
                continue;
            }
            let keys = check_key_document(document, server_name, fetched_ts)
                .map_err(|e| FedError::BadKeys(server_name.clone(), e.to_string()))?;
            self.check_notary_signature(store, client, notary, document)
                .await?;
            save(store, &keys, document, fetched_ts).await?;
            return Ok(keys);
        }
        Err(bad(format!("the notary has no keys of {server_name}")))
    }

    /// One signature of `notary` on `document` verifies with a current key of the notary.
    async fn check_notary_signature(
        &self,
        store: &Store,
        client: &FederationClient,
        notary: &ServerName,
        document: &Value,
    ) -> Result<(), FedError> {
        let (Some(object), Some(signatures)) = (
            document.as_object(),
            document
                .get("signatures")
                .and_then(|s| s.get(notary.as_str()))
                .and_then(Value::as_object),
        ) else {
            return Err(FedError::BadKeys(
                notary.clone(),
                "no notary signature".into(),
            ));
        };
        for key_id in signatures.keys().filter(|k| k.starts_with("ed25519:")) {
            let key_use = KeyUse::Request { now_ms: now_ms() };
            let Ok(key) = self.get_key(store, client, notary, key_id, key_use).await else {
                continue;
            };
            if verify_json(object, notary.as_str(), key_id, &key.public_key).is_ok() {
                return Ok(());
            }
        }
        Err(FedError::BadKeys(
            notary.clone(),
            "no notary signature verifies".into(),
        ))
    }

    fn fetch_slot(&self, server_name: &ServerName) -> Arc<smol::lock::Mutex<Option<Instant>>> {
        let mut fetches = self
            .fetches
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Forget servers whose cooldown is over, so that requests naming many origins
        // cannot grow the table without bound.
        if fetches.len() >= MAX_REMEMBERED_FETCHES {
            fetches.retain(|_, slot| {
                Arc::strong_count(slot) > 1
                    || slot.try_lock().is_none_or(|last_fetch| {
                        last_fetch.is_some_and(|at| at.elapsed() < REFETCH_COOLDOWN)
                    })
            });
        }
        fetches.entry(server_name.clone()).or_default().clone()
    }
}

/// Fetches `server_name`'s key document from the server itself, checks and stores it.
pub async fn fetch_direct(
    store: &Store,
    client: &FederationClient,
    server_name: &ServerName,
) -> Result<ServerKeys, FedError> {
    let outgoing = Outgoing {
        method: Method::Get,
        path_and_query: "/_matrix/key/v2/server",
        body: None,
        // The key endpoints are not authenticated (spec: keys_server.yaml).
        sign: false,
        // As Synapse: a signature check must not fail because sending to that server
        // failed lately.
        ignore_backoff: true,
    };
    let (status, document) = client.send(server_name, &outgoing).await?;
    if status != 200 {
        return Err(FedError::BadKeys(
            server_name.clone(),
            format!("GET /_matrix/key/v2/server answered {status}"),
        ));
    }
    let fetched_ts = now_ms();
    let keys = check_key_document(&document, server_name, fetched_ts)
        .map_err(|e| FedError::BadKeys(server_name.clone(), e.to_string()))?;
    save(store, &keys, &document, fetched_ts).await?;
    Ok(keys)
}

/// Stores a checked document and its keys.
async fn save(
    store: &Store,
    keys: &ServerKeys,
    document: &Value,
    fetched_ts: i64,
) -> Result<(), FedError> {
    let text = document.to_string();
    let keys = keys.clone();
    store
        .write(move |transaction| remote_keys::save(transaction, &keys, &text, fetched_ts))
        .await?;
    Ok(())
}

/// One of our own keys: the current one, or a retired one (`old_verify_keys`, which may
/// verify events it signed before it expired, never requests). No fetch.
async fn own_key(
    store: &Store,
    client: &FederationClient,
    key_id: &str,
    key_use: KeyUse,
) -> Result<ServerKey, FedError> {
    let signing_key = client.signing_key();
    let key = if key_id == signing_key.key_id() {
        Some(ServerKey {
            key_id: key_id.to_owned(),
            public_key: signing_key.public_key_base64(),
            valid_until_ts: i64::MAX,
            expired_ts: None,
        })
    } else {
        let old_keys = store.read(own_keys::old_verify_keys).await?;
        old_keys
            .into_iter()
            .find(|old| old.key_id == key_id)
            .map(|old| ServerKey {
                key_id: old.key_id,
                public_key: old.public_key,
                valid_until_ts: old.expired_ts,
                expired_ts: Some(old.expired_ts),
            })
    };
    key.filter(|key| key_use.accepts(key))
        .ok_or_else(|| FedError::KeyNotFound(client.origin().clone(), key_id.to_owned()))
}

/// The body of `POST /_matrix/key/v2/query` asking for `key_ids` of `server_name`.
///
/// Names the keys wanted: Synapse answers a query without key IDs from its cache alone
/// (synapse/rest/key/v2/remote_key_resource.py), and fetches a named key it lacks. Each
/// carries `minimum_valid_until_ts`: Synapse 1.163 refuses criteria without it (400,
/// "Field required"), though keys_query.yaml makes it optional.
fn notary_query(server_name: &ServerName, key_ids: &[String], now_ms: i64) -> Value {
    let criteria: serde_json::Map<String, Value> = key_ids
        .iter()
        .map(|key_id| (key_id.clone(), json!({ "minimum_valid_until_ts": now_ms })))
        .collect();
    json!({ "server_keys": { server_name.as_str(): criteria } })
}

async fn stored_key(
    store: &Store,
    server_name: &ServerName,
    key_id: &str,
) -> Result<Option<ServerKey>, FedError> {
    let server_name = server_name.clone();
    let key_id = key_id.to_owned();
    Ok(store
        .read(move |connection| remote_keys::get_key(connection, &server_name, &key_id))
        .await?)
}

/// The stored document, parsed, with its `valid_until_ts`.
async fn read_document(
    store: &Store,
    server_name: &ServerName,
) -> Result<Option<(Value, i64)>, FedError> {
    let name = server_name.clone();
    let stored = store
        .read(move |connection| remote_keys::get_document(connection, &name))
        .await?;
    Ok(stored.and_then(|stored| {
        serde_json::from_str(&stored.document)
            .ok()
            .map(|document| (document, stored.valid_until_ts))
    }))
}

fn lists_key(document: &Value, key_id: &str) -> bool {
    ["verify_keys", "old_verify_keys"].iter().any(|field| {
        document
            .get(field)
            .and_then(|keys| keys.get(key_id))
            .is_some()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(valid_until_ts: i64, expired_ts: Option<i64>) -> ServerKey {
        ServerKey {
            key_id: "ed25519:a".into(),
            public_key: String::new(),
            valid_until_ts,
            expired_ts,
        }
    }

    #[test]
    fn synapse_requires_minimum_valid_until_ts_in_notary_queries() {
        // Regression: Synapse 1.163.2 answered 400 to `{"ed25519:a": {}}`.
        let server_name = ServerName::parse("remote.test").unwrap();
        assert_eq!(
            notary_query(&server_name, &["ed25519:a".to_owned()], 1234),
            json!({"server_keys": {"remote.test": {"ed25519:a": {"minimum_valid_until_ts": 1234}}}})
        );
        assert_eq!(
            notary_query(&server_name, &[], 1234),
            json!({"server_keys": {"remote.test": {}}})
        );
    }

    #[test]
    fn which_keys_count() {
        let current = key(1000, None);
        let old = key(500, Some(500));
        // Requests: current keys valid now only.
        assert!(KeyUse::Request { now_ms: 1000 }.accepts(&current));
        assert!(!KeyUse::Request { now_ms: 1001 }.accepts(&current));
        assert!(!KeyUse::Request { now_ms: 100 }.accepts(&old));
        // Events: valid at origin_server_ts, old keys included; v1-4 rooms: any time.
        assert!(
            KeyUse::Event {
                valid_at_ms: Some(500)
            }
            .accepts(&old)
        );
        assert!(
            !KeyUse::Event {
                valid_at_ms: Some(501)
            }
            .accepts(&old)
        );
        assert!(
            !KeyUse::Event {
                valid_at_ms: Some(1001)
            }
            .accepts(&current)
        );
        assert!(KeyUse::Event { valid_at_ms: None }.accepts(&old));
    }
}
