//! The node client and the block follower against nodes that misbehave:
//! in-process `Notary` servers over mutual TLS on 127.0.0.1 that serve a
//! forged block, stall, refuse, or answer with a value the protocol does not
//! define. The follower and the client are what the gateway, the signer,
//! `boxctl dev` and the testkit use, through this same public surface.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use box_core::B256;
use box_core::audit::HistoryVerifier;
use box_core::block::{Block, LoggedEntry};
use box_core::crypto::SecretKey;
use box_core::encoding::Canonical;
use box_core::ids::Timestamp;
use box_core::notary::{Entry, NotaryState, Subject};
use box_core::typed::{BoxFlow, Domain, Genesis, GenesisNode};
use box_ops::certs::DevCa;
use box_ops::role::CertRole;
use box_proto::reply::{SubjectView, SubmitOutcome, SubmitReply};
use box_proto::{
    BlockFollower, Channels, Feed, Followed, Node, NodeClient, NodeError, Refusal, TlsMaterial, Witnesses, pb,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tonic::{Request, Response, Status};

/// Guards each wait so a broken follower fails the test instead of hanging it.
const GUARD: Duration = Duration::from_secs(60);

fn key(label: &str) -> SecretKey {
    SecretKey::from_label_unchecked(label)
}

/// A genesis with three node accounts, and three valid blocks over it (each
/// sealed by node account 0, one flow submission per block).
struct History {
    genesis: Genesis,
    domain: Domain,
    blocks: Vec<Block>,
}

fn history() -> History {
    history_of(3)
}

/// [`history`] with `n` blocks.
fn history_of(n: u64) -> History {
    let nodes: Vec<SecretKey> = (0..3).map(|i| key(&format!("node-{i}"))).collect();
    let genesis = Genesis {
        deploymentId: B256::repeat_byte(0x42),
        chainId: 31337,
        keyHolders: (0..3).map(|i| key(&format!("holder-{i}")).address()).collect(),
        nodes: nodes
            .iter()
            .zip(1u64..)
            .map(|(k, id)| GenesisNode { nodeId: id, endpoint: format!("127.0.0.1:{id}"), account: k.address() })
            .collect(),
        signer: key("signer").address(),
        assets: vec![],
        time: 1_800_000_000,
    };
    let domain = genesis.domain();
    let mut state = NotaryState::new(genesis.clone()).unwrap();
    let mut blocks: Vec<Block> = Vec::new();
    for height in 1..=n {
        let time = 1_800_000_000 + height;
        let flow = BoxFlow {
            name: format!("flow {height}"),
            employees: vec![],
            levels: vec![],
            limits: vec![],
            nonce: height,
            addressBookOnly: false,
        };
        let entry = Entry::Submit(Subject::Flow(flow));
        state.apply(&entry, Timestamp(time));
        let parent = blocks.last().map_or(B256::ZERO, |b| b.hash(&domain));
        let entries = vec![LoggedEntry { index: height, time, entry }];
        blocks.push(Block::seal(&domain, &nodes[0], height, parent, entries, state.state_root().0, time));
    }
    History { genesis, domain, blocks }
}

/// Block `height` of `h` sealed by an account that is not a node's.
fn forged(h: &History, height: u64) -> Block {
    let real = &h.blocks[height as usize - 1];
    Block::seal(
        &h.domain,
        &key("mallory"),
        height,
        real.header.parent,
        real.entries.clone(),
        real.header.stateHash,
        real.header.time,
    )
}

/// What a fake node does.
#[derive(Clone, Default)]
struct Fake {
    /// Blocks it streams (then it stays silent) and claims in `Cluster`.
    blocks: Vec<Vec<u8>>,
    /// The height it claims in `Cluster` if more than it serves (a withholder).
    claims: u64,
    /// The `latest_height` its block stream claims if more than it serves.
    streams_claim: u64,
    /// Whether its block stream ends after the blocks (instead of staying open).
    ends: bool,
    /// If set, its block stream sends one block every `pace`, each claiming
    /// its own height plus `ahead` (a node streaming real blocks as they are
    /// sealed, each with a false claim); `streamed` counts what it sent.
    pace: Option<Duration>,
    ahead: u64,
    streamed: Arc<AtomicUsize>,
    /// How it answers `Submit`: Ok(outcome as i32) or a refusal.
    submit: Option<Result<i32, String>>,
    /// Calls it received to `Submit`.
    submits: Arc<AtomicUsize>,
    /// The node it names as the one that appended a submission (0: none).
    names_leader: u64,
    /// What it answers to `GetTransferProof` (`None`: not found).
    proof: Option<pb::TransferProofInfo>,
    /// What it answers to `GetSubject` (`None`: unknown).
    subject: Option<SubjectView>,
    /// The entries of each `Witness` call, in order; `witness_arrived` is
    /// notified as each call is recorded, and the call is then answered
    /// only once `witness_gate` (if set) gives it a permit.
    witnessed: Arc<Mutex<Vec<Vec<Vec<u8>>>>>,
    witness_arrived: Arc<tokio::sync::Notify>,
    witness_gate: Option<Arc<tokio::sync::Semaphore>>,
}

#[tonic::async_trait]
impl pb::notary_server::Notary for Fake {
    async fn submit(&self, r: Request<pb::SubmitRequest>) -> Result<Response<pb::SubmitResponse>, Status> {
        self.submits.fetch_add(1, Ordering::SeqCst);
        let subject = Subject::decode(&r.into_inner().subject).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let id = subject.id(&history().domain).unwrap();
        match self.submit.clone() {
            Some(Ok(outcome)) => {
                Ok(Response::new(pb::SubmitResponse { subject_id: id.0.to_vec(), outcome, leader: self.names_leader }))
            }
            Some(Err(why)) => Err(Status::failed_precondition(why)),
            None => Err(Status::unavailable("not taking submissions")),
        }
    }
    async fn propose(&self, _: Request<pb::ProposeRequest>) -> Result<Response<pb::ProposeResponse>, Status> {
        Err(Status::unimplemented("not needed"))
    }
    async fn get_subject(&self, _: Request<pb::SubjectQuery>) -> Result<Response<pb::SubjectInfo>, Status> {
        Ok(Response::new(self.subject.clone().unwrap_or_else(SubjectView::unknown).to_wire()))
    }
    async fn get_block(&self, _: Request<pb::BlockQuery>) -> Result<Response<pb::BlockInfo>, Status> {
        Err(Status::unimplemented("not needed"))
    }
    async fn get_proof(&self, _: Request<pb::ProofQuery>) -> Result<Response<pb::ProofInfo>, Status> {
        Err(Status::unimplemented("not needed"))
    }
    type SubscribeStream = Feed<pb::NotarizedEvent>;
    async fn subscribe(&self, _: Request<pb::SubscribeRequest>) -> Result<Response<Self::SubscribeStream>, Status> {
        Err(Status::unimplemented("not needed"))
    }
    async fn cluster(&self, _: Request<pb::ClusterQuery>) -> Result<Response<pb::ClusterInfo>, Status> {
        let height = self.claims.max(self.blocks.len() as u64);
        Ok(Response::new(pb::ClusterInfo { node_id: 1, leader: 1, height, ..Default::default() }))
    }
    type BlocksStream = Feed<pb::BlockInfo>;
    async fn blocks(&self, r: Request<pb::SubscribeRequest>) -> Result<Response<Self::BlocksStream>, Status> {
        use tokio_stream::StreamExt;
        let from = r.into_inner().from_height.max(1) as usize;
        let latest = self.streams_claim.max(self.blocks.len() as u64);
        let items: Vec<Result<pb::BlockInfo, Status>> = self
            .blocks
            .iter()
            .skip(from - 1)
            .map(|b| Ok(pb::BlockInfo { block: b.clone(), latest_height: latest }))
            .collect();
        if let Some(pace) = self.pace {
            let (tx, rx) = tokio::sync::mpsc::channel(1);
            let (blocks, ahead, streamed) = (self.blocks.clone(), self.ahead, self.streamed.clone());
            tokio::spawn(async move {
                for (height, block) in (1u64..).zip(blocks).skip(from - 1) {
                    tokio::time::sleep(pace).await;
                    let info = pb::BlockInfo { block, latest_height: height + ahead };
                    if tx.send(Ok(info)).await.is_err() {
                        return; // the follower left
                    }
                    streamed.fetch_add(1, Ordering::SeqCst);
                }
            });
            return Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))));
        }
        if self.ends {
            return Ok(Response::new(Box::pin(tokio_stream::iter(items))));
        }
        // Then silent, as a live stream with nothing new.
        Ok(Response::new(Box::pin(tokio_stream::iter(items).chain(tokio_stream::pending()))))
    }
    type CeremonyStream = Feed<pb::CeremonyEvent>;
    async fn ceremony(&self, _: Request<pb::SubscribeRequest>) -> Result<Response<Self::CeremonyStream>, Status> {
        Err(Status::unimplemented("not needed"))
    }
    async fn signer_status(&self, _: Request<pb::SignerStatusQuery>) -> Result<Response<pb::SignerStatusInfo>, Status> {
        Err(Status::unimplemented("not needed"))
    }
    async fn witness(&self, r: Request<pb::WitnessRequest>) -> Result<Response<pb::WitnessResponse>, Status> {
        let pb::WitnessRequest { entry, more } = r.into_inner();
        self.witnessed.lock().unwrap().push(std::iter::once(entry).chain(more).collect());
        self.witness_arrived.notify_one();
        if let Some(gate) = &self.witness_gate {
            gate.acquire().await.unwrap().forget();
        }
        Ok(Response::new(pb::WitnessResponse::default()))
    }
    async fn get_transfer_proof(
        &self,
        _: Request<pb::TransferProofQuery>,
    ) -> Result<Response<pb::TransferProofInfo>, Status> {
        self.proof.clone().map(Response::new).ok_or_else(|| Status::not_found("no block this node holds changed it"))
    }

    async fn attest(&self, _: Request<pb::AttestQuery>) -> Result<Response<pb::AttestationInfo>, Status> {
        Err(Status::unimplemented("not needed"))
    }

    async fn registry_chain(
        &self,
        _: Request<pb::RegistryChainQuery>,
    ) -> Result<Response<pb::RegistryChainInfo>, Status> {
        Err(Status::unimplemented("not needed"))
    }

    type GetStateStream = Feed<pb::StateInfo>;

    async fn get_state(&self, _: Request<pb::StateQuery>) -> Result<Response<Self::GetStateStream>, Status> {
        Err(Status::unimplemented("not needed"))
    }

    async fn headers(&self, _: Request<pb::HeadersQuery>) -> Result<Response<pb::HeadersInfo>, Status> {
        Err(Status::unimplemented("not needed"))
    }
}

