//! The main job, as CI runs it: `boxctl dev up` on a fresh directory,
//! `boxctl demo` (two confirmed transfers and a refused one), `boxctl dev down`,
//! and `boxctl dev up` again resuming from the data (unseal included). Real
//! processes throughout: anvil, three box-node, box-gateway, box-signer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

const BOXCTL: &str = env!("CARGO_BIN_EXE_boxctl");

/// box-node, box-signer and box-gateway must sit next to boxctl.
fn siblings() {
    let dir = Path::new(BOXCTL).parent().unwrap();
    if ["box-node", "box-signer", "box-gateway"].iter().any(|b| !dir.join(b).is_file()) {
        let status = Command::new(env!("CARGO")).args(["build", "--bins"]).status().unwrap();
        assert!(status.success(), "cargo build --bins failed");
    }
}

fn boxctl(args: &[&str]) -> (bool, String) {
    let out = Command::new(BOXCTL).args(args).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Stops the deployment even when an assertion fails.
struct Down<'a>(&'a str);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = Command::new(BOXCTL).args(["dev", "down", "--dir", self.0]).output();
    }
}

#[test]
fn the_demo_moves_eth_and_tokens_and_refuses_the_over_limit_transfer() {
    siblings();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("box-dev");
    let dir = dir.to_str().unwrap();
    let _down = Down(dir);

    let (ok, out) = boxctl(&["demo", "--dir", dir]);
    assert!(ok, "boxctl demo failed:\n{out}");
    assert_eq!(out.matches("confirmed: public transaction 0x").count(), 2, "{out}");
    assert!(out.contains("refused: ") && out.contains("per-transfer limit"), "{out}");
    assert!(out.contains("the history verifies offline"), "{out}");

    let (ok, out) = boxctl(&["dev", "down", "--dir", dir]);
    assert!(ok, "{out}");
    assert!(out.contains("data is kept"), "{out}");

    // Every service log is the user's alone (the signer's holds the enrolment
    // code), and d is in none of them: `box-signer show-backup` has it.
    let root = Path::new(dir);
    let mut logs = String::new();
    for entry in std::fs::read_dir(root.join("logs")).unwrap() {
        let path = entry.unwrap().path();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is mode {mode:o}", path.display());
        logs.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
    }
    let show = Command::new(Path::new(BOXCTL).with_file_name("box-signer"))
        .args(["show-backup", "--config"])
        .arg(root.join("signer/signer.toml"))
        .output()
        .unwrap();
    let backup = String::from_utf8_lossy(&show.stdout).into_owned();
    let d = backup.lines().find_map(|l| l.strip_prefix("d: 0x")).unwrap_or_else(|| panic!("{backup}")).trim();
    assert!(!logs.contains(d), "d is in a log");
    let (ok, out) = boxctl(&["dev", "up", "--dir", dir]);
    assert!(ok, "boxctl dev up (resume) failed:\n{out}");
    assert!(out.contains("resuming") && out.contains("unseal") && out.contains("signer         unsealed"), "{out}");
}
