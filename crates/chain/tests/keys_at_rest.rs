//! A node's account key at rest (issue 17 item 4): `box-node keygen` writes
//! an encrypted keystore by default, `box-node run` refuses the plaintext
//! form outside `--dev` (naming the command that encrypts it) and opens the
//! keystore with a passphrase from a file descriptor or the environment.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use box_testkit::{Cluster, eventually};
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_box-node");
const PASSPHRASE: &str = "basalt rivers keep time";

/// `box-node <args>` in a new session (no controlling terminal), stdin holding
/// `stdin`, output appended to `log`.
fn node(args: &[&str], stdin: &str, env: &[(&str, &str)], log: &Path) -> Child {
    let out = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    let mut child = Command::new("setsid")
        .arg(BIN)
        .args(args)
        .env_remove(box_ops::unlock::ENV_PASSPHRASE)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child
}

async fn finish(args: &[&str], stdin: &str, env: &[(&str, &str)], dir: &Path, name: &str) -> (bool, String) {
    let log = dir.join(format!("{name}.out"));
    let mut child = Running(node(args, stdin, env, &log));
    let status = eventually(&format!("box-node {name} exits"), Duration::from_secs(120), || {
        let s = child.0.try_wait().unwrap();
        async move { s }
    })
    .await;
    (status.success(), std::fs::read_to_string(&log).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keygen_encrypts_by_default_and_run_refuses_a_plaintext_key_outside_dev() {
    let c = Cluster::prepare(Path::new(BIN), 1, 0, 100);
    let dir = c.dir.path();
    let s = |p: &Path| p.to_str().unwrap().to_owned();

    // keygen: a keystore v3 by default; the plaintext form only with --dev.
    let fresh = dir.join("fresh.json");
    let (ok, out) =
        finish(&["keygen", "--out", &s(&fresh)], "", &[(box_ops::unlock::ENV_PASSPHRASE, PASSPHRASE)], dir, "kg").await;
    assert!(ok, "{out}");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&fresh).unwrap()).unwrap();
    assert_eq!(json["version"], 3);
    assert!(json.get("secret").is_none(), "{json}");
    let (ok, out) = finish(&["keygen", "--out", &s(&fresh)], "", &[], dir, "again").await;
    assert!(!ok && out.contains("already exists"), "{out}");
    let plain = dir.join("plain.json");
    let (ok, out) = finish(&["keygen", "--dev", "--out", &s(&plain)], "", &[], dir, "dev").await;
    assert!(ok, "{out}");
    assert!(std::fs::read_to_string(&plain).unwrap().contains("\"secret\""));

    // The harness's plaintext account key is refused without --dev.
    let n = &c.nodes[0];
    let ndir = n.config.parent().unwrap();
    let config = s(&n.config);
    let (ok, out) = finish(&["run", "--config", &config], "", &[], dir, "plaintext").await;
    assert!(!ok, "{out}");
    assert!(out.contains("is not encrypted") && out.contains("box-node keygen --from"), "{out}");

    // Encrypt it as the message says; run with the passphrase on a descriptor.
    let sealed = ndir.join("account.keystore");
    let convert = ["keygen", "--from", &s(&ndir.join("account.json")), "--out", &s(&sealed), "--passphrase-fd", "0"];
    let (ok, out) = finish(&convert, &format!("{PASSPHRASE}\n"), &[], dir, "convert").await;
    assert!(ok, "{out}");
    assert!(out.contains(&n.account.address().to_checksum(None)), "the same key: {out}");
    let toml = std::fs::read_to_string(&n.config).unwrap().replace("account.json", "account.keystore");
    std::fs::write(&n.config, toml).unwrap();
    let (ok, out) = finish(&["run", "--config", &config, "--passphrase-fd", "0"], "wrong\n", &[], dir, "wrong").await;
    assert!(!ok && out.contains("wrong password"), "{out}");
    let log = dir.join("node.out");
    let mut child =
        Running(node(&["run", "--config", &config, "--passphrase-fd", "0"], &format!("{PASSPHRASE}\n"), &[], &log));
    eventually("the node serves with its encrypted key", Duration::from_secs(120), || async {
        std::fs::read_to_string(&log).unwrap_or_default().contains("box-node serving").then_some(())
    })
    .await;
    assert!(child.0.try_wait().unwrap().is_none());
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
