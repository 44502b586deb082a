//! Issue 11, fault 3: a certificate of the deployment CA is not authority.
//! Raft is served only to member nodes, for their own messages; Submit and
//! Propose only to the roles that write what is sent; reads to every role;
//! a certificate that names no role gets nothing. Real `box-node` processes
//! on 127.0.0.1, attacked through their gRPC port with the named certificates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use box_chain::types::{NodeId, TypeConfig};
use box_core::B256;
use box_core::encoding::Canonical;
use box_core::notary::{Entry, Subject};
use box_core::typed::{NodeVote, ReportStatus, Signed, SignerReport};
use box_ops::role::CertRole;
use box_proto::SubjectStatus;
use box_proto::pb;
use box_proto::pb::raft_client::RaftClient;
use box_proto::reply::{ProposeReply, SubmitReply};
use box_proto::{Channels, TlsMaterial};
use box_testkit::{Cluster, sample_flow};
use openraft::Vote;
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest, VoteResponse};
use std::path::Path;
use tonic::Code;

const BIN: &str = env!("CARGO_BIN_EXE_box-node");

/// A term far above any the cluster reached: before the fix, followers
/// adopted it from the first AppendEntries that carried it.
const FORGED_TERM: u64 = 1_000_000;

fn raft_client(c: &Cluster, node: u64, tls: &TlsMaterial) -> RaftClient<tonic::transport::Channel> {
    RaftClient::new(Channels::new(tls.client()).get(&c.nodes[node as usize - 1].addr).unwrap())
}

/// `m` as a node of an earlier version sends it: JSON, saying nothing of what it reads.
fn message<T: serde::Serialize>(m: &T) -> pb::RaftMessage {
    pb::RaftMessage { data: serde_json::to_vec(m).unwrap(), ..Default::default() }
}

/// An empty AppendEntries from a "leader" `leader` at the forged term.
fn heartbeat(leader: NodeId) -> pb::RaftMessage {
    message(&AppendEntriesRequest::<TypeConfig> {
        vote: Vote::new_committed(FORGED_TERM, leader),
        prev_log_id: None,
        entries: vec![],
        leader_commit: None,
    })
}

fn vote_request(candidate: NodeId, term: u64) -> pb::RaftMessage {
    message(&VoteRequest::<NodeId>::new(Vote::new(term, candidate), None))
}

fn snapshot(leader: NodeId) -> pb::RaftMessage {
    message(&InstallSnapshotRequest::<TypeConfig> {
        vote: Vote::new_committed(FORGED_TERM, leader),
        meta: Default::default(),
        offset: 0,
        data: vec![],
        done: false,
    })
}

/// What every raft RPC answers `tls` when it sends messages in the name of `claims`.
async fn raft_answers(c: &Cluster, node: u64, tls: &TlsMaterial, claims: NodeId) -> Vec<(Code, String)> {
    let mut raft = raft_client(c, node, tls);
    let status = |r: Result<tonic::Response<pb::RaftMessage>, tonic::Status>| match r {
        Ok(_) => (Code::Ok, String::new()),
        Err(s) => (s.code(), s.message().to_owned()),
    };
    vec![
        status(raft.append_entries(heartbeat(claims)).await),
        status(raft.vote(vote_request(claims, FORGED_TERM)).await),
        status(raft.install_snapshot(snapshot(claims)).await),
    ]
}

