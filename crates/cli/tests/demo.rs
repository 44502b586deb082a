//! The main job, as a newcomer runs it: `boxctl dev up` with a relative
//! directory from a working directory that is not the checkout, `boxctl demo`
//! against it (two confirmed transfers and a refused one), role commands with
//! a relative `BOX_PROFILE`, `dev down` and `dev up` again resuming from the
//! data (unseal included); `tools/demo` with `CARGO_TARGET_DIR` outside the
//! checkout; and a failed `dev up` that leaves no process behind. Real
//! processes throughout: anvil, three box-node, box-gateway, box-signer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BOXCTL: &str = env!("CARGO_BIN_EXE_boxctl");

/// box-node, box-signer and box-gateway must sit next to boxctl.
fn siblings() {
    let dir = Path::new(BOXCTL).parent().unwrap();
    if ["box-node", "box-signer", "box-gateway"].iter().any(|b| !dir.join(b).is_file()) {
        let status = Command::new(env!("CARGO")).args(["build", "--bins"]).status().unwrap();
        assert!(status.success(), "cargo build --bins failed");
    }
}

/// Runs boxctl in `cwd` with `args` and `env`, nothing inherited that changes its behaviour.
fn boxctl_in(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(BOXCTL);
    cmd.args(args).current_dir(cwd).stdin(Stdio::null());
    for v in ["BOX_PROFILE", "BOX_AS", "BOX_PASSWORD", "BOX_BIN_DIR", "BOX_ANVIL"] {
        cmd.env_remove(v);
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    box_testkit::assert_for_people(&format!("boxctl {}", args.join(" ")), &text);
    (out.status.success(), text)
}

/// Stops the deployment in `dir` even when an assertion fails.
struct Down(PathBuf);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = Command::new(BOXCTL).args(["dev", "down", "--dir"]).arg(&self.0).output();
    }
}

