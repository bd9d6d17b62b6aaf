//! The one writer: a thread that owns the write connection and commits jobs in groups,
//! and a syncer thread that makes each commit durable before its jobs are acknowledged.
//!
//! Why threads and not tasks: rusqlite's `Connection` is not `Sync` and fsync blocks; the
//! threads keep both off the async executor. Jobs waiting while a group runs are taken
//! together into the next transaction.
//!
//! Why a separate syncer: the connection runs with `synchronous=NORMAL`, so a commit only
//! writes its WAL frames (into the OS page cache: a crash of hearth loses nothing); the
//! syncer then `fdatasync`s the WAL file, and one flush covers every group committed while
//! the last one ran. When results are delivered is the [`Durability`]: `Flushed` delivers
//! them after the flush (nothing acknowledged is ever lost, at the disk's flush time per
//! write: 2-4 ms here, more on SD cards); `Written` delivers them at the commit and the flush
//! follows at once, so only a power cut during that one flush can lose acknowledged writes
//! (the database itself stays consistent either way: SQLite's WAL guarantees that).
//!
//! The syncer also checkpoints (copies the log's pages into the database file) on its own
//! connection, at most every [`CHECKPOINT_EVERY`]: SQLite's automatic checkpoint runs
//! inside the commit that crosses its threshold, so one commit in a few hundred held the
//! writer for two flushes (the log's and the database's), and a large join waited for it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use rusqlite::{Connection, Transaction};
use smol::channel::{Receiver, Sender};

use super::{Durability, StoreError};

