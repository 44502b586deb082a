//! Issue 13 item 3: a new follower starts from a state a strict majority of
//! the node registry attests. Real `box-node` processes keeping their state
//! every 3 blocks (`state_checkpoint_every = 3`), read with an auditor's
//! certificate (the role that can neither vote nor write):
//! - `Notary.GetState` sends the kept state in pieces, as large as asked
//!   (at most 4 MiB), which put back together are the checkpoint;
//! - `Notary.Attest` signs the header of a block the node holds with its node
//!   account; one node's attestation is not a majority, two are; an edited one
//!   recovers to nobody registered; height 0 and an unknown height are
//!   refused with the reason;
//! - box-proto's `bootstrap` verifies the registry chain from the genesis,
//!   fetches the latest kept state, counts the attestations and hands back a
//!   verifier at that height; a `BlockFollower` resumed from it verifies the
//!   blocks sealed after it;
//! - a tampered state is refused: edited bytes (its rows no longer give its
//!   root), and a consistent forgery (another state, its header re-sealed by
//!   one registered node over the forged root) that no majority attests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use box_core::attestation::{SignedAttestation, certify, statement_of};
use box_core::block::BlockHeader;
use box_core::checkpoint::{decode, encode_sealed};
use box_core::encoding::Canonical;
use box_core::evidence::SealedHeader;
use box_core::ids::Timestamp;
use box_core::notary::Entry;
use box_core::{Address, B256};
use box_ops::role::CertRole;
use box_proto::bootstrap::{BootstrapError, certify_state, fetch_state, fetch_state_in_pieces, registry_chain};
use box_proto::{BlockFollower, Followed, NodeClient, bootstrap, pb};
use box_testkit::{Cluster, eventually, sample_flow};
use std::path::Path;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_box-node");

async fn notarized(c: &Cluster, id: &box_core::ids::SubjectId) {
    eventually("a notarized subject", Duration::from_secs(90), || async {
        c.subject(1, id).await.filter(|s| s.status.to_string() == "notarized")
    })
    .await;
}

