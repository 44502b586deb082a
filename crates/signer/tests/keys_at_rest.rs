//! The signer's secrets at rest and on its console (issue 17 item 4): the
//! identity key as an encrypted keystore (the plaintext form refused outside
//! `--dev`, with the command that converts it), its passphrase from a file
//! descriptor, and the enrolment code and `d` shown only on the controlling
//! terminal or in the `--enrolment-out` file, never in the output or the log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_testkit::anvil::Anvil;
use box_testkit::{Cluster, eventually};
use common::*;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const PASSPHRASE: &str = "granite kettles hum at dawn";

/// `box-signer <args>` in a new session (so without a controlling terminal,
/// even when the tests run from one), stdin holding `stdin`, output to `log`.
fn signer(args: &[&str], stdin: &str, log: &Path) -> Child {
    let out = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    let mut child = Command::new("setsid")
        .arg(SIGNER_BIN)
        .args(args)
        .env("RUST_LOG", "info")
        .env_remove(box_ops::unlock::ENV_PASSPHRASE)
        .stdin(Stdio::piped())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child
}

/// Runs `box-signer <args>` to its end; returns whether it succeeded and what it printed.
async fn finish(args: &[&str], stdin: &str, dir: &Path, name: &str) -> (bool, String) {
    let log = dir.join(format!("{name}.out"));
    let mut child = Running(signer(args, stdin, &log));
    let status = eventually(&format!("box-signer {name} exits"), Duration::from_secs(120), || {
        let s = child.0.try_wait().unwrap();
        async move { s }
    })
    .await;
    (status.success(), std::fs::read_to_string(&log).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_identity_key_is_encrypted_and_the_code_and_d_never_reach_the_log() {
    let anvil = Anvil::start().await;
    let c = Cluster::start(&box_node_bin(), 1, 0).await;
    let s = SignerProc::for_cluster(&c, "signer", &anvil.endpoint(), anvil.chain_id());
    let config = s.config.to_str().unwrap();
    let secret_hex = hex::encode(c.signer.expose_bytes());

    // The plaintext key the harness wrote is refused without --dev, with the conversion.
    let (ok, out) = finish(&["run", "--config", config], "", &s.dir, "plaintext").await;
    assert!(!ok, "a plaintext identity key was accepted:\n{out}");
    assert!(out.contains("is not encrypted") && out.contains("box-signer keygen --from"), "{out}");

    // keygen --from encrypts it; a weak passphrase is refused first.
    let plain = s.dir.join("identity.json");
    let sealed = s.dir.join("identity.keystore");
    let keygen =
        ["keygen", "--from", plain.to_str().unwrap(), "--out", sealed.to_str().unwrap(), "--passphrase-fd", "0"];
    let (ok, out) = finish(&keygen, "short\n", &s.dir, "weak").await;
    assert!(!ok && out.contains("passphrase") && !sealed.exists(), "{out}");
    let (ok, out) = finish(&keygen, &format!("{PASSPHRASE}\n"), &s.dir, "keygen").await;
    assert!(ok, "{out}");
    assert!(out.contains(&c.signer.address().to_checksum(None)), "keygen prints the address: {out}");
    let text = std::fs::read_to_string(&sealed).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["version"], 3, "{text}");
    assert_eq!(json["crypto"]["kdf"], "scrypt", "{text}");
    assert!(!text.contains(&secret_hex), "the keystore holds the key in the clear");
    assert_eq!(std::fs::metadata(&sealed).unwrap().permissions().mode() & 0o777, 0o600);
    std::fs::remove_file(&plain).unwrap();
    let toml = std::fs::read_to_string(&s.config).unwrap().replace("identity.json", "identity.keystore");
    std::fs::write(&s.config, toml).unwrap();

    // A wrong passphrase is refused in words.
    let (ok, out) =
        finish(&["run", "--config", config, "--passphrase-fd", "0"], "not it at all\n", &s.dir, "wrong").await;
    assert!(!ok && out.contains("wrong password"), "{out}");
    // No passphrase and no terminal: it says which to give.
    let (ok, out) = finish(&["run", "--config", config], "", &s.dir, "none").await;
    assert!(!ok && out.contains("--passphrase-fd") && out.contains(box_ops::unlock::ENV_PASSPHRASE), "{out}");

    // The right one opens it. No terminal and no --enrolment-out: the code is shown nowhere.
    let log = s.dir.join("no-terminal.out");
    let child = Running(signer(&["run", "--config", config, "--passphrase-fd", "0"], &format!("{PASSPHRASE}\n"), &log));
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    eventually("the signer says where the code is", Duration::from_secs(120), || async {
        read()
            .contains("the one-time enrolment code is shown only on a terminal, and this signer has none")
            .then_some(())
    })
    .await;
    assert!(!read().contains("enrolment code:"), "the code reached the output:\n{}", read());
    // Its announcement stays on the chain after it stops; the genesis below
    // must answer the next boot's, not this one's.
    let holders = Holders::new(c.domain, c.key_holders.clone(), &c.client_tls, &cluster_nodes(&c)[0]);
    let stopped = holders.boot(None, box_core::ceremony::SignerState::AwaitingEnrolment).await.boot;
    drop(child);

    // With --enrolment-out: the code and d go to that file (0600), and neither to the output.
    let shown = s.dir.join("shown.txt");
    let log = s.dir.join("signer.out");
    let args = ["run", "--config", config, "--passphrase-fd", "0", "--enrolment-out", shown.to_str().unwrap()];
    let mut child = Running(signer(&args, &format!("{PASSPHRASE}\n"), &log));
    let code = eventually("the enrolment code in the file", Duration::from_secs(120), || async {
        let text = std::fs::read_to_string(&shown).unwrap_or_default();
        text.lines().find_map(|l| l.split("one-time enrolment code: ").nth(1)).map(|c| c.trim().to_owned())
    })
    .await;
    holders.genesis_after(Some(stopped), &code).await;
    let d = eventually("d in the file", Duration::from_secs(60), || async {
        let text = std::fs::read_to_string(&shown).unwrap_or_default();
        text.lines().find_map(|l| l.split("d = 0x").nth(1)).map(|r| r[..64].to_owned())
    })
    .await;
    let out = std::fs::read_to_string(&log).unwrap();
    assert!(out.contains("as asked, it was written to"), "{out}");
    for (what, secret) in [("the enrolment code", code.as_str()), ("d", d.as_str()), ("the identity key", &secret_hex)]
    {
        assert!(!out.to_lowercase().contains(&secret.to_lowercase()), "{what} is in the output:\n{out}");
    }
    assert_eq!(std::fs::metadata(&shown).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(child.0.try_wait().unwrap().is_none(), "the signer stopped:\n{out}");
    drop(child);
}

/// A process killed when dropped, so a failing assertion leaves none behind.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
