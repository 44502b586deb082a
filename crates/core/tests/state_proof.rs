//! A transfer's status proven against a sealed block header: the header's
//! `stateHash` is the state root, and `NotaryState::transfer_proof` gives the
//! transfer's row with its path. A proof from an older state does not verify
//! against a newer header, and a forged status never does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_core::B256;
use box_core::block::{Block, LoggedEntry};
use box_core::notary::{Entry, Subject, TransferStatus};
use box_core::typed::ReportStatus;
use common::*;

#[test]
fn a_transfers_status_is_proven_against_a_block_header() {
    let f = Fixture::new(2, 3, 2, 3);
    let mut s = f.state();
    f.activate_flow(&mut s);
    let tb = f.transbox(f.request(eth(1), 1));
    let tid = tb.transfer_id(&f.domain);
    f.decide(&mut s, Subject::Transfer(tb.clone()), T0);
    let seal = |s: &box_core::notary::NotaryState, height: u64| {
        let entry = LoggedEntry { index: height, time: T0.0, entry: Entry::Submit(Subject::Transfer(tb.clone())) };
        Block::seal(&f.domain, &f.nodes[0], height, B256::ZERO, vec![entry], s.state_root().0, T0.0)
    };
    let notarized_block = seal(&s, 1);
    let proof = s.transfer_proof(&tid).expect("a known transfer has a proof");
    let leaf = proof.verify(&notarized_block.header.stateHash).expect("it verifies against the header");
    assert_eq!(leaf.transfer_status(), Some(TransferStatus::Notarized));
    assert_eq!(leaf.amount, eth(1));

    // The signer's broadcast report: a later header proves the new status;
    // the old proof no longer verifies against it, the new one not against the old.
    let tx = B256::repeat_byte(0x11);
    f.decide(&mut s, f.report(tid.0, ReportStatus::Broadcast, tx, 7), T0);
    let broadcast_block = seal(&s, 2);
    assert!(proof.verify(&broadcast_block.header.stateHash).is_none(), "a stale proof");
    let newer = s.transfer_proof(&tid).unwrap();
    let leaf = newer.verify(&broadcast_block.header.stateHash).unwrap();
    assert_eq!(leaf.transfer_status(), Some(TransferStatus::Broadcast { tx_hash: tx, nonce: 7 }));
    assert!(newer.verify(&notarized_block.header.stateHash).is_none());

    // A forged status (confirmed) under the real path: refused.
    let mut forged = newer.clone();
    let mut as_confirmed = leaf.clone();
    as_confirmed.status = 3;
    forged.row.value = alloy::sol_types::SolValue::abi_encode(&as_confirmed);
    assert!(forged.verify(&broadcast_block.header.stateHash).is_none());
    assert!(s.transfer_proof(&box_core::ids::TransferId(B256::repeat_byte(9))).is_none(), "unknown transfer");
}
