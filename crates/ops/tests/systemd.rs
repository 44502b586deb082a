//! The systemd units in `packaging/systemd/`: every hardening key the
//! deployment relies on is there with its value, and, where
//! `systemd-analyze` is installed, systemd itself accepts the files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

const SERVICES: [&str; 3] = ["box-node", "box-gateway", "box-signer"];

fn unit_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/systemd")
}

/// `key=value` pairs of the `[Service]` section, in order (keys may repeat).
fn service_section(text: &str) -> Vec<(String, String)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            section = line.to_owned();
            continue;
        }
        let (k, v) = line.split_once('=').unwrap_or_else(|| panic!("not key=value: {line}"));
        if section == "[Service]" {
            out.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    out
}

fn value<'a>(keys: &'a [(String, String)], key: &str) -> Option<&'a str> {
    keys.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

#[test]
fn every_unit_has_the_hardening_keys() {
    for name in SERVICES {
        let text = std::fs::read_to_string(unit_dir().join(format!("{name}.service"))).unwrap();
        let keys = service_section(&text);
        let want = [
            ("NoNewPrivileges", "yes"),
            ("PrivateTmp", "yes"),
            ("ProtectSystem", "strict"),
            ("ProtectHome", "yes"),
            ("KillSignal", "SIGTERM"),
            ("User", name),
        ];
        for (k, v) in want {
            assert_eq!(value(&keys, k), Some(v), "{name}.service: {k}");
        }
        let data = format!("/var/lib/{name}");
        assert_eq!(value(&keys, "ReadWritePaths"), Some(data.as_str()), "{name}.service: the data dir is writable");
        let exec = value(&keys, "ExecStart").unwrap();
        assert!(exec.starts_with(&format!("/usr/local/bin/{name} run --config /etc/box/")), "{name}: {exec}");
    }
    let signer = service_section(&std::fs::read_to_string(unit_dir().join("box-signer.service")).unwrap());
    assert_eq!(value(&signer, "AmbientCapabilities"), Some("CAP_IPC_LOCK"), "the signer may lock its key in memory");
    assert_eq!(value(&signer, "CapabilityBoundingSet"), Some("CAP_IPC_LOCK"), "and nothing else");
    let memlock = value(&signer, "LimitMEMLOCK").expect("the signer's memory-lock limit");
    assert!(memlock != "0", "LimitMEMLOCK={memlock}");
    for name in ["box-node", "box-gateway"] {
        let keys = service_section(&std::fs::read_to_string(unit_dir().join(format!("{name}.service"))).unwrap());
        assert_eq!(value(&keys, "AmbientCapabilities"), None, "{name} needs no capability");
    }
}

#[test]
fn systemd_analyze_verify_accepts_the_units() {
    let Ok(out) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("systemd-analyze is not installed: only the parsed checks ran");
        return;
    };
    assert!(out.status.success());
    // verify wants ExecStart to exist: the same units, pointing at a stand-in executable.
    let dir = tempfile::tempdir().unwrap();
    let stand_in = dir.path().join("stand-in");
    std::fs::write(&stand_in, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&stand_in, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut units = Vec::new();
    for name in SERVICES {
        let text = std::fs::read_to_string(unit_dir().join(format!("{name}.service"))).unwrap();
        let text = text.replace(&format!("/usr/local/bin/{name}"), stand_in.to_str().unwrap());
        let unit = dir.path().join(format!("{name}.service"));
        std::fs::write(&unit, text).unwrap();
        units.push(unit);
    }
    let out = Command::new("systemd-analyze").arg("verify").args(&units).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify refused the units:\n{stderr}");
    let ours: Vec<&str> = stderr.lines().filter(|l| l.contains("box-")).collect();
    assert!(ours.is_empty(), "systemd-analyze verify warned about the units:\n{}", ours.join("\n"));
}
