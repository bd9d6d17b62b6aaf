//! `hearth serve`: load the config, open the store, bind the listeners, serve forever.

use std::path::PathBuf;
use std::sync::Arc;

use smol::Executor;

use super::{CmdResult, keyfile, load_config};
use crate::http;
use crate::server::Server;
use crate::store::Store;

pub fn run(config_flag: Option<PathBuf>) -> CmdResult {
    crate::log::init_from_env();
    let config = load_config(config_flag)?;
    keyfile::ensure_data_dir(&config.data_dir)?;
    let (signing_key, generated) = keyfile::read_or_generate(&config.signing_key_path())?;
    if generated {
        crate::info!(
            "generated signing key {} in {}",
            signing_key.key_id(),
            config.signing_key_path().display()
        );
    }
    let store = Store::open_with(&config.database_path(), config.database.durability)
        .map_err(|e| format!("database {}: {e}", config.database_path().display()))?;
    let listeners =
        http::bind_all(&config).map_err(|e| format!("config {}: {e}", config.source_name()))?;
    crate::info!(
        "hearth {} for server name {} (config: {}, data: {})",
        env!("CARGO_PKG_VERSION"),
        config.server_name,
        config.source_name(),
        config.data_dir.display()
    );
    for listener in &listeners {
        let scheme = if listener.is_tls() { "https" } else { "http" };
        crate::info!(
            "listening on {scheme}://{} (client and federation APIs{})",
            listener.local_addr(),
            match (listener.is_tls(), listener.is_x_forwarded()) {
                (true, false) => ", TLS",
                (true, true) => ", TLS, client address from X-Forwarded-For",
                (false, false) => ", plain HTTP",
                (false, true) => ", plain HTTP, client address from X-Forwarded-For",
            }
        );
        if listener.is_x_forwarded() && !listener.local_addr().ip().is_loopback() {
            // Anyone who can connect can write X-Forwarded-For: only a proxy should.
            crate::warn!(
                "{} trusts X-Forwarded-For but is not a loopback address: make sure only \
                 the reverse proxy can reach it",
                listener.local_addr()
            );
        }
    }
    let name = crate::proto::id::ServerName::parse(&config.server_name)
        .map_err(|e| format!("config {}: key `server_name`: {e}", config.source_name()))?;
    let federation = crate::federation::Federation::from_config(&config, &name, &signing_key)
        .map_err(|e| format!("config {}: {e}", config.source_name()))?;
    let server = Arc::new(Server::new(config, name, store, signing_key, federation));
    let executor = Arc::new(Executor::new());
    // Outbound federation: resumes what the outbox held at the last stop.
    executor
        .spawn(crate::federation::sender::run(
            server.clone(),
            executor.clone(),
        ))
        .detach();
    for listener in listeners {
        executor
            .spawn(listener.run(server.clone(), executor.clone()))
            .detach();
    }
    // One executor thread per core, at most four: a Raspberry Pi has four.
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4);
    for index in 1..threads {
        let executor = executor.clone();
        std::thread::Builder::new()
            .name(format!("hearth-worker-{index}"))
            .spawn(move || smol::block_on(executor.run(std::future::pending::<()>())))?;
    }
    smol::block_on(executor.run(std::future::pending::<()>()));
    Ok(())
}
