//! The one writer: a thread that owns the write connection and commits jobs in groups,
//! and a syncer thread that makes each commit durable before its jobs are acknowledged.
//!
//! Why threads and not tasks: rusqlite's `Connection` is not `Sync` and fsync blocks; the
//! threads keep both off the async executor. Jobs waiting while a group runs are taken
//! together into the next transaction.
//!
//! Why a separate syncer: the connection runs with `synchronous=NORMAL`, so a commit only
//! writes its WAL frames; the syncer then `fdatasync`s the WAL file and only after that
//! delivers the jobs' results. A job is still acknowledged only once it is on disk (as with
//! `synchronous=FULL`), but the writer builds the next group while the disk flushes the last
//! one instead of waiting for it, and one flush covers every group committed meanwhile.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use rusqlite::{Connection, Transaction};
use smol::channel::{Receiver, Sender};

use super::StoreError;

/// Called once the commit is on disk, or with why it is not; sends the job's result to the
/// waiter.
type Deliver = Box<dyn FnOnce(Option<&str>) + Send>;
/// Runs inside the transaction; says whether it succeeded, and how to deliver the result.
type Job = Box<dyn FnOnce(&Transaction<'_>) -> (bool, Deliver) + Send>;

/// At most this many jobs share one commit, so that one commit stays short.
const MAX_GROUP: usize = 512;

pub struct Writer {
    jobs: Sender<Job>,
}

impl Writer {
    /// Starts the writer on `connection` (opened with `synchronous=NORMAL` in WAL mode) and
    /// the syncer for its write-ahead log at `wal_path`.
    pub fn start(connection: Connection, wal_path: PathBuf) -> Writer {
        let (jobs, queue) = smol::channel::unbounded::<Job>();
        let (committed, to_sync) = std::sync::mpsc::channel::<Vec<Deliver>>();
        std::thread::Builder::new()
            .name("hearth-db-sync".into())
            .spawn(move || run_syncer(&wal_path, &to_sync))
            // INVARIANT: spawning fails only when the OS is out of threads at start-up.
            .expect("cannot start the database sync thread");
        std::thread::Builder::new()
            .name("hearth-db-writer".into())
            .spawn(move || run_writer(connection, queue, committed))
            // INVARIANT: as above.
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
                    (Ok(_), Some(e)) => Err(StoreError::CommitFailed(e.to_owned())),
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

fn run_writer(
    mut connection: Connection,
    queue: Receiver<Job>,
    committed: std::sync::mpsc::Sender<Vec<Deliver>>,
) {
    while let Ok(first) = queue.recv_blocking() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        if let Some(deliveries) = commit_group(&mut connection, group) {
            // The syncer is gone only if it panicked; then deliver unsynced rather than hang.
            if let Err(unsent) = committed.send(deliveries) {
                for deliver in unsent.0 {
                    deliver(None);
                }
            }
        }
    }
}

/// Flushes the write-ahead log after each commit the writer hands over, then delivers.
/// Every group committed while a flush runs is covered by the next single flush.
fn run_syncer(wal_path: &std::path::Path, committed: &std::sync::mpsc::Receiver<Vec<Deliver>>) {
    while let Ok(first) = committed.recv() {
        let mut waiting = first;
        while let Ok(more) = committed.try_recv() {
            waiting.extend(more);
        }
        let flushed = std::fs::OpenOptions::new()
            .write(true)
            .open(wal_path)
            .and_then(|file| file.sync_data());
        let failure = match flushed {
            Ok(()) => None,
            Err(e) => {
                crate::error!("database: cannot flush {}: {e}", wal_path.display());
                Some(format!("the commit may not be on disk: {e}"))
            }
        };
        for deliver in waiting {
            deliver(failure.as_deref());
        }
    }
}

/// Runs a group in one transaction. Returns the deliveries still to make once the commit
/// is on disk, or `None` when they were made already (the commit failed).
fn commit_group(connection: &mut Connection, group: Vec<Job>) -> Option<Vec<Deliver>> {
    let transaction = match connection.transaction() {
        Ok(transaction) => transaction,
        Err(e) => {
            crate::error!("database: cannot begin a transaction: {e}");
            // Dropping the jobs closes their reply channels: each waiter sees WriterGone.
            return None;
        }
    };
    let mut deliveries = Vec::with_capacity(group.len());
    for job in group {
        // Cached statements: parsing these two per job was ~9% of the send benchmark's CPU.
        if let Err(e) = execute_cached(&transaction, "SAVEPOINT job") {
            crate::error!("database: cannot open a savepoint: {e}");
            continue;
        }
        // A panicking job must not kill the writer: its savepoint is rolled back and its
        // waiter sees its reply channel close.
        let outcome = catch_unwind(AssertUnwindSafe(|| job(&transaction)));
        let keep = matches!(outcome, Ok((true, _)));
        let end = if keep {
            execute_cached(&transaction, "RELEASE job")
        } else {
            execute_cached(&transaction, "ROLLBACK TO job")
                .and_then(|()| execute_cached(&transaction, "RELEASE job"))
        };
        if let Err(e) = end {
            crate::error!("database: cannot close a savepoint: {e}");
        }
        if let Ok((_, deliver)) = outcome {
            deliveries.push(deliver);
        }
    }
    match transaction.commit() {
        Ok(()) => Some(deliveries),
        Err(e) => {
            crate::error!("database: commit failed: {e}");
            let reason = e.to_string();
            for deliver in deliveries {
                deliver(Some(&reason));
            }
            None
        }
    }
}

fn execute_cached(transaction: &Transaction<'_>, sql: &str) -> Result<(), rusqlite::Error> {
    transaction.prepare_cached(sql)?.execute([]).map(|_| ())
}
