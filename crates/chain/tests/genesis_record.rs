//! A node's data directory records its genesis fingerprint when its database
//! is created (issue 17): started again with another genesis file, the node
//! refuses at once, naming both fingerprints, although no snapshot exists yet.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use box_core::genesis::Fingerprint;
use box_core::typed::Genesis;
use box_testkit::{Cluster, eventually};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_box-node");

fn start(config: &Path, log: &Path) -> Child {
    let out = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    Command::new(BIN)
        .args(["run", "--dev", "--config"])
        .arg(config)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_refuses_another_genesis_than_its_data_directory_was_created_with() {
    let c = Cluster::prepare(Path::new(BIN), 1, 0, 100);
    let n = &c.nodes[0];
    let log = c.dir.path().join("node.out");
    let mut child = start(&n.config, &log);
    eventually("the node serves", Duration::from_secs(120), || async {
        std::fs::read_to_string(&log).unwrap_or_default().contains("box-node serving").then_some(())
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();

    // Another genesis (one field changed), the same data directory.
    let path = c.dir.path().join("genesis.json");
    let mut genesis: Genesis = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let before = Fingerprint::of(&genesis);
    genesis.time += 1;
    let after = Fingerprint::of(&genesis);
    std::fs::write(&path, serde_json::to_vec_pretty(&genesis).unwrap()).unwrap();
    let mut child = start(&n.config, &log);
    let status = eventually("the node refuses to start", Duration::from_secs(120), || {
        let s = child.try_wait().unwrap();
        async move { s }
    })
    .await;
    let out = std::fs::read_to_string(&log).unwrap();
    assert!(!status.success(), "{out}");
    assert!(out.contains("belongs to another genesis"), "{out}");
    assert!(out.contains(&before.to_string()) && out.contains(&after.to_string()), "both fingerprints named:\n{out}");
}
