//! The key-ceremony relay, the signer's status and the wallet's balances,
//! against a real cluster and a real anvil node. The test plays the signer
//! (which talks to the chain directly, never to the gateway).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_core::ceremony::{Ceremony, CeremonyMessage, Purpose, SignerAnnounce, SignerState, endorse};
use box_core::encoding::Canonical;
use box_core::governance::GovernanceAction;
use box_core::notary::Entry;
use box_core::typed::{RegisterAsset, Signed};
use box_core::{Address, B256, U256};
use box_gateway::Gateway;
use box_gateway::config::GatewayConfig;
use box_proto::pb;
use box_testkit::anvil::Anvil;
use box_testkit::{Cluster, eventually, free_port};
use common::*;
use std::time::Duration;

/// A message from `key` as its own slot (its index among the key holders, else slot 0).
fn message(cluster: &Cluster, key: &box_core::crypto::SecretKey, boot: B256, purpose: Purpose) -> Vec<u8> {
    let slot = cluster.key_holders.iter().position(|k| k.address() == key.address()).unwrap_or(0);
    sealed(cluster, key, boot, purpose, slot as u8, Vec::new())
}

fn sealed(
    cluster: &Cluster,
    key: &box_core::crypto::SecretKey,
    boot: B256,
    purpose: Purpose,
    holder: u8,
    endorsement: Vec<u8>,
) -> Vec<u8> {
    let m = CeremonyMessage {
        boot,
        purpose: purpose as u8,
        holder,
        deviceId: format!("device-{holder}"),
        sealed: vec![0x42; 96].into(), // opaque to the gateway: it never opens a message
        time: 1_800_000_000,
        endorsement: endorsement.into(),
    };
    Entry::Ceremony(Ceremony::Message(Signed::new(&cluster.domain, key, m))).encode()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ceremony_messages_are_relayed_and_the_wallet_is_read_from_the_public_chain() {
    let mut cluster = Cluster::start(&box_node(), 3, 0).await;
    let anvil = Anvil::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(&cluster, dir.path(), &Db::Sqlite, free_port(), TEST_LIMITS);
    std::fs::write(
        &cfg,
        std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("[tls]", &format!("eth_rpc = \"{}\"\n\n[tls]", anvil.endpoint())),
    )
    .unwrap();
    let gw = Gateway::start(&GatewayConfig::load(&cfg).unwrap()).await.unwrap();
    let p = People::new();
    let kh: Vec<_> = cluster.key_holders.iter().map(|k| client(&cluster, gw.addr, k)).collect();
    let signer_addr = cluster.genesis.signer;

    let e = kh[0].signer(signer_addr).await.unwrap_err();
    assert_eq!(e.code(), Some("signer_not_announced"));

    // The signer announces itself on the chain.
    let boot = B256::repeat_byte(0xB0);
    let wallet = Address::repeat_byte(0x77);
    let announce = SignerAnnounce {
        boot,
        sequence: 1,
        state: SignerState::Unsealed as u8,
        ceremonyKey: vec![9u8; 32].into(),
        wallet,
        devices: cluster.key_holders.iter().map(|k| k.address()).collect(),
        holders: 3,
        received: 0,
        paused: false,
        detail: String::new(),
        time: 1_800_000_000,
    };
    let entry = Entry::Ceremony(Ceremony::Announce(Signed::new(&cluster.domain, &cluster.signer, announce))).encode();
    // (The signer proposes its announcements with its own certificate.)
    cluster.client_with(1, &cluster.signer_tls).propose(pb::ProposeRequest { entry, forwarded: false }).await.unwrap();
    let s = eventually("the announcement is verified", Duration::from_secs(30), || async {
        kh[0].signer(signer_addr).await.ok()
    })
    .await;
    assert_eq!((s.state, s.boot, s.wallet), (Some(SignerState::Unsealed), boot, wallet));
    assert_eq!(s.devices.len(), 3);

    // A key holder's sealed message reaches the chain's log unchanged.
    let msg = message(&cluster, &cluster.key_holders[0], boot, Purpose::Phrase);
    let out = kh[0].relay_ceremony(&msg).await.unwrap();
    assert!(out.outcome.is_taken(), "{}", out.outcome);
    let auditor = client(&cluster, gw.addr, &p.auditor);
    client(&cluster, gw.addr, &p.admin).register(p.auditor.address(), "Ada", &[box_api::Role::Auditor]).await.unwrap();
    eventually("the message is in a sealed block", Duration::from_secs(30), || async {
        let (_, blocks) = auditor.audit_export().await.ok()?;
        blocks.iter().flat_map(|b| &b.entries).any(|e| e.entry.encode() == msg).then_some(())
    })
    .await;

    // Refusals: someone else's message, a stale boot, a non-key-holder, not a ceremony entry.
    let theirs = message(&cluster, &cluster.key_holders[1], boot, Purpose::Phrase);
    assert_eq!(kh[0].relay_ceremony(&theirs).await.unwrap_err().code(), Some("bad_ceremony_signature"));
    let stale = message(&cluster, &cluster.key_holders[0], B256::repeat_byte(1), Purpose::Phrase);
    assert_eq!(kh[0].relay_ceremony(&stale).await.unwrap_err().code(), Some("stale_boot"));
    let employee = client(&cluster, gw.addr, &p.employee);
    let own = message(&cluster, &p.employee, boot, Purpose::Phrase);
    assert_eq!(employee.relay_ceremony(&own).await.unwrap_err().code(), Some("role_required"));
    let flow = box_core::notary::Subject::Flow(flow(&p, 1)).encode();
    assert_eq!(kh[0].relay_ceremony(&flow).await.unwrap_err().code(), Some("not_a_ceremony_message"));

    // Issue 11, fault 1: re-enrolments from freshly generated keys, one per
    // slot, are refused before they reach the chain (the signer checks the
    // same itself); so is an enrolment or phrase from a key that is not the
    // slot's key holder or enrolled device.
    for slot in 0..3u8 {
        let stranger = box_core::crypto::SecretKey::from_label_unchecked(&format!("stranger-{slot}"));
        let msg = sealed(&cluster, &stranger, boot, Purpose::Reenrol, slot, Vec::new());
        let e = client(&cluster, gw.addr, &stranger).relay_ceremony(&msg).await.unwrap_err();
        assert_eq!((e.status(), e.code()), (Some(403), Some("reenrolment_not_endorsed")), "{e}");
        assert!(e.to_string().contains("boxctl keyholder endorse"), "{e}");
    }
    let phone = box_core::crypto::SecretKey::from_label_unchecked("new-phone");
    let as_phone = client(&cluster, gw.addr, &phone);
    let self_endorsed = endorse(&cluster.domain, &phone, boot, 1, phone.address()).as_bytes().to_vec();
    let e =
        as_phone.relay_ceremony(&sealed(&cluster, &phone, boot, Purpose::Reenrol, 1, self_endorsed)).await.unwrap_err();
    assert_eq!(e.code(), Some("reenrolment_not_endorsed"), "{e}");
    assert!(e.to_string().contains("not an enrolled key-holder device"), "{e}");
    let not_theirs = sealed(&cluster, &cluster.key_holders[1], boot, Purpose::Enrol, 0, Vec::new());
    assert_eq!(kh[1].relay_ceremony(&not_theirs).await.unwrap_err().code(), Some("role_required"));
    // Endorsed by an enrolled device (key holder 1's), the re-enrolment is relayed.
    let endorsed = endorse(&cluster.domain, &cluster.key_holders[0], boot, 1, phone.address()).as_bytes().to_vec();
    let out = as_phone.relay_ceremony(&sealed(&cluster, &phone, boot, Purpose::Reenrol, 1, endorsed)).await.unwrap();
    assert!(out.outcome.is_taken(), "{}", out.outcome);

    // The wallet: ETH and every registered ERC-20, read from anvil.
    anvil.fund(wallet, U256::from(1_500_000_000_000_000_000u128)).await;
    let token = anvil.deploy_named_token("BTT", 6, wallet, U256::from(2_500_000u64)).await;
    // Registering reads the token from the chain (issue 14 item 8): other
    // decimals or another symbol than the chain's, or a token without
    // decimals(), are refused with the reason; nothing is signed.
    for (symbol, decimals) in [("BTT", 18), ("BTX", 6)] {
        let wrong = RegisterAsset { token, symbol: symbol.into(), decimals, registered: true, nonce: 7 };
        let e = kh[0].sign_governance(&GovernanceAction::RegisterAsset(wrong)).await.unwrap_err();
        assert_eq!((e.status(), e.code()), (Some(422), Some("asset_mismatch")), "{symbol} {decimals}");
    }
    let no_decimals = anvil.deploy_odd(box_testkit::anvil::Odd::NoDecimalsToken, wallet, U256::from(1u64)).await;
    let unknowable =
        RegisterAsset { token: no_decimals, symbol: "NODEC".into(), decimals: 18, registered: true, nonce: 8 };
    let e = kh[0].sign_governance(&GovernanceAction::RegisterAsset(unknowable)).await.unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(422), Some("not_an_erc20")));
    let register = GovernanceAction::RegisterAsset(RegisterAsset {
        token,
        symbol: "BTT".into(),
        decimals: 6,
        registered: true,
        nonce: 1,
    });
    for k in &kh {
        k.sign_governance(&register).await.unwrap();
    }
    let w = eventually("the token is registered and read", Duration::from_secs(60), || async {
        kh[1].wallet().await.ok().filter(|w| w.balances.len() == 2)
    })
    .await;
    assert_eq!(w.wallet, wallet);
    assert_eq!(w.balances[0].balance.to_string(), "1500000000000000000");
    assert_eq!(w.balances[0].display, "1.5 ETH");
    assert_eq!((w.balances[1].symbol.as_str(), w.balances[1].display.as_str()), ("BTT", "2.5 BTT"));
    assert_eq!(employee.wallet().await.unwrap_err().code(), Some("role_required"));

    // With every node down, a ceremony message cannot be relayed: 503, and the
    // signer's last verified announcement is still shown.
    for n in 1..=3 {
        cluster.kill(n);
    }
    let again = message(&cluster, &cluster.key_holders[2], boot, Purpose::Phrase);
    let e = kh[2].relay_ceremony(&again).await.unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(503), Some("chain_unavailable")));
    assert_eq!(kh[2].signer(signer_addr).await.unwrap().boot, boot);
    gw.stop().await;
}
