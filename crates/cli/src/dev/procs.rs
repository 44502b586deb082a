//! Starting, finding and stopping the local deployment's processes. Each runs
//! in its own process group, so it outlives `boxctl dev up` and a Ctrl-C in
//! the terminal does not reach it; `boxctl dev down` stops them by pid.

use super::DevError;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A BOX binary built next to `boxctl` (`cargo build --bins` puts them together).
pub fn sibling(name: &str) -> Result<PathBuf, DevError> {
    let exe = std::env::current_exe().map_err(|e| DevError::new(format!("cannot find boxctl's own path: {e}")))?;
    let bin = exe.with_file_name(name);
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(DevError::new(format!(
            "{name} is not next to boxctl ({}); build every binary first: cargo build --bins",
            bin.display()
        )))
    }
}

/// Starts `bin args` in `cwd`, appending its output to `log`; returns the pid.
/// The log is readable by the user only (0600, also when it already
/// existed): the signer's holds its one-time enrolment code.
pub fn spawn(bin: &Path, args: &[&str], cwd: &Path, log: &Path, env: &[(&str, &str)]) -> Result<u32, DevError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    use std::os::unix::process::CommandExt;
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(log)
        .map_err(|e| DevError::new(format!("cannot open {}: {e}", log.display())))?;
    out.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(|e| DevError::new(format!("cannot make {} private (0600): {e}", log.display())))?;
    let err = out.try_clone().map_err(|e| DevError::new(e.to_string()))?;
    let mut cmd = Command::new(bin);
    cmd.args(args).current_dir(cwd).stdin(Stdio::null()).stdout(out).stderr(err).process_group(0);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().map_err(|e| DevError::new(format!("cannot start {}: {e}", bin.display())))?;
    Ok(child.id())
}

/// Whether `pid` is a live process (not a zombie).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Stops `pid` politely (SIGTERM), then firmly after `grace`.
pub async fn stop(pid: u32, grace: Duration) {
    if !alive(pid) {
        return;
    }
    // The `kill` command, because calling libc::kill needs `unsafe`, which
    // the workspace allows only in the signer's key memory.
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let deadline = std::time::Instant::now() + grace;
    while alive(pid) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if alive(pid) {
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> Result<u16, DevError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| DevError::new(format!("no free port: {e}")))?;
    l.local_addr().map(|a| a.port()).map_err(|e| DevError::new(e.to_string()))
}

/// Waits until `path`'s text contains `needle` after byte `from`; returns the line.
pub async fn wait_for_line(path: &Path, from: usize, needle: &str, within: Duration) -> Result<String, DevError> {
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Some(line) = text.get(from..).and_then(|t| t.lines().find(|l| l.contains(needle)))
        {
            return Ok(line.to_owned());
        }
        if std::time::Instant::now() > deadline {
            return Err(DevError::new(format!("{} did not show {needle:?} in time", path.display())));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
