//! Paths written in files: absolute, or relative to the file that holds them.
//!
//! Pure path arithmetic except where stated: nothing here reads the file
//! system, and nothing follows symbolic links.

use std::path::{Component, Path, PathBuf};

/// The directory that relative paths written in `file` are resolved against:
/// the file's parent (`""`, the working directory, for a bare file name).
pub fn base_of(file: &Path) -> &Path {
    file.parent().unwrap_or_else(|| Path::new(""))
}

/// A path as written in a file whose directory is `base` (see [`base_of`]):
/// an absolute path stays as it is, a relative one is joined to `base`.
///
/// The result is relative when `base` is; it names the same file from the
/// working directory the caller had when it read the holding file.
pub fn resolve(base: &Path, written: &Path) -> PathBuf {
    if written.is_absolute() { written.to_owned() } else { base.join(written) }
}

/// How to write `target` into the file `file`, so that
/// `resolve(base_of(file), written_form(file, target))` names `target` again:
/// relative to `file`'s directory (with `..` where needed), or absolute when
/// the two share no ancestor but the root.
///
/// Relative inputs are taken against the current working directory (read
/// once, here; the only access to the process's state). Both paths are
/// normalised lexically (`.` dropped, `a/..` folded), so the relative form is
/// right as long as the directories between them are not symbolic links to
/// elsewhere, which is the case for the directories BOX creates itself.
///
/// # Errors
/// The working directory cannot be read (only when a path is relative).
pub fn written_form(file: &Path, target: &Path) -> std::io::Result<PathBuf> {
    let dir = normalise(&std::path::absolute(base_of_absolute(file)?)?);
    let target = normalise(&std::path::absolute(target)?);
    let common = dir.components().zip(target.components()).take_while(|(a, b)| a == b).count();
    // Only the root in common: the absolute path says more than a chain of `..`.
    if common <= 1 {
        return Ok(target);
    }
    let mut out = PathBuf::new();
    for _ in dir.components().skip(common) {
        out.push("..");
    }
    for c in target.components().skip(common) {
        out.push(c);
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    Ok(out)
}

/// `file`'s directory, made absolute (a bare file name lives in the working directory).
fn base_of_absolute(file: &Path) -> std::io::Result<PathBuf> {
    let base = base_of(file);
    if base.as_os_str().is_empty() { std::env::current_dir() } else { Ok(base.to_owned()) }
}

/// Drops `.` and folds `name/..` without touching the file system.
fn normalise(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push(c);
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn relative_paths_resolve_against_the_holding_files_directory() {
        assert_eq!(
            resolve(base_of(Path::new("box-dev/boxctl.toml")), Path::new("identities/a.json")),
            Path::new("box-dev/identities/a.json")
        );
        assert_eq!(resolve(base_of(Path::new("node.toml")), Path::new("../g.json")), Path::new("../g.json"));
        assert_eq!(
            resolve(base_of(Path::new("/etc/box/node.toml")), Path::new("/abs/k.json")),
            Path::new("/abs/k.json")
        );
    }

    #[test]
    fn the_written_form_resolves_back_to_the_target_from_any_working_directory() {
        let cwd = std::env::current_dir().unwrap();
        for (file, target, written) in [
            ("/d/box-dev/boxctl.toml", "/d/box-dev/identities/admin.json", "identities/admin.json"),
            ("/d/box-dev/node-1/node.toml", "/d/box-dev/genesis.json", "../genesis.json"),
            ("/d/box-dev/./x/../boxctl.toml", "/d/box-dev/tls/ca.pem", "tls/ca.pem"),
            ("/d/box-dev/boxctl.toml", "/d/box-dev", "."),
            ("/d/a.toml", "/e/k.json", "/e/k.json"),
        ] {
            let w = written_form(Path::new(file), Path::new(target)).unwrap();
            assert_eq!(w, Path::new(written), "{file} {target}");
            assert_eq!(normalise(&resolve(base_of(Path::new(file)), &w)), normalise(Path::new(target)));
        }
        // Relative inputs are taken from the working directory, whatever it is.
        let w = written_form(Path::new("box-dev/boxctl.toml"), Path::new("box-dev/identities/a.json")).unwrap();
        assert_eq!(w, Path::new("identities/a.json"));
        let w = written_form(Path::new("../x/boxctl.toml"), Path::new("../x/keys/k.json")).unwrap();
        assert_eq!(w, Path::new("keys/k.json"));
        let w = written_form(Path::new("p.toml"), &cwd.join("k.json")).unwrap();
        assert_eq!(w, Path::new("k.json"));
    }

    #[test]
    fn a_written_file_is_found_from_another_working_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("deep/box-dev");
        std::fs::create_dir_all(dir.join("keys")).unwrap();
        std::fs::write(dir.join("keys/k.json"), "k").unwrap();
        let holder = dir.join("profile.toml");
        let w = written_form(&holder, &dir.join("keys/k.json")).unwrap();
        assert!(w.is_relative());
        // Read from the holder's path as another process would name it.
        assert_eq!(std::fs::read_to_string(resolve(base_of(&holder), &w)).unwrap(), "k");
    }
}
