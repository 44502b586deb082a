//! boxctl as a process, without a deployment: help on every subcommand,
//! completions, the paper backup, and the refusals that need no gateway
//! (bad profile, wrong password, unreachable gateway, bad input, bad exports),
//! each with its message and exit code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;

/// Every command path of the clap tree, e.g. `["admin", "flow", "create"]`.
fn paths(cmd: &clap::Command, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    for sub in cmd.get_subcommands() {
        let mut p = prefix.clone();
        p.push(sub.get_name().to_owned());
        out.push(p.clone());
        paths(sub, p, out);
    }
}

#[test]
fn every_subcommand_has_help_text() {
    let root = <box_cli::cli::Cli as clap::CommandFactory>::command();
    let mut all = Vec::new();
    paths(&root, Vec::new(), &mut all);
    assert!(all.len() >= 35, "{all:?}");
    for p in &all {
        let mut args: Vec<&str> = p.iter().map(String::as_str).collect();
        args.push("--help");
        let r = boxctl(&args, &[]);
        let out = r.ok();
        assert!(out.contains(&format!("Usage: boxctl {}", p.join(" "))), "{p:?}:\n{out}");
        let about = out.lines().next().unwrap_or_default();
        assert!(about.len() > 10 && !about.starts_with("Usage"), "{p:?} has no description:\n{out}");
    }
}

#[test]
fn completions_for_each_shell() {
    for (shell, marker) in [("bash", "_boxctl()"), ("zsh", "#compdef boxctl"), ("fish", "complete -c boxctl")] {
        let out = boxctl(&["completions", shell], &[]).ok().to_owned();
        assert!(out.contains(marker), "{shell}: {}", &out[..out.len().min(300)]);
        assert!(out.contains("keyholder") && out.contains("issue-key"), "{shell} completes the subcommands");
    }
    boxctl(&["completions", "tcsh"], &[]).refused(2, "invalid value");
}

fn decode_png(path: &std::path::Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let w = info.width as usize;
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, info.height as usize, |x, y| buf[y * w + x]);
    img.detect_grids()[0].decode().unwrap().1
}

