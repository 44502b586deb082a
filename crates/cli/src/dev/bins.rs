//! Where `boxctl dev` finds the programs it starts: BOX's own binaries and
//! `anvil`. The same rules whether boxctl runs from the checkout's target
//! directory, from a `CARGO_TARGET_DIR` elsewhere, through a symbolic link,
//! or installed on its own; each rule can be overridden.

use super::DevError;
use std::path::{Path, PathBuf};

/// Environment variable naming the directory of `box-node`, `box-gateway` and `box-signer`.
pub const ENV_BIN_DIR: &str = "BOX_BIN_DIR";
/// Environment variable naming the `anvil` binary.
pub const ENV_ANVIL: &str = "BOX_ANVIL";

/// Overrides from the command line (`--bin-dir`, `--anvil`; clap fills in
/// [`ENV_BIN_DIR`] and [`ENV_ANVIL`]).
#[derive(Debug, Clone, Default)]
pub struct Programs {
    /// The directory holding `box-node`, `box-gateway` and `box-signer`.
    pub bin_dir: Option<PathBuf>,
    /// The `anvil` binary.
    pub anvil: Option<PathBuf>,
}

/// boxctl's own executable with symbolic links resolved, so a link in
/// `~/bin` still finds the binaries built beside the real file.
fn own_exe() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(std::fs::canonicalize(&exe).unwrap_or(exe))
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|b| b.is_file())
}

fn is_checkout(dir: &Path) -> bool {
    dir.join("tools/package.json").is_file() && dir.join("Cargo.toml").is_file()
}

/// The BOX checkout whose `tools/` (anvil, solc) boxctl uses: the one that
/// holds boxctl's executable (the default `target/`), else the one boxctl was
/// built from if it is still there (a `CARGO_TARGET_DIR` elsewhere), else none
/// (an installed boxctl: use `--anvil` or the PATH).
pub fn checkout() -> Option<PathBuf> {
    if let Some(root) = own_exe().and_then(|e| e.ancestors().find(|d| is_checkout(d)).map(Path::to_path_buf)) {
        return Some(root);
    }
    // crates/cli → the workspace root, as it was when this boxctl was built.
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    is_checkout(&built_from).then(|| std::fs::canonicalize(&built_from).unwrap_or(built_from))
}

impl Programs {
    /// The BOX binary `name` (`box-node`, `box-gateway`, `box-signer`): in
    /// `--bin-dir` when given, else beside boxctl's executable, else on the PATH.
    pub fn box_binary(&self, name: &str) -> Result<PathBuf, DevError> {
        if let Some(dir) = &self.bin_dir {
            let bin = dir.join(name);
            return if bin.is_file() {
                absolute(&bin)
            } else {
                Err(DevError::new(format!("{name} is not in --bin-dir {} ({ENV_BIN_DIR})", dir.display())))
            };
        }
        let beside = own_exe().map(|e| e.with_file_name(name));
        if let Some(bin) = beside.as_ref().filter(|b| b.is_file()) {
            return Ok(bin.clone());
        }
        on_path(name).ok_or_else(|| {
            DevError::new(format!(
                "{name} not found beside boxctl{} nor on the PATH; build every binary (cargo build --bins) or name \
                 their directory with --bin-dir DIR ({ENV_BIN_DIR})",
                beside.map(|b| format!(" ({})", b.display())).unwrap_or_default()
            ))
        })
    }

    /// `anvil`: `--anvil` when given, else the checkout's `tools/node_modules`
    /// (running `npm ci --prefix tools` first when it is missing), else the PATH.
    pub fn anvil(&self) -> Result<PathBuf, DevError> {
        if let Some(p) = &self.anvil {
            return if p.is_file() {
                absolute(p)
            } else {
                Err(DevError::new(format!("--anvil {} ({ENV_ANVIL}) is not a file", p.display())))
            };
        }
        if let Some(root) = checkout() {
            let bin = root.join("tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
            if !bin.is_file() {
                install_tools(&root)?;
            }
            if bin.is_file() {
                return Ok(bin);
            }
        }
        on_path("anvil").ok_or_else(|| {
            DevError::new(format!(
                "anvil not found: name it with --anvil FILE ({ENV_ANVIL}), put it on the PATH, or run a boxctl built \
                 from a BOX checkout (it installs tools/ with npm)"
            ))
        })
    }
}

/// `p` as an absolute path: the processes start in other directories.
fn absolute(p: &Path) -> Result<PathBuf, DevError> {
    std::path::absolute(p).map_err(|e| DevError::new(format!("cannot make {} absolute: {e}", p.display())))
}

/// `npm ci --prefix tools`: anvil and solc, pinned in `tools/package.json`.
fn install_tools(root: &Path) -> Result<(), DevError> {
    eprintln!("installing anvil and solc from the npm registry (npm ci --prefix tools)…");
    let status = std::process::Command::new("npm")
        .args(["ci", "--prefix"])
        .arg(root.join("tools"))
        .args(["--no-audit", "--no-fund", "--loglevel=error"])
        .stdin(std::process::Stdio::null())
        .status()
        .map_err(|e| DevError::new(format!("cannot run npm to install anvil ({e}); install Node.js and npm")))?;
    if status.success() {
        Ok(())
    } else {
        Err(DevError::new(format!("npm ci --prefix {} failed; see its output above", root.join("tools").display())))
    }
}
