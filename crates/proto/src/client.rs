//! The one client of the nodes' `Notary` service: every process that talks
//! to the chain (the gateway, the signer, `boxctl dev`, the test harness)
//! goes through [`NodeClient`].
//!
//! - **Failover.** A call goes to the preferred node first (the last one that
//!   answered, or the leader most nodes name after [`NodeClient::cluster`],
//!   or the leader a write's answer names as the node that appended it, so
//!   that the next write is not relayed: see [`HINT_QUARANTINE`]), then to
//!   each other node in turn. Transport failures, timeouts and
//!   `UNAVAILABLE` move on; a refusal (the node answered with a rule it
//!   checks: `INVALID_ARGUMENT`, `FAILED_PRECONDITION`) or `NOT_FOUND` ends
//!   the call, since every honest node would say the same.
//! - **Timeouts.** Every call carries a deadline ([`Timeouts`]): a node that
//!   holds a request (a withholding leader, or a node relaying to one) costs
//!   one deadline, then the next node is asked.
//! - **Witnessing.** What a node takes through [`NodeClient::submit`] or
//!   [`NodeClient::propose`] is also told to every other node
//!   (`Notary.Witness`) in the background, so each starts a deadline for it
//!   and a leader that leaves it out of the log is deposed (box-chain's
//!   `liveness`). What waits for a node goes in its next call
//!   ([`crate::witness`]).
//! - **Typed replies.** Answers are read once into [`crate::reply`] values;
//!   a node that answers with a value the protocol does not define counts as
//!   failed, and the next is asked.
//!
//! What it does not do: trust any answer. A node's word about a subject or a
//! height is one node's word; what must be believed is verified from blocks
//! ([`crate::BlockFollower`]).

use crate::pb;
use crate::pb::notary_client::NotaryClient;
use crate::reply::{Malformed, ProposeReply, SubjectView, SubmitReply};
use crate::tls::{Channels, TlsMaterial};
use crate::witness::Witnesses;
use box_core::block::Block;
use box_core::commitment::RowProof;
use box_core::encoding::Canonical;
use box_core::ids::{SubjectId, TransferId};
use box_core::notary::{TransferLeaf, TransferProof, row_key, tag};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

/// One node, as a client dials it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Raft id (0 when the client does not know it).
    pub id: u64,
    /// host:port.
    pub addr: String,
}

impl Node {
    /// A node known by address only.
    pub fn at(addr: impl Into<String>) -> Self {
        Self { id: 0, addr: addr.into() }
    }
}

/// How long each kind of call may take on one node before the next is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// `Submit` and `Propose`: long enough for a relay to the leader and a commit.
    pub write: Duration,
    /// Reads (`GetBlock`, `GetSubject`, `Cluster`, `SignerStatus`, `Headers`).
    pub read: Duration,
    /// `Witness`, sent in the background.
    pub witness: Duration,
}

impl Default for Timeouts {
    /// 15 s to write (a node relays to the leader with a 10 s deadline), 5 s
    /// to read, 2 s to witness.
    fn default() -> Self {
        Self { write: Duration::from_secs(15), read: Duration::from_secs(5), witness: Duration::from_secs(2) }
    }
}

/// Why the nodes did not take or answer a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    /// No node answered (each node's reason, `addr: reason; …`): transient,
    /// retry later.
    #[error("no chain node is reachable ({0})")]
    Unavailable(String),
    /// A node answered and refused: the call breaks a rule the nodes check
    /// (the reason is the node's). Retrying the same call will not help.
    #[error("the chain refused it: {0}")]
    Refused(String),
    /// Asked for something the node does not have (yet).
    #[error("{0}")]
    NotFound(String),
}

/// A node's answer to `Cluster`, or why it did not answer.
#[derive(Debug, Clone)]
pub struct NodeView {
    /// The node.
    pub node: Node,
    /// Its view, if it answered; else the reason.
    pub info: Result<pb::ClusterInfo, String>,
}

