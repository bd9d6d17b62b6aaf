//! The one way client handlers add events to rooms: in a writer job, through the room
//! engine, then waking syncs. Handlers never build events themselves.

use std::sync::Arc;

use crate::proto::errcode::MatrixError;
use crate::proto::id::{ServerName, UserId};
use crate::proto::signing::SigningKey;
use crate::rooms::persist::Accepted;
use crate::rooms::{LocalEvent, RoomError, Signer, build};
use crate::server::{Server, now_ms};
use crate::store::outbox::OutboxRow;
use crate::store::parsed::ParsedEvents;
use crate::store::{StoreError, Transaction, devices, events};

/// Appends `event` from `sender` to `room_id`.
pub async fn send_event(
    server: &Server,
    room_id: &str,
    sender: &UserId,
    event: LocalEvent,
) -> Result<Accepted, MatrixError> {
    let context = AppendContext::of(server, room_id, sender);
    let result = server
        .store
        .write_notifying(move |transaction| as_job_result(context.append(transaction, event)))
        .await;
    let (accepted, queued) = job_answer(result)?;
    woken(server, queued);
    Ok(accepted)
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
    let context = AppendContext::of(server, room_id, sender);
    let result = server
        .store
        .write_notifying(move |transaction| {
            as_job_result((|| {
                let user_id = context.sender.as_str();
                if let Some(event_id) =
                    devices::transaction_event(transaction, user_id, &device_id, &txn_id)?
                {
                    return Ok((Sent::Earlier(event_id), Vec::new()));
                }
                let (accepted, queued) = context.append(transaction, event)?;
                let event_id = accepted.pdu.event_id();
                devices::record_transaction(transaction, user_id, &device_id, &txn_id, event_id)?;
                Ok((Sent::New(event_id.to_owned()), queued))
            })())
        })
        .await;
    Ok(match job_answer(result)? {
        (Sent::New(event_id), queued) => {
            woken(server, queued);
            event_id
        }
        (Sent::Earlier(event_id), _) => event_id,
    })
}

/// What a send with a transaction ID did: a new event, or (a retry) the event sent before.
enum Sent {
    New(String),
    Earlier(String),
}

/// What a writer job needs to append a local event.
struct AppendContext {
    server_name: ServerName,
    key: SigningKey,
    parsed: Arc<ParsedEvents>,
    room_id: String,
    sender: UserId,
}

impl AppendContext {
    fn of(server: &Server, room_id: &str, sender: &UserId) -> AppendContext {
        AppendContext {
            server_name: server.name.clone(),
            key: server.signing_key.clone(),
            parsed: server.parsed_events.clone(),
            room_id: room_id.to_owned(),
            sender: sender.clone(),
        }
    }

    /// Builds and stores the event, and queues it for the other servers in the room: in
    /// the same job, so the event and its outbox rows commit together.
    fn append(
        &self,
        transaction: &Transaction<'_>,
        event: LocalEvent,
    ) -> Result<(Accepted, Vec<OutboxRow>), RoomError> {
        let room = events::room_by_id(transaction, &self.room_id)?.ok_or(RoomError::UnknownRoom)?;
        let signer = Signer {
            server_name: &self.server_name,
            key: &self.key,
            parsed: &self.parsed,
        };
        let accepted =
            build::append_local_event(transaction, &signer, &room, &self.sender, event, now_ms())?;
        let queued = crate::federation::sender::enqueue_local_event(
            transaction,
            &self.server_name,
            room.room_nid,
            &accepted.pdu,
        )?;
        Ok((accepted, queued))
    }
}

/// A database failure undoes the whole job (its savepoint is rolled back); a refused event
/// is an answer, with nothing written before the refusal.
fn as_job_result<T>(outcome: Result<T, RoomError>) -> Result<Result<T, RoomError>, StoreError> {
    match outcome {
        Err(RoomError::Store(e)) => Err(e),
        other => Ok(other),
    }
}

fn job_answer<T>(result: Result<Result<T, RoomError>, StoreError>) -> Result<T, MatrixError> {
    result
        .map_err(|e| MatrixError::from(&RoomError::Store(e)))?
        .map_err(|e| MatrixError::from(&e))
}

/// After a new event's commit (syncs were woken by the writer): wake the senders of the
/// servers it is queued for.
fn woken(server: &Server, queued: Vec<OutboxRow>) {
    server.federation.sender.wake(queued);
}
