//! The one way client handlers add events to rooms: in a writer job, through the room
//! engine, then waking syncs. Handlers never build events themselves.

use crate::proto::errcode::MatrixError;
use crate::proto::id::UserId;
use crate::rooms::persist::Accepted;
use crate::rooms::{LocalEvent, RoomError, Signer, build};
use crate::server::{Server, now_ms};
use crate::store::events;

/// Appends `event` from `sender` to `room_id`; optionally records a (device, txnId) so a
/// retried send returns the same event.
pub async fn send_event(
    server: &Server,
    room_id: &str,
    sender: &UserId,
    event: LocalEvent,
    transaction_key: Option<(String, String)>,
) -> Result<Accepted, MatrixError> {
    let (server_name, key) = (server.name.clone(), server.signing_key.clone());
    let (room_id, sender) = (room_id.to_owned(), sender.clone());
    let result = server
        .store
        .write(move |transaction| {
            let outcome = (|| {
                let room =
                    events::room_by_id(transaction, &room_id)?.ok_or(RoomError::UnknownRoom)?;
                let signer = Signer {
                    server_name: &server_name,
                    key: &key,
                };
                let accepted = build::append_local_event(
                    transaction,
                    &signer,
                    &room,
                    &sender,
                    event,
                    now_ms(),
                )?;
                if let Some((device_id, txn_id)) = &transaction_key {
                    crate::store::devices::record_transaction(
                        transaction,
                        sender.as_str(),
                        device_id,
                        txn_id,
                        accepted.pdu.event_id(),
                    )?;
                }
                // In the same job: the event and its outbox rows commit together.
                let queued = crate::federation::sender::enqueue_local_event(
                    transaction,
                    &server_name,
                    room.room_nid,
                    &accepted.pdu,
                )?;
                Ok::<_, RoomError>((accepted, queued))
            })();
            match outcome {
                // A database failure undoes the whole job (its savepoint is rolled back).
                Err(RoomError::Store(e)) => Err(e),
                // A refused event is an answer: nothing was written before the refusal.
                other => Ok(other),
            }
        })
        .await
        .map_err(|e| MatrixError::from(&RoomError::Store(e)))?;
    let (accepted, queued) = result.map_err(|e| MatrixError::from(&e))?;
    server.notifier.notify();
    server.federation.sender.wake(queued);
    Ok(accepted)
}
