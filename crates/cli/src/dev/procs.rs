//! Starting, watching and stopping the local deployment's processes. Each
//! runs in its own process group, so it outlives `boxctl dev up` and a Ctrl-C
//! in the terminal does not reach it; `boxctl dev down` stops them by pid.
//!
//! A [`Started`] list keeps the processes one run of `dev up` (or `demo`)
//! started, so that a failed step stops exactly those and nothing else.

use super::DevError;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// One process this run started.
#[derive(Debug)]
pub struct Process {
    /// What it is, for messages: `anvil`, `box-node 2`, `box-gateway`, `box-signer`.
    pub name: String,
    /// Its log file.
    pub log: PathBuf,
    child: Child,
}

impl Process {
    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Why it is no longer running (`exited with status 1`), or `None` while it runs.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(match status.code() {
                Some(code) => format!("exited with status {code}"),
                None => "was killed by a signal".to_owned(),
            }),
            Ok(None) => None,
            Err(e) => Some(format!("cannot be watched ({e})")),
        }
    }
}

/// The processes one run started, in order.
#[derive(Debug, Default)]
pub struct Started(Vec<Process>);

impl Started {
    /// Starts `bin args` in `cwd` as `name`, appending its output to `log`;
    /// returns the pid. The log is readable by the user only (0600, also
    /// when it already existed): the signer's holds its one-time enrolment code.
    pub fn spawn(&mut self, name: &str, bin: &Path, args: &[&str], cwd: &Path, log: &Path) -> Result<u32, DevError> {
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
        let err = out.try_clone().map_err(|e| DevError::new(format!("cannot open {}: {e}", log.display())))?;
        let mut cmd = Command::new(bin);
        cmd.args(args).current_dir(cwd).stdin(Stdio::null()).stdout(out).stderr(err).process_group(0);
        let child = cmd.spawn().map_err(|e| DevError::new(format!("cannot start {name} ({}): {e}", bin.display())))?;
        let pid = child.id();
        self.0.push(Process { name: name.to_owned(), log: log.to_owned(), child });
        Ok(pid)
    }

    /// The first process of this run that is no longer running, as a failure naming it and its log.
    pub fn check(&mut self) -> Result<(), DevError> {
        for p in &mut self.0 {
            if let Some(why) = p.exited() {
                return Err(DevError::new(format!("{} {why}", p.name)).with_log(&p.log));
            }
        }
        Ok(())
    }

    /// Whether the process with `pid` was started by this run.
    pub fn contains(&self, pid: u32) -> bool {
        self.0.iter().any(|p| p.pid() == pid)
    }

    /// The pids this run started.
    pub fn pids(&self) -> Vec<u32> {
        self.0.iter().map(Process::pid).collect()
    }

    /// Stops every process of this run, the newest first; returns their pids.
    pub async fn stop_all(&mut self) -> Vec<u32> {
        let mut stopped = Vec::new();
        while let Some(mut p) = self.0.pop() {
            stop(p.pid(), Duration::from_secs(10)).await;
            let _ = p.child.wait(); // reap it: no zombie stays behind
            stopped.push(p.pid());
        }
        stopped
    }

    /// Forgets the processes (they stay running): the run succeeded.
    pub fn keep(&mut self) {
        self.0.clear();
    }
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

/// Ports a deployment's processes listen on are taken from here: below
/// Linux's default ephemeral range (32768–60999), which the kernel hands
/// to outgoing connections. A port chosen from that range (binding port 0)
/// can be taken by any connection between the choice and the process's
/// own bind, and the process then exits at start.
const PORTS: std::ops::Range<u16> = 20_000..32_000;

/// A TCP port on 127.0.0.1 free now, from [`PORTS`], starting at a point
/// that differs per process and call (so parallel runs rarely probe the
/// same ports).
pub fn free_port() -> Result<u16, DevError> {
    static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let span = u32::from(PORTS.end - PORTS.start);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let seed = std::process::id().wrapping_mul(7_919).wrapping_add(nanos).wrapping_add(call.wrapping_mul(101));
    for i in 0..span {
        let port = PORTS.start + u16::try_from((seed.wrapping_add(i)) % span).unwrap_or(0);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(DevError::new(format!("no free port on 127.0.0.1 between {} and {}", PORTS.start, PORTS.end - 1)))
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
