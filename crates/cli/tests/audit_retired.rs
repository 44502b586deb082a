//! `boxctl audit report` over a history whose transfers retired from the
//! live notary state (issue 13 item 2; box-core README "Retirement"). Real
//! `box-node` processes: a transfer is notarized, broadcast and confirmed
//! with a detail; every node restarts with its clock two days ahead
//! (`BOX_NODE_CLOCK_AHEAD`, a test hook), so the next entry's log time
//! passes the transfer's deadline and it retires. The history's state at
//! its end no longer holds it, and the regulator's report (JSON and CSV,
//! and text, from the exported history, offline) still lists it as confirmed with its
//! amount, transaction and detail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_core::Address;
use box_core::encoding::Canonical;
use box_proto::pb;
use box_testkit::{Cluster, FinishedTransfer, eventually};
use common::*;
use std::time::Duration;

const DETAIL: &str = "gas used 21000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_transfer_that_retired_is_reported_confirmed_with_its_amount_and_detail() {
    let mut c = Cluster::start(&sibling("box-node", "box-chain"), 3, 0).await;
    // One ETH, notarized, broadcast and confirmed with a detail.
    let FinishedTransfer { transfer: tid, transbox, tx, .. } = c.finished_transfer(DETAIL).await;

    // Every node restarts two days ahead; the next entries' log time passes
    // the transfer's deadline, so it retires.
    for node in 1..=3 {
        c.kill(node);
    }
    for node in 1..=3 {
        c.spawn_with(node, &[("BOX_NODE_CLOCK_AHEAD", "172800")]);
    }
    c.wait_leader().await;
    c.notarized(&c.submit(&box_testkit::sample_flow(7).encode()).await).await;
    let refused = eventually("the transfer retired", Duration::from_secs(90), || async {
        c.client(1).submit(pb::SubmitRequest { subject: transbox.encode() }).await.err()
    })
    .await;
    assert!(refused.message().contains("retired"), "{}", refused.message());
    c.notarized(&c.submit(&box_testkit::sample_flow(8).encode()).await).await;

    // The history, as `boxctl audit export` writes it: its end state no
    // longer holds the transfer.
    let blocks = c.blocks(1).await;
    let end = box_core::audit::verify_history(&c.genesis, &blocks).expect("the history verifies");
    assert!(end.state.transfer(&tid).is_none() && end.state.is_retired(&tid.0), "the test's premise: it retired");
    let dir = tempfile::tempdir().unwrap();
    let genesis = c.dir.path().join("genesis.json");
    std::fs::write(dir.path().join("ca.pem"), c.ca.ca_pem()).unwrap();
    let profile = dir.path().join("profile.toml");
    std::fs::write(
        &profile,
        format!("gateway = \"https://127.0.0.1:1\"\nca = \"ca.pem\"\ngenesis = \"{}\"\n", genesis.display()),
    )
    .unwrap();
    let export = box_cli::audit::ExportFile {
        genesis: c.genesis.clone(),
        blocks: blocks.iter().map(|b| format!("0x{}", hex::encode(b.encode()))).collect(),
    };
    let hist = dir.path().join("history.json");
    std::fs::write(&hist, serde_json::to_vec(&export).unwrap()).unwrap();

    // The report, JSON and CSV.
    let csv = dir.path().join("report.csv");
    let args = ["audit", "report", "--file", hist.to_str().unwrap(), "--csv", csv.to_str().unwrap(), "--json"];
    let rep = boxctl(&args, &[("BOX_PROFILE", profile.to_str().unwrap())]).json();
    let id = tid.0.to_string();
    let line = rep["transfers"].as_array().unwrap().iter().find(|t| t["id"] == id.as_str()).expect("listed").clone();
    assert_eq!(
        (line["status"].as_str(), line["amount"].as_str(), line["detail"].as_str()),
        (Some("confirmed"), Some("1 ETH"), Some(DETAIL)),
        "{line}"
    );
    assert_eq!(line["txHash"].as_str(), Some(tx.to_string().as_str()), "{line}");
    let text = boxctl(&args[..4], &[("BOX_PROFILE", profile.to_str().unwrap())]).ok().to_owned();
    assert!(text.contains(&format!("1 ETH -> {}  confirmed", Address::repeat_byte(0xD5).to_checksum(None))), "{text}");
    assert!(text.contains(&format!("detail: {DETAIL}")), "{text}");
    let csv = std::fs::read_to_string(&csv).unwrap();
    let row = csv.lines().find(|l| l.starts_with("transfer,") && l.contains(&id)).expect("a CSV row");
    let cols: Vec<&str> = row.split(',').collect();
    assert_eq!((cols[7], cols[8], cols[10]), ("1 ETH", "confirmed", DETAIL), "{row}");
}