struct Deployment {
    ca: DevCa,
}

impl Deployment {
    fn new() -> Self {
        Self { ca: DevCa::new("box-proto test CA").unwrap() }
    }

    fn tls(&self, name: &str, role: CertRole) -> TlsMaterial {
        let (cert, key) = self.ca.issue(name, role, &["127.0.0.1".into()]).unwrap();
        TlsMaterial { ca: self.ca.ca_pem().to_owned(), cert, key }
    }

    /// Serves `fake` on a free port of 127.0.0.1; returns its address.
    async fn serve(&self, fake: Fake) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tonic::transport::Server::builder()
            .tls_config(self.tls("node", CertRole::Node(1)).server())
            .unwrap()
            .add_service(pb::notary_server::NotaryServer::new(fake));
        // Bound before it is handed out: no race for the port.
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                if tx.send(Ok::<_, std::io::Error>(tcp)).await.is_err() {
                    return;
                }
            }
        });
        tokio::spawn(server.serve_with_incoming(tokio_stream::wrappers::ReceiverStream::new(rx)));
        addr.to_string()
    }

    /// A client to `addrs`, in that order, as the gateway.
    fn client(&self, addrs: &[&str]) -> NodeClient {
        NodeClient::new(addrs.iter().map(|a| Node::at(*a)).collect(), &self.tls("gateway", CertRole::Gateway))
    }
}

