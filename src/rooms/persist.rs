//! Storing an accepted event at the end of a room's timeline: the event row, its place in
//! the stream, the state group after it, current state, memberships and extremities.

use super::RoomError;
use crate::proto::pdu::Pdu;
use crate::store::Transaction;
use crate::store::events::{self, NewEvent, StoredRoom};
use crate::store::state;

/// An event that is now part of a room.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub event_nid: i64,
    pub stream_ordering: i64,
    pub pdu: Pdu,
}

/// Persists `pdu`, whose JSON text is `pdu_text`, which follows the room's current
/// extremities `prev_nids` and was authorised against the room's current state. `room`
/// must have been read in this transaction.
pub fn persist_new_timeline_event(
    transaction: &Transaction<'_>,
    room: &StoredRoom,
    pdu: Pdu,
    pdu_text: &str,
    prev_nids: &[i64],
) -> Result<Accepted, RoomError> {
    let stream_ordering = events::next_stream_ordering(transaction)?;
    let event_nid = events::insert_event(
        transaction,
        &NewEvent {
            stream_ordering: Some(stream_ordering),
            state_group_before: room.current_state_group,
            state_group_after: room.current_state_group,
            ..NewEvent::from_pdu(&pdu, room.room_nid, pdu_text)
        },
    )?;
    if let Some(state_key) = pdu.state_key() {
        let state_key_nid = state::state_key_nid(transaction, pdu.kind(), state_key)?;
        let group = state::new_state_group(
            transaction,
            room.room_nid,
            room.current_state_group,
            &[(state_key_nid, event_nid)],
        )?;
        events::set_state_group_after(transaction, event_nid, group)?;
        state::set_current_state(transaction, room.room_nid, state_key_nid, event_nid)?;
        events::set_current_state_group(transaction, room.room_nid, group)?;
        if pdu.kind() == "m.room.member" {
            let membership = pdu
                .content()
                .get("membership")
                .and_then(|m| m.as_str())
                .unwrap_or("leave");
            events::set_membership(
                transaction,
                state_key,
                room.room_nid,
                membership,
                event_nid,
                stream_ordering,
            )?;
        }
    }
    if pdu.kind() == "m.room.redaction" {
        let target = pdu
            .json()
            .get("redacts")
            .or_else(|| pdu.content().get("redacts"))
            .and_then(|r| r.as_str());
        if let Some(target) = target {
            events::set_redacted_by(transaction, target, pdu.event_id())?;
        }
    }
    events::advance_forward_extremities(transaction, room.room_nid, prev_nids, event_nid)?;
    Ok(Accepted {
        event_nid,
        stream_ordering,
        pdu,
    })
}
