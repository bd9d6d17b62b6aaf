//! The demo's servers as child processes of the same binary (`hearth serve`), each with
//! its own config and log file.
//!
//! Each child reads its standard input, a pipe from the demo, and exits when it closes
//! (`--exit-with-stdin`): closing the pipes stops all three, and if the demo itself dies
//! (even by SIGKILL) the kernel closes them, so no server outlives it holding its ports.
//! The children run in their own process group, so a Ctrl-C in the terminal reaches only
//! the demo, which then stops them in order.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::files::DemoServer;

/// Called by `hearth serve --exit-with-stdin`: a thread that exits the process when
/// standard input reaches its end.
pub fn exit_when_stdin_closes() {
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        crate::info!("standard input closed (hearth demo stopped): exiting");
        std::process::exit(0);
    });
}

/// A running `hearth serve`.
pub struct ServerProcess {
    child: Child,
}

/// Starts `hearth serve` for `server`, appending its log (stderr) to `<server dir>/hearth.log`.
pub fn start(exe: &Path, server: &DemoServer) -> Result<ServerProcess, String> {
    let log_path = server.log_path();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| format!("cannot open {}: {e}", log_path.display()))?;
    let log_err = log
        .try_clone()
        .map_err(|e| format!("{}: {e}", log_path.display()))?;
    let child = Command::new(exe)
        .arg("serve")
        .arg("--config")
        .arg(server.config_path())
        .arg("--exit-with-stdin")
        .current_dir(&server.dir)
        .stdin(Stdio::piped())
        .stdout(log)
        .stderr(log_err)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    Ok(ServerProcess { child })
}

impl ServerProcess {
    /// `Some(description)` once the process has exited.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(e.to_string()),
        }
    }

    /// Closes its standard input and waits for it to exit (SIGKILL after 10 s);
    /// true when it exited by itself with status 0.
    pub fn stop(mut self) -> bool {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status.success(),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return false;
                }
            }
        }
    }
}

/// Runs `hearth user add <localpart> --password-stdin` for `server` (before it starts);
/// an account left by an earlier, interrupted run has the same password and is fine.
pub fn add_user(exe: &Path, server: &DemoServer, password: &str) -> Result<(), String> {
    let mut child = Command::new(exe)
        .args([
            "user",
            "add",
            server.localpart,
            "--password-stdin",
            "--config",
        ])
        .arg(server.config_path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(format!("{password}\n").as_bytes())
            .map_err(|e| format!("hearth user add: {e}"))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("hearth user add: {e}"))?;
    let message = String::from_utf8_lossy(&output.stderr);
    if output.status.success() || message.contains("exists already") {
        Ok(())
    } else {
        Err(format!(
            "creating {} failed: {}",
            server.user_id(),
            message.trim()
        ))
    }
}

/// The last `n` lines of a log file, for an error message.
pub fn log_tail(path: &Path, n: usize) -> String {
    let Ok(file) = std::fs::File::open(path) else {
        return String::new();
    };
    let lines: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
