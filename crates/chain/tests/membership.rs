//! Node-set governance reaching raft: a notarized NodeChange changes both the
//! notary's majority and raft's voters.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use box_chain::types::NodeId;
use box_core::crypto::SecretKey;
use box_core::encoding::Canonical;
use box_core::governance::{GovernanceAction, SignedAction};
use box_core::ids::SubjectId;
use box_core::notary::Subject;
use box_core::typed::NodeChange;
use box_proto::Channels;
use box_proto::SubjectStatus;
use box_proto::pb;
use box_testkit::{Cluster, eventually, sample_flow};
use std::path::Path;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_box-node");

fn node_change(c: &Cluster, node: usize, add: bool, nonce: u64, signers: &[usize]) -> Vec<u8> {
    let n = &c.nodes[node];
    let action = GovernanceAction::NodeChange(NodeChange {
        account: n.account.address(),
        nodeId: n.id,
        endpoint: n.addr.clone(),
        add,
        nonce,
    });
    let h = action.signing_hash(&c.domain);
    let keys: Vec<&SecretKey> = signers.iter().map(|i| &c.nodes[*i].account).collect();
    Subject::Governance(SignedAction { action, signatures: keys.iter().map(|k| k.sign_hash(&h)).collect() }).encode()
}

async fn notarized(c: &Cluster, id: &SubjectId) {
    eventually("notarized", Duration::from_secs(60), || async {
        for n in c.running() {
            if c.subject(n, id).await.is_some_and(|s| s.status == SubjectStatus::Notarized) {
                return Some(());
            }
        }
        None
    })
    .await;
}

/// Whether node 1 hears a raft vote request that node `id` sends with its
/// own certificate for itself (a stale one: answered, never granted).
async fn heard(c: &Cluster, id: u64) -> Result<(), tonic::Status> {
    let tls = c.node_tls(id);
    let mut raft = pb::raft_client::RaftClient::new(Channels::new(tls.client()).get(&c.nodes[0].addr).unwrap());
    let req = openraft::raft::VoteRequest::<NodeId>::new(openraft::Vote::new(0, id), None);
    raft.vote(pb::RaftMessage { data: serde_json::to_vec(&req).unwrap(), ..Default::default() }).await.map(|_| ())
}

/// Waits until node 1 hears node `id`'s raft (or, with `heard_now` false, refuses it).
async fn raft_from(c: &Cluster, id: u64, heard_now: bool) {
    eventually(
        &format!("node {id}'s raft {}", if heard_now { "heard" } else { "refused" }),
        Duration::from_secs(60),
        || async {
            match heard(c, id).await {
                Ok(()) if heard_now => Some(()),
                Err(s) if !heard_now && s.code() == tonic::Code::PermissionDenied => {
                    assert!(s.message().contains("not a voter of the current membership"), "{}", s.message());
                    Some(())
                }
                _ => None,
            }
        },
    )
    .await;
}

