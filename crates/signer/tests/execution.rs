//! End to end with real parts: a 3-node chain (separate `box-node`
//! processes), `anvil`, an OpenZeppelin ERC-20 and the `box-signer` process.
//! Genesis ceremony, flow anchoring, an ETH and an ERC-20 transfer, each
//! interrupted by a crash at the worst moment, executed exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_core::encoding::Canonical;
use box_core::governance::GovernanceAction;
use box_core::ids::{FlowHash, TransferId};
use box_core::keys::{Phrase, derive_root_key, wallet_key};
use box_core::notary::{FlowStatus, NotaryState, Subject, TransferStatus};
use box_core::typed::RegisterAsset;
use box_core::{Address, U256};
use box_testkit::anvil::Anvil;
use box_testkit::{Cluster, eventually};
use common::*;
use std::time::Duration;

async fn chain_state(c: &Cluster) -> NotaryState {
    box_core::audit::verify_history(&c.genesis, &c.blocks(c.wait_leader().await).await).unwrap().state
}

async fn transfer_status(c: &Cluster, tid: &TransferId, want: fn(&TransferStatus) -> bool) -> TransferStatus {
    eventually("the transfer's status", Duration::from_secs(90), || async {
        chain_state(c).await.transfer(tid).map(|t| t.status.clone()).filter(want)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eth_and_erc20_transfers_execute_exactly_once_across_crashes() {
    let anvil = Anvil::start().await;
    let c = Cluster::start(&box_node_bin(), 3, 0).await;
    let nodes = cluster_nodes(&c);
    let mut s = SignerProc::for_cluster(&c, "signer", &anvil.endpoint(), anvil.chain_id());
    s.spawn(&[], &[]);
    let holders = Holders::new(c.domain, c.key_holders.clone(), &c.client_tls, &nodes[0]);

    // Genesis ceremony: enrol with the console code, then every phrase.
    let code = s.enrolment_code().await;
    let wallet = holders.genesis(&code).await;
    anvil.fund(wallet, ether(10)).await;
    let token = anvil.deploy_erc20(wallet).await;

    // Register the token (all key holders) and set up a flow; the signer anchors it.
    let people = People::new();
    let register = RegisterAsset { token, symbol: "BTT".into(), decimals: 18, registered: true, nonce: 1 };
    c.submit(&governance(&c.domain, GovernanceAction::RegisterAsset(register), &c.key_holders).encode()).await;
    let flow = people.flow(token);
    let flow_hash = c.domain.flow_hash(&flow);
    c.submit(&Subject::Flow(flow).encode()).await;
    eventually("the flow notarized", Duration::from_secs(60), || async {
        chain_state(&c).await.flow(&flow_hash).filter(|f| f.status == FlowStatus::Notarized).map(|_| ())
    })
    .await;
    for a in authorizations(&c.domain, &c.key_holders, flow_hash.0) {
        c.submit(&a.encode()).await;
    }
    let anchored = eventually("the flow anchored and active", Duration::from_secs(90), || async {
        chain_state(&c).await.flow(&FlowHash(flow_hash.0)).filter(|f| f.status == FlowStatus::Active).cloned()
    })
    .await;
    let anchor_tx = anvil.wait_receipt(anchored.anchor_tx.unwrap()).await;
    assert_eq!(anchor_tx.to, Some(wallet), "the anchor is a transaction to the wallet itself");

    // ETH: the signer dies after signing and recording, before broadcasting.
    let boot = holders.announce().await.map(|a| a.boot);
    s.kill();
    // Its store needs no full repair (a walk of the whole file, growing with every execution):
    // each commit recorded the allocator state (redb's quick-repair).
    assert!(
        !box_testkit::needs_full_repair(&s.dir.join("data").join("signer.redb")),
        "the killed signer's store needs a full repair (a walk of the whole file) to open again"
    );
    s.spawn(&[], &[("BOX_SIGNER_FAULT", "after-sign")]);
    let boot = Some(holders.unseal(boot).await.boot);
    let alice = Address::repeat_byte(0xA1);
    let eth = people.transfer(&c.domain, flow_hash.0, Address::ZERO, alice, ether(3) / U256::from(2), 2);
    let eth_id = eth.transfer_id(&c.domain);
    c.submit(&Subject::Transfer(eth).encode()).await;
    assert!(s.exited(Duration::from_secs(90)).await.is_some(), "the fault hook stops the signer after signing");
    assert!(s.output().contains("signed and recorded"), "{}", s.output());
    assert_eq!(anvil.balance(alice).await, U256::ZERO, "nothing was broadcast");
    s.spawn(&[], &[]);
    let boot = Some(holders.unseal(boot).await.boot);
    transfer_status(&c, &eth_id, |t| matches!(t, TransferStatus::Confirmed { .. })).await;
    assert_eq!(anvil.balance(alice).await, ether(3) / U256::from(2));

    // ERC-20: the signer dies right after the Ethereum node accepted the transaction.
    s.kill();
    s.spawn(&[], &[("BOX_SIGNER_FAULT", "after-broadcast")]);
    let boot = Some(holders.unseal(boot).await.boot);
    let bob = Address::repeat_byte(0xB0);
    let tokens = people.transfer(&c.domain, flow_hash.0, token, bob, ether(250), 2);
    let token_id = tokens.transfer_id(&c.domain);
    c.submit(&Subject::Transfer(tokens).encode()).await;
    assert!(s.exited(Duration::from_secs(90)).await.is_some(), "the fault hook stops the signer after broadcast");
    assert!(s.output().contains("broadcast"), "{}", s.output());
    s.spawn(&[], &[]);
    let boot = Some(holders.unseal(boot).await.boot);
    let done = transfer_status(&c, &token_id, |t| matches!(t, TransferStatus::Confirmed { .. })).await;
    assert_eq!(anvil.erc20_balance(token, bob).await, ether(250));
    let TransferStatus::Confirmed { tx_hash } = done else { unreachable!() };
    assert_eq!(anvil.wait_receipt(tx_hash).await.to, Some(token), "an ERC-20 transfer calls the token contract");

    // Exactly once: anchor + 2 transfers = 3 transactions from the wallet, and
    // a signer that restarts and replays the whole history signs nothing more.
    s.kill();
    s.spawn(&[], &[]);
    holders.unseal(boot).await;
    // A negative check (nothing more is signed) needs a bounded wait: many
    // 100 ms rounds of the caught-up, unsealed signer.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let nonce = box_eth::Eth::connect(&anvil.endpoint()).unwrap().pending_nonce(wallet).await.unwrap();
    assert_eq!(nonce, 3, "one transaction per anchor and transfer, nothing twice");
    assert_eq!(anvil.balance(alice).await, ether(3) / U256::from(2));
    assert_eq!(anvil.erc20_balance(token, bob).await, ether(250));

    // No phrase and no key byte in any file or log of the deployment.
    s.kill();
    let (_, d_hex) = s.show_backup();
    let d: [u8; 32] = hex::decode(&d_hex).unwrap().try_into().unwrap();
    let phrases: Vec<Phrase> = PHRASES.iter().map(|p| Phrase::new(*p)).collect();
    let root = derive_root_key(&d, &phrases).unwrap();
    let key = wallet_key(&root).unwrap();
    assert_eq!(key.address(), wallet, "d and the phrases rebuild the wallet");
    let everything = all_bytes(c.dir.path());
    for p in PHRASES {
        assert!(!contains(&everything, p.as_bytes()), "a phrase leaked into a file");
    }
    for secret in [root.as_slice(), key.expose_bytes().as_slice()] {
        assert!(!contains(&everything, secret), "key bytes leaked into a file");
        assert!(!contains(&everything, hex::encode(secret).as_bytes()), "key hex leaked into a file");
    }
}