/// An address nothing listens on.
fn dead_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

async fn next<V: box_proto::VerifierCell>(f: &mut BlockFollower<V>) -> Followed {
    tokio::time::timeout(GUARD, f.next()).await.expect("the follower made no progress").expect("nodes to follow")
}

fn verified(f: Followed) -> (String, u64) {
    match f {
        Followed::Verified { node, block, .. } => (node, block.header.height),
        Followed::Refused { node, reason } => panic!("{node} refused: {reason}"),
    }
}

fn encoded(blocks: &[Block]) -> Vec<Vec<u8>> {
    blocks.iter().map(Canonical::encode).collect()
}

#[tokio::test]
async fn a_block_that_does_not_verify_is_refused_and_the_follower_moves_to_another_node() {
    let h = history();
    let d = Deployment::new();
    let forger = d.serve(Fake { blocks: encoded(&[h.blocks[0].clone(), forged(&h, 2)]), ..Fake::default() }).await;
    let honest = d.serve(Fake { blocks: encoded(&h.blocks), ..Fake::default() }).await;
    let mut f = BlockFollower::start(d.client(&[&forger, &honest]), HistoryVerifier::new(&h.genesis).unwrap());

    assert_eq!(verified(next(&mut f).await), (forger.clone(), 1));
    match next(&mut f).await {
        Followed::Refused { node, reason: Refusal::DoesNotVerify { height: 2, .. } } => assert_eq!(node, forger),
        other => panic!("the forged block was not refused: {other:?}"),
    }
    assert_eq!(f.verifier().height(), 1, "a refused block changes nothing");
    assert_eq!(verified(next(&mut f).await), (honest.clone(), 2), "block 2 from the honest node");
    assert_eq!(verified(next(&mut f).await), (honest, 3));
    assert_eq!(f.verifier().state().state_root(), {
        let mut v = HistoryVerifier::new(&h.genesis).unwrap();
        for b in &h.blocks {
            v.push(b).unwrap();
        }
        v.state().state_root()
    });
}

