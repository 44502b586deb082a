//! The edge against an outside attacker (issue 11, fault 2), over real HTTPS
//! against a real 3-node cluster: requests that name someone else's address
//! and fail to prove it never lock that person out; they throttle the source
//! they come from; and a key holder's pause and panic get through every limit
//! while a flood from the same address is being throttled.
//!
//! Every test process talks from 127.0.0.1, so the attacker and the key holder
//! share one source here, the hardest case: the source throttle then holds
//! the key holder's ordinary requests too, and only the emergency lane is left.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_api::Client;
use box_api::RawResponse;
use box_core::ceremony::{Ceremony, CeremonyMessage, Purpose, SignerAnnounce, SignerState};
use box_core::crypto::SecretKey;
use box_core::encoding::Canonical;
use box_core::governance::GovernanceAction;
use box_core::notary::Entry;
use box_core::typed::{PauseTransfers, Signed};
use box_core::{Address, B256, U256};
use box_gateway::Gateway;
use box_gateway::config::GatewayConfig;
use box_proto::pb;
use box_testkit::{Cluster, eventually, free_port, key};
use common::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Tight limits: 8 failed proofs from one IP throttle it; 60 requests per IP.
const LIMITS: &str = "per_key_per_minute = 100000\nper_ip_per_minute = 60\nburst = 60\n\
                      bad_signatures_per_source = 8\nsource_lock_seconds = 300";

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn body_json(r: &RawResponse) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap_or_default()
}

fn code_of(r: &RawResponse) -> (u16, String) {
    (r.status, body_json(r)["code"].as_str().unwrap_or("").to_owned())
}

/// A request signed by `forger` whose `X-Box-Signer` names `victim`.
async fn forged(forger: &Client, victim: Address, method: &str, path: &str, body: Vec<u8>) -> RawResponse {
    static N: AtomicU64 = AtomicU64::new(1);
    let nonce = B256::from(U256::from(N.fetch_add(1, Ordering::Relaxed)));
    let mut h = forger.sign_headers(method, path, &body, now(), nonce);
    h[0].1 = victim.to_checksum(None);
    forger.send_with(method, path, body, &h).await.unwrap()
}

fn pause_body(cluster: &Cluster, k: &SecretKey, reason: &str) -> Vec<u8> {
    let a = GovernanceAction::PauseTransfers(PauseTransfers { paused: true, reason: reason.into(), nonce: 7 });
    let sig = k.sign_hash(&a.signing_hash(&cluster.domain));
    serde_json::json!({
        "action": format!("0x{}", hex::encode(box_api::action::encode_action(&a))),
        "signature": format!("0x{}", hex::encode(sig.as_bytes())),
    })
    .to_string()
    .into_bytes()
}

fn ceremony_message(cluster: &Cluster, k: &SecretKey, boot: B256, purpose: Purpose) -> Vec<u8> {
    let m = CeremonyMessage {
        boot,
        purpose: purpose as u8,
        holder: 1,
        deviceId: "device-1".into(),
        sealed: vec![0x42; 96].into(), // opaque to the gateway
        time: now(),
        endorsement: Default::default(),
    };
    Entry::Ceremony(Ceremony::Message(Signed::new(&cluster.domain, k, m))).encode()
}