/// Called once the commit is on disk, or with why it is not; sends the job's result to the
/// waiter.
type Deliver = Box<dyn FnOnce(Option<&str>) + Send>;
/// Runs inside the transaction; says whether it succeeded, and how to deliver the result.
type Job = Box<dyn FnOnce(&Transaction<'_>) -> (bool, Deliver) + Send>;

/// At most this many jobs share one commit, so that one commit stays short.
const MAX_GROUP: usize = 512;

/// Under [`Durability::Written`], the syncer flushes at most this often: a power cut can
/// lose what was answered in the last interval and the flush after it.
const WRITTEN_FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(10);

/// How often the syncer checkpoints while writes go on. A passive checkpoint waits for no
/// one; what it cannot copy yet (pages a reader still needs) the next one does.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

pub struct Writer {
    jobs: Sender<Job>,
}

impl Writer {
    /// Starts the writer on `connection` (opened with `synchronous=NORMAL` in WAL mode) and
    /// the syncer for its write-ahead log at `wal_path`.
    /// `checkpointer` is a second connection to the same database, for the syncer.
    pub fn start(
        connection: Connection,
        wal_path: PathBuf,
        durability: Durability,
        checkpointer: Connection,
    ) -> Writer {
        let (jobs, queue) = smol::channel::unbounded::<Job>();
        let (committed, to_sync) = std::sync::mpsc::channel::<Vec<Deliver>>();
        std::thread::Builder::new()
            .name("hearth-db-sync".into())
            .spawn(move || run_syncer(&wal_path, &to_sync, &checkpointer, durability))
            // INVARIANT: spawning fails only when the OS is out of threads at start-up.
            .expect("cannot start the database sync thread");
        std::thread::Builder::new()
            .name("hearth-db-writer".into())
            .spawn(move || run_writer(connection, queue, committed, durability))
            // INVARIANT: as above.
            .expect("cannot start the database writer thread");
        Writer { jobs }
    }

    pub async fn run<T, F>(&self, job: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.run_then(job, None).await
    }

    /// As [`Writer::run`]; when the job succeeded and its commit is delivered, `notify`
    /// (if any) is woken on the delivering thread.
    pub async fn run_then<T, F>(
        &self,
        job: F,
        notify: Option<std::sync::Arc<super::notify::Notifier>>,
    ) -> Result<T, StoreError>
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
                    (Ok(value), None) => {
                        if let Some(notifier) = notify {
                            notifier.notify();
                        }
                        Ok(value)
                    }
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
    durability: Durability,
) {
    while let Ok(first) = queue.recv_blocking() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        if let Some(mut deliveries) = commit_group(&mut connection, group) {
            if durability == Durability::Written {
                for deliver in deliveries.drain(..) {
                    deliver(None);
                }
            }
            // Either way the syncer flushes now (an empty list only asks for the flush).
            // It is gone only if it panicked; then deliver unsynced rather than hang.
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
fn run_syncer(
    wal_path: &std::path::Path,
    committed: &std::sync::mpsc::Receiver<Vec<Deliver>>,
    checkpointer: &Connection,
    durability: Durability,
) {
    let mut last_checkpoint = std::time::Instant::now();
    let mut last_flush: Option<std::time::Instant> = None;
    while let Ok(first) = committed.recv() {
        // Nobody waits for a flush under `Written`: flushing at most every WRITTEN_FLUSH_EVERY
        // bounds what a power cut can lose, and spares the writer the stalls of writing
        // into a log that is being flushed without pause (15% of the send benchmark).
        if durability == Durability::Written
            && let Some(wait) =
                last_flush.and_then(|at| WRITTEN_FLUSH_EVERY.checked_sub(at.elapsed()))
        {
            std::thread::sleep(wait);
        }
        last_flush = Some(std::time::Instant::now());
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
        if last_checkpoint.elapsed() >= CHECKPOINT_EVERY {
            checkpoint(checkpointer);
            last_checkpoint = std::time::Instant::now();
        }
    }
    // The writer is gone: copy what is left, so the next start has a short log to read.
    checkpoint(checkpointer);
}

fn checkpoint(checkpointer: &Connection) {
    let outcome = checkpointer.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        row.get::<_, i64>(0)
    });
    if let Err(e) = outcome {
        crate::warn!("database: checkpoint failed: {e}");
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
    if group.len() == 1 {
        return commit_single(transaction, group);
    }
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
    finish(transaction.commit(), deliveries)
}

/// A group of one job needs no savepoint: the transaction is the job's own, rolled back
/// whole if it fails. Savepoints make SQLite copy every page a job touches to a statement
/// journal first: a third of the storing time of a 10,000-member join.
fn commit_single(transaction: Transaction<'_>, group: Vec<Job>) -> Option<Vec<Deliver>> {
    let mut deliveries = Vec::with_capacity(1);
    let mut keep = false;
    for job in group {
        // As in a group: a panicking job's writes are undone and its waiter sees its reply
        // channel close.
        let outcome = catch_unwind(AssertUnwindSafe(|| job(&transaction)));
        keep = matches!(outcome, Ok((true, _)));
        if let Ok((_, deliver)) = outcome {
            deliveries.push(deliver);
        }
    }
    if keep {
        return finish(transaction.commit(), deliveries);
    }
    if let Err(e) = transaction.rollback() {
        crate::error!("database: cannot roll back: {e}");
    }
    // The job failed: its own error is its answer, nothing was written.
    for deliver in deliveries {
        deliver(None);
    }
    None
}

/// After a commit: the deliveries to make once it is on disk, or, when it failed, made now
/// with the reason.
fn finish(
    committed: Result<(), rusqlite::Error>,
    deliveries: Vec<Deliver>,
) -> Option<Vec<Deliver>> {
    match committed {
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

#[cfg(test)]
mod tests {
    use super::super::{Durability, Store, StoreError};

    fn store(durability: Durability) -> Store {
        let dir = std::env::temp_dir().join(format!(
            "hearth-writer-{}-{:?}-{durability:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).ok();
        let path = dir.join("hearth.db");
        std::fs::remove_file(&path).ok();
        Store::open_with(&path, durability).expect("store")
    }

    fn count(store: &Store) -> i64 {
        smol::block_on(store.read(|connection| {
            Ok(connection.query_row("SELECT COUNT(*) FROM users", [], |row| row.get(0))?)
        }))
        .expect("count")
    }

    fn insert(
        name: &'static str,
        fail: bool,
    ) -> impl FnOnce(&rusqlite::Transaction<'_>) -> Result<(), StoreError> {
        move |transaction| {
            transaction.execute(
                "INSERT INTO users (user_id, password_hash, created_ts) VALUES (?1, '', 0)",
                [name],
            )?;
            if fail {
                Err(StoreError::AlreadyExists)
            } else {
                Ok(())
            }
        }
    }

    #[test]
    fn a_failing_or_panicking_job_alone_leaves_nothing_and_the_writer_goes_on() {
        for durability in [Durability::Written, Durability::Flushed] {
            a_failing_or_panicking_job_alone(durability);
        }
    }

    fn a_failing_or_panicking_job_alone(durability: Durability) {
        let store = store(durability);
        let failed = smol::block_on(store.write(insert("@a:x", true)));
        assert!(
            matches!(failed, Err(StoreError::AlreadyExists)),
            "{failed:?}"
        );
        assert_eq!(count(&store), 0);
        let panicked = smol::block_on(
            store.write(|_| -> Result<(), StoreError> { panic!("a job that panics") }),
        );
        assert!(
            matches!(panicked, Err(StoreError::WriterGone)),
            "{panicked:?}"
        );
        smol::block_on(store.write(insert("@b:x", false))).expect("the writer still writes");
        assert_eq!(count(&store), 1);
    }

    #[test]
    fn jobs_of_one_group_succeed_or_fail_on_their_own() {
        for durability in [Durability::Written, Durability::Flushed] {
            jobs_of_one_group(durability);
        }
    }

    fn jobs_of_one_group(durability: Durability) {
        let store = store(durability);
        let results = smol::block_on(futures_lite::future::zip(
            futures_lite::future::zip(
                store.write(insert("@a:x", false)),
                store.write(insert("@b:x", true)),
            ),
            store.write(insert("@c:x", false)),
        ));
        assert!(results.0.0.is_ok() && results.0.1.is_err() && results.1.is_ok());
        assert_eq!(count(&store), 2);
    }
}
