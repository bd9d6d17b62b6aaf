//! `hearth demo`: a private federation of three hearth servers on localhost, with no
//! set-up at all. A demo CA made on the fly, three servers (`localhost:<port>`, federation
//! over TLS, clients over plain HTTP), a user with a printed password on each, and a
//! room all three have joined, made through the real client API and federation.
//!
//! The servers are child processes of this binary (`children.rs`); SIGINT and SIGTERM
//! stop them all. `--dir` keeps the folder (configs, keys, databases, CA, passwords in
//! `demo.json`) for the next run; without it a temporary folder is removed at exit.

mod children;
mod files;
mod setup;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use self::children::ServerProcess;
pub use self::children::exit_when_stdin_closes;
use self::files::{DemoServer, State};
use self::setup::Session;
use super::CmdResult;

/// Federation on base+1..base+3 (the server names `localhost:8481`..`8483`), clients on
/// base+4..base+6.
pub const DEFAULT_BASE_PORT: u16 = 8480;

pub struct Demo {
    pub dir: Option<PathBuf>,
    pub base_port: Option<u16>,
}

pub fn run(options: Demo) -> CmdResult {
    let stop = Arc::new(AtomicBool::new(false));
    watch_signals(stop.clone())?;
    let (dir, temporary) = match options.dir {
        Some(dir) => (std::path::absolute(&dir)?, false),
        None => (temporary_dir()?, true),
    };
    let result = run_in(&dir, temporary, options.base_port, &stop);
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

/// Sets `stop` on the first SIGINT or SIGTERM; from then on both are caught, so a second
/// Ctrl-C does not cut the orderly stop short.
fn watch_signals(stop: Arc<AtomicBool>) -> CmdResult {
    use async_signal::{Signal, Signals};
    use futures_lite::StreamExt;
    let mut signals = Signals::new([Signal::Int, Signal::Term])?;
    std::thread::Builder::new()
        .name("hearth-demo-signals".into())
        .spawn(move || {
            smol::block_on(async {
                while let Some(signal) = signals.next().await {
                    if signal.is_ok() {
                        stop.store(true, Ordering::SeqCst);
                    }
                }
            });
        })?;
    Ok(())
}

fn temporary_dir() -> Result<PathBuf, String> {
    let mut random = [0u8; 6];
    getrandom::fill(&mut random).map_err(|e| format!("no randomness: {e}"))?;
    let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let dir = std::env::temp_dir().join(format!("hearth-demo-{suffix}"));
    std::fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

fn run_in(dir: &Path, temporary: bool, base_port: Option<u16>, stop: &AtomicBool) -> CmdResult {
    files::create_dir(dir)?;
    let mut state = match State::load(dir)? {
        Some(state) => {
            if let Some(port) = base_port.filter(|port| *port != state.base_port) {
                return Err(format!(
                    "{} was set up with --base-port {}, and the server names hold the ports; \
                     run it without --base-port (or with {}), or use another --dir than for {port}",
                    dir.display(),
                    state.base_port,
                    state.base_port
                )
                .into());
            }
            state
        }
        None => State::new(base_port.unwrap_or(DEFAULT_BASE_PORT))?,
    };
    let servers = files::servers(dir, state.base_port)?;
    check_ports_free(&servers, state.base_port)?;
    files::ensure_certificates(dir, &servers)?;
    files::write_configs(dir, &servers)?;
    state.save(dir)?;
    let exe = std::env::current_exe()?;
    if !state.accounts_made {
        for (server, password) in servers.iter().zip(&state.passwords) {
            children::add_user(&exe, server, password)?;
        }
        state.accounts_made = true;
        state.save(dir)?;
    }
    let mut processes = Vec::new();
    let mut outcome = Ok(());
    for server in &servers {
        match children::start(&exe, server) {
            Ok(process) => processes.push(process),
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    if outcome.is_ok() {
        outcome = set_up_and_wait(dir, temporary, &servers, &mut state, &mut processes, stop);
    }
    let mut clean = true;
    for process in processes {
        clean &= process.stop();
    }
    match outcome {
        // An error while a stop was requested is the stop itself (a request cut short).
        Err(e) if !stop.load(Ordering::SeqCst) => Err(e.into()),
        _ if !clean => Err("a server did not stop cleanly (see its hearth.log)".into()),
        _ => {
            eprintln!("hearth demo: all three servers stopped");
            Ok(())
        }
    }
}

/// Ports in use are refused before anything starts, naming the port and the way out.
fn check_ports_free(servers: &[DemoServer], base_port: u16) -> Result<(), String> {
    for port in servers
        .iter()
        .flat_map(|s| [s.federation_port, s.client_port])
    {
        if let Err(e) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            return Err(format!(
                "port {port} on 127.0.0.1 is not free ({e}); the demo uses ports {} to {}: \
                 choose others with --base-port",
                base_port + 1,
                base_port + 6
            ));
        }
    }
    Ok(())
}

/// Waits for the servers, makes the room, prints the banner, then waits for a signal (or
/// a server that dies).
fn set_up_and_wait(
    dir: &Path,
    temporary: bool,
    servers: &[DemoServer],
    state: &mut State,
    processes: &mut [ServerProcess],
    stop: &AtomicBool,
) -> Result<(), String> {
    for (server, process) in servers.iter().zip(processes.iter_mut()) {
        setup::wait_ready(server, stop, || match process.exited() {
            Some(status) => Err(died(server, &status)),
            None => Ok(()),
        })?;
    }
    let sessions = servers
        .iter()
        .zip(&state.passwords)
        .map(|(server, password)| Session::login(server, password))
        .collect::<Result<Vec<_>, _>>()?;
    let (owner, members) = sessions.split_first().ok_or("no servers")?;
    let (room_id, new_room) = match &state.room_id {
        Some(room_id) => (room_id.clone(), false),
        None => {
            let invitees: Vec<String> = members.iter().map(|m| m.server.user_id()).collect();
            let room_id = setup::create_room(owner, &invitees)?;
            state.room_id = Some(room_id.clone());
            state.save(dir)?;
            (room_id, true)
        }
    };
    for member in members {
        setup::ensure_joined(owner, member, &room_id)?;
    }
    setup::wait_for_members(&sessions, &room_id, sessions.len(), stop)?;
    if new_room {
        setup::say(
            owner,
            &room_id,
            "Welcome to the hearth demo: three servers, one room.",
        )?;
    }
    print!("{}", banner(dir, temporary, servers, state, &room_id));
    while !stop.load(Ordering::SeqCst) {
        for (server, process) in servers.iter().zip(processes.iter_mut()) {
            if let Some(status) = process.exited() {
                return Err(died(server, &status));
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("hearth demo: stopping the servers");
    Ok(())
}

fn died(server: &DemoServer, status: &str) -> String {
    format!(
        "{} ({}) exited ({status}); the end of {}:\n{}",
        server.label,
        server.name,
        server.log_path().display(),
        children::log_tail(&server.log_path(), 8)
    )
}

/// What the user needs, printed once everything is ready. Tests read the lines that
/// start with "homeserver URL", "user ID" and "password".
fn banner(
    dir: &Path,
    temporary: bool,
    servers: &[DemoServer],
    state: &State,
    room_id: &str,
) -> String {
    let mut out =
        String::from("\nhearth demo is ready: three hearth servers federating on localhost.\n\n");
    for (server, password) in servers.iter().zip(&state.passwords) {
        out.push_str(&format!(
            "{} (server name {}, federation on https://localhost:{})\n  \
             homeserver URL  {}\n  user ID         {}\n  password        {}\n\n",
            server.label,
            server.name,
            server.federation_port,
            server.homeserver_url(),
            server.user_id(),
            password
        ));
    }
    let (first, password) = (&servers[0], &state.passwords[0]);
    out.push_str(&format!(
        "Shared room \"Hearth demo\": {room_id}\n  all three users have joined it.\n\n\
         Log in with any Matrix client, using a homeserver URL, user ID and password above:\n  \
         Element Web: Sign in, Edit the homeserver, enter {url}.\n  \
         matrix-commander --login password --homeserver {url} --user-login {user} \\\n    \
         --password {password} --device demo --room-default '{room_id}'\n  \
         curl -s -X POST {url}/_matrix/client/v3/login -d \\\n    \
         '{{\"type\":\"m.login.password\",\"identifier\":{{\"type\":\"m.id.user\",\"user\":\"{localpart}\"}},\"password\":\"{password}\"}}'\n\n",
        url = first.homeserver_url(),
        user = first.user_id(),
        localpart = first.localpart,
    ));
    out.push_str(&format!(
        "Logs: {}/server{{1,2,3}}/hearth.log\n",
        dir.display()
    ));
    if temporary {
        out.push_str(&format!(
            "Data: {} (temporary, removed at exit; `hearth demo --dir DIR` keeps it)\n",
            dir.display()
        ));
    } else {
        out.push_str(&format!(
            "Data: {} (kept; `hearth demo --dir {}` again resumes with the same users and room)\n",
            dir.display(),
            dir.display()
        ));
    }
    out.push_str("Press Ctrl-C to stop all three servers.\n");
    out
}
