//! Issue 13 item 3 through `boxctl`: an auditor's empty replica
//! (`boxctl audit follow --bootstrap-from …`, with an auditor's node
//! certificate) starts from the latest state a strict majority of the node
//! registry attests instead of block 1, then follows new blocks from the
//! gateway; with only a minority of nodes up to attest, the state is refused
//! with the reason and the replica verifies from the genesis instead. Real
//! processes: anvil, 3 `box-node`s (node 1 keeps its state every 2 blocks),
//! box-signer, box-gateway over HTTPS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_core::Address;
use box_ops::role::CertRole;
use box_testkit::{eventually, key};
use common::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_replica_starts_from_a_majority_attested_state_and_a_minority_is_refused() {
    let mut d = Deployment::start().await;
    // Node 1 keeps the state every 2 blocks (the default is 1000).
    d.cluster.terminate(1);
    let config = d.cluster.nodes[0].config.clone();
    let toml = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        toml.replace("seal_interval_ms = 250\n", "seal_interval_ms = 250\nstate_checkpoint_every = 2\n"),
    )
    .unwrap();
    d.cluster.spawn(1);
    d.cluster.wait_leader().await;
    let m = |n: &str| key(n).address().to_checksum(None);
    d.run("", &["admin", "register", "--address", &m("auditor"), "--name", "Ada", "--role", "auditor"], &[]).ok();
    for b in 1..=4u8 {
        let who = Address::repeat_byte(0xB0 + b).to_checksum(None);
        d.run("kh-1", &["keyholder", "block", &who, "--reason", "drill"], &[]).ok();
    }
    let node1 = d.cluster.node_client(&[1]);
    let kept = eventually("node 1 keeps a state", Duration::from_secs(120), || async {
        box_proto::bootstrap::fetch_state(&node1).await.ok().map(|(_, h, _)| h)
    })
    .await;

    // The auditor's certificate for reading the nodes.
    let tls = d.cluster.tls_as("auditor", CertRole::Auditor);
    let (cert, cert_key) = (d.path("auditor.pem"), d.path("auditor.key"));
    std::fs::write(&cert, &tls.cert).unwrap();
    std::fs::write(&cert_key, &tls.key).unwrap();
    let nodes: Vec<String> = d.cluster.nodes.iter().map(|n| n.addr.clone()).collect();
    let nodes = nodes.join(",");
    let ca = d.path("ca.pem");
    let flags = |out: &str| -> Vec<String> {
        [
            "audit",
            "follow",
            "--out",
            out,
            "--once",
            "--json",
            "--bootstrap-from",
            &nodes,
            "--ca",
            ca.to_str().unwrap(),
            "--cert",
            cert.to_str().unwrap(),
            "--cert-key",
            cert_key.to_str().unwrap(),
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let replica = d.path("replica");
    let args = flags(replica.to_str().unwrap());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let f1 = d.run("auditor", &args, &[]).json();
    let at = f1["bootstrappedAt"].as_u64().unwrap_or_else(|| panic!("not bootstrapped: {f1}"));
    assert!(at >= kept && at % 2 == 0, "{f1}");
    assert_eq!(f1["resumedFrom"].as_u64(), Some(at), "{f1}");
    let h1 = f1["height"].as_u64().unwrap();
    let started: serde_json::Value =
        serde_json::from_slice(&std::fs::read(replica.join("bootstrap.json")).unwrap()).unwrap();
    assert_eq!(started["height"].as_u64(), Some(at));
    assert!(started["attestedBy"].as_array().unwrap().len() >= 2, "{started}");
    let lines = || std::fs::read_to_string(replica.join("blocks.jsonl")).unwrap().lines().count() as u64;
    assert_eq!(lines(), h1 - at, "the replica holds the blocks after the attested state");

    // It follows new blocks from there, without the option.
    d.run("kh-1", &["keyholder", "block", &Address::repeat_byte(0xBF).to_checksum(None), "--reason", "later"], &[])
        .ok();
    d.until("more blocks", "kh-1", &["status", "--json"], |v| v["gateway"]["verifiedHeight"].as_u64() > Some(h1)).await;
    let replica_s = replica.to_str().unwrap();
    let f2 = d.run("auditor", &["audit", "follow", "--out", replica_s, "--once", "--json"], &[]).json();
    assert_eq!(f2["resumedFrom"].as_u64(), Some(h1), "{f2}");
    assert!(f2["height"].as_u64().unwrap() > h1 && lines() == f2["height"].as_u64().unwrap() - at, "{f2}");

    // Only node 1 up to attest: one of three is not a majority; the replica verifies from the genesis.
    d.cluster.kill(2);
    d.cluster.kill(3);
    let fallback = d.path("replica-fallback");
    let args = flags(fallback.to_str().unwrap());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let f3 = d.run("auditor", &args, &[]).json();
    let why = f3["bootstrapRefused"].as_str().unwrap_or_else(|| panic!("not refused: {f3}"));
    assert!(why.contains("1 of 3") && why.contains("verifying from the genesis (block 1) instead"), "{why}");
    assert_eq!(f3["resumedFrom"].as_u64(), Some(0), "{f3}");
    assert!(f3["height"].as_u64().unwrap() >= h1, "{f3}");
    assert!(!fallback.join("bootstrap.json").exists());
}
