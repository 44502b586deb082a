//! Issue 11, fault 4: a transfer's subject cannot be taken first. The real
//! request and applicant signature without the approvals, submitted ahead of
//! the approved transbox, are refused before the log and never recorded;
//! the approved transbox is then notarized. Real `box-node` processes,
//! attacked through their gRPC port with a CA-issued (gateway) certificate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use box_core::crypto::SecretKey;
use box_core::encoding::Canonical;
use box_core::ids::SubjectId;
use box_core::notary::Subject;
use box_core::transbox::TransBox;
use box_proto::pb;
use box_testkit::{Cluster, eventually, key, one_ether_request, payments_flow};
use std::path::Path;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_box-node");

async fn status(c: &Cluster, id: &SubjectId) -> String {
    c.subject(1, id).await.map(|s| s.status.to_string()).unwrap_or_default()
}

async fn decided(c: &Cluster, id: &SubjectId) -> String {
    eventually("a decision", Duration::from_secs(60), || async {
        Some(status(c, id).await).filter(|s| s == "notarized" || s == "rejected")
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transbox_without_its_approvals_cannot_take_the_transfers_place() {
    let c = Cluster::start(Path::new(BIN), 3, 0).await;
    let employee = key("employee");
    let approvers: Vec<SecretKey> = (0..3).map(|i| key(&format!("approver-{i}"))).collect();
    let flow = payments_flow(employee.address(), approvers.iter().map(SecretKey::address).collect(), 2);
    // The flow: notarized, enabled by every key holder, anchored by the signer.
    let request = one_ether_request(c.activate(flow).await, employee.address());
    // The attack: the real request and applicant signature, no approvals,
    // sent first with a CA-issued certificate that may submit.
    let squat = Subject::Transfer(TransBox::apply(&c.domain, request.clone(), &employee));
    let squat_id = squat.id(&c.domain).unwrap();
    for node in 1..=3 {
        let refused =
            c.client(node).submit(pb::SubmitRequest { subject: squat.encode() }).await.expect_err("squat refused");
        assert_eq!(refused.code(), tonic::Code::FailedPrecondition, "{}", refused.message());
        assert!(refused.message().contains("not recorded: level 1 (Finance) has 0 of 2"), "{}", refused.message());
        // Through Propose too, even from a node's own certificate.
        let entry = box_core::notary::Entry::Submit(squat.clone()).encode();
        let refused = c
            .client_with(node, &c.node_tls(node))
            .propose(pb::ProposeRequest { entry, forwarded: false })
            .await
            .expect_err("squat refused");
        assert_eq!(refused.code(), tonic::Code::FailedPrecondition, "{}", refused.message());
    }
    // One approval of two: refused the same way.
    let mut short = TransBox::apply(&c.domain, request.clone(), &employee);
    short.approve(&c.domain, 1, &approvers[0]);
    let refused =
        c.client(2).submit(pb::SubmitRequest { subject: Subject::Transfer(short).encode() }).await.unwrap_err();
    assert!(refused.message().contains("has 1 of 2"), "{}", refused.message());
    assert_eq!(status(&c, &squat_id).await, "unknown", "nothing was recorded");

    // The approved transbox for the same request is taken and notarized.
    let mut real = TransBox::apply(&c.domain, request, &employee);
    real.approve(&c.domain, 1, &approvers[1]);
    real.approve(&c.domain, 1, &approvers[2]);
    let id = c.submit(&Subject::Transfer(real).encode()).await;
    assert_ne!(id, squat_id);
    assert_eq!(decided(&c, &id).await, "notarized");
    assert_eq!(status(&c, &squat_id).await, "unknown");
}
