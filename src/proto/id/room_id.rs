//! `RoomId` (spec: appendices, "Room IDs"): `!opaque:server_name` up to room version 11,
//! and from v12 `!` + the URL-safe reference hash of the `m.room.create` event, with no
//! server name (rooms/v12, MSC4291).

use serde::{Deserialize, Serialize};

use super::{EventId, IdError, ServerName, id_common_impls, is_reference_hash, split_sigil_id};

/// A room ID in either form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoomId {
    full: String,
    /// `None` for the v12 hash form.
    server_name: Option<ServerName>,
}

id_common_impls!(RoomId);

impl RoomId {
    /// Parses `!opaque:server_name` (any opaque part without `:` or NUL), or `!` + 43
    /// characters of unpadded base64 (the v12 form). At most 255 bytes.
    ///
    /// Which form a room *should* have depends on its version; that is checked where the
    /// version is known (`event_format`), not here.
    pub fn parse(text: &str) -> Result<Self, IdError> {
        if text.contains(':') {
            let (_, server_name) = split_sigil_id(text, '!')?;
            return Ok(RoomId {
                full: text.to_owned(),
                server_name: Some(server_name),
            });
        }
        let hash = text.strip_prefix('!').ok_or(IdError::MissingSigil('!'))?;
        if !is_reference_hash(hash) {
            return Err(IdError::InvalidHash);
        }
        Ok(RoomId {
            full: text.to_owned(),
            server_name: None,
        })
    }

    /// The server that created the room, for room IDs of the `!opaque:server` form.
    /// It says nothing about whether that server is still in the room.
    pub fn server_name(&self) -> Option<&ServerName> {
        self.server_name.as_ref()
    }

    /// Whether this is the v12 form, `!` + the create event's reference hash.
    pub fn is_create_event_hash(&self) -> bool {
        self.server_name.is_none()
    }

    /// For the v12 form, the ID of the room's `m.room.create` event (`$` + the same hash).
    pub fn create_event_id(&self) -> Option<EventId> {
        if self.server_name.is_some() {
            return None;
        }
        let hash = self.full.get(1..)?;
        EventId::parse(&format!("${hash}")).ok()
    }
}
