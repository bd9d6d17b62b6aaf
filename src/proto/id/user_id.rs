//! `UserId` (spec: appendices, "User Identifiers"): `@localpart:server_name`.
//!
//! `parse` accepts historical localparts, as remote events carry them (spec: "Historical
//! User IDs": any code point but `:` and NUL, even empty); `new_local` applies the
//! current grammar, for IDs this server creates.

use serde::{Deserialize, Serialize};

use super::{IdError, MAX_ID_BYTES, ServerName, id_common_impls, split_sigil_id};

/// A Matrix user ID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId {
    full: String,
    server_name: ServerName,
}

id_common_impls!(UserId);

impl UserId {
    /// Parses a user ID leniently: any localpart without `:` or NUL, a valid server name,
    /// at most 255 bytes in all.
    pub fn parse(text: &str) -> Result<Self, IdError> {
        let (_, server_name) = split_sigil_id(text, '@')?;
        Ok(UserId {
            full: text.to_owned(),
            server_name,
        })
    }

    /// Builds a new user ID on this server, with the current grammar: a non-empty
    /// localpart of `a-z`, `0-9`, `.`, `_`, `=`, `-`, `/`, `+` only. The caller lowercases
    /// or maps a requested username first (spec: "Mapping from other character sets").
    pub fn new_local(localpart: &str, server_name: &ServerName) -> Result<Self, IdError> {
        if !is_strict_localpart(localpart) {
            return Err(IdError::InvalidLocalpart);
        }
        let full = format!("@{localpart}:{server_name}");
        if full.len() > MAX_ID_BYTES {
            return Err(IdError::TooLong);
        }
        Ok(UserId {
            full,
            server_name: server_name.clone(),
        })
    }

    /// The part between `@` and the first `:`.
    pub fn localpart(&self) -> &str {
        // INVARIANT: `parse`/`new_local` checked the `@` sigil and that a `:` follows.
        let rest = self.full.get(1..).unwrap_or("");
        rest.split_once(':')
            .map_or(rest, |(localpart, _)| localpart)
    }

    pub fn server_name(&self) -> &ServerName {
        &self.server_name
    }

    /// Whether the localpart is outside the current grammar (spec: "Historical User IDs").
    /// Such IDs are accepted in events but SHOULD NOT be forwarded to clients outside an
    /// event's context.
    pub fn is_historical(&self) -> bool {
        !is_strict_localpart(self.localpart())
    }
}

/// Spec: appendices, "User Identifiers": `user_id_localpart = 1*user_id_char`.
fn is_strict_localpart(localpart: &str) -> bool {
    !localpart.is_empty()
        && localpart.bytes().all(|b| {
            b.is_ascii_digit()
                || b.is_ascii_lowercase()
                || matches!(b, b'-' | b'.' | b'=' | b'_' | b'/' | b'+')
        })
}
