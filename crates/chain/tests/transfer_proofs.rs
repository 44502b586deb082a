//! Issue 13 item 2: a finished transfer stays readable by id with a proof
//! after it retires from the nodes' live state. Real `box-node` processes:
//! the transfer's final status is proven through `Notary.GetTransferProof`
//! (a gateway certificate) against the header at that height, which the
//! chain's verified history holds; then every node restarts with its clock
//! two days ahead (`BOX_NODE_CLOCK_AHEAD`, a test hook), log time passes the
//! transfer's deadline, its subjects leave the live state, a replay is
//! refused with the reason, and the same proof is still served (and the
//! notarized transbox is still answered by id from the block store). A
//! rejected subject is answered the same way after it retired: rejected, with
//! its kind, its reasons and its height.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use box_core::audit::verify_history;
use box_core::encoding::Canonical;
use box_core::notary::{SubjectKind, TransferStatus};
use box_proto::{ProvenTransfer, pb};
use box_testkit::{Cluster, FinishedTransfer, eventually};
use std::path::Path;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_box-node");

/// The proof node `node` serves for `tid`, once it shows `want`.
async fn proven(c: &Cluster, node: u64, tid: &box_core::ids::TransferId, want: u8) -> ProvenTransfer {
    let client = c.node_client(&[node]);
    eventually("a proof of the transfer's row", Duration::from_secs(90), || async {
        client.transfer_proof(tid).await.ok().flatten().filter(|p| p.leaf().is_some_and(|l| l.status == want))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_transfer_is_proven_by_id_against_its_header_before_and_after_it_retires() {
    let mut c = Cluster::start(Path::new(BIN), 3, 0).await;
    // One transfer, notarized, broadcast and confirmed.
    let FinishedTransfer { transfer: tid, transbox, transbox_id, tx } = c.finished_transfer("").await;

    // Its final status, proven against the header at the proof's height, on
    // every node; the header is the one the chain's verified history holds.
    let before = proven(&c, 1, &tid, 3).await;
    assert_eq!(before.leaf().unwrap().transfer_status(), Some(TransferStatus::Confirmed { tx_hash: tx }));
    let blocks = c.blocks(1).await;
    verify_history(&c.genesis, &blocks).expect("the chain verifies");
    let held = &blocks[before.height as usize - 1];
    assert_eq!(before.header.header, held.header, "the proof's header is the chain's");
    assert_eq!(before.header.signature, held.signature);
    for node in 2..=3 {
        let p = proven(&c, node, &tid, 3).await;
        assert_eq!((p.height, p.leaf()), (before.height, before.leaf()), "node {node}");
    }
    // A forged row does not verify with that proof.
    let mut forged = before.clone();
    forged.proof.row.value[31 + 32 * 8] ^= 1;
    assert!(forged.leaf().is_none());
    // An unknown transfer: NOT_FOUND with the reason.
    let err = c
        .client(1)
        .get_transfer_proof(pb::TransferProofQuery { transfer_id: vec![0x55; 32] })
        .await
        .expect_err("unknown");
    assert_eq!(err.code(), tonic::Code::NotFound);
    assert!(err.message().contains("no block this node holds changed transfer"), "{}", err.message());

    // Every node restarts with its clock two days ahead: the next entry's log
    // time passes the transfer's deadline (a day after submission, the
    // flow's period), so it retires from the live state.
    for node in 1..=3 {
        c.kill(node);
    }
    for node in 1..=3 {
        c.spawn_with(node, &[("BOX_NODE_CLOCK_AHEAD", "172800")]);
    }
    c.wait_leader().await;
    let decided_at = c.subject(1, &transbox_id).await.unwrap().height;
    c.notarized(&c.submit(&box_testkit::sample_flow(7).encode()).await).await;
    // A replay of its transbox is refused, with the reason: it retired.
    let refused = eventually("the transfer retired", Duration::from_secs(90), || async {
        c.client(2).submit(pb::SubmitRequest { subject: transbox.encode() }).await.err()
    })
    .await;
    assert!(refused.message().contains("retired"), "{}", refused.message());
    // Its subject is still answered by id, notarized at the height the block
    // store recorded, with its certificate.
    for node in 1..=3 {
        let view = c.subject(node, &transbox_id).await.unwrap();
        assert_eq!((view.status.to_string(), view.height), ("notarized".to_owned(), decided_at), "node {node}");
        assert!(!view.certificate.is_empty());
    }
    // The proof is still served, by every node, against the same header.
    for node in 1..=3 {
        let p = proven(&c, node, &tid, 3).await;
        assert_eq!(p.height, before.height, "node {node}");
        assert_eq!(p.header, before.header);
        assert_eq!(p.leaf(), before.leaf());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_subject_keeps_its_status_reasons_and_height_after_it_retires() {
    let mut c = Cluster::start(Path::new(BIN), 3, 0).await;
    // Removing node 3 needs more than node 1's signature: the nodes reject it.
    let (rejected, id, before) = c.rejected_subject().await;
    assert_eq!(before.kind, Some(SubjectKind::Governance));
    assert!(!before.reasons.is_empty(), "a rejection carries the refusing nodes' reasons");

    // Every node restarts two days ahead; the next entry's log time passes the
    // rejection's deadline (six hours after it), so it retires.
    for node in 1..=3 {
        c.kill(node);
    }
    for node in 1..=3 {
        c.spawn_with(node, &[("BOX_NODE_CLOCK_AHEAD", "172800")]);
    }
    c.wait_leader().await;
    c.notarized(&c.submit(&box_testkit::sample_flow(7).encode()).await).await;
    // A refusal, not a transient failure (no leader yet after the restart, a
    // forward that timed out): those are asked again.
    let refused = eventually("the rejection retired", Duration::from_secs(90), || async {
        c.client(2)
            .submit(pb::SubmitRequest { subject: rejected.encode() })
            .await
            .err()
            .filter(|s| !matches!(s.code(), tonic::Code::Unavailable | tonic::Code::DeadlineExceeded))
    })
    .await;
    assert!(refused.message().contains("retired"), "{}", refused.message());
    // Still answered by every node, from its block store: rejected, with the
    // same kind, reasons and height. A node answers from its replayed state
    // before it has stored the deciding block again (its write of a block is
    // not flushed; the log it replays is), as any node behind does: height 0.
    for node in 1..=3 {
        let view = eventually(&format!("node {node} answers from a block"), Duration::from_secs(60), || async {
            c.subject(node, &id).await.filter(|v| v.height > 0)
        })
        .await;
        assert_eq!(view.status.to_string(), "rejected", "node {node}");
        assert_eq!(
            (view.kind, &view.reasons, view.height),
            (before.kind, &before.reasons, before.height),
            "node {node}"
        );
    }
}
