//! The signer is the last line of defence: even a chain whose node majority
//! is compromised (it notarizes whatever it is given, with valid votes and
//! validly sealed blocks) cannot make it sign a transfer that breaks a rule.
//!
//! The compromised chain here is a gRPC Notary server over mutual TLS on
//! 127.0.0.1 that holds every node account key: it is the adversary at the
//! real interface, and the real `box-signer` process and a real `anvil` sit
//! on the other side. Every refusal must come back as a signed report with
//! the reason, and nothing may be signed: the wallet's nonce tells.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_core::block::{Block, LoggedEntry};
use box_core::ceremony::{Ceremony, Purpose, SignerState};
use box_core::crypto::SecretKey;
use box_core::encoding::Canonical;
use box_core::governance::GovernanceAction;
use box_core::ids::{FlowHash, Timestamp, TransferId};
use box_core::notary::{Entry, FlowStatus, NotaryState, Subject, TransferStatus};
use box_core::quorum::accept_vote;
use box_core::typed::{Genesis, GenesisNode, PauseTransfers, ReportStatus, Signed, SignerReport};
use box_core::{Address, B256, U256};
use box_ops::certs::DevCa;
use box_ops::role::CertRole;
use box_proto::Feed;
use box_proto::Outcome;
use box_proto::TlsMaterial;
use box_proto::pb;
use box_proto::reply::{ProposeReply, SubmitOutcome, SubmitReply};
use box_testkit::anvil::Anvil;
use box_testkit::{eventually, free_port, key};
use common::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tonic::{Request, Response, Status};

/// A chain whose every node account is the adversary's.
#[derive(Clone)]
struct Evil {
    inner: Arc<Mutex<Inner>>,
    heights: watch::Sender<u64>,
}

struct Inner {
    state: NotaryState,
    nodes: Vec<SecretKey>,
    blocks: Vec<Block>,
    pending: Vec<Entry>,
    index: u64,
    reports: Vec<SignerReport>,
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

impl Evil {
    /// Queues `subject` with accept votes from the node accounts `voters`.
    fn notarize_with(&self, subject: &Subject, voters: &[usize]) {
        let mut g = self.inner.lock().unwrap();
        let domain = g.state.domain();
        let id = subject.id(&domain).unwrap();
        let votes: Vec<Entry> = voters
            .iter()
            .map(|i| Entry::Vote(Signed::new(&domain, &g.nodes[*i], accept_vote(id, subject.content()))))
            .collect();
        g.pending.push(Entry::Submit(subject.clone()));
        g.pending.extend(votes);
    }

    /// A dishonest majority notarizes anything.
    fn notarize(&self, subject: &Subject) {
        self.notarize_with(subject, &[0, 1, 2]);
    }

    /// Seals what is pending into a validly signed block.
    fn seal(&self) {
        let mut g = self.inner.lock().unwrap();
        if g.pending.is_empty() {
            return;
        }
        let time = now();
        let mut entries = Vec::new();
        for entry in std::mem::take(&mut g.pending) {
            g.state.apply(&entry, Timestamp(time));
            g.index += 1;
            entries.push(LoggedEntry { index: g.index, time, entry });
        }
        let domain = g.state.domain();
        let parent = g.blocks.last().map_or(B256::ZERO, |b| b.hash(&domain));
        let height = g.blocks.len() as u64 + 1;
        let block = Block::seal(&domain, &g.nodes[0], height, parent, entries, g.state.state_root().0, time);
        g.blocks.push(block);
        let _ = self.heights.send(height);
    }

    fn state(&self) -> NotaryState {
        self.inner.lock().unwrap().state.clone()
    }

    fn reports(&self) -> Vec<SignerReport> {
        self.inner.lock().unwrap().reports.clone()
    }
}

#[tonic::async_trait]
impl pb::notary_server::Notary for Evil {
    async fn submit(&self, r: Request<pb::SubmitRequest>) -> Result<Response<pb::SubmitResponse>, Status> {
        let subject = Subject::decode(&r.into_inner().subject).map_err(|e| Status::invalid_argument(e.to_string()))?;
        if let Subject::SignerReport(rep) = &subject {
            self.inner.lock().unwrap().reports.push(rep.value.clone());
        }
        self.notarize(&subject);
        let domain = self.inner.lock().unwrap().state.domain();
        let subject_id = subject.id(&domain).map_err(|e| Status::invalid_argument(e.to_string()))?;
        Ok(Response::new(SubmitReply { subject_id, outcome: SubmitOutcome::Submitted, leader: None }.to_wire()))
    }

