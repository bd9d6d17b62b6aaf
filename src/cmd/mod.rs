//! Commands: one file each. `main.rs` only parses the command line and dispatches here.
//! Errors at this level are `Box<dyn Error>` with context, printed by `main`.

pub mod check;
pub mod demo;
pub mod init;
pub mod keyfile;
pub mod serve;
pub mod user;

use std::path::PathBuf;

use crate::config::{Config, ConfigError};

/// A command's failure, printed as `hearth: <message>` with exit status 1.
pub type CmdResult = Result<(), Box<dyn std::error::Error>>;

/// The config named by `--config`, else by `HEARTH_CONFIG`, else the embedded default.
pub fn load_config(flag: Option<PathBuf>) -> Result<Config, ConfigError> {
    let path = flag.or_else(|| std::env::var_os("HEARTH_CONFIG").map(PathBuf::from));
    match path {
        Some(path) => Config::load(&path),
        None => Ok(Config::embedded_default()),
    }
}

/// `hearth version`.
pub fn version() -> CmdResult {
    println!("hearth {}", env!("CARGO_PKG_VERSION"));
    Ok(())
}
