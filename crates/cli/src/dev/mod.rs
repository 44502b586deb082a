//! `boxctl dev up|down` and `boxctl demo`: a complete BOX on 127.0.0.1 and
//! the whole story run against it.
//!
//! ```text
//!  boxctl dev up ──▶ anvil (public chain) ◀── box-signer ──mTLS──▶ box-node ×3 ◀──mTLS── box-gateway ◀──HTTPS── boxctl
//!                    ERC-20, funded wallet      (key in memory)     (notary)               (SQLite)
//! ```
//!
//! Everything lives in one directory (default `./box-dev`): configs, the
//! development CA, keys, data, logs and `dev.json` (ports, pids, addresses).
//! `dev down` stops the processes and keeps the directory; `dev up` again
//! resumes from it, unseal included. The key holders' phrases and the
//! people's keys are stored in that directory for this automation: a
//! development deployment only, never a real one.

pub mod bins;
mod create;
pub mod demo;
pub mod eth;
pub mod node;
pub mod procs;
pub mod stack;
mod start;
pub mod up;

pub use bins::Programs;
pub use demo::demo;
pub use stack::Stack;
pub use up::{down, up};

use std::path::{Path, PathBuf};

/// Where the deployment lives, which programs to start and how to report.
#[derive(Debug, Clone)]
pub struct DevArgs {
    /// The deployment directory, as the user named it (relative to the
    /// working directory, or absolute).
    pub dir: PathBuf,
    /// Where `box-node`, `box-gateway`, `box-signer` and `anvil` are.
    pub programs: Programs,
    /// Print a JSON summary instead of text.
    pub json: bool,
}

impl DevArgs {
    /// The deployment directory made absolute against the working directory
    /// (once, at the start: the processes run in their own directories),
    /// with `..` and symbolic links resolved when it exists.
    pub fn absolute_dir(&self) -> Result<PathBuf, DevError> {
        std::fs::canonicalize(&self.dir)
            .or_else(|_| std::path::absolute(&self.dir))
            .map_err(|e| DevError::new(format!("cannot make {} absolute: {e}", self.dir.display())))
    }
}

/// Why a development step failed, in words: what happened, during which
/// step, and which log says more.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", self.describe())]
pub struct DevError {
    message: String,
    step: Option<String>,
    log: Option<PathBuf>,
}

impl DevError {
    /// A failure with `msg`.
    pub fn new(msg: impl Into<String>) -> Self {
        Self { message: msg.into(), step: None, log: None }
    }

    /// The same failure, whose details are in `log`.
    pub fn with_log(mut self, log: &Path) -> Self {
        self.log.get_or_insert_with(|| log.to_owned());
        self
    }

    /// The same failure, during `step` (the innermost step is kept).
    pub fn during(mut self, step: &str) -> Self {
        self.step.get_or_insert_with(|| step.to_owned());
        self
    }

    /// The step it failed in, if known.
    pub fn step(&self) -> Option<&str> {
        self.step.as_deref()
    }

    fn describe(&self) -> String {
        let mut out = match &self.step {
            Some(step) => format!("failed while {step}: {}", self.message),
            None => self.message.clone(),
        };
        if let Some(log) = &self.log {
            out.push_str(&format!("\n  its log: {}", log.display()));
            // The last lines say why, without opening the file.
            if let Ok(text) = std::fs::read_to_string(log) {
                let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
                for line in &lines[lines.len().saturating_sub(LOG_TAIL)..] {
                    out.push_str(&format!("\n    {line}"));
                }
            }
        }
        out
    }
}

/// How many last lines of a failed process's log a failure shows.
const LOG_TAIL: usize = 8;

/// `map_err` helper: the failure happened during `step`, and `log` says more.
pub fn at<'a>(step: &'a str, log: &'a Path) -> impl FnOnce(DevError) -> DevError + 'a {
    move |e| e.during(step).with_log(log)
}