fn attestation(a: pb::AttestationInfo) -> SignedAttestation {
    SignedAttestation {
        attestation: box_core::attestation::StateAttestation {
            height: a.height,
            blockHash: B256::from_slice(&a.block_hash),
            stateRoot: B256::from_slice(&a.state_root),
        },
        signature: box_core::crypto::signature_from_bytes(&a.signature).unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_follower_starts_from_a_majority_attested_state_and_a_tampered_one_is_refused() {
    let mut c = Cluster::prepare(Path::new(BIN), 3, 0, 250);
    for n in &c.nodes {
        let toml = std::fs::read_to_string(&n.config).unwrap();
        let toml = toml.replace("seal_interval_ms = 250\n", "seal_interval_ms = 250\nstate_checkpoint_every = 3\n");
        std::fs::write(&n.config, toml).unwrap();
    }
    for id in 1..=3 {
        c.spawn(id);
    }
    c.wait_leader().await;
    for n in 0..7 {
        notarized(&c, &c.submit(&sample_flow(n).encode()).await).await;
    }
    let auditor = c.tls_as("auditor", CertRole::Auditor);
    let nodes: Vec<box_proto::Node> = c.nodes.iter().map(|n| box_proto::Node::at(n.addr.clone())).collect();
    let client = NodeClient::new(nodes, &auditor);
    let (source, height, bytes) = eventually("a kept state", Duration::from_secs(90), || async {
        fetch_state(&client).await.ok().filter(|(_, h, _)| *h >= 3)
    })
    .await;
    assert_eq!(height % 3, 0, "kept at a multiple of the interval");
    // The state comes in pieces (4 MiB by default: one here); asked for
    // 1 KiB pieces, the same bytes come in order in more of them.
    let (_, small_height, small, pieces) = fetch_state_in_pieces(&client, 1024).await.unwrap();
    if small_height == height {
        assert_eq!(small, bytes, "the pieces put back together are the checkpoint");
    }
    assert!(pieces == small.len().div_ceil(1024) && pieces > 1, "{pieces} pieces of {} bytes", small.len());
    let (_, _, _, default) = fetch_state_in_pieces(&client, 0).await.unwrap();
    assert_eq!(default, 1, "a state under 4 MiB is one piece");

    // Attestations: by the node account, over the header the node holds.
    let block = c.blocks(2).await.into_iter().find(|b| b.header.height == height).unwrap();
    let statement = statement_of(&c.domain, &block.header);
    let registry = box_core::quorum::NodeRegistry::new(c.nodes.iter().map(|n| n.account.address())).unwrap();
    let mut atts = Vec::new();
    for id in 1..=3u64 {
        let a = c.client_with(id, &auditor).attest(pb::AttestQuery { height }).await.unwrap().into_inner();
        assert_eq!(Address::from_slice(&a.account), c.nodes[id as usize - 1].account.address());
        let a = attestation(a);
        assert_eq!(a.attestation, statement);
        assert_eq!(a.signer(&c.domain).unwrap(), c.nodes[id as usize - 1].account.address());
        atts.push(a);
    }
    let one = certify(&c.domain, &registry, &statement, &atts[..1]).unwrap_err();
    assert!(one.0.contains("1 of 3") && one.0.contains("needs 2"), "{one}");
    assert!(certify(&c.domain, &registry, &statement, &atts[..2]).is_ok());
    let mut forged = atts[0].clone();
    forged.attestation.stateRoot = B256::repeat_byte(0xF0);
    let why = certify(&c.domain, &registry, &forged.attestation, &[forged.clone(), atts[1].clone()]).unwrap_err();
    assert!(why.0.contains("not a registered node account"), "{why}");
    for (h, want) in [(0, "height 0 is the genesis"), (1_000_000, "holds no block 1000000")] {
        let e = c.client_with(1, &auditor).attest(pb::AttestQuery { height: h }).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::NotFound);
        assert!(e.message().contains(want), "{}", e.message());
    }
    // The genesis registry has no changes yet.
    let chain = c.client_with(3, &auditor).registry_chain(pb::RegistryChainQuery {}).await.unwrap().into_inner();
    assert!(chain.changes.is_empty());

    // A fresh follower bootstraps at the kept height, then follows new blocks.
    let boot = bootstrap(&client, &c.genesis).await.unwrap();
    let start = boot.checkpoint.verifier.height();
    assert!(start >= height, "bootstrapped at {start}, kept {height}");
    assert!(boot.certified.signers().len() >= 2);
    assert_eq!(
        boot.checkpoint.verifier.state().state_root().0,
        boot.checkpoint.header.as_ref().unwrap().header.stateHash
    );
    let mut follower = BlockFollower::start(client.clone(), boot.checkpoint.verifier.clone());
    let fresh = c.submit(&sample_flow(100).encode()).await;
    notarized(&c, &fresh).await;
    // Followed block by block until the new subject's notarization is sealed.
    let mut last = start;
    let notarized_in = |f: &BlockFollower<box_core::audit::HistoryVerifier>| {
        f.verifier().state().subject(&fresh).is_some_and(|r| r.status != box_core::notary::SubjectStatus::Pending)
    };
    while !notarized_in(&follower) {
        match tokio::time::timeout(Duration::from_secs(60), follower.next()).await.unwrap().unwrap() {
            Followed::Verified { block, .. } => {
                assert_eq!(block.header.height, last + 1);
                last = block.header.height;
            }
            Followed::Refused { node, reason } => panic!("{node} refused: {reason}"),
        }
    }
    assert!(last > start, "blocks after the bootstrapped height were verified");

    // Tampered states are refused with the reason.
    let chain = registry_chain(&client, &c.genesis).await.unwrap();
    let mut edited = bytes.clone();
    let at = edited.len() - 40;
    edited[at] ^= 0x01;
    match certify_state(&client, &c.genesis, &chain, &source, &edited).await {
        Err(BootstrapError::Refused(why)) => assert!(why.contains("discarded"), "{why}"),
        other => panic!("an edited state was not refused: {other:?}"),
    }
    // A consistent forgery: another state, its header re-sealed over its root by node 1.
    let honest = decode(&c.genesis, &bytes).unwrap();
    let mut state = honest.verifier.state().clone();
    let header = honest.header.clone().unwrap();
    state.apply(&Entry::Submit(sample_flow(999)), Timestamp(header.header.time));
    let forged_header = BlockHeader { stateHash: state.state_root().0, ..header.header.clone() };
    let sealed = SealedHeader { signature: c.domain.sign(&c.nodes[0].account, &forged_header), header: forged_header };
    let forgery = encode_sealed(state, &sealed, honest.verifier.next_index());
    assert!(decode(&c.genesis, &forgery).is_ok(), "the forgery holds together by itself");
    match certify_state(&client, &c.genesis, &chain, &source, &forgery).await {
        Err(BootstrapError::Refused(why)) => {
            assert!(why.contains("0 of 3") && why.contains("a strict majority needs 2"), "{why}")
        }
        other => panic!("a forged state was not refused: {other:?}"),
    }
}
