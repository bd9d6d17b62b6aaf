//! The outbound transaction sender: PDUs and EDUs for other servers go into the outbox
//! (`store::outbox`, in the same write job as the event they carry), then one driver task
//! per destination (`task.rs`) sends them in `PUT /send/{txnId}` transactions, following
//! the state machine of `queue.rs`. Rows leave the outbox only when the destination
//! acknowledged them, so a restart or an outage loses nothing: at start every destination
//! with rows gets its driver again.
//!
//! Callers: `enqueue_local_event` inside the write job that persisted a local event, then
//! `Sender::wake` with the rows it returned once the job committed; `enqueue_edu` for EDUs;
//! `Sender::handle_destination_up` when a signed request from a server passed
//! authentication (catch-up without waiting for the backoff to end).

mod queue;
mod task;

use std::collections::BTreeSet;
use std::sync::Mutex;

use serde_json::Value;
use smol::channel;

pub use queue::{
    DestinationQueue, MAX_EDUS_PER_TRANSACTION, MAX_PDUS_PER_TRANSACTION, Outcome, Txn,
    outcome_of_status,
};
pub use task::run;

use crate::proto::id::{ServerName, UserId};
use crate::proto::pdu::Pdu;
use crate::rooms::RoomError;
use crate::rooms::remote::servers_in_room;
use crate::server::{Server, now_ms};
use crate::store::outbox::{self, OutboxRow};
use crate::store::{Connection, StoreError};

/// The handle held in `Server` (`server.federation.sender`): it hands newly queued rows to
/// the running driver (`run`).
pub struct Sender {
    wakes: channel::Sender<Wake>,
    /// Taken once by `run`.
    inbox: Mutex<Option<channel::Receiver<Wake>>>,
}

/// What the handle tells the driver.
#[derive(Debug)]
enum Wake {
    /// Rows just committed to the outbox.
    Rows(Vec<OutboxRow>),
    /// The destination showed it is up.
    DestinationUp(ServerName),
}

impl Default for Sender {
    fn default() -> Self {
        Sender::new()
    }
}

impl Sender {
    pub fn new() -> Sender {
        let (wakes, inbox) = channel::unbounded();
        Sender {
            wakes,
            inbox: Mutex::new(Some(inbox)),
        }
    }

    /// Hands rows that were just committed to the outbox to their destinations' drivers.
    /// Never blocks. Without a running driver (`hearth user`, some tests) the rows simply
    /// wait in the outbox for the next start.
    pub fn wake(&self, rows: Vec<OutboxRow>) {
        if !rows.is_empty() {
            // The receiver lives as long as `self`: sending cannot fail.
            let _ = self.wakes.try_send(Wake::Rows(rows));
        }
    }

    /// `origin` just proved it is up (a signed request from it passed authentication):
    /// if rows wait for it, they go now rather than at the end of the backoff (Synapse
    /// resets its backoff the same way, `reset_retry_timings`). Never blocks; costs
    /// nothing when nothing waits.
    pub fn handle_destination_up(&self, origin: &ServerName) {
        let _ = self.wakes.try_send(Wake::DestinationUp(origin.clone()));
    }

    fn take_inbox(&self) -> Option<channel::Receiver<Wake>> {
        self.inbox
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }
}

/// Queues the local event `pdu`, just persisted in room `room_nid` by this job, for every
/// other server that must see it: those with joined members after the event, plus the
/// server of a remote user this event makes leave or bans (they were in the room before
/// it). The server of a remote invitee is not added: the invite goes through `/invite`.
/// Call it inside the write job; pass the rows to `Sender::wake` after the commit.
pub fn enqueue_local_event(
    connection: &Connection,
    own_server_name: &ServerName,
    room_nid: i64,
    pdu: &Pdu,
) -> Result<Vec<OutboxRow>, RoomError> {
    let mut destinations: BTreeSet<ServerName> = servers_in_room(connection, room_nid)?
        .iter()
        .filter_map(|name| ServerName::parse(name).ok())
        .collect();
    let membership = pdu.content().get("membership").and_then(Value::as_str);
    if pdu.kind() == "m.room.member"
        && matches!(membership, Some("leave" | "ban"))
        && let Some(target) = pdu.state_key().and_then(|key| UserId::parse(key).ok())
    {
        destinations.insert(target.server_name().clone());
    }
    destinations.remove(own_server_name);
    let destinations: Vec<ServerName> = destinations.into_iter().collect();
    Ok(outbox::enqueue_pdu(
        connection,
        &destinations,
        pdu.event_id(),
        now_ms(),
    )?)
}

/// Queues the EDU `edu` (`{"edu_type": …, "content": …}`) for each of `destinations` and
/// wakes their drivers.
pub async fn enqueue_edu(
    server: &Server,
    destinations: &[ServerName],
    edu: &Value,
) -> Result<(), StoreError> {
    let destinations: Vec<ServerName> = destinations
        .iter()
        .filter(|destination| **destination != server.name)
        .cloned()
        .collect();
    if destinations.is_empty() {
        return Ok(());
    }
    let edu_json = edu.to_string();
    let rows = server
        .store
        .write(move |transaction| {
            outbox::enqueue_edu(transaction, &destinations, &edu_json, now_ms())
        })
        .await?;
    server.federation.sender.wake(rows);
    Ok(())
}
