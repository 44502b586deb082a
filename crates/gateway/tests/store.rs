//! One conformance suite for the store, run against a SQLite file and a real
//! PostgreSQL server: the guarantees `store`'s module doc promises.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_gateway::config::Database;
use box_gateway::store::{ApprovalRow, NewOutbox, NonceUse, Person, Store, StoreError, TransferFilter, TransferRow};

fn nonce(signer: &str, n: u8) -> NonceUse {
    NonceUse { signer: signer.into(), nonce: format!("0x{:064x}", n), at: box_gateway::store::now() }
}

fn transfer(id: &str, applicant: &str) -> TransferRow {
    TransferRow {
        id: id.into(),
        flow_hash: "0xf1".into(),
        applicant: applicant.into(),
        asset: "0x00".into(),
        destination: "0xd5".into(),
        amount: "115792089237316195423570985008687907853269984665640564039457584007913129639935".into(),
        request: "0x01".into(),
        applicant_signature: "0x02".into(),
        level: 1,
        state: "collecting".into(),
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
        address: "0xaa".into(),
        name: "A".into(),
        roles: "employee".into(),
        registered_by: "0xad".into(),
        registered_at: 5,
    };
    store.put_person(&nonce("0xad", 1), &p).await.unwrap();
    let again = Person { name: "B".into(), ..p.clone() };
    assert!(matches!(store2.put_person(&nonce("0xad", 1), &again).await, Err(StoreError::NonceReused { .. })));
    assert_eq!(store.person("0xaa").await.unwrap().unwrap().name, "A");
    assert!(store.nonce_seen("0xad", &format!("0x{:064x}", 1)).await.unwrap());
    assert!(!store.nonce_seen("0xbb", &format!("0x{:064x}", 1)).await.unwrap(), "nonces are per signer");

    // A transfer id is stored once; amounts keep all 256 bits as decimal text.
    assert!(store.insert_transfer(&nonce("0xaa", 2), &transfer("0x01", "0xaa")).await.unwrap());
    assert!(!store.insert_transfer(&nonce("0xaa", 3), &transfer("0x01", "0xaa")).await.unwrap());
    assert!(!store.nonce_seen("0xaa", &format!("0x{:064x}", 3)).await.unwrap(), "the refused insert spent no nonce");
    let t = store.transfer("0x01").await.unwrap().unwrap();
    assert_eq!(t.amount, transfer("0x01", "0xaa").amount);

    // Approvals: optimistic concurrency, one row per approver, outbox in the same transaction.
    let a = |who: &str| ApprovalRow {
        transfer_id: "0x01".into(),
        level: 1,
        approver: who.into(),
        signature: "0x03".into(),
        created_at: 2,
    };
    store.approve(&nonce("0xb1", 1), 0, &a("0xb1"), 1, "collecting", None).await.unwrap();
    assert!(matches!(
        store.approve(&nonce("0xb2", 1), 0, &a("0xb2"), 2, "collecting", None).await,
        Err(StoreError::Conflict)
    ));
    assert!(!store.nonce_seen("0xb2", &format!("0x{:064x}", 1)).await.unwrap(), "a lost race spends no nonce");
    assert!(matches!(
        store.approve(&nonce("0xb1", 2), 1, &a("0xb1"), 1, "collecting", None).await,
        Err(StoreError::Conflict)
    ));
    let out = NewOutbox { subject_id: "0x5e".into(), kind: "transfer".into(), subject: "0x0105".into() };
    store.approve(&nonce("0xb2", 2), 1, &a("0xb2"), 2, "submitting", Some(&out)).await.unwrap();
    assert_eq!(store.approvals("0x01").await.unwrap().len(), 2);
    let t = store.transfer("0x01").await.unwrap().unwrap();
    assert_eq!((t.level, t.state.as_str(), t.version), (2, "submitting", 2));
    assert!(matches!(store.reject(&nonce("0xb3", 1), "0x01", 0, "0xb3", "no").await, Err(StoreError::Conflict)));

    // The outbox survives a reopen, and a relayed row is no longer due.
    drop(store2);
    let reopened = Store::open(&db).await.unwrap();
    let due = reopened.outbox_due(10).await.unwrap();
    assert_eq!(due.iter().map(|r| r.subject_id.as_str()).collect::<Vec<_>>(), vec!["0x5e"]);
    reopened.outbox_failed("0x5e", "node down").await.unwrap();
    assert_eq!(reopened.outbox("0x5e").await.unwrap().unwrap().attempts, 1);
    reopened.outbox_done("0x5e", "submitted").await.unwrap();
    assert!(reopened.outbox_due(10).await.unwrap().is_empty());
    let row = reopened.outbox("0x5e").await.unwrap().unwrap();
    assert_eq!((row.outcome.as_deref(), row.last_error), (Some("submitted"), None));

    // Filters.
    store.insert_transfer(&nonce("0xcc", 1), &transfer("0x02", "0xcc")).await.unwrap();
    let f = |applicant: Option<&str>, state: Option<&str>| TransferFilter {
        applicant: applicant.map(Into::into),
        state: state.map(Into::into),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(store.transfers(&f(None, None)).await.unwrap().len(), 2);
    assert_eq!(store.transfers(&f(Some("0xcc"), None)).await.unwrap()[0].id, "0x02");
    assert_eq!(store.transfers(&f(None, Some("submitting"))).await.unwrap()[0].id, "0x01");
    assert!(store.transfers(&f(Some("0xcc"), Some("submitting"))).await.unwrap().is_empty());

    // Blocks are idempotent and ordered.
    for h in [2i64, 1, 2] {
        store.put_block(h, &format!("0x{h:02x}")).await.unwrap();
    }
    assert_eq!(store.blocks(1, 10).await.unwrap(), vec![(1, "0x01".into()), (2, "0x02".into())]);

    // An escrowed keystore is claimed once with its token's hash; every failed
    // claim looks the same; replacing the keystore replaces the token.
    store.put_escrow(&nonce("0xad", 9), "0xe1", "{\"k\":1}", "0xad", Some("0x70")).await.unwrap();
    assert_eq!(store.claim_escrow("0xe1", "0x71").await.unwrap(), None, "wrong token");
    assert_eq!(store.claim_escrow("0xe2", "0x70").await.unwrap(), None, "nobody there");
    let (ks, by, _) = store.claim_escrow("0xe1", "0x70").await.unwrap().unwrap();
    assert_eq!((ks.as_str(), by.as_str()), ("{\"k\":1}", "0xad"));
    assert_eq!(store.claim_escrow("0xe1", "0x70").await.unwrap(), None, "spent");
    assert!(store.escrow("0xe1").await.unwrap().is_some(), "signed reads still serve it");
    store.put_escrow(&nonce("0xad", 10), "0xe1", "{\"k\":2}", "0xad", Some("0x72")).await.unwrap();
    assert_eq!(store.claim_escrow("0xe1", "0x70").await.unwrap(), None);
    assert_eq!(store.claim_escrow("0xe1", "0x72").await.unwrap().unwrap().0, "{\"k\":2}");
    store.put_escrow(&nonce("0xe3", 1), "0xe3", "{}", "0xe3", None).await.unwrap();
    assert_eq!(store.claim_escrow("0xe3", "").await.unwrap(), None, "no token, no unsigned claim");

    // Old nonces are pruned.
    assert!(store.prune_nonces(box_gateway::store::now() + 10).await.unwrap() >= 5);
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
