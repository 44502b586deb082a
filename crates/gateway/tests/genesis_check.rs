//! Every process compares the genesis it is given with the chain's at start
//! (issue 17 item 2), against a real 3-node cluster: a gateway given another
//! genesis refuses to start, naming both fingerprints; so does a node whose
//! peers run another genesis (with a fresh data directory or its own); the
//! gateway and the node with the right genesis start.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_core::genesis::Fingerprint;
use box_gateway::Gateway;
use box_gateway::config::GatewayConfig;
use box_testkit::{Cluster, eventually, free_port};
use common::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_or_node_given_another_genesis_refuses_to_run_naming_both_fingerprints() {
    let mut cluster = Cluster::start(&box_node(), 3, 0).await;
    let ours = Fingerprint::of(&cluster.genesis).short();
    // The same deployment but for one field: another genesis.
    let mut other = cluster.genesis.clone();
    other.time += 1;
    let theirs = Fingerprint::of(&other).short();
    assert_ne!(ours, theirs);
    let other_path = cluster.dir.path().join("other-genesis.json");
    std::fs::write(&other_path, serde_json::to_vec_pretty(&other).unwrap()).unwrap();

    // The gateway.
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(&cluster, dir.path(), &Db::Sqlite, free_port(), TEST_LIMITS);
    let good = std::fs::read_to_string(&cfg).unwrap();
    let genesis_line = format!("genesis = \"{}\"", cluster.dir.path().join("genesis.json").display());
    assert!(good.contains(&genesis_line));
    std::fs::write(&cfg, good.replace(&genesis_line, &format!("genesis = \"{}\"", other_path.display()))).unwrap();
    let e = match Gateway::start(&GatewayConfig::load(&cfg).unwrap()).await {
        Ok(_) => panic!("a gateway with another genesis started"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains(&format!("fingerprint is {theirs}")) && e.contains(&format!("fingerprint {ours}")), "{e}");
    assert!(e.contains("refusing to run"), "{e}");
    std::fs::write(&cfg, &good).unwrap();
    let gw = Gateway::start(&GatewayConfig::load(&cfg).unwrap()).await.unwrap();
    gw.stop().await;

    // A node with a fresh data directory whose peers run another genesis.
    let node3 = cluster.nodes[2].config.clone();
    let node3_good = std::fs::read_to_string(&node3).unwrap();
    cluster.kill(3);
    std::fs::write(
        &node3,
        node3_good
            .replace("genesis = \"../genesis.json\"", "genesis = \"../other-genesis.json\"")
            .replace("data_dir = \"data\"", "data_dir = \"data-other\""),
    )
    .unwrap();
    cluster.spawn(3);
    let log = eventually("node 3 refuses", Duration::from_secs(60), || async {
        let t = cluster.log_tail(3);
        t.contains("runs a genesis with fingerprint").then_some(t)
    })
    .await;
    assert!(log.contains(&format!("fingerprint is {theirs}")) && log.contains(&format!("fingerprint {ours}")), "{log}");
    cluster.kill(3);

    // The node's own data directory and another genesis: refused too (by its peers' fingerprint
    // until a snapshot records the genesis in the data directory, then by the data directory).
    std::fs::write(&node3, node3_good.replace("genesis = \"../genesis.json\"", "genesis = \"../other-genesis.json\""))
        .unwrap();
    std::fs::write(&cluster.nodes[2].log, "").unwrap();
    cluster.spawn(3);
    let log = eventually("node 3 refuses with its own data directory", Duration::from_secs(60), || async {
        let t = cluster.log_tail(3);
        t.contains("refusing to run").then_some(t)
    })
    .await;
    assert!(log.contains(&ours) && log.contains(&theirs), "{log}");
    cluster.kill(3);
    // With the right genesis again, node 3 rejoins.
    std::fs::write(&node3, &node3_good).unwrap();
    cluster.spawn(3);
    eventually("node 3 answers again", Duration::from_secs(60), || async { cluster.info(3).await }).await;
}