/// Clients to every node of a deployment, with failover (see the module doc).
/// Cloning shares the channels and the preferred node.
#[derive(Clone)]
pub struct NodeClient {
    nodes: Arc<[Node]>,
    channels: Channels,
    timeouts: Timeouts,
    /// Index into `nodes` of the node to ask first.
    preferred: Arc<AtomicUsize>,
    /// When each node (by index) last failed a call: milliseconds since
    /// `born`, plus one (0: never). A leader hint never names as first a node
    /// that failed within [`HINT_QUARANTINE`].
    failed_at: Arc<[AtomicU64]>,
    born: Instant,
    /// What [`NodeClient::submit`] and [`NodeClient::propose`] tell the other nodes.
    witnesses: Witnesses,
}

/// How long after a node failed a call a write's leader hint may not make it
/// the node asked first: a node that names a leader which withholds or is
/// down costs a caller that deadline once, not at every call.
pub const HINT_QUARANTINE: Duration = Duration::from_secs(30);

impl std::fmt::Debug for NodeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeClient").field("nodes", &self.nodes).field("timeouts", &self.timeouts).finish()
    }
}

fn timed<T>(msg: T, timeout: Duration) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.set_timeout(timeout);
    r
}

/// A status's message, or its code's description when it has none.
fn reason(s: &tonic::Status) -> String {
    if s.message().is_empty() { s.code().description().to_owned() } else { s.message().to_owned() }
}

fn malformed(m: Malformed) -> tonic::Status {
    tonic::Status::internal(m.to_string())
}

impl NodeClient {
    /// Clients to `nodes`, presenting `tls`'s certificate, with the default [`Timeouts`].
    pub fn new(nodes: Vec<Node>, tls: &TlsMaterial) -> Self {
        Self::with_channels(nodes, Channels::new(tls.client()))
    }

    /// Clients to `nodes` over an existing channel cache.
    pub fn with_channels(nodes: Vec<Node>, channels: Channels) -> Self {
        let failed_at = nodes.iter().map(|_| AtomicU64::new(0)).collect();
        let timeouts = Timeouts::default();
        Self {
            nodes: nodes.into(),
            witnesses: Witnesses::new(channels.clone(), timeouts.witness),
            channels,
            timeouts,
            preferred: Arc::default(),
            failed_at,
            born: Instant::now(),
        }
    }

