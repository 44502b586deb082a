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

pub mod demo;
pub mod eth;
pub mod procs;
pub mod stack;

pub use demo::demo;
pub use stack::{Stack, down, up};

use std::path::PathBuf;

/// Where the deployment lives and how to report.
#[derive(Debug, Clone)]
pub struct DevArgs {
    /// The deployment directory.
    pub dir: PathBuf,
    /// Print a JSON summary instead of text.
    pub json: bool,
}

/// Why a development step failed, in words.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct DevError(pub String);

impl DevError {
    /// A failure with `msg`.
    pub fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}
