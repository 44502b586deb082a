//! The executor's real boundaries pass the same conformance suites as the
//! in-memory ones (`src/ports/conformance.rs`): box-eth against a real
//! anvil, the signer's link against a real box-node cluster. (The redb
//! store's run is a unit test: it needs no process.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_core::Address;
use box_core::crypto::SecretKey;
use box_eth::{Eth, U256};
use box_signer::link::Link;
use box_signer::ports::conformance::{self, ChainControl};
use box_testkit::Cluster;
use box_testkit::anvil::Anvil;
use common::{box_node_bin, cluster_nodes};

/// anvil's development controls for the suite.
struct AnvilControl<'a>(&'a Anvil);

impl ChainControl for AnvilControl<'_> {
    fn chain_id(&self) -> u64 {
        self.0.chain_id()
    }
    async fn fund(&self, who: Address, wei: U256) {
        self.0.fund(who, wei).await;
    }
    async fn deploy_token(&self, holder: Address) -> Address {
        self.0.deploy_erc20(holder).await
    }
    async fn set_automine(&self, on: bool) {
        self.0.set_automine(on).await;
    }
    async fn mine(&self, n: u64) {
        self.0.mine(n).await;
    }
}

#[tokio::test]
async fn box_eth_on_anvil_passes_the_ethereum_rpc_suite() {
    let anvil = Anvil::start().await;
    let eth = Eth::connect(&anvil.endpoint()).unwrap();
    conformance::ethereum_rpc(&eth, &AnvilControl(&anvil)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signers_link_to_a_cluster_passes_the_notary_link_suite() {
    let c = Cluster::start(&box_node_bin(), 3, 0).await;
    let link = Link::named(cluster_nodes(&c), &c.genesis.nodes, &c.signer_tls);
    let stranger = SecretKey::from_label_unchecked("not the signer");
    conformance::notary_link(&link, &c.domain, &c.signer, &stranger, || async {
        let blocks = c.blocks(c.wait_leader().await).await;
        box_core::audit::verify_history(&c.genesis, &blocks).ok().map(|v| v.state)
    })
    .await;
    // Its reports' answers named the leader: it is asked first, no relay.
    assert_eq!(link.asks_first(), Some(c.wait_leader().await));
}
