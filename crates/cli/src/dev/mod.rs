//! `boxctl dev up|down` (a complete local deployment) and `boxctl demo`.
//!
//! Placeholder: the lead replaces this whole directory with the real
//! deployment and demo. Only the signatures are fixed here, so the clap layer
//! can call them.

use crate::error::CliError;
use std::path::PathBuf;

/// Arguments of `dev up`, `dev down` and `demo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevArgs {
    /// Where the deployment's files live.
    pub dir: PathBuf,
    /// Print JSON instead of text.
    pub json: bool,
}

fn not_built(what: &str) -> CliError {
    CliError::failed(format!("`boxctl {what}` is not built yet"))
}

/// Starts (or resumes) the local deployment in `args.dir`.
pub async fn up(args: DevArgs) -> Result<(), CliError> {
    let _ = args;
    Err(not_built("dev up"))
}

/// Stops the local deployment, leaving its data.
pub async fn down(args: DevArgs) -> Result<(), CliError> {
    let _ = args;
    Err(not_built("dev down"))
}

/// Runs the whole story against the local deployment.
pub async fn demo(args: DevArgs) -> Result<(), CliError> {
    let _ = args;
    Err(not_built("demo"))
}