    async fn propose(&self, r: Request<pb::ProposeRequest>) -> Result<Response<pb::ProposeResponse>, Status> {
        let entry = Entry::decode(&r.into_inner().entry).map_err(|e| Status::invalid_argument(e.to_string()))?;
        self.inner.lock().unwrap().pending.push(entry);
        Ok(Response::new(ProposeReply { index: 0, outcome: Outcome::Relayed, leader: None }.to_wire()))
    }

    async fn get_subject(&self, _: Request<pb::SubjectQuery>) -> Result<Response<pb::SubjectInfo>, Status> {
        Err(Status::unimplemented("not needed"))
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
        let height = self.inner.lock().unwrap().blocks.len() as u64;
        Ok(Response::new(pb::ClusterInfo { node_id: 1, leader: 1, height, ..Default::default() }))
    }

    type BlocksStream = Feed<pb::BlockInfo>;

    async fn blocks(&self, r: Request<pb::SubscribeRequest>) -> Result<Response<Self::BlocksStream>, Status> {
        let mut next = r.into_inner().from_height.max(1);
        let mut heights = self.heights.subscribe();
        let inner = self.inner.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let latest = *heights.borrow_and_update();
                while next <= latest {
                    let block = inner.lock().unwrap().blocks[next as usize - 1].encode();
                    if tx.send(Ok(pb::BlockInfo { block, latest_height: latest })).await.is_err() {
                        return;
                    }
                    next += 1;
                }
                if heights.changed().await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }

    type CeremonyStream = Feed<pb::CeremonyEvent>;

    async fn ceremony(&self, _: Request<pb::SubscribeRequest>) -> Result<Response<Self::CeremonyStream>, Status> {
        Err(Status::unimplemented("not needed"))
    }

    async fn witness(&self, _: Request<pb::WitnessRequest>) -> Result<Response<pb::WitnessResponse>, Status> {
        Ok(Response::new(pb::WitnessResponse::default()))
    }

    /// Its own headers: the signer confirms its state with them before acting.
    async fn get_transfer_proof(
        &self,
        _: Request<pb::TransferProofQuery>,
    ) -> Result<Response<pb::TransferProofInfo>, Status> {
        Err(Status::unimplemented("not needed"))
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

    async fn headers(&self, r: Request<pb::HeadersQuery>) -> Result<Response<pb::HeadersInfo>, Status> {
        let q = r.into_inner();
        let g = self.inner.lock().unwrap();
        let latest = g.blocks.len() as u64;
        let headers = (q.from_height.max(1)..=q.to_height.min(latest))
            .map(|h| Block::header_only(g.blocks[h as usize - 1].sealed_header()).encode())
            .collect();
        Ok(Response::new(pb::HeadersInfo { headers, latest_height: latest }))
    }

    async fn signer_status(&self, _: Request<pb::SignerStatusQuery>) -> Result<Response<pb::SignerStatusInfo>, Status> {
        let g = self.inner.lock().unwrap();
        let announce = g.state.signer_status().map(|a| Ceremony::Announce(a.clone()).encode()).unwrap_or_default();
        Ok(Response::new(pb::SignerStatusInfo { announce, height: g.blocks.len() as u64 }))
    }
}

/// Starts the compromised chain on 127.0.0.1; returns it, its address and genesis.
async fn evil_chain(ca: &DevCa, holders: &[SecretKey], chain_id: u64) -> (Evil, String, Genesis) {
    let nodes: Vec<SecretKey> = (0..3).map(|i| key(&format!("evil-node-{i}"))).collect();
    let genesis = Genesis {
        deploymentId: B256::repeat_byte(0xE7),
        chainId: chain_id,
        keyHolders: holders.iter().map(SecretKey::address).collect(),
        nodes: nodes
            .iter()
            .zip(1u64..)
            .map(|(k, id)| GenesisNode { nodeId: id, endpoint: format!("127.0.0.1:{id}"), account: k.address() })
            .collect(),
        signer: key("signer").address(),
        assets: vec![],
        time: 1_800_000_000,
    };
    let (heights, _) = watch::channel(0);
    let evil = Evil {
        inner: Arc::new(Mutex::new(Inner {
            state: NotaryState::new(genesis.clone()).unwrap(),
            nodes,
            blocks: vec![],
            pending: vec![],
            index: 0,
            reports: vec![],
        })),
        heights,
    };
    let (cert, key_pem) = ca.issue("evil-node", CertRole::Node(1), &["127.0.0.1".into()]).unwrap();
    let tls = TlsMaterial { ca: ca.ca_pem().to_owned(), cert, key: key_pem };
    let addr = format!("127.0.0.1:{}", free_port());
    let server = tonic::transport::Server::builder()
        .tls_config(tls.server())
        .unwrap()
        .add_service(pb::notary_server::NotaryServer::new(evil.clone()));
    let sock = addr.parse().unwrap();
    tokio::spawn(async move { server.serve(sock).await });
    let sealer = evil.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            sealer.seal();
        }
    });
    (evil, addr, genesis)
}

