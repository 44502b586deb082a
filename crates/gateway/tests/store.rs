//! One conformance suite for the store, run against a SQLite file and a real
//! PostgreSQL server: the guarantees `store`'s module doc promises.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_api::{CollectionState, RelayOutcome, Role};
use box_core::crypto::SecretKey;
use box_core::ids::{FlowHash, SubjectId, TransferId};
use box_core::typed::TransferRequest;
use box_core::{Address, Amount, B256, Signature, U256};
use box_gateway::config::Database;
use box_gateway::store::{
    ApprovalRow, FinalKind, NewOutbox, NonceUse, Person, Store, StoreError, SubjectKind, TransferFilter, TransferRow,
};

/// The address `0xbbbb…` written as its repeated byte.
fn a(b: u8) -> Address {
    Address::repeat_byte(b)
}

fn n(i: u8) -> B256 {
    B256::from(U256::from(i))
}

fn nonce(signer: u8, i: u8) -> NonceUse {
    NonceUse { signer: a(signer), nonce: n(i), at: box_gateway::store::now() }
}

fn id(b: u8) -> TransferId {
    TransferId(B256::repeat_byte(b))
}

fn sig(label: &str) -> Signature {
    SecretKey::from_label_unchecked(label).sign_hash(&B256::repeat_byte(9))
}

fn transfer(tid: u8, applicant: u8) -> TransferRow {
    let request = TransferRequest {
        requestId: B256::repeat_byte(tid),
        flowHash: B256::repeat_byte(0xf1),
        applicant: a(applicant),
        asset: Address::ZERO,
        to: a(0xd5),
        amount: U256::MAX,
        maxFee: U256::from(1u8),
        chainId: 31337,
        timestamp: 1,
    };
    TransferRow {
        id: id(tid),
        flow_hash: FlowHash(B256::repeat_byte(0xf1)),
        applicant: a(applicant),
        asset: Address::ZERO,
        destination: a(0xd5),
        amount: Amount(U256::MAX),
        request,
        applicant_signature: sig("applicant"),
        level: 1,
        state: CollectionState::Collecting,
        reason: None,
        rejected_by: None,
        version: 0,
        created_at: 1,
        updated_at: 1,
    }
}