/// The signer's announcement, proposed to the chain as the signer would (it never talks to the gateway).
async fn announce(cluster: &Cluster, gw: &Gateway, boot: B256) {
    let a = SignerAnnounce {
        boot,
        sequence: 1,
        state: SignerState::Unsealed as u8,
        ceremonyKey: vec![9u8; 32].into(),
        wallet: Address::repeat_byte(0x77),
        devices: cluster.key_holders.iter().map(SecretKey::address).collect(),
        holders: 3,
        received: 0,
        paused: false,
        detail: String::new(),
        time: now(),
    };
    let entry = Entry::Ceremony(Ceremony::Announce(Signed::new(&cluster.domain, &cluster.signer, a))).encode();
    // The signer proposes its announcements with its own certificate.
    cluster.client_with(1, &cluster.signer_tls).propose(pb::ProposeRequest { entry, forwarded: false }).await.unwrap();
    eventually("the gateway verified the announcement", Duration::from_secs(60), || async {
        gw.state.replica.read().state().signer_status().map(|_| ())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_signers_lock_no_one_the_source_is_throttled_and_pause_and_panic_still_pass() {
    let cluster = Cluster::start(&box_node(), 3, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(&cluster, dir.path(), &Db::Sqlite, free_port(), LIMITS);
    let gw = Gateway::start(&GatewayConfig::load(&cfg).unwrap()).await.unwrap();
    let boot = B256::repeat_byte(0xB0);
    announce(&cluster, &gw, boot).await;
    let kh: Vec<Client> = cluster.key_holders.iter().map(|k| client(&cluster, gw.addr, k)).collect();
    let victim = cluster.key_holders[0].address();
    let mallory = client(&cluster, gw.addr, &key("mallory")); // registered nowhere

    // Five forged requests naming the key holder: each refused, none locks them.
    for _ in 0..5 {
        let r = forged(&mallory, victim, "GET", "/v1/me", vec![]).await;
        assert_eq!(code_of(&r), (401, "bad_signature".into()));
    }
    let me = kh[0].me().await.expect("the named key holder is not locked out");
    assert_eq!(me.address, victim);

    // More failures from the same source throttle the source (8 within the window).
    for _ in 0..3 {
        assert_eq!(code_of(&forged(&mallory, victim, "GET", "/v1/me", vec![]).await).0, 401);
    }
    let r = forged(&mallory, victim, "GET", "/v1/me", vec![]).await;
    assert_eq!(code_of(&r), (429, "source_throttled".into()));
    assert!(r.retry_after.is_some_and(|s| s > 0));
    let msg = body_json(&r)["message"].as_str().unwrap().to_owned();
    assert!(msg.contains("127.0.0.1") && !msg.contains(&victim.to_checksum(None)), "{msg}");
    // Mallory's own, validly signed requests are throttled with the source...
    assert_eq!(code_of(&mallory.send("GET", "/v1/me", vec![], true).await.unwrap()).1, "source_throttled");
    // ...and so is everyone else's from it: the throttle is by source, and here
    // the key holder shares it.
    assert_eq!(code_of(&kh[1].send("GET", "/v1/me", vec![], true).await.unwrap()).1, "source_throttled");
    // The flood goes on until the source's rate bucket is empty too.
    let mut codes = Vec::new();
    for _ in 0..200 {
        let (_, c) = code_of(&mallory.send("GET", "/v1/me", vec![], true).await.unwrap());
        codes.push(c.clone());
        if c == "rate_limited" {
            break;
        }
    }
    assert_eq!(codes.last().map(String::as_str), Some("rate_limited"), "{codes:?}");

    // A forged pause in the key holder's name is not throttled either: it is
    // verified, and refused as what it is.
    let forged_pause = forged(&mallory, victim, "POST", "/v1/governance", pause_body(&cluster, &key("mallory"), "x"));
    assert_eq!(code_of(&forged_pause.await), (401, "bad_signature".into()));
    // A pause from a key that is no key holder, and a key holder's resume, take the ordinary path: throttled.
    let not_kh = mallory.send("POST", "/v1/governance", pause_body(&cluster, &key("mallory"), "x"), true).await;
    assert_eq!(not_kh.unwrap().status, 429);
    let resume = GovernanceAction::PauseTransfers(PauseTransfers { paused: false, reason: String::new(), nonce: 8 });
    assert_eq!(kh[1].sign_governance(&resume).await.unwrap_err().status(), Some(429));

    // The key holder's own pause passes every limit and reaches the chain.
    let pause =
        GovernanceAction::PauseTransfers(PauseTransfers { paused: true, reason: "under attack".into(), nonce: 9 });
    let g = kh[0].sign_governance(&pause).await.expect("a key holder's pause is never blocked");
    assert!(g.relay.is_some());
    eventually("paused on the chain", Duration::from_secs(60), || async {
        gw.state.replica.read().state().paused().filter(|r| *r == "under attack").map(|_| ())
    })
    .await;
    // So does a key holder's panic (a ceremony message for the signer).
    let out = kh[1].relay_ceremony(&ceremony_message(&cluster, &cluster.key_holders[1], boot, Purpose::Panic)).await;
    let out = out.expect("a key holder's panic is never blocked");
    assert!(out.outcome.is_taken(), "{}", out.outcome);
    // A key holder's other ceremony messages take the ordinary path.
    let phrase = ceremony_message(&cluster, &cluster.key_holders[1], boot, Purpose::Phrase);
    assert_eq!(kh[1].relay_ceremony(&phrase).await.unwrap_err().status(), Some(429));
    gw.stop().await;
}
