//! One inbound transaction per origin at a time. The spec has a sender wait for the answer
//! to each transaction before it sends the next (s2s "Transactions"); Synapse, as a
//! receiver, answers 429 to another transaction from an origin that has one in progress,
//! and lets a retry of the one in progress wait for its answer. hearth does the same, so a
//! flood of concurrent transactions from one server costs one transaction's work, never
//! an unbounded pile of it.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use smol::channel;

use crate::proto::id::ServerName;

/// The transactions in progress, by origin.
#[derive(Default)]
pub struct InFlight {
    active: Mutex<HashMap<ServerName, (String, channel::Receiver<()>)>>,
}

/// What a new transaction may do.
pub enum Admission<'a> {
    /// Go ahead; the origin's slot is held until this is dropped.
    Go(Slot<'a>),
    /// Another transaction (this ID) of the origin is in progress: answer 429.
    Busy(String),
    /// This very transaction is in progress: wait (`recv` ends when it does), then ask
    /// again; its answer is then stored.
    Wait(channel::Receiver<()>),
}

/// An origin's slot, freed on drop (also when the handler is cancelled by its timeout).
pub struct Slot<'a> {
    in_flight: &'a InFlight,
    origin: ServerName,
    // Dropping it closes the channel, which wakes every waiter.
    _done: channel::Sender<()>,
}

impl InFlight {
    pub fn admit(&self, origin: &ServerName, txn_id: &str) -> Admission<'_> {
        let mut active = self.lock();
        if let Some((current, done)) = active.get(origin) {
            return if current == txn_id {
                Admission::Wait(done.clone())
            } else {
                Admission::Busy(current.clone())
            };
        }
        let (sender, receiver) = channel::bounded(1);
        active.insert(origin.clone(), (txn_id.to_owned(), receiver));
        Admission::Go(Slot {
            in_flight: self,
            origin: origin.clone(),
            _done: sender,
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ServerName, (String, channel::Receiver<()>)>> {
        // A poisoned lock only means a panic elsewhere mid-update of plain data.
        self.active
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.in_flight.lock().remove(&self.origin);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> ServerName {
        ServerName::parse(text).unwrap()
    }

    #[test]
    fn one_transaction_per_origin_others_busy_retries_wait() {
        let in_flight = InFlight::default();
        let (a, b) = (name("a.test"), name("b.test"));
        let Admission::Go(slot) = in_flight.admit(&a, "t1") else {
            panic!("the first goes")
        };
        assert!(matches!(in_flight.admit(&a, "t2"), Admission::Busy(current) if current == "t1"));
        assert!(
            matches!(in_flight.admit(&b, "t2"), Admission::Go(_)),
            "other origins go"
        );
        let Admission::Wait(done) = in_flight.admit(&a, "t1") else {
            panic!("a retry of the one in progress waits")
        };
        assert!(done.try_recv().is_err() && !done.is_closed());
        drop(slot);
        assert!(done.is_closed(), "the waiter wakes when the slot is freed");
        assert!(matches!(in_flight.admit(&a, "t2"), Admission::Go(_)));
    }
}