async fn voters(c: &Cluster, want: &[u64]) {
    eventually(&format!("raft voters {want:?}"), Duration::from_secs(60), || async {
        let leader = c.wait_leader().await;
        (c.info(leader).await?.voters == want).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_governed_node_change_moves_the_notary_majority_and_raft_voters() {
    let mut c = Cluster::start(Path::new(BIN), 3, 1).await;
    // Issue 11, fault 3: raft is served to the current membership, read at
    // each call. Node 4, a learner outside the registry, may not speak raft.
    raft_from(&c, 4, false).await;
    // Adding node 4 needs every current node account: 2 of 3 is rejected.
    let partial = c.submit(&node_change(&c, 3, true, 1, &[0, 1])).await;
    eventually("rejected", Duration::from_secs(60), || async {
        c.subject(1, &partial).await.filter(|s| s.status == SubjectStatus::Rejected)
    })
    .await;
    let add = c.submit(&node_change(&c, 3, true, 2, &[0, 1, 2])).await;
    notarized(&c, &add).await;
    voters(&c, &[1, 2, 3, 4]).await;
    raft_from(&c, 4, true).await;

    // With 4 voters the majority is 3: with node 3 down, node 4's vote is needed.
    c.kill(3);
    c.wait_leader().await;
    let flow = c.submit(&sample_flow(1).encode()).await;
    notarized(&c, &flow).await;
    let leader = c.wait_leader().await;
    let info = c.subject(leader, &flow).await.unwrap();
    let cert = box_core::quorum::QuorumCertificate::decode(&info.certificate).unwrap();
    let registry = box_core::quorum::NodeRegistry::new([0, 1, 2, 3].map(|i| c.nodes[i].account.address())).unwrap();
    let verified = box_core::quorum::verify_certificate(&c.domain, &registry, &cert).unwrap();
    assert!(verified.voters().contains(&c.nodes[3].account.address()), "node 4's vote must be in the certificate");

    // Removing node 4 needs a strict majority (3 of 4); raft goes back to 3 voters.
    let remove = c.submit(&node_change(&c, 3, false, 3, &[0, 1, 2])).await;
    notarized(&c, &remove).await;
    voters(&c, &[1, 2, 3]).await;
    raft_from(&c, 4, false).await;
    c.spawn(3);
    let again = c.submit(&sample_flow(2).encode()).await;
    notarized(&c, &again).await;

    // Issue 13 item 3: the node serves both changes (not the rejected one) as
    // its registry chain, which verifies from the genesis to the registry now.
    let leader = c.wait_leader().await;
    let chain = eventually("both node changes in the registry chain", Duration::from_secs(60), || async {
        let info = c.client(leader).registry_chain(pb::RegistryChainQuery {}).await.ok()?.into_inner();
        (info.changes.len() == 2).then_some(info.changes)
    })
    .await;
    let changes: Vec<box_core::attestation::RegistryChange> = chain
        .into_iter()
        .map(|c| box_core::attestation::RegistryChange {
            height: c.height,
            subject: c.subject,
            certificate: c.certificate,
        })
        .collect();
    let verified = box_core::attestation::verify_registry_chain(&c.genesis, &changes).unwrap();
    let genesis_registry =
        box_core::quorum::NodeRegistry::new([0, 1, 2].map(|i| c.nodes[i].account.address())).unwrap();
    assert_eq!(verified.latest(), &genesis_registry);
    assert_eq!(verified.at(changes[0].height), &registry);
    assert!(changes[0].height < changes[1].height);
    assert_eq!(verified.endpoint(&c.nodes[3].account.address()), Some(c.nodes[3].addr.as_str()));
}

/// Issue 15 item 3: a node added on a live deployment starts as a learner.
/// A fresh node configured as a voter before its addition is notarized is
/// refused at start, with what to do; once added (its log admitted by the
/// leader) it restarts as a voter and serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_node_runs_as_a_voter_only_once_its_addition_is_on_its_log() {
    let mut c = Cluster::start(Path::new(BIN), 3, 1).await;
    let config = c.nodes[3].config.clone();
    let as_voter = |text: &str| text.replace("role = \"learner\"", "role = \"voter\"");
    let learner = std::fs::read_to_string(&config).unwrap();
    // A fresh data directory, configured as a voter, before any addition.
    let fresh = config.with_file_name("fresh-voter.toml");
    std::fs::write(&fresh, as_voter(&learner).replace("data_dir = \"data\"", "data_dir = \"fresh\"")).unwrap();
    let mut child = std::process::Command::new(BIN)
        .args(["run", "--dev", "--config"])
        .arg(&fresh)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("an unregistered fresh voter kept running");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success());
    assert!(err.contains("start a new node as a learner"), "{err}");

    // Added by every node account; then it runs as a voter.
    let add = c.submit(&node_change(&c, 3, true, 7, &[0, 1, 2])).await;
    notarized(&c, &add).await;
    voters(&c, &[1, 2, 3, 4]).await;
    c.terminate(4);
    std::fs::write(&config, as_voter(&learner)).unwrap();
    c.spawn(4);
    eventually("node 4 serving as a voter", Duration::from_secs(60), || async {
        c.info(4).await.filter(|i| i.voters.contains(&4) && i.node_id == 4)
    })
    .await;
    let flow = c.submit(&sample_flow(3).encode()).await;
    notarized(&c, &flow).await;
    assert!(!c.log_tail(4).contains("is not a registered node account"), "{}", c.log_tail(4));
}