#[tokio::test]
async fn a_node_that_stalls_while_another_has_more_is_left() {
    let h = history();
    let d = Deployment::new();
    // Serves block 1, then nothing, though it claims height 3.
    let withholder = d.serve(Fake { blocks: encoded(&h.blocks[..1]), claims: 3, ..Fake::default() }).await;
    let honest = d.serve(Fake { blocks: encoded(&h.blocks), ..Fake::default() }).await;
    let mut f = BlockFollower::start(d.client(&[&withholder, &honest]), HistoryVerifier::new(&h.genesis).unwrap());
    assert_eq!(verified(next(&mut f).await), (withholder, 1));
    assert_eq!(verified(next(&mut f).await), (honest.clone(), 2), "after the stall, from the node that has more");
    assert_eq!(verified(next(&mut f).await), (honest, 3));
    assert_eq!(f.latest(), 3);
}

#[tokio::test]
async fn a_node_that_streams_a_height_it_never_serves_loses_its_claim() {
    let h = history();
    let d = Deployment::new();
    // Serves every block, each with a claim of height 1,000, then nothing.
    let liar = d.serve(Fake { blocks: encoded(&h.blocks), streams_claim: 1_000, ..Fake::default() }).await;
    let honest = d.serve(Fake { blocks: encoded(&h.blocks), ..Fake::default() }).await;
    let mut f = BlockFollower::start(d.client(&[&liar, &honest]), HistoryVerifier::new(&h.genesis).unwrap());
    assert!(!f.heard());
    for height in 1..=3 {
        assert_eq!(verified(next(&mut f).await), (liar.clone(), height));
    }
    assert!(f.heard());
    assert_eq!(f.latest(), 1_000, "the claim stands while the stream may still deliver");
    // Silent below its own claim for the stall timeout, while nobody else
    // has more: its claim falls to what it sent, and the follower moves on.
    let dropped = tokio::time::timeout(GUARD, async {
        while f.latest() != 3 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(dropped.is_ok(), "the claim of 1,000 was never dropped: latest {}", f.latest());
    assert!(f.heard());

    // One that ends its stream after the claim (so it is never silent on
    // it) loses it as the follower moves on.
    let liar = d.serve(Fake { blocks: encoded(&h.blocks), streams_claim: 1_000, ends: true, ..Fake::default() }).await;
    let mut f = BlockFollower::start(d.client(&[&liar, &honest]), HistoryVerifier::new(&h.genesis).unwrap());
    for height in 1..=3 {
        assert_eq!(verified(next(&mut f).await), (liar.clone(), height));
    }
    let dropped = tokio::time::timeout(GUARD, async {
        while f.latest() != 3 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(dropped.is_ok(), "the claim of an ended stream stood: latest {}", f.latest());
}

#[tokio::test]
async fn a_node_that_keeps_streaming_real_blocks_under_a_false_claim_loses_it() {
    // 60 blocks, one every 250 ms (15 s, never silent for `STALL`), each
    // claiming 1,000 more than its height; the honest node holds all 60.
    let h = history_of(60);
    let d = Deployment::new();
    let fake =
        Fake { blocks: encoded(&h.blocks), pace: Some(Duration::from_millis(250)), ahead: 1_000, ..Fake::default() };
    let streamed = fake.streamed.clone();
    let liar = d.serve(fake).await;
    let honest = d.serve(Fake { blocks: encoded(&h.blocks), ..Fake::default() }).await;
    let mut f = BlockFollower::start(d.client(&[&liar, &honest]), HistoryVerifier::new(&h.genesis).unwrap());
    assert_eq!(verified(next(&mut f).await), (liar.clone(), 1));
    assert_eq!(f.latest(), 1_001, "the claim stands at first");
    // No other node reaches 1,001 within `STALL`: the claim falls to what
    // the liar sent and the follower takes the rest from the honest node,
    // while the liar still had blocks to send.
    let mut from = Vec::new();
    while f.verifier().height() < 60 {
        let (node, _) = verified(next(&mut f).await);
        from.push(node);
    }
    assert_eq!(f.latest(), 60, "the false claim still stands");
    assert!(from.contains(&honest), "the follower never left the liar");
    let sent = streamed.load(Ordering::SeqCst);
    assert!(sent < 60, "the claim stood until the liar had sent all it had ({sent} blocks)");
}

#[tokio::test]
async fn an_unreachable_node_is_skipped_and_following_resumes_above_what_was_verified() {
    let h = history();
    let d = Deployment::new();
    let honest = d.serve(Fake { blocks: encoded(&h.blocks), ..Fake::default() }).await;
    let mut start = HistoryVerifier::new(&h.genesis).unwrap();
    start.push(&h.blocks[0]).unwrap();
    let mut f = BlockFollower::start(d.client(&[&dead_addr(), &honest]), start);
    assert_eq!(verified(next(&mut f).await), (honest, 2), "resumes at the height after the verified one");
}

/// A flow subject with nothing in it: what the fake nodes are given to submit.
fn a_flow() -> Subject {
    Subject::Flow(BoxFlow {
        name: "x".into(),
        employees: vec![],
        levels: vec![],
        limits: vec![],
        nonce: 1,
        addressBookOnly: false,
    })
}

#[tokio::test]
async fn the_client_fails_over_on_unavailability_and_malformed_replies_and_stops_at_a_refusal() {
    let d = Deployment::new();
    let subject = a_flow();
    let id = subject.id(&history().domain).unwrap();
    let down = Fake::default(); // UNAVAILABLE
    let garbled = Fake { submit: Some(Ok(pb::Outcome::Unspecified as i32)), ..Fake::default() };
    let taking = Fake { submit: Some(Ok(pb::Outcome::Duplicate as i32)), ..Fake::default() };
    let (down_calls, taking_calls) = (down.submits.clone(), taking.submits.clone());
    let addrs = [dead_addr(), d.serve(down).await, d.serve(garbled).await, d.serve(taking).await];
    let client = d.client(&addrs.iter().map(String::as_str).collect::<Vec<_>>());
    let reply = client.submit(subject.encode()).await.unwrap();
    assert_eq!(reply, SubmitReply { subject_id: id, outcome: SubmitOutcome::Duplicate, leader: None });
    assert_eq!((down_calls.load(Ordering::SeqCst), taking_calls.load(Ordering::SeqCst)), (1, 1));
    // The node that answered is asked first next time.
    client.submit(subject.encode()).await.unwrap();
    assert_eq!((down_calls.load(Ordering::SeqCst), taking_calls.load(Ordering::SeqCst)), (1, 2));

    // A refusal ends the call: the next node is not asked.
    let refusing = Fake { submit: Some(Err("not recorded: over the limit".into())), ..Fake::default() };
    let after = Fake { submit: Some(Ok(pb::Outcome::Submitted as i32)), ..Fake::default() };
    let after_calls = after.submits.clone();
    let addrs = [d.serve(refusing).await, d.serve(after).await];
    let client = d.client(&addrs.iter().map(String::as_str).collect::<Vec<_>>());
    let err = client.submit(subject.encode()).await.unwrap_err();
    assert_eq!(err, NodeError::Refused("not recorded: over the limit".into()));
    assert_eq!(after_calls.load(Ordering::SeqCst), 0);

    // No node takes it: unavailable, with each node's reason.
    let client = d.client(&[&dead_addr()]);
    assert!(matches!(client.submit(subject.encode()).await, Err(NodeError::Unavailable(_))));
}

#[tokio::test]
async fn the_leader_a_write_names_is_asked_first_next_time_unless_it_just_failed() {
    let d = Deployment::new();
    let subject = a_flow();
    let submitted = Some(Ok(pb::Outcome::Submitted as i32));
    // Node 1 is a follower that relays (it names node 2), node 2 leads.
    let relaying = Fake { submit: submitted.clone(), names_leader: 2, ..Fake::default() };
    let leading = Fake { submit: submitted.clone(), names_leader: 2, ..Fake::default() };
    let (relayed, led) = (relaying.submits.clone(), leading.submits.clone());
    let nodes = vec![Node { id: 1, addr: d.serve(relaying).await }, Node { id: 2, addr: d.serve(leading).await }];
    let client = NodeClient::new(nodes, &d.tls("gateway", CertRole::Gateway));
    assert_eq!(client.preferred(), Some(1));
    let reply = client.submit(subject.encode()).await.unwrap();
    assert_eq!(reply.leader, Some(2));
    assert_eq!(client.preferred(), Some(2), "the named leader is asked first now");
    client.submit(subject.encode()).await.unwrap();
    assert_eq!((relayed.load(Ordering::SeqCst), led.load(Ordering::SeqCst)), (1, 1), "no relay the second time");

    // A node that names as leader a node which just failed this client
    // (down, or withholding) does not send the next call back to it.
    let naming_the_dead = Fake { submit: submitted, names_leader: 3, ..Fake::default() };
    let calls = naming_the_dead.submits.clone();
    let nodes = vec![Node { id: 3, addr: dead_addr() }, Node { id: 1, addr: d.serve(naming_the_dead).await }];
    let client = NodeClient::new(nodes, &d.tls("gateway", CertRole::Gateway));
    assert_eq!(client.submit(subject.encode()).await.unwrap().leader, Some(3));
    assert_eq!(client.preferred(), Some(1), "node 3 failed this call: its hint waits out the quarantine");
    client.submit(subject.encode()).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_transfer_proof_one_node_lacks_is_asked_of_the_others() {
    let h = history();
    let d = Deployment::new();
    let tid = box_core::ids::TransferId(B256::repeat_byte(0x77));
    let header = Block::header_only(h.blocks[1].sealed_header()).encode();
    let proof = pb::TransferProofInfo { height: 2, header, value: vec![1, 2, 3], siblings: vec![vec![9; 32]] };
    // The first node lacks it (caught up by a snapshot, or behind the tip).
    let lacking = d.serve(Fake::default()).await;
    let holding = d.serve(Fake { proof: Some(proof), ..Fake::default() }).await;
    let client = d.client(&[&lacking, &dead_addr(), &holding]);
    let found = client.transfer_proof(&tid).await.unwrap().expect("the third node holds it");
    assert_eq!((found.height, found.proof.row.value.clone()), (2, vec![1, 2, 3]));
    // No node has it: not found, even with one node unreachable.
    let other = d.serve(Fake::default()).await;
    let client = d.client(&[&lacking, &dead_addr(), &other]);
    assert_eq!(client.transfer_proof(&tid).await.unwrap().map(|p| p.height), None);
    // No node answers: unavailable, not "none".
    let client = d.client(&[&dead_addr()]);
    assert!(matches!(client.transfer_proof(&tid).await, Err(NodeError::Unavailable(_))));
}

#[tokio::test]
async fn a_subject_one_node_does_not_know_is_asked_of_the_others() {
    let d = Deployment::new();
    let id = box_core::ids::SubjectId(B256::repeat_byte(0x55));
    let rejected = SubjectView {
        status: box_proto::SubjectStatus::Rejected,
        kind: Some(box_core::notary::SubjectKind::Transfer),
        certificate: Vec::new(),
        reasons: vec!["over the daily limit".into()],
        height: 7,
    };
    // The first node has no record (caught up by a snapshot past the
    // subject's retirement, or behind the tip).
    let lacking = d.serve(Fake::default()).await;
    let knowing = d.serve(Fake { subject: Some(rejected.clone()), ..Fake::default() }).await;
    let client = d.client(&[&lacking, &dead_addr(), &knowing]);
    assert_eq!(client.subject(&id).await.unwrap(), rejected, "the third node knows it");
    // No node knows it: unknown, even with one node unreachable.
    let other = d.serve(Fake::default()).await;
    let client = d.client(&[&lacking, &dead_addr(), &other]);
    assert_eq!(client.subject(&id).await.unwrap(), SubjectView::unknown());
    // No node answers: unavailable, not "unknown".
    let client = d.client(&[&dead_addr()]);
    assert!(matches!(client.subject(&id).await, Err(NodeError::Unavailable(_))));
}

/// Sends `entries` through [`Witnesses`] to a fake node that holds its
/// first call until all the others are queued; returns each call's entries.
async fn witnessed_calls(d: &Deployment, entries: Vec<Vec<u8>>) -> Vec<Vec<Vec<u8>>> {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let fake = Fake { witness_gate: Some(gate.clone()), ..Fake::default() };
    let (calls, arrived) = (fake.witnessed.clone(), fake.witness_arrived.clone());
    let addr = d.serve(fake).await;
    let witnesses = Witnesses::new(Channels::new(d.tls("gateway", CertRole::Gateway).client()), GUARD);
    let total = entries.len();
    let mut entries = entries.into_iter();
    witnesses.send(&addr, entries.next().unwrap());
    tokio::time::timeout(GUARD, arrived.notified()).await.expect("the first witness call");
    for e in entries {
        witnesses.send(&addr, e);
    }
    gate.add_permits(total);
    while calls.lock().unwrap().iter().map(Vec::len).sum::<usize>() < total {
        tokio::time::timeout(GUARD, arrived.notified()).await.expect("every witnessed entry delivered");
    }
    calls.lock().unwrap().clone()
}

#[tokio::test]
async fn what_is_witnessed_while_a_call_is_on_the_wire_goes_in_the_next_call_in_order_within_its_limits() {
    let d = Deployment::new();
    let sizes = |calls: &[Vec<Vec<u8>>]| calls.iter().map(Vec::len).collect::<Vec<_>>();

    // The first alone; the 99 queued behind it in one call, in order.
    let small: Vec<Vec<u8>> = (0..100u8).map(|n| vec![n; 100]).collect();
    let calls = witnessed_calls(&d, small.clone()).await;
    assert_eq!(sizes(&calls), [1, 99]);
    assert_eq!(calls.concat(), small);

    // At most MAX_WITNESS_BATCH entries a call.
    let many: Vec<Vec<u8>> = (0..300u16).map(|n| n.to_be_bytes().to_vec()).collect();
    let calls = witnessed_calls(&d, many.clone()).await;
    assert_eq!(sizes(&calls), [1, box_proto::witness::MAX_WITNESS_BATCH, 43]);
    assert_eq!(calls.concat(), many);

    // At most MAX_WITNESS_BYTES a call (3 MiB: three entries of 1 MiB), so
    // that no call passes the 4 MiB a gRPC server takes by default.
    let large: Vec<Vec<u8>> = (0..5u8).map(|n| vec![n; 1 << 20]).collect();
    let calls = witnessed_calls(&d, large.clone()).await;
    assert_eq!(sizes(&calls), [1, 3, 1]);
    assert_eq!(calls.concat(), large);
}

#[tokio::test]
async fn a_node_that_does_not_answer_has_at_most_its_byte_budget_of_witnesses_wait_for_it() {
    use box_proto::witness::QUEUE_BYTES;
    let d = Deployment::new();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let fake = Fake { witness_gate: Some(gate.clone()), ..Fake::default() };
    let (calls, arrived) = (fake.witnessed.clone(), fake.witness_arrived.clone());
    let addr = d.serve(fake).await;
    let witnesses = Witnesses::new(Channels::new(d.tls("gateway", CertRole::Gateway).client()), GUARD);
    let mib = 1 << 20;
    // The first call is held; 70 entries of 1 MiB queue behind it, of which
    // the 64 MiB budget takes 64 and the rest are dropped.
    let entries: Vec<Vec<u8>> = (0..71u8).map(|n| vec![n; mib]).collect();
    witnesses.send(&addr, entries[0].clone());
    tokio::time::timeout(GUARD, arrived.notified()).await.expect("the first witness call");
    for e in &entries[1..] {
        witnesses.send(&addr, e.clone());
    }
    let delivered = |n: usize| {
        let (calls, arrived) = (calls.clone(), arrived.clone());
        async move {
            while calls.lock().unwrap().iter().map(Vec::len).sum::<usize>() < n {
                tokio::time::timeout(GUARD, arrived.notified()).await.expect("the witnessed entries delivered");
            }
        }
    };
    gate.add_permits(1000);
    let kept = 1 + QUEUE_BYTES / mib;
    delivered(kept).await;
    // What was sent frees the budget: one more entry goes, and it is the
    // only one after the kept ones (the dropped ones never follow).
    witnesses.send(&addr, vec![0xEE; 10]);
    delivered(kept + 1).await;
    let mut expected = entries[..kept].to_vec();
    expected.push(vec![0xEE; 10]);
    assert_eq!(calls.lock().unwrap().concat(), expected);
}
