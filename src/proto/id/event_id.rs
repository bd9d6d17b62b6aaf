//! `EventId` (spec: appendices, "Event IDs"): `$opaque:server_name` in room versions 1–2,
//! `$` + the unpadded base64 reference hash from v3 (standard alphabet in v3, URL-safe
//! from v4).

use serde::{Deserialize, Serialize};

use super::{IdError, ServerName, id_common_impls, is_reference_hash, split_sigil_id};

/// An event ID in either form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventId {
    full: String,
    /// `Some` for the v1–2 form only.
    server_name: Option<ServerName>,
}

id_common_impls!(EventId);

impl EventId {
    /// Parses `$opaque:server_name` (opaque part without `:` or NUL) or `$` + 43
    /// characters of unpadded base64 in either alphabet. At most 255 bytes.
    pub fn parse(text: &str) -> Result<Self, IdError> {
        if text.contains(':') {
            let (_, server_name) = split_sigil_id(text, '$')?;
            return Ok(EventId {
                full: text.to_owned(),
                server_name: Some(server_name),
            });
        }
        let hash = text.strip_prefix('$').ok_or(IdError::MissingSigil('$'))?;
        if !is_reference_hash(hash) {
            return Err(IdError::InvalidHash);
        }
        Ok(EventId {
            full: text.to_owned(),
            server_name: None,
        })
    }

    /// The server name of a v1–2 event ID. Spec: rooms/v1 auth rules use it to decide
    /// who may redact, and s2s "Validating hashes and signatures" requires that server's
    /// signature.
    pub fn server_name(&self) -> Option<&ServerName> {
        self.server_name.as_ref()
    }
}
