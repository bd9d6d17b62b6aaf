//! A small pool of read-only connections; reads run on smol's blocking thread pool.
//!
//! WAL mode lets readers see the last commit while the writer works.

use std::path::PathBuf;
use std::sync::Mutex;

use rusqlite::Connection;
use smol::lock::Semaphore;

use super::StoreError;

pub struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

impl ReaderPool {
    pub fn new(path: PathBuf, size: usize) -> ReaderPool {
        ReaderPool {
            path,
            idle: Mutex::new(Vec::with_capacity(size)),
            permits: Semaphore::new(size),
        }
    }

    pub async fn run<T, F>(&self, job: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let _permit = self.permits.acquire().await;
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let path = self.path.clone();
        let (connection, result) = smol::unblock(move || {
            let connection = match idle {
                Some(connection) => connection,
                None => match open_reader(&path) {
                    Ok(connection) => connection,
                    Err(e) => return (None, Err(e)),
                },
            };
            let result = job(&connection);
            (Some(connection), result)
        })
        .await;
        if let (Some(connection), Ok(mut idle)) = (connection, self.idle.lock()) {
            idle.push(connection);
        }
        result
    }
}

fn open_reader(path: &std::path::Path) -> Result<Connection, StoreError> {
    let connection = Connection::open(path)?;
    connection.busy_timeout(std::time::Duration::from_secs(10))?;
    connection.pragma_update(None, "query_only", "ON")?;
    connection.set_prepared_statement_cache_capacity(super::STATEMENT_CACHE);
    // Query planner stability, as for the writer (see `open_connection`).
    connection.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(connection)
}
