//! docs/operations.md, executed (issue 17 item 3): its `sh runbook` blocks run
//! in order with bash, each machine a directory of one temporary directory on
//! 127.0.0.1, no `dev up`, every service key an encrypted keystore opened
//! with its passphrase on a file descriptor, anvil as the public chain. The
//! page is the test's script, so the two cannot drift apart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_testkit::anvil::Anvil;
use box_testkit::{eventually, free_port};
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const PHRASES: [&str; 3] = ["copper lantern orbits quietly", "seven herons fold the map", "violet anchor under rain"];

/// The `sh runbook` blocks of the page, in order.
fn runbook_blocks(page: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in page.lines() {
        match &mut current {
            None if line.trim() == "```sh runbook" => current = Some(String::new()),
            Some(b) if line.trim() == "```" => {
                blocks.push(std::mem::take(b));
                current = None;
            }
            Some(b) => {
                b.push_str(line);
                b.push('\n');
            }
            None => {}
        }
    }
    assert!(current.is_none(), "an unterminated runbook block");
    blocks
}

/// Stops every process a block started (their pid files), as systemd would.
struct Machines(PathBuf);

impl Drop for Machines {
    fn drop(&mut self) {
        for m in ["signer", "gateway", "node-1", "node-2", "node-3"] {
            if let Ok(pid) = std::fs::read_to_string(self.0.join(m).join("pid")) {
                let _ = Command::new("kill").arg(pid.trim()).status();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operations_runbook_deploys_box_by_hand_with_encrypted_keys() {
    let page = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/operations.md")).unwrap();
    let blocks = runbook_blocks(&page);
    assert!(blocks.len() >= 8, "the runbook's blocks: {}", blocks.len());

    let anvil = Anvil::start().await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let _machines = Machines(root.clone());
    // The binaries beside boxctl, first on the PATH (built if missing).
    for (bin, package) in [("box-node", "box-chain"), ("box-gateway", "box-gateway"), ("box-signer", "box-signer")] {
        sibling(bin, package);
    }
    let bin_dir = Path::new(BOXCTL).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let ports: Vec<String> = (0..4).map(|_| free_port().to_string()).collect();
    let env: Vec<(&str, String)> = vec![
        ("PATH", path),
        ("BOX", root.display().to_string()),
        ("ETH_RPC", anvil.endpoint()),
        ("CHAIN_ID", anvil.chain_id().to_string()),
        ("NODE1_PORT", ports[0].clone()),
        ("NODE2_PORT", ports[1].clone()),
        ("NODE3_PORT", ports[2].clone()),
        ("GATEWAY_PORT", ports[3].clone()),
        ("PASSPHRASE", "tidal granite orchards hum".into()),
        ("KH_PASSWORD", "amber lanterns drift south".into()),
        ("KH1_PHRASE", PHRASES[0].into()),
        ("KH2_PHRASE", PHRASES[1].into()),
        ("KH3_PHRASE", PHRASES[2].into()),
    ];
    for (i, block) in blocks.iter().enumerate() {
        // Output to files, not pipes: the services a block starts keep running after it.
        let (stdout, stderr) = (root.join(format!("block-{}.out", i + 1)), root.join(format!("block-{}.err", i + 1)));
        let mut child = Command::new("bash")
            .args(["-euo", "pipefail", "-c", block])
            .current_dir(&root)
            .env_remove("BOX_PROFILE")
            .env_remove("BOX_AS")
            .env_remove("BOX_PASSWORD")
            .env_remove(box_ops::unlock::ENV_PASSPHRASE)
            .env("RUST_LOG", "info")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        // Generous for a loaded machine: scrypt at geth's cost, three nodes electing, the ceremony.
        let status = eventually(&format!("runbook block {} ends", i + 1), Duration::from_secs(300), || {
            let s = child.try_wait().unwrap();
            async move { s }
        })
        .await;
        let logs: String = ["node-1/node.log", "gateway/gateway.log", "signer/signer.log"]
            .iter()
            .map(|l| format!("--- {l}\n{}\n", std::fs::read_to_string(root.join(l)).unwrap_or_default()))
            .collect();
        assert!(
            status.success(),
            "runbook block {} failed ({status}):\n{block}\nstdout:\n{}\nstderr:\n{}\n{logs}",
            i + 1,
            std::fs::read_to_string(&stdout).unwrap_or_default(),
            std::fs::read_to_string(&stderr).unwrap_or_default(),
        );
    }

    // Every service key is a keystore; the signer is unsealed with a wallet.
    for key in ["node-1/account.json", "node-2/account.json", "node-3/account.json", "signer/identity.json"] {
        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(root.join(key)).unwrap()).unwrap();
        assert_eq!(json["version"], 3, "{key} is not a keystore");
    }
    let status = Command::new(bin_dir.join("box-signer"))
        .args(["status", "--config"])
        .arg(root.join("signer/signer.toml"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout).into_owned();
    assert_eq!(status.status.code(), Some(0), "{text}");
    let wallet = eventually("the signer unsealed with a wallet", Duration::from_secs(120), || async {
        let out = Command::new(bin_dir.join("box-signer"))
            .args(["status", "--config"])
            .arg(root.join("signer/signer.toml"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !text.contains("unsealed: the key is in memory") {
            return None;
        }
        text.lines()
            .find_map(|l| l.strip_prefix("hot wallet: "))
            .and_then(|w| w.trim().parse::<box_core::Address>().ok())
    })
    .await;
    // The code and d never reached the signer's log.
    let shown = std::fs::read_to_string(root.join("signer/enrolment.txt")).unwrap();
    let log = std::fs::read_to_string(root.join("signer/signer.log")).unwrap();
    let code = shown.lines().find_map(|l| l.split("one-time enrolment code: ").nth(1)).unwrap().trim();
    assert!(!log.contains(code), "the enrolment code is in the signer's log");
    if let Some(d) = shown.lines().find_map(|l| l.split("d = 0x").nth(1)) {
        assert!(!log.contains(&d[..64]), "d is in the signer's log");
    }
    assert!(!wallet.is_zero());
    // The transfer the runbook's employee applied for is confirmed on the chain.
    let id = std::fs::read_to_string(root.join("erin/transfer.id")).unwrap();
    let password = std::fs::read_to_string(root.join("admin/erin.txt")).unwrap();
    let password = password.lines().find_map(|l| l.trim().strip_prefix("password:")).unwrap().trim().to_owned();
    let erin = root.join("erin");
    let shown = boxctl(
        &["--key", erin.join("key.json").to_str().unwrap(), "--json", "employee", "show", id.trim()],
        &[("BOX_PROFILE", erin.join("profile.toml").to_str().unwrap()), ("BOX_PASSWORD", &password)],
    )
    .json();
    assert_eq!(shown["state"], "confirmed", "{shown}");
}
