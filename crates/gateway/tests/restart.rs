//! The gateway as a separate process, killed in the middle of a submission:
//! the transfer accepted while every node was down is neither lost nor
//! duplicated once the nodes and the gateway come back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_api::TransferState;
use box_core::encoding::Canonical;
use box_core::notary::{Entry, Subject};
use box_testkit::{Cluster, eventually, free_port};
use common::*;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(config: &std::path::Path, log: &std::path::Path) -> Proc {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    Proc(
        Command::new(GATEWAY_BIN)
            .args(["run", "--config"])
            .arg(config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

async fn wait_up(c: &box_api::Client) {
    eventually("the gateway serves", Duration::from_secs(30), || async { c.deployment().await.ok() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_accepted_during_an_outage_survives_a_gateway_crash_exactly_once() {
    let mut cluster = Cluster::start(&box_node(), 3, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(&cluster, dir.path(), &Db::Sqlite, port, TEST_LIMITS);
    let log = dir.path().join("gateway.log");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let p = People::new();
    let mut gw = spawn(&config, &log);
    let admin = client(&cluster, addr, &p.admin);
    wait_up(&admin).await;

    let flow = active_flow(&cluster, addr, &p, 7).await;
    let employee = client(&cluster, addr, &p.employee);
    let req = request(flow, &p.employee, 2_000_000_000_000_000_000, "restart");
    let id = employee.apply(&req).await.unwrap().id;
    client(&cluster, addr, &p.l1[0]).approve(&id).await.unwrap();
    client(&cluster, addr, &p.l1[1]).approve(&id).await.unwrap();

    // Every node goes down; the last approval is still accepted, into the outbox.
    for n in 1..=3 {
        cluster.kill(n);
    }
    let t = client(&cluster, addr, &p.l2[1]).approve(&id).await.unwrap();
    assert_eq!(t.status.state, TransferState::Queued, "accepted while the chain is down");
    eventually("a failed relay attempt", Duration::from_secs(30), || async {
        employee.transfer(&id).await.ok().and_then(|t| t.relay).filter(|r| r.attempts > 0 && r.last_error.is_some())
    })
    .await;
    let r = admin.cluster().await.expect_err("no node answers");
    assert_eq!(r.status(), Some(503));

    // kill -9 the gateway in the middle of its retries; bring everything back.
    gw.0.kill().unwrap();
    gw.0.wait().unwrap();
    drop(gw);
    for n in 1..=3 {
        cluster.spawn(n);
    }
    cluster.wait_leader().await;
    let _gw = spawn(&config, &log);
    wait_up(&admin).await;

    let done = wait_transfer(&employee, &id, TransferState::Notarized).await;
    assert_eq!(done.id, id);
    assert_eq!(employee.transfers(&Default::default()).await.unwrap().len(), 1, "one transfer at the gateway");
    // On the chain: exactly one submission of this transfer in the sealed history.
    let auditor = client(&cluster, addr, &p.auditor);
    let tid = cluster.domain.transfer_id(&req);
    let submitted = eventually("the block with the submission is exported", Duration::from_secs(30), || async {
        let (_, blocks) = auditor.audit_export().await.ok()?;
        let found: Vec<box_core::transbox::TransBox> = blocks
            .iter()
            .flat_map(|b| &b.entries)
            .filter_map(|e| match &e.entry {
                Entry::Submit(Subject::Transfer(t)) if t.transfer_id(&cluster.domain) == tid => Some(t.clone()),
                _ => None,
            })
            .collect();
        (!found.is_empty()).then_some(found)
    })
    .await;
    assert_eq!(submitted.len(), 1, "submitted exactly once");
    // A transfer's subject is its complete transbox (issue 11, fault 4).
    let info = cluster.subject(1, &Subject::Transfer(submitted[0].clone()).id(&cluster.domain).unwrap()).await.unwrap();
    assert_eq!(info.status, box_proto::SubjectStatus::Notarized);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_is_logged_and_the_gateway_exits_zero() {
    let cluster = Cluster::start(&box_node(), 1, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(&cluster, dir.path(), &Db::Sqlite, port, TEST_LIMITS);
    let log = dir.path().join("gateway.log");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let p = People::new();
    let mut gw = spawn(&config, &log);
    wait_up(&client(&cluster, addr, &p.admin)).await;

    let exit = box_testkit::terminate(&mut gw.0);
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(exit.code(), Some(0), "exit {exit}; log:\n{text}");
    assert!(text.contains("received SIGTERM: box-gateway is stopping"), "no stop line in the log:\n{text}");
}

/// A node that streams a height it never serves (`BOX_NODE_FAULT=overclaim`:
/// 1,000 more than it holds) shows in `/v1/status` as `latest_height` only
/// until the gateway's follower drops its claim, without waiting for a
/// block: the status is read from the follower between blocks too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_false_claim_leaves_the_status_without_a_new_block() {
    let overclaim: &[(&str, &str)] = &[("BOX_NODE_FAULT", "overclaim")];
    let cluster = Cluster::start_with(&box_node(), 3, 0, &[(1, overclaim)]).await;
    let p = People::new();
    let id = cluster.submit(&Subject::Flow(flow(&p, 1)).encode()).await;
    eventually("the flow sealed", Duration::from_secs(60), || async {
        cluster.subject(2, &id).await.filter(|v| v.height > 0)
    })
    .await;
    // The chain falls quiet first: every node at one height with no entry
    // waiting for a block (a vote that came after the decision is sealed
    // on its own, later), so no block can come while the claim is watched.
    let sealed = eventually("every node at one height, nothing unsealed", Duration::from_secs(60), || async {
        let mut heights = Vec::new();
        for node in 1..=3 {
            let info = cluster.info(node).await.filter(|i| i.unsealed == 0)?;
            heights.push(info.height);
        }
        heights.windows(2).all(|w| w[0] == w[1]).then(|| heights[0])
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(&cluster, dir.path(), &Db::Sqlite, port, TEST_LIMITS);
    let log = dir.path().join("gateway.log");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let _gw = spawn(&config, &log);
    let c = client(&cluster, addr, &p.admin);
    wait_up(&c).await;
    let claimed = eventually("node 1's claim shown", Duration::from_secs(60), || async {
        c.status().await.ok().filter(|s| s.latest_height > 1_000)
    })
    .await;
    let shown = eventually("the claim dropped from the status", Duration::from_secs(60), || async {
        c.status().await.ok().filter(|s| s.latest_height < 1_000)
    })
    .await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("its claim is dropped"), "the follower kept the claim:\n{text}");
    assert_eq!(
        (shown.verified_height, shown.latest_height),
        (claimed.verified_height, claimed.verified_height),
        "the claim fell to the verified height with no block in between (the chain was at {sealed})"
    );
}
