//! `RoomAliasId` (spec: appendices, "Room Aliases"): `#alias:server_name`, where the alias
//! may hold any code point but `:` and NUL.

use serde::{Deserialize, Serialize};

use super::{IdError, ServerName, id_common_impls, split_sigil_id};

/// A room alias.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoomAliasId {
    full: String,
    server_name: ServerName,
}

id_common_impls!(RoomAliasId);

impl RoomAliasId {
    /// Parses `#alias:server_name`, at most 255 bytes.
    pub fn parse(text: &str) -> Result<Self, IdError> {
        let (_, server_name) = split_sigil_id(text, '#')?;
        Ok(RoomAliasId {
            full: text.to_owned(),
            server_name,
        })
    }

    /// The part between `#` and the first `:`.
    pub fn alias(&self) -> &str {
        let rest = self.full.get(1..).unwrap_or("");
        rest.split_once(':').map_or(rest, |(alias, _)| alias)
    }

    /// The server that owns the alias and answers directory queries for it.
    pub fn server_name(&self) -> &ServerName {
        &self.server_name
    }
}
