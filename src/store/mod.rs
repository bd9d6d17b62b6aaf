//! Storage: SQLite in WAL mode with one writer thread and a small pool of readers.
//!
//! The only module that names `rusqlite`. Every write job runs inside a transaction on the
//! writer thread; jobs that queue up while one commits are grouped into the next commit
//! (group commit), each under its own savepoint, so one failing job never undoes another.
//! The writer commits with `synchronous=NORMAL` and a syncer thread flushes the WAL after
//! each commit; whether a job is acknowledged before or after that flush is the
//! [`Durability`] (`writer`).

pub mod account_data;
pub mod aliases;
pub mod backfill;
pub mod devices;
pub mod events;
pub mod federation_transactions;
pub mod filters;
mod migrations;
pub mod notify;
pub mod outbox;
pub mod parsed;
mod pool;
pub mod profiles;
pub mod push_rules;
pub mod receipts;
pub mod remote_keys;
pub mod room_directory;
pub mod server_keys;
pub mod state;
pub mod users;
mod writer;

use std::path::Path;

pub use rusqlite::Connection;
pub use rusqlite::Transaction;

use pool::ReaderPool;
use writer::Writer;

/// Errors of the storage layer. Details go to the log, never to a client or a peer.
#[derive(Debug)]
pub enum StoreError {
    Sqlite(rusqlite::Error),
    /// The database was written by a newer hearth.
    SchemaTooNew {
        found: i64,
        known: i64,
    },
    /// The writer thread is gone (the server is shutting down).
    WriterGone,
    /// The group commit this job was part of failed (rusqlite errors are not `Clone`).
    CommitFailed(String),
    /// A uniqueness rule was broken (e.g. a user that exists already).
    AlreadyExists,
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Sqlite(e) => write!(f, "database error: {e}"),
            StoreError::SchemaTooNew { found, known } => write!(
                f,
                "the database schema is version {found}, newer than this hearth knows ({known}); upgrade hearth"
            ),
            StoreError::WriterGone => write!(f, "the database writer has stopped"),
            StoreError::CommitFailed(e) => write!(f, "commit failed: {e}"),
            StoreError::AlreadyExists => write!(f, "already exists"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(code, _) = &e
            && code.code == rusqlite::ErrorCode::ConstraintViolation
        {
            return StoreError::AlreadyExists;
        }
        StoreError::Sqlite(e)
    }
}

/// When a write is acknowledged (config `[database] durability`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Once committed to SQLite's write-ahead log; its flush to disk starts at once, so a
    /// power cut (never a crash of hearth) can lose only the writes of that last flush.
    #[default]
    Written,
    /// Only once the write-ahead log is flushed to disk (`fdatasync`): nothing acknowledged
    /// is ever lost, and each write waits for the disk.
    Flushed,
}

/// The database: a writer thread and a reader pool over one SQLite file.
pub struct Store {
    writer: Writer,
    readers: ReaderPool,
    /// Wakes waiting syncs; [`Store::write_notifying`] wakes them from the writer thread.
    notifier: std::sync::Arc<notify::Notifier>,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and applies pending migrations;
    /// writes are acknowledged once written ([`Durability::Written`]).
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, Durability::default())
    }

    /// As [`Store::open`], acknowledging writes as `durability` says.
    pub fn open_with(path: &Path, durability: Durability) -> Result<Store, StoreError> {
        let mut connection = open_connection(path)?;
        migrations::apply(&mut connection)?;
        // The syncer thread checkpoints, on a connection of its own (`writer`): SQLite's
        // automatic checkpoint would run inside a commit, two flushes long, on the writer.
        connection.pragma_update(None, "wal_autocheckpoint", 0)?;
        let checkpointer = open_connection(path)?;
        Ok(Store {
            writer: Writer::start(connection, wal_path(path), durability, checkpointer),
            readers: ReaderPool::new(path.to_owned(), 4),
            notifier: std::sync::Arc::new(notify::Notifier::new()),
        })
    }

    /// Runs `job` in a transaction on the writer thread; resolves once it is committed (and
    /// flushed, under [`Durability::Flushed`]).
    pub async fn write<T, F>(&self, job: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.writer.run(job).await
    }

    /// As [`Store::write`], and once the job is answered wakes waiting syncs, from the
    /// writer's thread: a sync then starts as soon as the commit is made, not only once the
    /// waiting request has been scheduled again (a thread wake-up less between a send and
    /// another client's sync).
    pub async fn write_notifying<T, F>(&self, job: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.writer.run_then(job, Some(self.notifier.clone())).await
    }

    /// The notifier that [`Store::write_notifying`] wakes.
    pub fn notifier(&self) -> &std::sync::Arc<notify::Notifier> {
        &self.notifier
    }

    /// Runs `job` on a reader connection, off the async executor.
    pub async fn read<T, F>(&self, job: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.readers.run(job).await
    }
}

/// SQLite's write-ahead log beside the database file.
fn wal_path(path: &Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    name.into()
}

/// Prepared statements kept per connection: the store has more than rusqlite's default, 16.
pub(crate) const STATEMENT_CACHE: usize = 128;

/// Opens a connection with hearth's pragmas. `busy_timeout` lets `hearth user add` write
/// while the server runs.
fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let connection = Connection::open(path)?;
    connection.busy_timeout(std::time::Duration::from_secs(10))?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    // NORMAL: a commit writes the WAL without flushing it; the writer's syncer thread
    // flushes before any job is acknowledged, so durability is that of FULL.
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    // Statement journals (a many-row INSERT inside a job journals the pages it changes,
    // to undo just that statement) stay in memory instead of spilling to a temporary
    // file past 64 KiB: that file's writes were an eighth of a 10,000-member join's
    // storing (README "Measured"). They hold at most one statement's pages.
    connection.pragma_update(None, "temp_store", "MEMORY")?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // Query planner stability: without it SQLite recompiles a cached statement whenever a
    // new value is bound to a parameter the planner looked at (reprepare-on-bind); that was
    // 10-13% of the server's CPU in the send benchmark (benches/, README "Measured").
    connection.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(connection)
}