/// The pids of live processes whose working directory is inside `dir`
/// (every process of a deployment runs in one of its subdirectories).
fn processes_in(dir: &Path) -> Vec<u32> {
    let dir = std::fs::canonicalize(dir).unwrap();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let zombie = std::fs::read_to_string(entry.path().join("stat"))
            .is_ok_and(|s| s.rsplit(')').next().is_some_and(|r| r.trim_start().starts_with('Z')));
        if !zombie && std::fs::read_link(entry.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(&dir)) {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn dev_up_with_a_relative_dir_from_elsewhere_then_the_demo_moves_eth_and_tokens() {
    siblings();
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path().join("work");
    std::fs::create_dir_all(&cwd).unwrap();
    let rel = "../deployments/box-dev";
    let _down = Down(tmp.path().join("deployments/box-dev"));

    let (ok, out) = boxctl_in(&cwd, &["dev", "up", "--dir", rel], &[]);
    assert!(ok, "boxctl dev up failed:\n{out}");
    assert!(out.contains("signer         unsealed"), "{out}");
    // Every path the profile names is relative to the profile itself.
    let profile = std::fs::read_to_string(tmp.path().join("deployments/box-dev/boxctl.toml")).unwrap();
    assert!(profile.contains("keystore = \"identities/admin.json\""), "{profile}");
    assert!(!profile.contains("box-dev/") && !profile.contains(&*tmp.path().to_string_lossy()), "{profile}");

    let (ok, out) = boxctl_in(&cwd, &["demo", "--dir", rel], &[]);
    assert!(ok, "boxctl demo failed:\n{out}");
    assert_eq!(out.matches("confirmed: public transaction 0x").count(), 2, "{out}");
    assert!(out.contains("refused: 7 ETH exceeds the per-transfer limit of 5 ETH"), "{out}");
    assert!(out.contains("the history verifies offline"), "{out}");
    for status in ["flow notarized", "flow active"] {
        assert_eq!(out.matches(&format!("{status}\n")).count(), 1, "{status} printed once:\n{out}");
    }

    // Role commands with BOX_PROFILE relative to the caller, from two directories.
    let (ok, out) =
        boxctl_in(&cwd, &["--as", "keyholder-1", "status"], &[("BOX_PROFILE", &format!("{rel}/boxctl.toml"))]);
    assert!(ok && out.contains("unsealed"), "{out}");
    let (ok, out) = boxctl_in(tmp.path(), &["status"], &[("BOX_PROFILE", "deployments/box-dev/boxctl.toml")]);
    assert!(ok && out.contains("unsealed"), "{out}");

    let (ok, out) = boxctl_in(&cwd, &["dev", "down", "--dir", rel], &[]);
    assert!(ok, "{out}");
    assert!(out.contains("data is kept"), "{out}");
    assert!(processes_in(&tmp.path().join("deployments/box-dev")).is_empty(), "dev down left processes");

    // Every service log is the user's alone (the signer's holds the enrolment
    // code), and d is in none of them: `box-signer show-backup` has it.
    let abs = tmp.path().join("deployments/box-dev");
    let root = abs.as_path();
    let mut logs = String::new();
    for entry in std::fs::read_dir(root.join("logs")).unwrap() {
        let path = entry.unwrap().path();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is mode {mode:o}", path.display());
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        // Every service's words for people (issue 17 item 6): no Rust Debug text.
        box_testkit::assert_for_people(&path.display().to_string(), &text);
        logs.push_str(&text);
    }
    let show = Command::new(Path::new(BOXCTL).with_file_name("box-signer"))
        .args(["show-backup", "--config"])
        .arg(root.join("signer/signer.toml"))
        .output()
        .unwrap();
    let backup = String::from_utf8_lossy(&show.stdout).into_owned();
    let d = backup.lines().find_map(|l| l.strip_prefix("d: 0x")).unwrap_or_else(|| panic!("{backup}")).trim();
    assert!(!logs.contains(d), "d is in a log");
    // Resumed from yet another directory, with the absolute path.
    let (ok, out) = boxctl_in(Path::new("/"), &["dev", "up", "--dir", abs.to_str().unwrap()], &[]);
    assert!(ok, "boxctl dev up (resume) failed:\n{out}");
    assert!(out.contains("resuming") && out.contains("unseal") && out.contains("signer         unsealed"), "{out}");
    // The resumed signer really is unsealed (not an earlier boot's
    // announcement read as this one's): the demo runs again on the same
    // deployment, its flow anchored and its transfers signed, and its
    // export goes to a new file.
    let (ok, out) = boxctl_in(&cwd, &["demo", "--dir", rel], &[]);
    assert!(ok, "boxctl demo (second run) failed:\n{out}");
    assert_eq!(out.matches("confirmed: public transaction 0x").count(), 2, "{out}");
    let exports = std::fs::read_dir(&abs)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("audit-export-"))
        .count();
    assert_eq!(exports, 2, "one export per demo run");
}

#[test]
fn a_failed_dev_up_stops_every_process_it_started_and_names_the_step() {
    siblings();
    let tmp = tempfile::tempdir().unwrap();
    // A bin dir whose box-signer cannot start: everything before it runs.
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let real = Path::new(BOXCTL).parent().unwrap();
    for b in ["box-node", "box-gateway"] {
        std::os::unix::fs::symlink(real.join(b), bin.join(b)).unwrap();
    }
    let signer = bin.join("box-signer");
    std::fs::write(&signer, "#!/bin/sh\necho 'box-signer: cannot open its data directory (test)' >&2\nexit 3\n")
        .unwrap();
    std::fs::set_permissions(&signer, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let _down = Down(tmp.path().join("d"));

    let (ok, out) = boxctl_in(tmp.path(), &["dev", "up", "--dir", "d", "--bin-dir", "bin"], &[]);
    assert!(!ok, "dev up should fail:\n{out}");
    assert!(out.contains("failed while"), "names the step:\n{out}");
    assert!(out.contains("box-signer exited with status 3"), "says why:\n{out}");
    assert!(out.contains("its log: ") && out.contains("logs/signer.log"), "names the log:\n{out}");
    assert!(out.contains("\n    box-signer: cannot open its data directory (test)"), "shows the log's end:\n{out}");
    assert!(out.contains("stopped the 6 process(es) this run started"), "{out}");
    let left = processes_in(&tmp.path().join("d"));
    assert!(left.is_empty(), "processes of the failed run are left: {left:?}");
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("d/dev.json")).unwrap()).unwrap();
    assert_eq!(state["pids"]["anvil"], serde_json::Value::Null, "{state}");
    assert_eq!(state["pids"]["gateway"], serde_json::Value::Null, "{state}");

    // A missing binary: the step and the override are named, and nothing runs.
    std::fs::remove_file(bin.join("box-gateway")).unwrap();
    let (ok, out) = boxctl_in(tmp.path(), &["dev", "up", "--dir", "d", "--bin-dir", "bin"], &[]);
    assert!(!ok, "{out}");
    assert!(out.contains("failed while starting box-gateway") && out.contains("--bin-dir"), "{out}");
    assert!(processes_in(&tmp.path().join("d")).is_empty(), "processes are left after a missing binary");
}

