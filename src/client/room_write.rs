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
    match append(server, room_id, sender, event, transaction_key, false).await? {
        Appended::New(accepted) => Ok(accepted),
        // Not looked for, so never found; answered as the event it names, had it been.
        Appended::Earlier(event_id) => Err(MatrixError::new(
            500,
            crate::proto::errcode::ErrCode::Unknown,
            format!("this request was sent before as {event_id}"),
        )),
    }
}

/// Sends `event` once per (device, txnId): a retried request gets the event ID of the
/// first. The check runs in the same writer job as the append, so two racing retries
/// cannot both append, and a send costs no separate database read.
pub async fn send_event_once(
    server: &Server,
    room_id: &str,
    sender: &UserId,
    event: LocalEvent,
    device_id: String,
    txn_id: String,
) -> Result<String, MatrixError> {
    let key = Some((device_id, txn_id));
    Ok(
        match append(server, room_id, sender, event, key, true).await? {
            Appended::New(accepted) => accepted.pdu.event_id().to_owned(),
            Appended::Earlier(event_id) => event_id,
        },
    )
}

/// What an append did: a new event, or (a retried transaction) the event sent before.
enum Appended {
    New(Accepted),
    Earlier(String),
}

async fn append(
    server: &Server,
    room_id: &str,
    sender: &UserId,
    event: LocalEvent,
    transaction_key: Option<(String, String)>,
    look_for_earlier: bool,
) -> Result<Appended, MatrixError> {
    let (server_name, key) = (server.name.clone(), server.signing_key.clone());
    let parsed = server.parsed_events.clone();
    let (room_id, sender) = (room_id.to_owned(), sender.clone());
    let result = server
        .store
        .write(move |transaction| {
            let outcome = (|| {
                if let (true, Some((device_id, txn_id))) = (look_for_earlier, &transaction_key)
                    && let Some(event_id) = crate::store::devices::transaction_event(
                        transaction,
                        sender.as_str(),
                        device_id,
                        txn_id,
                    )?
                {
                    return Ok((Appended::Earlier(event_id), Vec::new()));
                }
                let room =
                    events::room_by_id(transaction, &room_id)?.ok_or(RoomError::UnknownRoom)?;
                let signer = Signer {
                    server_name: &server_name,
                    key: &key,
                    parsed: &parsed,
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
                Ok::<_, RoomError>((Appended::New(accepted), queued))
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
    let (appended, queued) = result.map_err(|e| MatrixError::from(&e))?;
    if let Appended::New(_) = appended {
        server.notifier.notify();
        server.federation.sender.wake(queued);
    }
    Ok(appended)
}
