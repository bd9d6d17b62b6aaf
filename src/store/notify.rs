//! Wakes waiting `/sync` requests when something new is committed: a position counter and
//! an event-listener. Deliberately tiny and lock-free on the hot path.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use event_listener::Event;
use futures_lite::FutureExt;

#[derive(Default)]
pub struct Notifier {
    /// A counter bumped by every change that a sync may want to see.
    position: AtomicI64,
    changed: Event,
}

impl Notifier {
    pub fn new() -> Notifier {
        Notifier::default()
    }

    /// Tells every waiter that something changed.
    pub fn notify(&self) {
        self.position.fetch_add(1, Ordering::SeqCst);
        self.changed.notify(usize::MAX);
    }

    /// The current position, to pass to `wait_for_change`.
    pub fn position(&self) -> i64 {
        self.position.load(Ordering::SeqCst)
    }

    /// Waits until the position moves past `seen`, or `timeout` passes. Returns whether it moved.
    pub async fn wait_for_change(&self, seen: i64, timeout: Duration) -> bool {
        let waiting = async {
            loop {
                if self.position() != seen {
                    return true;
                }
                let listener = self.changed.listen();
                // Re-check after registering: a notify between the check and listen is not lost.
                if self.position() != seen {
                    return true;
                }
                listener.await;
            }
        };
        let expired = async {
            smol::Timer::after(timeout).await;
            false
        };
        waiting.or(expired).await
    }
}