/// The target directory this test was built into (`…/target`), from the test binary's path.
fn target_dir() -> PathBuf {
    // target/<profile>/deps/demo-<hash>
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_owned()
}

#[test]
fn tools_demo_works_with_cargo_target_dir_outside_the_checkout() {
    siblings();
    let tmp = tempfile::tempdir().unwrap();
    // CARGO_TARGET_DIR names a directory outside the checkout (a link to
    // this build's, so cargo finds everything up to date). When the suite
    // itself runs with CARGO_TARGET_DIR outside the checkout, boxctl also
    // runs from there and must find tools/ without the checkout's target/.
    let target = tmp.path().join("target");
    std::os::unix::fs::symlink(target_dir(), &target).unwrap();
    let dev = tmp.path().join("box-dev");
    let _down = Down(dev.clone());
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // Run as a user would: the script by its path, from another directory.
    let out = Command::new(checkout.join("tools/demo"))
        .current_dir(tmp.path())
        .env("CARGO_TARGET_DIR", &target)
        .env("BOX_DEV_DIR", &dev)
        .env_remove("BOX_ANVIL")
        .env_remove("BOX_BIN_DIR")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "tools/demo failed:\n{text}");
    assert_eq!(text.matches("confirmed: public transaction 0x").count(), 2, "{text}");
    let stop = text.lines().find(|l| l.starts_with("Stop it with: ")).unwrap_or_default();
    let real = std::fs::canonicalize(target_dir().join("debug/boxctl")).unwrap();
    assert!(stop.contains(&*real.to_string_lossy()), "the boxctl that ran is named:\n{text}");
}

#[test]
fn boxctl_outside_the_checkout_or_behind_a_link_finds_anvil_and_its_siblings() {
    siblings();
    let tmp = tempfile::tempdir().unwrap();
    let real = Path::new(BOXCTL).parent().unwrap();
    // Installed elsewhere: a copy of boxctl with its siblings beside it
    // (links), nowhere near the checkout: anvil comes from the checkout it
    // was built from.
    let installed = tmp.path().join("opt/box/bin");
    std::fs::create_dir_all(&installed).unwrap();
    std::fs::copy(BOXCTL, installed.join("boxctl")).unwrap();
    for b in ["box-node", "box-gateway", "box-signer"] {
        std::os::unix::fs::symlink(real.join(b), installed.join(b)).unwrap();
    }
    // Behind a link: ~/bin/boxctl → the build's boxctl, no siblings beside the link.
    let linked = tmp.path().join("home/bin");
    std::fs::create_dir_all(&linked).unwrap();
    std::os::unix::fs::symlink(BOXCTL, linked.join("boxctl")).unwrap();

    for (n, bin) in [installed.join("boxctl"), linked.join("boxctl")].iter().enumerate() {
        let dir = tmp.path().join(format!("d{n}"));
        let _down = Down(dir.clone());
        let mut cmd = Command::new(bin);
        cmd.args(["dev", "up", "--dir"]).arg(&dir).current_dir(tmp.path()).stdin(Stdio::null());
        for v in ["BOX_PROFILE", "BOX_BIN_DIR", "BOX_ANVIL"] {
            cmd.env_remove(v);
        }
        let out = cmd.output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{} dev up failed:\n{text}", bin.display());
        assert!(text.contains("signer         unsealed"), "{text}");
        let (ok, text) = boxctl_in(tmp.path(), &["dev", "down", "--dir", dir.to_str().unwrap()], &[]);
        assert!(ok, "{text}");
    }
}
