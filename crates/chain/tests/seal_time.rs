//! The leader reports each block it seals and how long its Seal and
//! SignBlock took (`Shared::seal_time`, read by the history benchmark).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use box_chain::config::NodeConfig;
use box_chain::node;
use box_core::encoding::Canonical;
use box_testkit::{Cluster, eventually, sample_flow, submit_via};
use std::path::Path;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn the_leader_reports_each_block_it_seals_and_how_long_it_took() {
    let c = Cluster::prepare(Path::new("in-process"), 3, 0, 50);
    let mut nodes = Vec::new();
    for n in &c.nodes {
        let mut cfg = NodeConfig::load(&n.config).unwrap();
        cfg.unlock.dev = true; // the test harness writes plaintext key files
        nodes.push(node::start(&cfg).await.unwrap());
    }
    // Nothing sealed yet: nothing reported.
    assert!(nodes.iter().all(|n| n.shared.seal_time.borrow().0 == 0));
    submit_via(&c.node_client(&[1, 2, 3]), sample_flow(1).encode()).await;
    // Generous under load: a block is sealed within a second on an idle machine.
    let (height, took, block) =
        eventually("a sealed block reported by its sealer", Duration::from_secs(120), || async {
            nodes.iter().find_map(|n| {
                let (height, took) = *n.shared.seal_time.borrow();
                (height >= 1).then(|| (height, took, n.shared.block(height).unwrap()))
            })
        })
        .await;
    assert!(took > Duration::ZERO, "the seal of block {height} took no time");
    assert!(block.is_some(), "block {height} is reported sealed but not stored");
    for n in nodes {
        n.shutdown().await;
    }
}