    /// The same client with other deadlines.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.witnesses = Witnesses::new(self.channels.clone(), timeouts.witness);
        self.timeouts = timeouts;
        self
    }

    /// The nodes, as configured.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The channels it dials with (for the header cross-check).
    pub fn channels(&self) -> &Channels {
        &self.channels
    }

    /// The generated client for node `index`: no failover, no deadline. For
    /// what this client does not wrap (e.g. tests of the server's surface).
    pub fn raw(&self, index: usize) -> Result<NotaryClient<Channel>, String> {
        let node = self.nodes.get(index).ok_or_else(|| format!("there is no node {index}"))?;
        self.channels.get(&node.addr).map(NotaryClient::new).map_err(|e| format!("{}: {e}", node.addr))
    }

    /// Node indexes in the order to try: the preferred one first.
    fn order(&self) -> impl Iterator<Item = usize> + '_ {
        let n = self.nodes.len();
        let start = self.preferred.load(Ordering::Relaxed) % n.max(1);
        (0..n).map(move |k| (start + k) % n)
    }

    /// Tries `call` on each node until one answers; returns the answer and
    /// the index of the node that gave it. A node's `NOT_FOUND` is final.
    async fn each<T, F, Fut>(&self, call: F) -> Result<(T, usize), NodeError>
    where
        F: FnMut(NotaryClient<Channel>) -> Fut,
        Fut: Future<Output = Result<T, tonic::Status>>,
    {
        self.each_with(true, call).await
    }

    /// [`NodeClient::each`], where `NOT_FOUND` is final only if
    /// `not_found_is_final`. Otherwise the other nodes are asked too (a
    /// node may lack what others hold: one behind the tip, one caught up
    /// by a snapshot), and `NOT_FOUND` is the answer only when no node had
    /// it and at least one said so.
    async fn each_with<T, F, Fut>(&self, not_found_is_final: bool, mut call: F) -> Result<(T, usize), NodeError>
    where
        F: FnMut(NotaryClient<Channel>) -> Fut,
        Fut: Future<Output = Result<T, tonic::Status>>,
    {
        let mut not_found = None;
        let mut reasons = Vec::new();
        for i in self.order() {
            let client = match self.raw(i) {
                Ok(c) => c,
                Err(e) => {
                    self.failed(i);
                    reasons.push(e);
                    continue;
                }
            };
            match call(client).await {
                Ok(v) => {
                    self.preferred.store(i, Ordering::Relaxed);
                    return Ok((v, i));
                }
                Err(s) => match s.code() {
                    tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition => {
                        return Err(NodeError::Refused(s.message().to_owned()));
                    }
                    tonic::Code::NotFound if not_found_is_final => {
                        return Err(NodeError::NotFound(s.message().to_owned()));
                    }
                    tonic::Code::NotFound => {
                        not_found.get_or_insert_with(|| s.message().to_owned());
                    }
                    _ => {
                        self.failed(i);
                        reasons.push(format!("{}: {}", self.nodes[i].addr, reason(&s)));
                    }
                },
            }
        }
        if let Some(message) = not_found {
            return Err(NodeError::NotFound(message));
        }
        if reasons.is_empty() {
            reasons.push("no nodes configured".into());
        }
        Err(NodeError::Unavailable(reasons.join("; ")))
    }

    /// Notes that node `i` failed a call now.
    fn failed(&self, i: usize) {
        let ms = u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX).saturating_add(1);
        if let Some(at) = self.failed_at.get(i) {
            at.store(ms, Ordering::Relaxed);
        }
    }

    /// Makes node `leader` (by id), which a write's answer named as the node
    /// that appended it, the node asked first, unless it is not one of
    /// [`NodeClient::nodes`] or failed a call within [`HINT_QUARANTINE`].
    /// A write sent to a follower is relayed to the leader (one more hop
    /// and its CPU on both nodes); this saves the relay from the next call on.
    fn follow_hint(&self, leader: Option<u64>) {
        let Some(idx) = leader.and_then(|l| self.nodes.iter().position(|n| n.id == l)) else { return };
        let failed = self.failed_at[idx].load(Ordering::Relaxed);
        let now = u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX).saturating_add(1);
        let quarantine = u64::try_from(HINT_QUARANTINE.as_millis()).unwrap_or(u64::MAX);
        if failed == 0 || now.saturating_sub(failed) >= quarantine {
            self.preferred.store(idx, Ordering::Relaxed);
        }
    }

    /// The node asked first now (its id).
    pub fn preferred(&self) -> Option<u64> {
        let n = self.nodes.len();
        (n > 0).then(|| self.nodes[self.preferred.load(Ordering::Relaxed) % n].id)
    }

    /// Submits a subject (canonical bytes) to the first node that takes it,
    /// then tells every other node (witness). Idempotent: a subject submitted
    /// twice is one subject, the second time [`crate::SubmitOutcome::Duplicate`].
    pub async fn submit(&self, subject: Vec<u8>) -> Result<SubmitReply, NodeError> {
        let timeout = self.timeouts.write;
        let (reply, taken_by) = self
            .each(|mut c| {
                let subject = subject.clone();
                async move {
                    let r = c.submit(timed(pb::SubmitRequest { subject }, timeout)).await?.into_inner();
                    SubmitReply::from_wire(r).map_err(malformed)
                }
            })
            .await?;
        // A subject's canonical bytes are its Submit entry's.
        self.witness_elsewhere(taken_by, &subject);
        self.follow_hint(reply.leader);
        Ok(reply)
    }

    /// Proposes a raw entry (canonical `Entry` bytes) to the first node that
    /// takes it, then tells every other node (witness). The outcome may be a
    /// refusal by the notary ([`crate::Outcome::Refused`]): the entry is in
    /// the log, and changed nothing.
    pub async fn propose(&self, entry: Vec<u8>) -> Result<ProposeReply, NodeError> {
        let timeout = self.timeouts.write;
        let (reply, taken_by) = self
            .each(|mut c| {
                let entry = entry.clone();
                async move {
                    let r = c.propose(timed(pb::ProposeRequest { entry, forwarded: false }, timeout)).await?;
                    ProposeReply::from_wire(r.into_inner()).map_err(malformed)
                }
            })
            .await?;
        self.witness_elsewhere(taken_by, &entry);
        self.follow_hint(reply.leader);
        Ok(reply)
    }

    /// Tells every node but `taken_by` about `entry` in the background, so
    /// each starts a deadline for it even if the node that took it keeps it
    /// to itself ([`Witnesses`]: in batches). Failures are logged at debug
    /// level only.
    fn witness_elsewhere(&self, taken_by: usize, entry: &[u8]) {
        for (_, node) in self.nodes.iter().enumerate().filter(|(i, _)| *i != taken_by) {
            self.witnesses.send(&node.addr, entry.to_vec());
        }
    }

    /// Transfer `id`'s latest proven row, live or retired, as the first node
    /// that has it answers; `None` if no node reached stored a block that
    /// changed it. A node that has none is not the last word: the others are
    /// asked too (a node behind the tip, or one caught up by a snapshot,
    /// which holds no proof of a transfer retired before its snapshot).
    /// Not verified: [`ProvenTransfer::leaf`] checks the proof against the
    /// header, and the caller must know the header is the chain's (its seal
    /// and certificate, e.g. against the blocks it verified).
    pub async fn transfer_proof(&self, id: &TransferId) -> Result<Option<ProvenTransfer>, NodeError> {
        let timeout = self.timeouts.read;
        let query = pb::TransferProofQuery { transfer_id: id.0.to_vec() };
        let found = self
            .each_with(false, |mut c| {
                let query = query.clone();
                async move {
                    let r = c.get_transfer_proof(timed(query, timeout)).await?.into_inner();
                    ProvenTransfer::from_wire(*id, r).map_err(malformed)
                }
            })
            .await;
        match found {
            Ok((p, _)) => Ok(Some(p)),
            Err(NodeError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A sealed block (canonical bytes) and the answering node's latest
    /// height, or `None` past the end. Not verified: see [`crate::BlockFollower`].
    pub async fn block(&self, height: u64) -> Result<Option<(Vec<u8>, u64)>, NodeError> {
        let timeout = self.timeouts.read;
        let found = self
            .each(|mut c| async move { Ok(c.get_block(timed(pb::BlockQuery { height }, timeout)).await?.into_inner()) })
            .await;
        match found {
            Ok((b, _)) => Ok(Some((b.block, b.latest_height))),
            Err(NodeError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Where a subject stands, as the first node that knows it says. A node
    /// that answers [`SubjectStatus::Unknown`](crate::SubjectStatus) may
    /// lack what others hold (one behind the tip that has not seen the
    /// submission, one caught up by a snapshot, which keeps no record of a
    /// subject that finished below its snapshot), so the other nodes are
    /// asked too: `Unknown` is the answer only when every node that answered
    /// said so; no answer at all is [`NodeError::Unavailable`].
    pub async fn subject(&self, id: &SubjectId) -> Result<SubjectView, NodeError> {
        let timeout = self.timeouts.read;
        let query = pb::SubjectQuery { subject_id: id.0.to_vec() };
        let known = self
            .each_with(false, |mut c| {
                let query = query.clone();
                async move {
                    let r = c.get_subject(timed(query, timeout)).await?.into_inner();
                    match SubjectView::from_wire(r).map_err(malformed)? {
                        v if v.status == crate::SubjectStatus::Unknown => {
                            Err(tonic::Status::not_found("no record of this subject"))
                        }
                        v => Ok(v),
                    }
                }
            })
            .await;
        match known {
            Ok((view, _)) => Ok(view),
            Err(NodeError::NotFound(_)) => Ok(SubjectView::unknown()),
            Err(e) => Err(e),
        }
    }

    /// The signer's latest announcement (canonical signed `SignerAnnounce`,
    /// empty when there is none) and the answering node's height. Not verified.
    pub async fn signer_status(&self) -> Result<pb::SignerStatusInfo, NodeError> {
        let timeout = self.timeouts.read;
        let (info, _) =
            self.each(|mut c| async move {
                Ok(c.signer_status(timed(pb::SignerStatusQuery {}, timeout)).await?.into_inner())
            })
            .await?;
        Ok(info)
    }

    /// Every node's view of the cluster, asked concurrently, in the order
    /// of [`NodeClient::nodes`]. Also makes the leader most answers name
    /// (the first named, in node order) the node asked first.
    pub async fn cluster(&self) -> Vec<NodeView> {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..self.nodes.len() {
            let (client, timeout) = (self.raw(i), self.timeouts.read);
            tasks.spawn(async move {
                let info = match client {
                    Ok(mut c) => c
                        .cluster(timed(pb::ClusterQuery {}, timeout))
                        .await
                        .map(|r| r.into_inner())
                        .map_err(|s| reason(&s)),
                    Err(e) => Err(e),
                };
                (i, info)
            });
        }
        let mut out: Vec<(usize, Result<pb::ClusterInfo, String>)> = tasks.join_all().await;
        out.sort_by_key(|(i, _)| *i);
        let mut votes = std::collections::BTreeMap::<u64, usize>::new();
        for leader in out.iter().filter_map(|(_, r)| r.as_ref().ok()).map(|i| i.leader).filter(|l| *l != 0) {
            *votes.entry(leader).or_default() += 1;
        }
        let named = votes.iter().max_by_key(|(id, n)| (**n, std::cmp::Reverse(**id))).map(|(id, _)| *id);
        if let Some(idx) = named.and_then(|leader| self.nodes.iter().position(|n| n.id == leader)) {
            self.preferred.store(idx, Ordering::Relaxed);
        }
        out.into_iter().map(|(i, info)| NodeView { node: self.nodes[i].clone(), info }).collect()
    }
}

/// A transfer's row as a node proves it ([`NodeClient::transfer_proof`]):
/// the sealed header of the block whose state root proves it, and the proof.
/// Nothing here is verified until [`ProvenTransfer::leaf`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenTransfer {
    /// The block's height.
    pub height: u64,
    /// The sealed header (a block without entries).
    pub header: Block,
    /// The row and its path to the header's `stateHash`.
    pub proof: TransferProof,
}

impl ProvenTransfer {
    fn from_wire(id: TransferId, r: pb::TransferProofInfo) -> Result<Self, Malformed> {
        let header = Block::decode(&r.header).map_err(|e| Malformed(format!("the header does not decode: {e}")))?;
        if header.header.height != r.height {
            return Err(Malformed(format!("a header of height {} for height {}", header.header.height, r.height)));
        }
        let siblings = r
            .siblings
            .iter()
            .map(|s| box_core::B256::try_from(s.as_slice()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| Malformed("a sibling is not 32 bytes".into()))?;
        let row = RowProof { key: row_key(tag::TRANSFER, &id.0), value: r.value, siblings };
        Ok(Self { height: r.height, header, proof: TransferProof { transfer: id, row } })
    }

    /// The transfer's row if the proof verifies against the header's
    /// `stateHash` (its status: [`TransferLeaf::transfer_status`]). It does
    /// not check the header's seal: that it is the chain's is the caller's to know.
    pub fn leaf(&self) -> Option<TransferLeaf> {
        self.proof.verify(&self.header.header.stateHash)
    }
}
