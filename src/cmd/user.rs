//! `hearth user add`: create a local account (argon2id password hash). Works while the
//! server runs: SQLite's WAL and busy timeout let this process write beside it.

use std::io::BufRead;
use std::path::PathBuf;

use super::{CmdResult, keyfile, load_config};
use crate::server::now_ms;
use crate::store::{Store, StoreError, users};

pub struct AddUser {
    pub name: String,
    pub password: Option<String>,
    pub password_stdin: bool,
    pub admin: bool,
    pub config: Option<PathBuf>,
}

pub fn add(options: AddUser) -> CmdResult {
    let config = load_config(options.config)?;
    let localpart = options.name.strip_prefix('@').unwrap_or(&options.name);
    let localpart = match localpart.split_once(':') {
        Some((localpart, server_name)) if server_name == config.server_name => localpart,
        Some((_, server_name)) => {
            return Err(format!("this server is {}, not {server_name}", config.server_name).into());
        }
        None => localpart,
    };
    check_localpart(localpart)?;
    let user_id = format!("@{localpart}:{}", config.server_name);
    if user_id.len() > 255 {
        return Err(format!("{user_id} is longer than 255 bytes").into());
    }
    let password = match (options.password, options.password_stdin) {
        (Some(_), true) => return Err("give --password or --password-stdin, not both".into()),
        (Some(password), false) => password,
        (None, true) => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
        (None, false) => return Err("give a password with --password P or --password-stdin".into()),
    };
    if password.is_empty() {
        return Err("the password is empty".into());
    }
    let hash = crate::client::password::hash_password(&password)?;
    keyfile::ensure_data_dir(&config.data_dir)?;
    let store = Store::open(&config.database_path())
        .map_err(|e| format!("database {}: {e}", config.database_path().display()))?;
    let admin = options.admin;
    let id = user_id.clone();
    let created =
        smol::block_on(store.write(move |transaction| {
            users::create(transaction, &id, Some(&hash), admin, now_ms())
        }));
    match created {
        Ok(()) => {
            println!("created {user_id}{}", if admin { " (admin)" } else { "" });
            Ok(())
        }
        Err(StoreError::AlreadyExists) => Err(format!("{user_id} exists already").into()),
        Err(e) => Err(format!("database {}: {e}", config.database_path().display()).into()),
    }
}

/// Spec: appendices "User Identifiers": new localparts use only `a-z 0-9 . _ = - / +`.
fn check_localpart(localpart: &str) -> Result<(), String> {
    let valid = !localpart.is_empty()
        && localpart.bytes().all(
            |b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'=' | b'-' | b'/' | b'+'),
        );
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{localpart}` is not a valid user name: use lower-case letters, digits and . _ = - / +"
        ))
    }
}