/// Waits for the signer's report on `subject` with `status`; returns its detail.
async fn report(evil: &Evil, subject: B256, status: ReportStatus) -> String {
    eventually(&format!("a {status:?} report"), Duration::from_secs(60), || async {
        evil.reports().into_iter().find(|r| r.subject == subject && r.status == status as u8).map(|r| r.detail)
    })
    .await
}

/// A signer, unsealed with a funded wallet, following the compromised chain,
/// with an active flow (notarized, authorized, anchored by the signer).
struct Scene {
    anvil: Anvil,
    _dir: tempfile::TempDir,
    evil: Evil,
    domain: box_core::typed::Domain,
    holder_keys: Vec<SecretKey>,
    signer: SignerProc,
    holders: Holders,
    wallet: Address,
    people: People,
    flow: B256,
}

/// Sets up a [`Scene`]; the signer re-prices stuck transactions after `replace_after_secs`.
async fn scene(replace_after_secs: u64) -> Scene {
    let anvil = Anvil::start().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = DevCa::new("evil-ca").unwrap();
    let holder_keys: Vec<SecretKey> = (0..3).map(|i| key(&format!("key-holder-{i}"))).collect();
    let (evil, addr, genesis) = evil_chain(&ca, &holder_keys, anvil.chain_id()).await;
    let domain = genesis.domain();
    let genesis_path = dir.path().join("genesis.json");
    std::fs::write(&genesis_path, serde_json::to_vec(&genesis).unwrap()).unwrap();
    let mut signer = SignerProc::prepare(
        &dir.path().join("signer"),
        &ca,
        &genesis_path,
        &key("signer"),
        std::slice::from_ref(&addr),
        &anvil.endpoint(),
        anvil.chain_id(),
        replace_after_secs,
    );
    signer.spawn(&[], &[]);
    let (cert, key_pem) = ca.issue("key-holders", CertRole::Gateway, &["127.0.0.1".into()]).unwrap();
    let client_tls = TlsMaterial { ca: ca.ca_pem().to_owned(), cert, key: key_pem };
    let holders = Holders::new(domain, holder_keys.clone(), &client_tls, &addr);
    let wallet = holders.genesis(&signer.enrolment_code().await).await;
    anvil.fund(wallet, ether(20)).await;
    let people = People::new();
    let flow = people.flow(Address::repeat_byte(0x70));
    let fh = domain.flow_hash(&flow).0;
    evil.notarize(&Subject::Flow(flow));
    for a in authorizations(&domain, &holder_keys, fh) {
        evil.notarize(&a);
    }
    eventually("the flow active", Duration::from_secs(60), || async {
        evil.state().flow(&FlowHash(fh)).filter(|f| f.status == FlowStatus::Active).map(|_| ())
    })
    .await;
    Scene { anvil, _dir: dir, evil, domain, holder_keys, signer, holders, wallet, people, flow: fh }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_that_breaks_a_rule_is_signed_even_when_the_majority_notarizes_it() {
    let Scene { anvil, _dir, evil, domain, holder_keys, signer: mut s, holders, wallet, people, flow: fh } =
        scene(60).await;
    let rpc = box_eth::Eth::connect(&anvil.endpoint()).unwrap();
    let mut signed = 1; // the anchor

    let alice = Address::repeat_byte(0xA1);
    let refused = |tb: &box_core::transbox::TransBox| tb.transfer_id(&domain).0;

    // Each of these is notarized by the compromised majority; each must be refused.
    let mut wrong_chain = people.request(&domain, fh, Address::ZERO, alice, ether(1));
    wrong_chain.chainId = 1;
    // Issue 11, fault 5: 1 wei with a fee cap of 10^24 wei (the flow caps fees at 0.1 ETH).
    let mut greedy = people.request(&domain, fh, Address::ZERO, alice, U256::from(1u64));
    greedy.maxFee = U256::from(10u64).pow(U256::from(24u64));
    let mut cases: Vec<(&str, box_core::transbox::TransBox, &str)> = vec![
        ("wrong chain id", people.sign(&domain, wrong_chain, 2), "chain id 1"),
        ("a fee cap over the flow's", people.sign(&domain, greedy, 2), "exceeds the flow's fee cap of 0.1 ETH"),
        (
            "over the per-transfer limit",
            people.transfer(&domain, fh, Address::ZERO, alice, ether(6), 2),
            "per-transfer limit",
        ),
        (
            "a missing approval level",
            people.transfer(&domain, fh, Address::ZERO, alice, ether(1), 1),
            "level 2 (Finance)",
        ),
    ];
    let mut moved = people.transfer(&domain, fh, Address::ZERO, alice, ether(1), 2);
    moved.request.to = Address::repeat_byte(0xBA);
    cases.push(("a destination changed after approval", moved, "signed by"));
    let mut more = people.transfer(&domain, fh, Address::ZERO, alice, ether(1), 2);
    more.request.amount = ether(2);
    cases.push(("an amount changed after approval", more, "signed by"));
    for (what, tb, reason) in &cases {
        evil.notarize(&Subject::Transfer(tb.clone()));
        let detail = report(&evil, refused(tb), ReportStatus::Refused).await;
        assert!(detail.contains(reason), "{what}: {detail}");
    }

    // The period limit counts from the signer's own record: 4 + 4.5 > 8 ETH.
    let first = people.transfer(&domain, fh, Address::ZERO, alice, ether(4), 2);
    evil.notarize(&Subject::Transfer(first.clone()));
    report(&evil, first.transfer_id(&domain).0, ReportStatus::Confirmed).await;
    signed += 1;
    let second = people.transfer(&domain, fh, Address::ZERO, alice, ether(9) / U256::from(2), 2);
    evil.notarize(&Subject::Transfer(second.clone()));
    let detail = report(&evil, refused(&second), ReportStatus::Refused).await;
    assert!(detail.contains("period"), "{detail}");

    // A replayed transfer changes nothing; one vote of three notarizes nothing.
    evil.notarize(&Subject::Transfer(first.clone()));
    let minority = people.transfer(&domain, fh, Address::ZERO, alice, ether(1), 2);
    evil.notarize_with(&Subject::Transfer(minority.clone()), &[0]);

    // Paused by one key holder: refused.
    let pause = PauseTransfers { paused: true, reason: "incident 42".into(), nonce: 1 };
    evil.notarize(&governance(&domain, GovernanceAction::PauseTransfers(pause), &holder_keys[..1]));
    eventually("paused", Duration::from_secs(30), || async { evil.state().paused().map(|_| ()) }).await;
    let during = people.transfer(&domain, fh, Address::ZERO, alice, ether(1), 2);
    evil.notarize(&Subject::Transfer(during.clone()));
    let detail = report(&evil, refused(&during), ReportStatus::Refused).await;
    assert!(detail.contains("paused: incident 42"), "{detail}");
    let resume = PauseTransfers { paused: false, reason: String::new(), nonce: 2 };
    evil.notarize(&governance(&domain, GovernanceAction::PauseTransfers(resume), &holder_keys));

    // Locked by a panic: a valid transfer waits, unsigned, until a full unseal.
    let a = holders.wait("unsealed", |a| a.state == SignerState::Unsealed as u8 && !a.paused).await;
    holders.send(0, &a, Purpose::Panic, b"").await;
    let locked = holders.wait("locked", |a| a.state == SignerState::Locked as u8).await;
    let waiting = people.transfer(&domain, fh, Address::ZERO, alice, ether(1), 2);
    let waiting_id = waiting.transfer_id(&domain);
    evil.notarize(&Subject::Transfer(waiting.clone()));
    eventually("the transfer notarized", Duration::from_secs(30), || async {
        evil.state().transfer(&waiting_id).filter(|t| t.status == TransferStatus::Notarized).map(|_| ())
    })
    .await;
    // A negative check needs a bounded wait: many 100 ms rounds of the locked signer.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(rpc.pending_nonce(wallet).await.unwrap(), signed, "nothing is signed while locked");
    for (slot, p) in PHRASES.iter().enumerate() {
        holders.send(slot, &locked, Purpose::Phrase, p.as_bytes()).await;
    }
    report(&evil, waiting_id.0, ReportStatus::Confirmed).await;
    signed += 1;

    // Sealed after a restart: the same.
    let boot = holders.announce().await.map(|a| a.boot);
    s.kill();
    s.spawn(&[], &[]);
    let sealed = holders.boot(boot, SignerState::Sealed).await;
    let later = people.transfer(&domain, fh, Address::ZERO, alice, ether(1) / U256::from(2), 2);
    evil.notarize(&Subject::Transfer(later.clone()));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(rpc.pending_nonce(wallet).await.unwrap(), signed, "nothing is signed while sealed");
    for (slot, p) in PHRASES.iter().enumerate() {
        holders.send(slot, &sealed, Purpose::Phrase, p.as_bytes()).await;
    }
    report(&evil, later.transfer_id(&domain).0, ReportStatus::Confirmed).await;
    signed += 1;

    // In all: the anchor and four valid transfers; the replay and the minority never.
    assert_eq!(rpc.pending_nonce(wallet).await.unwrap(), signed);
    let minority_id = TransferId(minority.transfer_id(&domain).0);
    assert!(evil.reports().iter().all(|r| r.subject != minority_id.0), "a minority-voted transfer was acted on");
    let first_id = first.transfer_id(&domain).0;
    let mut first_txs: Vec<B256> = evil
        .reports()
        .iter()
        .filter(|r| r.subject == first_id && r.status == ReportStatus::Broadcast as u8)
        .map(|r| r.txHash)
        .collect();
    first_txs.dedup();
    assert_eq!(first_txs.len(), 1, "the replayed transfer was signed again: {first_txs:?}");
    assert_eq!(anvil.balance(alice).await, ether(4) + ether(1) + ether(1) / U256::from(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_transaction_is_repriced_on_the_same_nonce_and_mined_once() {
    // Re-price after 1 s without a receipt.
    let Scene { anvil, _dir, evil, domain, signer: s, wallet, people, flow: fh, .. } = scene(1).await;

    // The public chain stops mining: the transfer's transaction sits in the pool.
    anvil.set_automine(false).await;
    let alice = Address::repeat_byte(0xA1);
    let tb = people.transfer(&domain, fh, Address::ZERO, alice, ether(1), 2);
    let tid = tb.transfer_id(&domain).0;
    evil.notarize(&Subject::Transfer(tb));
    let hashes = eventually("a re-priced transaction", Duration::from_secs(60), || async {
        let mut h: Vec<B256> = evil
            .reports()
            .iter()
            .filter(|r| r.subject == tid && r.status == ReportStatus::Broadcast as u8)
            .map(|r| r.txHash)
            .collect();
        h.dedup();
        (h.len() >= 2).then_some(h)
    })
    .await;
    assert!(s.output().contains("re-priced a stuck transaction"), "{}", s.output());
    let before = rpc_nonce(&anvil, wallet).await;
    anvil.mine(1).await;
    let confirmed = eventually("confirmed", Duration::from_secs(60), || async {
        evil.reports().into_iter().find(|r| r.subject == tid && r.status == ReportStatus::Confirmed as u8)
    })
    .await;
    assert!(hashes.contains(&confirmed.txHash), "the mined transaction is one of the transfer's");
    assert_eq!(rpc_nonce(&anvil, wallet).await, before, "one nonce, however many prices");
    assert_eq!(anvil.balance(alice).await, ether(1), "moved once");
}

async fn rpc_nonce(anvil: &Anvil, who: Address) -> u64 {
    box_eth::Eth::connect(&anvil.endpoint()).unwrap().pending_nonce(who).await.unwrap()
}
