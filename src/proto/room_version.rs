//! Room versions as named behaviour flags (STYLE 3.3): code asks `rules.knocking`, never
//! compares version numbers. Each version is built from the one before it.
//!
//! Sources: spec `content/rooms/v1.md` … `v12.md`; checklist §3.7.

/// How event IDs are formed (spec: s2s "Signing Events", rooms/vN "Event IDs").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventIdFormat {
    /// v1–2: `$opaque:server_name`, carried in the event.
    Explicit,
    /// v3: `$` + standard unpadded base64 of the reference hash.
    Base64,
    /// v4+: `$` + URL-safe unpadded base64 of the reference hash.
    UrlSafeBase64,
}

/// Which state resolution algorithm the room uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateResAlgorithm {
    /// Room version 1.
    V1,
    /// Room versions 2–11.
    V2,
    /// Room version 12 (v2.1: empty start map, conflicted state subgraph).
    V2_1,
}

/// Which redaction keep-list applies (spec: rooms/fragments/v*-redactions.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedactionRules {
    V1,
    V6,
    V8,
    V9,
    V11,
}

/// Everything that differs between room versions, as named flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomRules {
    /// The version string as it appears in `m.room.create` (`"1"` … `"12"`).
    pub version: &'static str,
    /// Whether Synapse and the spec call this version stable.
    pub stable: bool,
    pub event_id_format: EventIdFormat,
    pub state_res: StateResAlgorithm,
    pub redaction: RedactionRules,
    /// v6+: floats, out-of-range integers and lone surrogates make an event invalid.
    pub strict_canonical_json: bool,
    /// v5+: a signing key's `valid_until_ts` must cover the event's `origin_server_ts`.
    pub enforce_key_validity: bool,
    /// v1–5: `m.room.aliases` events have their own auth rule.
    pub special_case_aliases_auth: bool,
    /// v6+: `notifications` in power levels is authorised like other levels.
    pub limit_notifications_power_levels: bool,
    /// v7+: `knock` membership and join rule.
    pub knocking: bool,
    /// v8+: `restricted` join rule with `join_authorised_via_users_server`.
    pub restricted_join_rule: bool,
    /// v10+: `knock_restricted` join rule.
    pub knock_restricted_join_rule: bool,
    /// v10+: power levels must be integers, not strings.
    pub integer_power_levels: bool,
    /// v11+: the creator is the `sender` of `m.room.create`; `creator` is not used.
    pub use_room_create_sender: bool,
    /// v11+: `redacts` lives in `content`, not at the top level.
    pub redacts_in_content: bool,
    /// v12: the room ID is `!` + the reference hash of the create event, which has no `room_id`.
    pub room_id_is_create_event_hash: bool,
    /// v12: room creators (create sender and `additional_creators`) have infinite power.
    pub creators_have_infinite_power: bool,
}

impl RoomRules {
    pub const V1: RoomRules = RoomRules {
        version: "1",
        stable: true,
        event_id_format: EventIdFormat::Explicit,
        state_res: StateResAlgorithm::V1,
        redaction: RedactionRules::V1,
        strict_canonical_json: false,
        enforce_key_validity: false,
        special_case_aliases_auth: true,
        limit_notifications_power_levels: false,
        knocking: false,
        restricted_join_rule: false,
        knock_restricted_join_rule: false,
        integer_power_levels: false,
        use_room_create_sender: false,
        redacts_in_content: false,
        room_id_is_create_event_hash: false,
        creators_have_infinite_power: false,
    };
    pub const V2: RoomRules = RoomRules {
        version: "2",
        state_res: StateResAlgorithm::V2,
        ..Self::V1
    };
    pub const V3: RoomRules = RoomRules {
        version: "3",
        event_id_format: EventIdFormat::Base64,
        ..Self::V2
    };
    pub const V4: RoomRules = RoomRules {
        version: "4",
        event_id_format: EventIdFormat::UrlSafeBase64,
        ..Self::V3
    };
    pub const V5: RoomRules = RoomRules {
        version: "5",
        enforce_key_validity: true,
        ..Self::V4
    };
    pub const V6: RoomRules = RoomRules {
        version: "6",
        redaction: RedactionRules::V6,
        strict_canonical_json: true,
        special_case_aliases_auth: false,
        limit_notifications_power_levels: true,
        ..Self::V5
    };
    pub const V7: RoomRules = RoomRules {
        version: "7",
        knocking: true,
        ..Self::V6
    };
    pub const V8: RoomRules = RoomRules {
        version: "8",
        redaction: RedactionRules::V8,
        restricted_join_rule: true,
        ..Self::V7
    };
    pub const V9: RoomRules = RoomRules {
        version: "9",
        redaction: RedactionRules::V9,
        ..Self::V8
    };
    pub const V10: RoomRules = RoomRules {
        version: "10",
        knock_restricted_join_rule: true,
        integer_power_levels: true,
        ..Self::V9
    };
    pub const V11: RoomRules = RoomRules {
        version: "11",
        redaction: RedactionRules::V11,
        use_room_create_sender: true,
        redacts_in_content: true,
        ..Self::V10
    };
    pub const V12: RoomRules = RoomRules {
        version: "12",
        state_res: StateResAlgorithm::V2_1,
        room_id_is_create_event_hash: true,
        creators_have_infinite_power: true,
        ..Self::V11
    };

    /// Every version hearth supports, oldest first.
    pub const ALL: [RoomRules; 12] = [
        Self::V1,
        Self::V2,
        Self::V3,
        Self::V4,
        Self::V5,
        Self::V6,
        Self::V7,
        Self::V8,
        Self::V9,
        Self::V10,
        Self::V11,
        Self::V12,
    ];

    /// The rules for a version string, or `None` for a version hearth does not know.
    pub fn for_version(version: &str) -> Option<RoomRules> {
        Self::ALL.into_iter().find(|rules| rules.version == version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_found_by_name() {
        for (index, rules) in RoomRules::ALL.iter().enumerate() {
            assert_eq!(rules.version, (index + 1).to_string());
            assert_eq!(RoomRules::for_version(rules.version), Some(*rules));
        }
        assert_eq!(RoomRules::for_version("13"), None);
        assert_eq!(RoomRules::for_version("org.matrix.msc1234"), None);
    }

    #[test]
    fn flags_switch_where_the_spec_says() {
        let rules = |version: &str| RoomRules::for_version(version).unwrap();
        assert!(!rules("6").knocking && rules("7").knocking);
        assert!(!rules("9").integer_power_levels && rules("10").integer_power_levels);
        assert!(rules("5").special_case_aliases_auth && !rules("6").special_case_aliases_auth);
        assert_eq!(rules("12").state_res, StateResAlgorithm::V2_1);
        assert_eq!(rules("1").state_res, StateResAlgorithm::V1);
        assert_eq!(rules("2").state_res, StateResAlgorithm::V2);
        assert_eq!(rules("3").event_id_format, EventIdFormat::Base64);
        assert_eq!(rules("4").event_id_format, EventIdFormat::UrlSafeBase64);
    }
}
