//! Matrix identifiers (spec: appendices, "Identifier Grammar"), parsed once at the edge
//! (STYLE 3.1): each type's constructor is its only check, and accessors slice the string
//! without checking again.
//!
//! Parsing is lenient where remote events carry historical forms (STYLE 3.2); creating a
//! new local identifier is strict (`UserId::new_local`). Nothing here does DNS or touches
//! the network: an IP literal is recognised by its grammar only.

mod event_id;
mod room_alias_id;
mod room_id;
mod server_name;
mod user_id;

pub use event_id::EventId;
pub use room_alias_id::RoomAliasId;
pub use room_id::RoomId;
pub use server_name::ServerName;
pub use user_id::UserId;

/// The longest identifier in bytes, sigil and server name included (spec: appendices,
/// "User Identifiers", "Room IDs", "Room Aliases", "Event IDs").
pub const MAX_ID_BYTES: usize = 255;

/// Why a string is not a valid identifier of the asked-for kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdError {
    /// More than 255 bytes.
    TooLong,
    /// Does not start with the identifier's sigil (`@`, `!`, `$`, `#`).
    MissingSigil(char),
    /// No `:` separating the localpart from the server name.
    MissingServerName,
    /// The localpart has a character its grammar forbids (for instance NUL), or is empty
    /// where it must not be.
    InvalidLocalpart,
    /// The server name does not match the spec's grammar.
    InvalidServerName,
    /// The port is not 1–5 digits or is above 65535.
    InvalidPort,
    /// A hash-form event or room ID that is not 43 characters of unpadded base64.
    InvalidHash,
}

impl std::fmt::Display for IdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdError::TooLong => write!(f, "identifier is longer than {MAX_ID_BYTES} bytes"),
            IdError::MissingSigil(sigil) => write!(f, "identifier must start with '{sigil}'"),
            IdError::MissingServerName => write!(f, "identifier has no ':server_name' part"),
            IdError::InvalidLocalpart => write!(f, "identifier has an invalid localpart"),
            IdError::InvalidServerName => write!(f, "invalid server name"),
            IdError::InvalidPort => write!(f, "invalid port in server name"),
            IdError::InvalidHash => {
                write!(f, "identifier is not 43 characters of unpadded base64")
            }
        }
    }
}

impl std::error::Error for IdError {}

/// Splits `&localpart:server_name`: checks the length and sigil, then splits at the first
/// `:` (localparts never contain one; server names may, before a port or inside IPv6).
fn split_sigil_id(text: &str, sigil: char) -> Result<(&str, ServerName), IdError> {
    if text.len() > MAX_ID_BYTES {
        return Err(IdError::TooLong);
    }
    let rest = text
        .strip_prefix(sigil)
        .ok_or(IdError::MissingSigil(sigil))?;
    let (localpart, server_name) = rest.split_once(':').ok_or(IdError::MissingServerName)?;
    // Spec: appendices, "Historical User IDs" / "Room IDs" / "Room Aliases": any
    // non-surrogate code point except `:` and NUL (Rust strings hold no surrogates).
    if localpart.contains('\0') {
        return Err(IdError::InvalidLocalpart);
    }
    Ok((localpart, ServerName::parse(server_name)?))
}

/// Whether `text` is a reference hash as event IDs (v3+) and room IDs (v12) carry it:
/// 43 characters of unpadded base64, standard (v3) or URL-safe (v4+) alphabet.
fn is_reference_hash(text: &str) -> bool {
    text.len() == 43
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_'))
}

/// The impls every identifier type shares: `as_str`, `Display`, `FromStr`, and serde
/// through `TryFrom<String>` / `Into<String>`.
macro_rules! id_common_impls {
    ($name:ident) => {
        impl $name {
            /// The identifier as it was parsed.
            pub fn as_str(&self) -> &str {
                &self.full
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.full)
            }
        }

        impl std::str::FromStr for $name {
            type Err = super::IdError;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::parse(text)
            }
        }

        impl TryFrom<String> for $name {
            type Error = super::IdError;
            fn try_from(text: String) -> Result<Self, Self::Error> {
                Self::parse(&text)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = super::IdError;
            fn try_from(text: &str) -> Result<Self, Self::Error> {
                Self::parse(text)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.full
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.full
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.full == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.full == *other
            }
        }
    };
}
use id_common_impls;

#[cfg(test)]
mod tests;
