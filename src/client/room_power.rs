//! A room's power levels as the client API needs them: who may change the directory
//! entries of a room, and the facts push rules read (sender level, notification levels).

use serde_json::{Map, Value};

use crate::proto::auth::{PowerLevels, power_level_of_user};
use crate::proto::pdu::Pdu;
use crate::proto::room_version::RoomRules;
use crate::store::events::StoredEvent;
use crate::store::{Connection, StoreError, state};

/// The create and power levels events of a room's current state.
pub struct RoomPower {
    rules: RoomRules,
    create: Option<Pdu>,
    power_levels: Option<Pdu>,
}

impl RoomPower {
    pub fn load(
        connection: &Connection,
        room_nid: i64,
        rules: &RoomRules,
    ) -> Result<RoomPower, StoreError> {
        let create = state::current_state_event(connection, room_nid, "m.room.create", "")?;
        let power_levels =
            state::current_state_event(connection, room_nid, "m.room.power_levels", "")?;
        Ok(RoomPower {
            rules: *rules,
            create: create.as_ref().and_then(to_pdu),
            power_levels: power_levels.as_ref().and_then(to_pdu),
        })
    }

    pub fn user_level(&self, user_id: &str) -> i64 {
        power_level_of_user(
            &self.rules,
            self.create.as_ref(),
            self.power_levels.as_ref(),
            user_id,
        )
    }

    /// Whether `user_id` may send a state event of `kind`.
    pub fn may_send_state(&self, user_id: &str, kind: &str) -> bool {
        let required = match &self.power_levels {
            Some(event) => {
                PowerLevels::parse_lenient(&self.rules, event.content()).required_level(kind, true)
            }
            // Spec: m.room.power_levels: without the event, `state_default` is 0.
            None => 0,
        };
        self.user_level(user_id) >= required
    }

    /// `notifications` of the power levels content (for `sender_notification_permission`).
    pub fn notifications(&self) -> Option<&Map<String, Value>> {
        self.power_levels
            .as_ref()
            .and_then(|event| event.content().get("notifications"))
            .and_then(Value::as_object)
    }
}

/// The PDU of a stored event (its JSON is what was stored, so this fails only on a corrupt row).
pub fn to_pdu(stored: &StoredEvent) -> Option<Pdu> {
    match serde_json::from_str(&stored.pdu) {
        Ok(Value::Object(json)) => Some(Pdu::new(stored.event_id.clone(), json)),
        _ => None,
    }
}
