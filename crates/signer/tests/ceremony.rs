//! The key ceremony with real processes: lockout after wrong phrases, the
//! panic command, a full unseal out of the lock, a restore from the paper
//! backup on an empty data directory, and the chain-id checks at start.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::needless_range_loop)]

mod common;

use box_core::ceremony::{Purpose, SignerState};
use box_testkit::anvil::{Anvil, AnvilOptions};
use box_testkit::{Cluster, key};
use common::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_phrases_lock_and_a_paper_restore_gives_the_same_wallet() {
    let anvil = Anvil::start().await;
    let c = Cluster::start(&box_node_bin(), 3, 0).await;
    let nodes = cluster_nodes(&c);
    let prepare = |dir: &str, chain_id: u64, rpc: &str| SignerProc::for_cluster(&c, dir, rpc, chain_id);
    let mut s = prepare("signer", anvil.chain_id(), &anvil.endpoint());
    s.spawn(&[], &[]);
    let holders = Holders::new(c.domain, c.key_holders.clone(), &c.client_tls, &nodes[0]);
    let code = s.enrolment_code().await;

    // A stranger's device cannot enrol, even with the code; nor can a wrong code.
    let a = holders.boot(None, SignerState::AwaitingEnrolment).await;
    holders.send_as(&key("mallory"), 0, &a, Purpose::Enrol, code.as_bytes()).await;
    holders.send(1, &a, Purpose::Enrol, b"WRONG-CODE-0000").await;
    let after = holders.wait("the wrong code counted", |x| x.detail.contains("wrong enrolment code")).await;
    assert!(after.devices.iter().all(|d| d.is_zero()), "nobody enrolled: {:?}", after.devices);
    let wallet = holders.genesis(&code).await;

    // Restart: sealed. Three wrong phrases lock it.
    let boot = holders.announce().await.unwrap().boot;
    s.kill();
    s.spawn(&[], &[]);
    let a = holders.boot(Some(boot), SignerState::Sealed).await;
    for attempt in 1..=3 {
        holders.send(0, &a, Purpose::Phrase, format!("not my phrase at all {attempt}").as_bytes()).await;
    }
    let locked = holders.wait("locked after 3 wrong phrases", |x| x.state == SignerState::Locked as u8).await;
    assert!(locked.detail.contains("3 failed attempts"), "{}", locked.detail);

    // Only a full unseal (all phrases) leaves the lock.
    for (slot, p) in PHRASES.iter().enumerate() {
        holders.send(slot, &locked, Purpose::Phrase, p.as_bytes()).await;
    }
    let a = holders.wait("unsealed from the lock", |x| x.state == SignerState::Unsealed as u8).await;
    assert_eq!(a.wallet, wallet);

    // A key holder's panic command zeroizes the key at once.
    holders.send(2, &a, Purpose::Panic, b"").await;
    let p = holders.wait("locked by panic", |x| x.state == SignerState::Locked as u8).await;
    assert!(p.detail.contains("panic"), "{}", p.detail);

    // Re-enrol a lost device for holder 2 with their original phrase and key
    // holder 0's endorsement, then unseal with it.
    let new_device = key("key-holder-2-new-phone");
    let endorsement = holders.endorse(0, &p, 2, new_device.address());
    holders.reenrol(&new_device, 2, &p, PHRASES[2].as_bytes(), &endorsement).await;
    let r = holders.wait("re-enrolled", |x| x.devices[2] == new_device.address()).await;
    for slot in 0..2 {
        holders.send(slot, &r, Purpose::Phrase, PHRASES[slot].as_bytes()).await;
    }
    holders.send_as(&new_device, 2, &r, Purpose::Phrase, PHRASES[2].as_bytes()).await;
    holders.wait("unsealed with the new device", |x| x.state == SignerState::Unsealed as u8).await;
    s.kill();
    let (backup_wallet, d_line) = s.show_backup();
    assert_eq!(backup_wallet, wallet);

    // Restore from paper on a new machine: empty data dir, d, every phrase.
    let mut restored = prepare("restored", anvil.chain_id(), &anvil.endpoint());
    let expect = wallet.to_string();
    restored.spawn(&["--restore-d", &d_line, "--expect-wallet", &expect], &[]);
    let code = restored.enrolment_code().await;
    let again = holders.genesis(&code).await;
    assert_eq!(again, wallet, "the same d and phrases give the same wallet");
    restored.kill();

    // The chain id is checked at start: configuration against genesis, and the Ethereum node against both.
    let mut wrong = prepare("wrong-config", 1, &anvil.endpoint());
    wrong.spawn(&[], &[]);
    assert_ne!(wrong.exited(Duration::from_secs(60)).await, Some(0));
    assert!(wrong.output().contains("refusing to run"), "{}", wrong.output());
    let other = Anvil::start_with(AnvilOptions::default().chain_id(999)).await;
    let mut wrong = prepare("wrong-node", anvil.chain_id(), &other.endpoint());
    wrong.spawn(&[], &[]);
    assert_ne!(wrong.exited(Duration::from_secs(60)).await, Some(0));
    assert!(wrong.output().contains("is on chain 999"), "{}", wrong.output());
}
