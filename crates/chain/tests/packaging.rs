//! What an operator sees of a `box-node` process run by systemd: the line
//! on a stop signal and the exit code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use box_testkit::Cluster;
use std::path::Path;

const BIN: &str = env!("CARGO_BIN_EXE_box-node");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_is_logged_and_the_node_exits_zero() {
    let mut c = Cluster::start(Path::new(BIN), 1, 0).await;
    let exit = c.terminate(1);
    let log = c.log_tail(1);
    assert_eq!(exit.code(), Some(0), "exit {exit}; log:\n{log}");
    assert!(log.contains("received SIGTERM: box-node is stopping"), "no stop line in the log:\n{log}");
}