async fn conformance(db: Database) {
    let store = Store::open(&db).await.unwrap();
    // Opening again migrates nothing twice.
    let store2 = Store::open(&db).await.unwrap();

    // A nonce is used once, and a refused change leaves nothing behind.
    let p = Person {
        address: a(0xaa),
        name: "A".into(),
        roles: [Role::Employee].into(),
        registered_by: a(0xad),
        registered_at: 5,
    };
    store.put_person(&nonce(0xad, 1), &p).await.unwrap();
    let again = Person { name: "B".into(), ..p.clone() };
    assert!(matches!(store2.put_person(&nonce(0xad, 1), &again).await, Err(StoreError::NonceReused { .. })));
    assert_eq!(store.person(&a(0xaa)).await.unwrap().unwrap().name, "A");
    assert_eq!(store.person(&a(0xaa)).await.unwrap().unwrap(), p, "every column reads back typed");
    assert!(store.nonce_seen(&a(0xad), &n(1)).await.unwrap());
    assert!(!store.nonce_seen(&a(0xbb), &n(1)).await.unwrap(), "nonces are per signer");

    // A transfer id is stored once; amounts keep all 256 bits as decimal text.
    assert!(store.insert_transfer(&nonce(0xaa, 2), &transfer(0x01, 0xaa)).await.unwrap());
    assert!(!store.insert_transfer(&nonce(0xaa, 3), &transfer(0x01, 0xaa)).await.unwrap());
    assert!(!store.nonce_seen(&a(0xaa), &n(3)).await.unwrap(), "the refused insert spent no nonce");
    let t = store.transfer(&id(0x01)).await.unwrap().unwrap();
    assert_eq!(t.amount, transfer(0x01, 0xaa).amount);
    assert_eq!(t, transfer(0x01, 0xaa), "every column reads back typed");

    // Approvals: optimistic concurrency, one row per approver, outbox in the same transaction.
    let approval = |who: u8| ApprovalRow {
        transfer_id: id(0x01),
        level: 1,
        approver: a(who),
        signature: sig("approver"),
        created_at: 2,
    };
    store.approve(&nonce(0xb1, 1), 0, &approval(0xb1), 1, CollectionState::Collecting, None).await.unwrap();
    assert!(matches!(
        store.approve(&nonce(0xb2, 1), 0, &approval(0xb2), 2, CollectionState::Collecting, None).await,
        Err(StoreError::Conflict)
    ));
    assert!(!store.nonce_seen(&a(0xb2), &n(1)).await.unwrap(), "a lost race spends no nonce");
    assert!(matches!(
        store.approve(&nonce(0xb1, 2), 1, &approval(0xb1), 1, CollectionState::Collecting, None).await,
        Err(StoreError::Conflict)
    ));
    let subject = SubjectId(B256::repeat_byte(0x5e));
    let out = NewOutbox { subject_id: subject, kind: SubjectKind::Transfer, subject: vec![0x01, 0x05] };
    store.approve(&nonce(0xb2, 2), 1, &approval(0xb2), 2, CollectionState::Submitting, Some(&out)).await.unwrap();
    assert_eq!(store.approvals(&id(0x01)).await.unwrap().len(), 2);
    let t = store.transfer(&id(0x01)).await.unwrap().unwrap();
    assert_eq!((t.level, t.state, t.version), (2, CollectionState::Submitting, 2));
    assert!(matches!(store.reject(&nonce(0xb3, 1), &id(0x01), 0, &a(0xb3), "no").await, Err(StoreError::Conflict)));

    // The outbox survives a reopen, and a relayed row is no longer due.
    drop(store2);
    let reopened = Store::open(&db).await.unwrap();
    let due = reopened.outbox_due(10).await.unwrap();
    assert_eq!(due.iter().map(|r| r.subject_id).collect::<Vec<_>>(), vec![subject]);
    assert_eq!((due[0].kind, due[0].subject.as_str()), (SubjectKind::Transfer, "0x0105"));
    reopened.outbox_failed(&subject, "node down").await.unwrap();
    assert_eq!(reopened.outbox(&subject).await.unwrap().unwrap().attempts, 1);
    reopened.outbox_done(&subject, &RelayOutcome::Submitted).await.unwrap();
    assert!(reopened.outbox_due(10).await.unwrap().is_empty());
    let row = reopened.outbox(&subject).await.unwrap().unwrap();
    assert_eq!((row.outcome, row.last_error), (Some(RelayOutcome::Submitted), None));

    // Filters.
    store.insert_transfer(&nonce(0xcc, 1), &transfer(0x02, 0xcc)).await.unwrap();
    let f = |applicant: Option<u8>, state: Option<CollectionState>| TransferFilter {
        applicant: applicant.map(a),
        state,
        limit: 10,
        ..Default::default()
    };
    assert_eq!(store.transfers(&f(None, None)).await.unwrap().len(), 2);
    assert_eq!(store.transfers(&f(Some(0xcc), None)).await.unwrap()[0].id, id(0x02));
    assert_eq!(store.transfers(&f(None, Some(CollectionState::Submitting))).await.unwrap()[0].id, id(0x01));
    assert!(store.transfers(&f(Some(0xcc), Some(CollectionState::Submitting))).await.unwrap().is_empty());

    // The backfill's walk: transfers given to the chain without a final status, by id, paged.
    assert_eq!(store.transfers_without_final(None, 10).await.unwrap(), vec![id(0x01)]);
    assert!(store.transfers_without_final(Some(&id(0x01)), 10).await.unwrap().is_empty(), "after the cursor");
    assert!(store.transfers_without_final(None, 0).await.unwrap().is_empty(), "the limit holds");
    assert_eq!(store.finals_recorded_to().await.unwrap(), 0, "nothing recorded");
    let confirmed = box_gateway::store::FinalTransfer {
        status: box_core::notary::TransferStatus::Confirmed { tx_hash: B256::repeat_byte(0x7a) },
        detail: None,
    };
    let confirmed = serde_json::to_string(&confirmed).unwrap();
    store.put_finals(3, &[(FinalKind::Transfer, id(0x01).0, Some(confirmed.clone()))]).await.unwrap();
    assert!(store.transfers_without_final(None, 10).await.unwrap().is_empty(), "a recorded one is not listed");
    // Read back with the height of the block that made it final; the
    // highest such height is what a start compares its replica with.
    let (height, f) = store.final_transfer(&id(0x01).0).await.unwrap().expect("recorded");
    assert_eq!((height, f.status.is_final()), (3, true));
    let decided = serde_json::to_string(&box_core::notary::SubjectStatus::Rejected { reasons: vec!["no".into()] });
    store.put_finals(9, &[(FinalKind::Subject, B256::repeat_byte(0x5b), Some(decided.unwrap()))]).await.unwrap();
    assert_eq!(store.finals_recorded_to().await.unwrap(), 9);
    assert_eq!(store.final_subject(&B256::repeat_byte(0x5b)).await.unwrap().map(|(h, _)| h), Some(9));
    // A row recorded at a greater height is neither replaced nor forgotten
    // by an older writer; a later block forgets it (a reorged confirmation).
    let t = id(0x01).0;
    store.put_finals(5, &[(FinalKind::Transfer, t, Some(confirmed.clone()))]).await.unwrap();
    store.put_finals(4, &[(FinalKind::Transfer, t, Some("{}".into())), (FinalKind::Transfer, t, None)]).await.unwrap();
    assert_eq!(store.final_transfer(&t).await.unwrap().map(|(h, _)| h), Some(5), "older writes leave it");
    store.put_finals(6, &[(FinalKind::Transfer, t, None)]).await.unwrap();
    assert_eq!(store.final_transfer(&t).await.unwrap(), None, "forgotten by a later block");

    // Blocks are idempotent and ordered.
    for h in [2i64, 1, 2] {
        store.put_block(h, &format!("0x{h:02x}")).await.unwrap();
    }
    assert_eq!(store.blocks(1, 10).await.unwrap(), vec![(1, "0x01".into()), (2, "0x02".into())]);

    // An escrowed keystore is claimed once with its token's hash; every failed
    // claim looks the same; replacing the keystore replaces the token.
    let (k1, k2) = (serde_json::json!({"k": 1}), serde_json::json!({"k": 2}));
    let t = |b: u8| B256::repeat_byte(b);
    store.put_escrow(&nonce(0xad, 9), &a(0xe1), &k1, &a(0xad), Some(&t(0x70))).await.unwrap();
    assert_eq!(store.claim_escrow(&a(0xe1), &t(0x71)).await.unwrap(), None, "wrong token");
    assert_eq!(store.claim_escrow(&a(0xe2), &t(0x70)).await.unwrap(), None, "nobody there");
    let e = store.claim_escrow(&a(0xe1), &t(0x70)).await.unwrap().unwrap();
    assert_eq!((e.keystore, e.uploaded_by), (k1, a(0xad)));
    assert_eq!(store.claim_escrow(&a(0xe1), &t(0x70)).await.unwrap(), None, "spent");
    assert!(store.escrow(&a(0xe1)).await.unwrap().is_some(), "signed reads still serve it");
    store.put_escrow(&nonce(0xad, 10), &a(0xe1), &k2, &a(0xad), Some(&t(0x72))).await.unwrap();
    assert_eq!(store.claim_escrow(&a(0xe1), &t(0x70)).await.unwrap(), None);
    assert_eq!(store.claim_escrow(&a(0xe1), &t(0x72)).await.unwrap().unwrap().keystore, k2);
    store.put_escrow(&nonce(0xe3, 1), &a(0xe3), &serde_json::json!({}), &a(0xe3), None).await.unwrap();
    assert_eq!(store.claim_escrow(&a(0xe3), &B256::ZERO).await.unwrap(), None, "no token, no unsigned claim");

    // Offboarding: the escrow deleted, the person's collecting applications closed with the
    // reason, someone else's and a complete one untouched, all in one transaction.
    assert!(store.insert_transfer(&nonce(0xe1, 2), &transfer(0x41, 0xe1)).await.unwrap());
    assert!(store.insert_transfer(&nonce(0xe1, 3), &transfer(0x42, 0xe1)).await.unwrap());
    assert!(store.insert_transfer(&nonce(0xe4, 1), &transfer(0x43, 0xe4)).await.unwrap());
    let closing = ApprovalRow { transfer_id: id(0x42), ..approval(0xb1) };
    store.approve(&nonce(0xb1, 3), 0, &closing, 1, CollectionState::Submitting, None).await.unwrap();
    let (revoked, cancelled) = store.offboard(&nonce(0x99, 1), &a(0xe1), &a(0x99), "offboarded: left").await.unwrap();
    assert!(revoked);
    assert_eq!(cancelled, vec![id(0x41)]);
    assert!(store.escrow(&a(0xe1)).await.unwrap().is_none());
    let t = store.transfer(&id(0x41)).await.unwrap().unwrap();
    assert_eq!(
        (t.state, t.reason.as_deref(), t.rejected_by),
        (CollectionState::Rejected, Some("offboarded: left"), Some(a(0x99)))
    );
    assert_eq!(store.transfer(&id(0x42)).await.unwrap().unwrap().state, CollectionState::Submitting);
    assert_eq!(store.transfer(&id(0x43)).await.unwrap().unwrap().state, CollectionState::Collecting);
    assert!(matches!(
        store.offboard(&nonce(0x99, 1), &a(0xe4), &a(0x99), "x").await,
        Err(StoreError::NonceReused { .. })
    ));
    assert_eq!(store.transfer(&id(0x43)).await.unwrap().unwrap().state, CollectionState::Collecting, "nothing done");

    // Governance: the actions still collecting signatures come from their index;
    // one whose signatures are complete (queued) leaves it, the full list keeps it.
    let action = |b: u8| {
        box_core::governance::GovernanceAction::BlockDestination(box_core::typed::BlockDestination {
            destination: a(b),
            blocked: false,
            reason: String::new(),
            nonce: 1,
        })
    };
    let row = |b: u8| box_gateway::store::GovernanceRow {
        hash: B256::repeat_byte(b),
        action: action(b),
        description: format!("unblock {b}"),
        created_at: 0,
        queued_at: None,
    };
    store.sign_governance(&nonce(0x71, 1), &row(0x61), &a(0x71), &sig("kh-1"), None).await.unwrap();
    store.sign_governance(&nonce(0x71, 2), &row(0x62), &a(0x71), &sig("kh-1"), None).await.unwrap();
    let queued = NewOutbox {
        subject_id: SubjectId(B256::repeat_byte(0x62)),
        kind: SubjectKind::Governance,
        subject: vec![0x01, 0x09],
    };
    store.sign_governance(&nonce(0x72, 1), &row(0x62), &a(0x72), &sig("kh-2"), Some(&queued)).await.unwrap();
    let open: Vec<B256> = store.governance_collecting(100).await.unwrap().iter().map(|g| g.hash).collect();
    assert_eq!(open, vec![B256::repeat_byte(0x61)], "only the one still collecting");
    assert_eq!(store.governance_list().await.unwrap().len(), 2);
    assert!(store.governance_collecting(0).await.unwrap().is_empty(), "the limit holds");

    // Old nonces are pruned.
    assert!(store.prune_nonces(box_gateway::store::now() + 10).await.unwrap() >= 5);

    // The retired-id index is written with the verified state that counts
    // it, in one transaction: added to from where it was, emptied first when
    // written from 0, and read by id (more ids than one statement binds).
    let ids: Vec<(u8, B256)> = (0..1200u32).map(|i| (5 + (i % 2) as u8, B256::from(U256::from(i + 1)))).collect();
    store.put_verified_state_indexed(7, "0x07", "aa", 0, &ids[..700]).await.unwrap();
    store.put_verified_state_indexed(8, "0x08", "bb", 700, &ids[700..]).await.unwrap();
    assert_eq!(store.verified_state().await.unwrap(), Some((8, "bb".to_owned())));
    let asked: Vec<B256> = ids.iter().step_by(2).map(|(_, id)| *id).chain([B256::repeat_byte(0xEE)]).collect();
    let found = store.retired_among(&asked).await.unwrap();
    assert_eq!(found.len(), 600, "every id asked but the one never retired");
    assert!(!found.contains(&B256::repeat_byte(0xEE)));
    assert!(store.retired_among(&[]).await.unwrap().is_empty());
    // Each id has its position in retirement order: the index spans 0..=1199.
    assert_eq!(store.retired_span().await.unwrap(), Some((0, 1199)));
    // Written from a position it already holds (an earlier state's count):
    // the rows from there on are replaced, not added to.
    store.put_verified_state_indexed(9, "0x09", "dd", 1000, &ids[1000..1100]).await.unwrap();
    assert_eq!(store.retired_span().await.unwrap(), Some((0, 1099)));
    let all: Vec<B256> = ids.iter().map(|(_, id)| *id).collect();
    assert_eq!(store.retired_among(&all).await.unwrap().len(), 1100);
    // Written again from 0 (a state verified from the genesis): only its ids remain.
    store.put_verified_state_indexed(2, "0x02", "cc", 0, &ids[..3]).await.unwrap();
    assert_eq!(store.retired_among(&all).await.unwrap().len(), 3);
    assert_eq!(store.retired_span().await.unwrap(), Some((0, 2)));
    store.put_verified_state_indexed(1, "0x01", "ee", 0, &[]).await.unwrap();
    assert_eq!(store.retired_span().await.unwrap(), None);
}

#[tokio::test]
async fn conformance_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    conformance(Database::Sqlite(dir.path().join("nested/gateway.sqlite3"))).await;
}

#[tokio::test]
async fn conformance_on_postgres() {
    let pg = common::Postgres::start();
    conformance(Database::Postgres(pg.database("conformance").await)).await;
}
