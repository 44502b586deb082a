//! The key ceremony's relay through the chain: the signer's announcements
//! and key-holder messages travel as log entries, nothing else may pose as
//! the signer, and a replayed announcement is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use box_core::ceremony::{Ceremony, CeremonyMessage, Purpose, SignerAnnounce, SignerState};
use box_core::encoding::Canonical;
use box_core::notary::Entry;
use box_core::typed::Signed;
use box_core::{Address, B256};
use box_proto::Outcome;
use box_proto::pb;
use box_proto::reply::ProposeReply;
use box_testkit::{Cluster, eventually, key};
use std::path::Path;
use std::time::Duration;
use tokio_stream::StreamExt;

const BIN: &str = env!("CARGO_BIN_EXE_box-node");

fn announce(c: &Cluster, signer: &str, sequence: u64) -> Vec<u8> {
    let a = SignerAnnounce {
        boot: B256::repeat_byte(1),
        sequence,
        state: SignerState::AwaitingEnrolment as u8,
        ceremonyKey: vec![9u8; 32].into(),
        wallet: Address::ZERO,
        devices: vec![],
        holders: 3,
        received: 0,
        paused: false,
        detail: format!("announcement {sequence}"),
        time: sequence,
    };
    Entry::Ceremony(Ceremony::Announce(Signed::new(&c.domain, &key(signer), a))).encode()
}

/// Proposes through node 2 as whoever sends such an entry: the signer its
/// announcements, the gateway key holders' messages.
async fn propose(c: &Cluster, entry: Vec<u8>) -> Outcome {
    let tls = match Entry::decode(&entry).unwrap() {
        Entry::Ceremony(Ceremony::Announce(_)) => &c.signer_tls,
        _ => &c.client_tls,
    };
    let r = c.client_with(2, tls).propose(pb::ProposeRequest { entry, forwarded: false }).await.unwrap();
    ProposeReply::from_wire(r.into_inner()).unwrap().outcome
}

async fn status(c: &Cluster) -> Option<SignerAnnounce> {
    let s = c.client(3).signer_status(pb::SignerStatusQuery {}).await.ok()?.into_inner();
    if s.announce.is_empty() {
        return None;
    }
    match Ceremony::decode(&s.announce).unwrap() {
        Ceremony::Announce(a) => Some(a.value),
        Ceremony::Message(_) => panic!("the signer status holds a device message"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ceremony_messages_reach_followers_and_only_the_signer_announces() {
    let c = Cluster::start(Path::new(BIN), 3, 0).await;
    c.wait_leader().await;
    assert!(status(&c).await.is_none(), "no announcement yet");

    assert_eq!(propose(&c, announce(&c, "signer", 1)).await, Outcome::Relayed);
    eventually("the announcement on every node", Duration::from_secs(30), || async {
        status(&c).await.filter(|a| a.sequence == 1)
    })
    .await;

    // A stranger cannot pose as the signer, and an old announcement cannot be replayed.
    let forged = propose(&c, announce(&c, "mallory", 2)).await.to_string();
    assert!(forged.contains("not the signer"), "{forged}");
    let replay = propose(&c, announce(&c, "signer", 1)).await.to_string();
    assert!(replay.contains("replay"), "{replay}");
    assert_eq!(status(&c).await.unwrap().sequence, 1);

    // A device message is relayed to whoever follows the ceremony feed.
    let device = key("device-0");
    let msg = CeremonyMessage {
        boot: B256::repeat_byte(1),
        purpose: Purpose::Enrol as u8,
        holder: 0,
        deviceId: "phone".into(),
        sealed: vec![1u8; 64].into(),
        time: 3,
        endorsement: Default::default(),
    };
    let entry = Entry::Ceremony(Ceremony::Message(Signed::new(&c.domain, &device, msg.clone()))).encode();
    assert_eq!(propose(&c, entry).await, Outcome::Relayed);
    let mut feed = c.client(1).ceremony(pb::SubscribeRequest { from_height: 1 }).await.unwrap().into_inner();
    // The feed carries every ceremony entry in log order, refused ones too:
    // a follower checks signatures itself.
    let mut seen = Vec::new();
    while !matches!(seen.last(), Some(Entry::Ceremony(Ceremony::Message(_)))) {
        let ev = tokio::time::timeout(Duration::from_secs(30), feed.next()).await.unwrap().unwrap().unwrap();
        seen.push(Entry::decode(&ev.entry).unwrap());
    }
    assert_eq!(seen.len(), 4, "announce, forged announce, replay, message");
    match seen.last() {
        Some(Entry::Ceremony(Ceremony::Message(m))) => {
            assert_eq!(m.value, msg);
            assert_eq!(m.signer(&c.domain).unwrap(), device.address());
        }
        other => panic!("expected the device message, got {other:?}"),
    }

    // The block feed delivers every sealed block, which verify from genesis.
    let latest = c.info(1).await.unwrap().height;
    let mut blocks = c.client(1).blocks(pb::SubscribeRequest { from_height: 1 }).await.unwrap().into_inner();
    let mut verifier = box_core::audit::HistoryVerifier::new(&c.genesis).unwrap();
    while verifier.height() < latest {
        let b = tokio::time::timeout(Duration::from_secs(30), blocks.next()).await.unwrap().unwrap().unwrap();
        verifier.push(&box_core::block::Block::decode(&b.block).unwrap()).unwrap();
    }
    assert_eq!(verifier.state().signer_status().unwrap().value.sequence, 1);
}