/// A certificate of the deployment CA that names no role.
fn roleless(c: &Cluster) -> TlsMaterial {
    let key = rcgen::KeyPair::from_pem(&c.ca.key_pem()).unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_pem(c.ca.ca_pem(), key).unwrap();
    let mut p = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    p.distinguished_name.push(rcgen::DnType::CommonName, "node-1");
    p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let cert = p.signed_by(&leaf_key, &issuer).unwrap();
    TlsMaterial { ca: c.ca.ca_pem().to_owned(), cert: cert.pem(), key: leaf_key.serialize_pem() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_member_nodes_speak_raft_and_only_for_themselves() {
    let c = Cluster::start(Path::new(BIN), 3, 0).await;
    let leader = c.wait_leader().await;
    let follower = (1..=3).find(|n| *n != leader).unwrap();
    let other = (1..=3).find(|n| *n != leader && *n != follower).unwrap();

    // The gateway's client certificate declaring itself (or anyone) leader at a
    // higher term, asking for votes, or pushing a snapshot: refused, each
    // with the reason.
    for claims in [leader, follower, other] {
        for (code, why) in raft_answers(&c, follower, &c.client_tls, claims).await {
            assert_eq!(code, Code::PermissionDenied, "{why}");
            assert!(why.contains("the gateway may not speak raft"), "{why}");
        }
    }
    // The signer's, an auditor's and a role-less certificate: the same.
    let auditor = c.tls_as("auditor", CertRole::Auditor);
    for tls in [&c.signer_tls, &auditor] {
        for (code, why) in raft_answers(&c, follower, tls, other).await {
            assert_eq!(code, Code::PermissionDenied, "{why}");
            assert!(why.contains("may not speak raft"), "{why}");
        }
    }
    for (code, why) in raft_answers(&c, follower, &roleless(&c), other).await {
        assert_eq!(code, Code::PermissionDenied, "{why}");
        assert!(why.contains("names no BOX role"), "{why}");
    }

    // A member node's own certificate claiming another node's leadership or
    // candidacy: refused.
    for (code, why) in raft_answers(&c, follower, &c.node_tls(other), leader).await {
        assert_eq!(code, Code::PermissionDenied, "{why}");
        assert!(why.contains(&format!("node {other}'s certificate cannot send")), "{why}");
    }
    // A node certificate of an id outside the membership, even for itself.
    let stranger = c.tls_as("node-9", CertRole::Node(9));
    for (code, why) in raft_answers(&c, follower, &stranger, 9).await {
        assert_eq!(code, Code::PermissionDenied, "{why}");
        assert!(why.contains("node 9 is not a voter of the current membership"), "{why}");
    }
    // A member speaking for itself is heard: a stale vote request is answered
    // (and not granted), which disturbs nothing.
    let mut raft = raft_client(&c, follower, &c.node_tls(other));
    let answer = raft.vote(vote_request(other, 0)).await.expect("a member's own vote request is answered");
    // Asked in JSON, as an earlier version asks: answered in JSON, saying it reads postcard too.
    let answer = answer.into_inner();
    assert_eq!((answer.encoding, answer.reads), (0, 1));
    let json: Result<VoteResponse<NodeId>, openraft::error::RaftError<NodeId>> =
        serde_json::from_slice(&answer.data).unwrap();
    assert!(!json.unwrap().vote_granted, "a stale vote request is not granted");
    // Asked in postcard: answered in postcard, the same answer.
    let req = VoteRequest::<NodeId>::new(Vote::new(0, other), None);
    let binary = pb::RaftMessage { data: postcard::to_stdvec(&req).unwrap(), encoding: 1, reads: 1 };
    let answer = raft.vote(binary.clone()).await.expect("a postcard vote request is answered").into_inner();
    assert_eq!((answer.encoding, answer.reads), (1, 1));
    let decoded: Result<VoteResponse<NodeId>, openraft::error::RaftError<NodeId>> =
        postcard::from_bytes(&answer.data).unwrap();
    assert!(!decoded.unwrap().vote_granted);
    // An encoding it does not know, or bytes that are not what the message says: refused, saying why.
    let unknown = raft.vote(pb::RaftMessage { encoding: 7, ..binary.clone() }).await.unwrap_err();
    assert_eq!(unknown.code(), Code::InvalidArgument);
    assert!(unknown.message().contains("raft message encoding 7 is unknown to this node"), "{}", unknown.message());
    let mislabelled = raft.vote(pb::RaftMessage { encoding: 0, ..binary }).await.unwrap_err();
    assert_eq!(mislabelled.code(), Code::InvalidArgument);
    assert!(mislabelled.message().contains("undecodable raft message"), "{}", mislabelled.message());

    // Nothing of it moved the cluster: same leader, still notarizing.
    assert_eq!(c.wait_leader().await, leader);
    let id = c.submit(&sample_flow(1).encode()).await;
    box_testkit::eventually("notarized after the attempts", std::time::Duration::from_secs(60), || async {
        c.subject(leader, &id).await.filter(|s| s.status == SubjectStatus::Notarized)
    })
    .await;
    assert_eq!(c.wait_leader().await, leader);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_writes_only_what_it_needs_and_every_role_reads() {
    let c = Cluster::start(Path::new(BIN), 3, 0).await;
    let flow = sample_flow(2).encode();
    let auditor = c.tls_as("auditor", CertRole::Auditor);
    let submit = |tls: &TlsMaterial, subject: Vec<u8>| {
        let mut client = c.client_with(1, tls);
        async move {
            let r = client.submit(pb::SubmitRequest { subject }).await?;
            Ok(SubmitReply::from_wire(r.into_inner()).unwrap().outcome.to_string())
        }
    };
    let propose = |tls: &TlsMaterial, entry: Vec<u8>| {
        let mut client = c.client_with(1, tls);
        async move {
            let r = client.propose(pb::ProposeRequest { entry, forwarded: false }).await?;
            Ok(ProposeReply::from_wire(r.into_inner()).unwrap().outcome.to_string())
        }
    };
    let denied = |r: Result<String, tonic::Status>, what: &str| {
        let s = r.expect_err(what);
        assert_eq!(s.code(), Code::PermissionDenied, "{what}: {}", s.message());
        s.message().to_owned()
    };

    // The signer submits its reports, never flows or transfers; an auditor
    // submits nothing; a role-less certificate does nothing at all.
    let why = denied(submit(&c.signer_tls, flow.clone()).await, "the signer submitting a flow");
    assert!(why.contains("the signer may not submit flows"), "{why}");
    let why = denied(submit(&auditor, flow.clone()).await, "an auditor submitting a flow");
    assert!(why.contains("an auditor may not submit"), "{why}");
    let why = denied(submit(&roleless(&c), flow.clone()).await, "a role-less certificate submitting");
    assert!(why.contains("names no BOX role"), "{why}");
    let report = Subject::SignerReport(Signed::new(
        &c.domain,
        &c.signer,
        SignerReport {
            subject: B256::repeat_byte(0x5E),
            status: ReportStatus::Anchored as u8,
            txHash: B256::repeat_byte(0xA7),
            nonce: 0,
            detail: String::new(),
        },
    ))
    .encode();
    let why = denied(submit(&c.client_tls, report.clone()).await, "the gateway submitting a signer report");
    assert!(why.contains("the gateway may not submit signer reports"), "{why}");
    // (Taken into the log from the signer; the notary judges the report itself.)
    submit(&c.signer_tls, report).await.expect("the signer submits its reports");

    // Votes come only from nodes.
    let vote = Entry::Vote(Signed::new(
        &c.domain,
        &c.nodes[1].account,
        NodeVote {
            subject: B256::repeat_byte(1),
            contentHash: B256::repeat_byte(2),
            accept: true,
            reason: String::new(),
        },
    ))
    .encode();
    for tls in [&c.client_tls, &c.signer_tls, &auditor] {
        let why = denied(propose(tls, vote.clone()).await, "a vote from a non-node");
        assert!(why.contains("may not propose node votes"), "{why}");
    }
    propose(&c.node_tls(2), vote).await.expect("a node proposes votes");
    // A flow submitted through Propose is still a submission: not for the signer.
    let why = denied(propose(&c.signer_tls, Entry::Submit(Subject::decode(&flow).unwrap()).encode()).await, "signer");
    assert!(why.contains("the signer may not submit flows"), "{why}");

    // The gateway submits; every role reads; a role-less certificate reads nothing.
    assert_eq!(submit(&c.client_tls, flow).await.unwrap(), "submitted");
    for tls in [&c.client_tls, &c.signer_tls, &auditor, &c.node_tls(3)] {
        let info = c.client_with(1, tls).cluster(pb::ClusterQuery {}).await.unwrap().into_inner();
        assert_eq!(info.node_id, 1);
        c.client_with(1, tls).get_subject(pb::SubjectQuery { subject_id: vec![0; 32] }).await.unwrap();
    }
    let s = c.client_with(1, &roleless(&c)).cluster(pb::ClusterQuery {}).await.unwrap_err();
    assert_eq!(s.code(), Code::PermissionDenied, "{}", s.message());
    let s = c.client_with(1, &roleless(&c)).blocks(pb::SubscribeRequest { from_height: 1 }).await.unwrap_err();
    assert_eq!(s.code(), Code::PermissionDenied, "{}", s.message());

    // A witness call's entries are each taken as if alone: one the caller
    // may not write is refused, with its place in the call, and the others
    // are watched all the same. A second witness of a watched entry is
    // answered from the watch; the caller's role is checked first all the
    // same, so an auditor's witness is refused whether or not the entry is
    // watched.
    let witness = |tls: &TlsMaterial, entry: Vec<u8>, more: Vec<Vec<u8>>| {
        let mut client = c.client_with(2, tls);
        async move { client.witness(pb::WitnessRequest { entry, more }).await.map(tonic::Response::into_inner) }
    };
    let report = |n: u8| {
        Entry::Submit(Subject::SignerReport(Signed::new(
            &c.domain,
            &c.signer,
            SignerReport {
                subject: B256::repeat_byte(n),
                status: ReportStatus::Anchored as u8,
                txHash: B256::repeat_byte(0xA7),
                nonce: 0,
                detail: String::new(),
            },
        )))
        .encode()
    };
    let flow_entry = |n: u64| Entry::Submit(Subject::decode(&sample_flow(n).encode()).unwrap()).encode();
    let s = witness(&c.signer_tls, report(0x61), vec![flow_entry(10), report(0x62)]).await.unwrap_err();
    assert_eq!(s.code(), Code::PermissionDenied, "{}", s.message());
    assert!(s.message().starts_with("witnessed entry 2 of 3: the signer may not submit flows"), "{}", s.message());
    for r in [report(0x61), report(0x62)] {
        let again = witness(&c.signer_tls, r.clone(), vec![]).await.unwrap();
        // (Watched either way: this shows a second witness is answered, not
        // that the refused call watched its other entries, which nothing
        // outside the node can see.)
        assert!(again.watched, "a report of the refused call, witnessed again, is watched");
        let s = witness(&auditor, r, vec![]).await.unwrap_err();
        assert_eq!(s.code(), Code::PermissionDenied, "{}", s.message());
    }
    let s = witness(&auditor, report(0x63), vec![]).await.unwrap_err();
    assert_eq!(s.code(), Code::PermissionDenied, "{}", s.message());
    let flows = witness(&c.client_tls, flow_entry(11), vec![flow_entry(12), flow_entry(13)]).await.unwrap();
    assert_eq!((flows.watched, flows.more_watched), (true, 2));
    let s = witness(&c.client_tls, flow_entry(14), vec![flow_entry(15); 256]).await.unwrap_err();
    assert_eq!(s.code(), Code::InvalidArgument, "{}", s.message());
    assert!(s.message().contains("at most 256 entries; this one carries 257"), "{}", s.message());
}