#[test]
fn backup_writes_private_qr_files_that_read_back_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("paper");
    let out_s = out.to_str().unwrap();
    let phrase = "violet anchor under rain";
    let d = format!("0x{}", "5a".repeat(32));
    let r = boxctl(&["keyholder", "backup", "--d", &d, "--out", out_s], &[("BOX_PHRASE", phrase)]);
    let text = r.ok();
    assert!(text.contains('█'), "the QR codes are shown on the terminal:\n{text}");
    assert!(r.stderr.contains("print them") && r.stderr.contains("delete the files"), "{}", r.stderr);
    for f in ["phrase.png", "phrase.svg", "d.png", "d.svg"] {
        let mode = std::fs::metadata(out.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    assert_eq!(decode_png(&out.join("phrase.png")), phrase);
    assert_eq!(decode_png(&out.join("d.png")), d);
    assert!(std::fs::read_to_string(out.join("phrase.svg")).unwrap().contains("<svg"));
    // --no-print keeps the codes off the terminal; an existing file is never replaced.
    let again = boxctl(&["keyholder", "backup", "--d", &d, "--out", out_s, "--no-print"], &[("BOX_PHRASE", phrase)]);
    again.refused(2, "refusing to overwrite");
    assert!(!again.stdout.contains('█'));
    // A malformed d, and no phrase without a terminal.
    boxctl(&["keyholder", "backup", "--d", "0x1234", "--out", out_s], &[("BOX_PHRASE", phrase)]).refused(2, "64 hex");
    let other = dir.path().join("other");
    boxctl(&["keyholder", "backup", "--d", &d, "--out", other.to_str().unwrap()], &[]).refused(2, "BOX_PHRASE");
}

/// A profile for a gateway that is not running, with one identity.
fn offline_profile(dir: &std::path::Path, password: &str) -> std::path::PathBuf {
    let ca = box_ops::certs::DevCa::new("offline test CA").unwrap();
    std::fs::write(dir.join("ca.pem"), ca.ca_pem()).unwrap();
    let g = box_core::typed::Genesis {
        deploymentId: box_core::B256::repeat_byte(1),
        chainId: 31337,
        keyHolders: vec![],
        nodes: vec![],
        signer: box_core::Address::ZERO,
        assets: vec![],
        time: 1,
    };
    std::fs::write(dir.join("genesis.json"), serde_json::to_string(&g).unwrap()).unwrap();
    write_identity(&dir.join("keys"), "me", &box_testkit::key("me"));
    std::fs::write(dir.join("keys/me.password"), password).unwrap();
    let port = box_testkit::free_port();
    let path = dir.join("profile.toml");
    std::fs::write(
        &path,
        format!(
            "gateway = \"https://127.0.0.1:{port}\"\nca = \"ca.pem\"\ngenesis = \"genesis.json\"\n\n\
             [identities.me]\nkeystore = \"keys/me.json\"\npassword_file = \"keys/me.password\"\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn refusals_without_a_deployment_name_the_cause_and_exit_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    // No profile at all.
    boxctl(&["status"], &[("BOX_PROFILE", "/nonexistent/profile.toml")]).refused(2, "cannot read the profile");
    boxctl(&["status"], &[]).refused(2, "cannot read the profile");
    // The right password, but nobody listens: unavailable (5).
    let profile = offline_profile(dir.path(), "password of me");
    let p = profile.to_str().unwrap();
    let down = boxctl(&["status"], &[("BOX_PROFILE", p)]);
    down.refused(5, "cannot reach the gateway");
    // The cause in words, no Rust debug text (issue 17 item 6).
    assert!(
        down.stderr.contains("connection refused") && down.stderr.contains("is the gateway running"),
        "{}",
        down.stderr
    );
    assert!(
        !down.stderr.contains("{ ") && !down.stderr.contains("Some(") && !down.stderr.contains("Error("),
        "{}",
        down.stderr
    );
    // A wrong password in the password file, and an unknown identity: usage (2).
    std::fs::write(dir.path().join("keys/me.password"), "not it").unwrap();
    boxctl(&["status"], &[("BOX_PROFILE", p)]).refused(2, "wrong password for identity me");
    boxctl(&["status", "--as", "you"], &[("BOX_PROFILE", p)]).refused(2, "no identity \"you\"");
    // --key with the password from the environment, still nobody listening.
    let key = dir.path().join("keys/me.json");
    let r = boxctl(
        &["approve", "list", "--key", key.to_str().unwrap()],
        &[("BOX_PROFILE", p), ("BOX_PASSWORD", "password of me")],
    );
    r.refused(5, "cannot reach the gateway");
    boxctl(&["approve", "list", "--key", key.to_str().unwrap()], &[("BOX_PROFILE", p)]).refused(2, "needs a terminal");
    // Bad arguments are refused before anything is sent.
    std::fs::write(dir.path().join("keys/me.password"), "password of me").unwrap();
    boxctl(&["admin", "register", "--address", "0x12", "--name", "x", "--role", "employee"], &[("BOX_PROFILE", p)])
        .refused(2, "is not an Ethereum address");
    let someone = format!("0x{}", "11".repeat(20));
    boxctl(&["admin", "register", "--address", &someone, "--name", "x", "--role", "boss"], &[("BOX_PROFILE", p)])
        .refused(2, "an admin registers employee, approver or auditor");
    boxctl(
        &["employee", "apply", "--asset", "ETH", "--to", &someone, "--amount", "1", "--flow", "nope"],
        &[("BOX_PROFILE", p)],
    )
    .refused(2, "is not a flow hash");
    // Amounts outside the one grammar are refused while parsing the arguments:
    // the gateway here is down, so reaching it would have been exit 5.
    for (bad, why) in [
        ("1e18", "not a plain decimal number"),
        (" 1", "not a plain decimal number"),
        ("1,5", "not a plain decimal number"),
        ("0x10", "not a plain decimal number"),
        ("-1", "negative or signed"),
        ("", "amount is empty"),
    ] {
        let arg = format!("--amount={bad}");
        boxctl(&["employee", "apply", "--asset", "ETH", "--to", &someone, &arg], &[("BOX_PROFILE", p)]).refused(2, why);
    }
    boxctl(
        &["employee", "apply", "--asset", "ETH", "--to", &someone, "--amount", "1", "--max-fee=1e-3"],
        &[("BOX_PROFILE", p)],
    )
    .refused(2, "not a plain decimal number");
    boxctl(
        &["employee", "fetch-key", "--address", "0xABCDEFabcdef0000000000000000000000000000", "--out", "/tmp/x"],
        &[("BOX_PROFILE", p)],
    )
    .refused(2, "checksum");
    boxctl(&["keyholder", "phrase"], &[]).refused(2, "cannot read the profile");
    // An audit file that is not an export, and a missing one.
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, "{\"blocks\": 3}").unwrap();
    boxctl(
        &["audit", "verify", junk.to_str().unwrap(), "--genesis", dir.path().join("genesis.json").to_str().unwrap()],
        &[],
    )
    .refused(2, "is not a boxctl audit export");
    boxctl(
        &["audit", "verify", "/nonexistent.json", "--genesis", dir.path().join("genesis.json").to_str().unwrap()],
        &[],
    )
    .refused(1, "cannot read");
}
