//! What an operator sees of a `box-signer` process run by systemd: the line
//! on a stop signal and the exit code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_testkit::Cluster;
use box_testkit::anvil::Anvil;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_is_logged_and_the_signer_exits_zero() {
    let anvil = Anvil::start().await;
    let c = Cluster::start(&box_node_bin(), 1, 0).await;
    let mut s = SignerProc::for_cluster(&c, "signer", &anvil.endpoint(), anvil.chain_id());
    s.spawn(&[], &[]);
    // Running and waiting for the key holders.
    s.enrolment_code().await;
    let exit = s.terminate();
    let out = s.output();
    assert_eq!(exit.code(), Some(0), "exit {exit}; output:\n{out}");
    assert!(out.contains("received SIGTERM: box-signer is stopping"), "no stop line in the output:\n{out}");
}
