//! The one writer: a thread that owns the write connection and commits jobs in groups.
//!
//! Why a thread and not a task: rusqlite's `Connection` is not `Sync` and a commit blocks on
//! fsync; the thread keeps both off the async executor. Jobs waiting while a commit runs
//! are taken together into the next transaction, one fsync for all of them.

use std::panic::{AssertUnwindSafe, catch_unwind};

use rusqlite::{Connection, Transaction};
use smol::channel::{Receiver, Sender};

use super::StoreError;

/// Called after the commit with its error, if any; sends the job's result to the waiter.
type Deliver = Box<dyn FnOnce(Option<&rusqlite::Error>) + Send>;
/// Runs inside the transaction; says whether it succeeded, and how to deliver the result.
type Job = Box<dyn FnOnce(&Transaction<'_>) -> (bool, Deliver) + Send>;

/// At most this many jobs share one commit, so that one commit stays short.
const MAX_GROUP: usize = 512;

pub struct Writer {
    jobs: Sender<Job>,
}

impl Writer {
    pub fn start(connection: Connection) -> Writer {
        let (jobs, queue) = smol::channel::unbounded::<Job>();
        std::thread::Builder::new()
            .name("hearth-db-writer".into())
            .spawn(move || run_writer(connection, queue))
            // INVARIANT: spawning fails only when the OS is out of threads at start-up.
            .expect("cannot start the database writer thread");
        Writer { jobs }
    }

    pub async fn run<T, F>(&self, job: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = smol::channel::bounded::<Result<T, StoreError>>(1);
        let boxed: Job = Box::new(move |transaction| {
            let result = job(transaction);
            let succeeded = result.is_ok();
            let deliver: Deliver = Box::new(move |commit_error| {
                let outcome = match (result, commit_error) {
                    (Ok(value), None) => Ok(value),
                    (Ok(_), Some(e)) => Err(StoreError::CommitFailed(e.to_string())),
                    (Err(e), _) => Err(e),
                };
                // The waiter may have gone away (request cancelled); the write still stands.
                let _ = reply.try_send(outcome);
            });
            (succeeded, deliver)
        });
        self.jobs
            .send(boxed)
            .await
            .map_err(|_| StoreError::WriterGone)?;
        answer.recv().await.map_err(|_| StoreError::WriterGone)?
    }
}

fn run_writer(mut connection: Connection, queue: Receiver<Job>) {
    while let Ok(first) = queue.recv_blocking() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        commit_group(&mut connection, group);
    }
}

fn commit_group(connection: &mut Connection, group: Vec<Job>) {
    let transaction = match connection.transaction() {
        Ok(transaction) => transaction,
        Err(e) => {
            crate::error!("database: cannot begin a transaction: {e}");
            // Dropping the jobs closes their reply channels: each waiter sees WriterGone.
            return;
        }
    };
    let mut deliveries = Vec::with_capacity(group.len());
    for job in group {
        if let Err(e) = transaction.execute_batch("SAVEPOINT job") {
            crate::error!("database: cannot open a savepoint: {e}");
            continue;
        }
        // A panicking job must not kill the writer: its savepoint is rolled back and its
        // waiter sees its reply channel close.
        let outcome = catch_unwind(AssertUnwindSafe(|| job(&transaction)));
        let keep = matches!(outcome, Ok((true, _)));
        let end = if keep {
            "RELEASE job"
        } else {
            "ROLLBACK TO job; RELEASE job"
        };
        if let Err(e) = transaction.execute_batch(end) {
            crate::error!("database: cannot close a savepoint: {e}");
        }
        if let Ok((_, deliver)) = outcome {
            deliveries.push(deliver);
        }
    }
    let committed = transaction.commit();
    if let Err(e) = &committed {
        crate::error!("database: commit failed: {e}");
    }
    for deliver in deliveries {
        deliver(committed.as_ref().err());
    }
}
