//! Files boxctl writes that hold something sensitive (keystores, the paper
//! backup): created new with mode 0600, never overwritten.

use crate::error::{CliError, CliResult};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// Writes `bytes` to a new file `path` readable by its owner only. Refuses
/// to replace an existing file.
pub fn write_private(path: &Path, bytes: &[u8]) -> CliResult<()> {
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            CliError::usage(format!("{} already exists; refusing to overwrite it (move it away first)", path.display()))
        } else {
            CliError::io("create", path, &e)
        }
    })?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(|e| CliError::io("write", path, &e))
}

/// Creates `dir` (and its parents) with mode 0700 if it does not exist.
pub fn private_dir(dir: &Path) -> CliResult<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| CliError::io("create the directory", dir, &e))
}
