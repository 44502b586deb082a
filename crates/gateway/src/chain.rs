//! The gateway's view of the chain: Notary gRPC over mutual TLS to every node,
//! following the leader and falling back to the other nodes on failure.

use box_chain::network::{Channels, TlsMaterial};
use box_chain::pb;
use box_chain::pb::notary_client::NotaryClient;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tonic::transport::Channel;

/// How long one RPC may take.
const RPC_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the chain did not take or answer a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// No node answered; each node's reason.
    #[error("no chain node is reachable ({0}); the request is kept and retried")]
    Unavailable(String),
    /// A node answered and refused (the subject breaks a rule the notary checks on submission).
    #[error("the chain refused it: {0}")]
    Refused(String),
    /// Asked for something that does not exist.
    #[error("{0}")]
    NotFound(String),
}

/// One node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Raft id (0 when the endpoint is not in the genesis).
    pub id: u64,
    /// host:port.
    pub addr: String,
}

/// A node's answer to `Cluster`, or why it did not answer.
#[derive(Debug, Clone)]
pub struct NodeView {
    /// The node.
    pub node: Node,
    /// Its view, if it answered.
    pub info: Result<pb::ClusterInfo, String>,
}

/// Clients to every node.
#[derive(Clone)]
pub struct Chain {
    nodes: Arc<Vec<Node>>,
    channels: Channels,
    /// Index into `nodes` of the node to try first (the last known leader).
    preferred: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain").field("nodes", &self.nodes).finish()
    }
}

fn timed<T>(msg: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.set_timeout(RPC_TIMEOUT);
    r
}

impl Chain {
    /// Clients to `nodes` with the gateway's client certificate.
    pub fn new(nodes: Vec<Node>, tls: &TlsMaterial) -> Self {
        Self { nodes: Arc::new(nodes), channels: Channels::new(tls.client()), preferred: Arc::default() }
    }

    /// The nodes.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    fn client(&self, node: &Node) -> Result<NotaryClient<Channel>, String> {
        self.channels.get(&node.addr).map(NotaryClient::new).map_err(|e| e.to_string())
    }

    /// Nodes in the order to try: the preferred one first.
    fn order(&self) -> Vec<(usize, &Node)> {
        let start = self.preferred.load(Ordering::Relaxed) % self.nodes.len().max(1);
        (0..self.nodes.len()).map(|k| (start + k) % self.nodes.len()).map(|i| (i, &self.nodes[i])).collect()
    }

    /// Tries `call` on each node until one answers. A refusal (the node
    /// answered with a rule) ends the attempt; transport failures move on.
    async fn each<T, F, Fut>(&self, mut call: F) -> Result<T, ChainError>
    where
        F: FnMut(NotaryClient<Channel>) -> Fut,
        Fut: Future<Output = Result<T, tonic::Status>>,
    {
        let mut reasons = Vec::new();
        for (i, node) in self.order() {
            let client = match self.client(node) {
                Ok(c) => c,
                Err(e) => {
                    reasons.push(format!("{}: {e}", node.addr));
                    continue;
                }
            };
            match call(client).await {
                Ok(v) => {
                    self.preferred.store(i, Ordering::Relaxed);
                    return Ok(v);
                }
                Err(s) => match s.code() {
                    tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition => {
                        return Err(ChainError::Refused(s.message().to_owned()));
                    }
                    tonic::Code::NotFound => return Err(ChainError::NotFound(s.message().to_owned())),
                    _ => reasons.push(format!("{}: {}", node.addr, s.message())),
                },
            }
        }
        Err(ChainError::Unavailable(reasons.join("; ")))
    }

    /// Submits canonical subject bytes; returns the node's outcome
    /// (`submitted` or `duplicate`). Idempotent. Every node is told about it
    /// too (see [`Chain::witness_all`]).
    pub async fn submit(&self, subject: Vec<u8>) -> Result<String, ChainError> {
        let outcome = self
            .each(|mut c| {
                let s = subject.clone();
                async move { c.submit(timed(pb::SubmitRequest { subject: s })).await.map(|r| r.into_inner().outcome) }
            })
            .await?;
        // A subject's canonical bytes are its Submit entry's.
        self.witness_all(&subject);
        Ok(outcome)
    }

    /// Proposes a raw canonical entry; returns the outcome. Every node is
    /// told about it too (see [`Chain::witness_all`]).
    pub async fn propose(&self, entry: Vec<u8>) -> Result<String, ChainError> {
        let outcome = self
            .each(|mut c| {
                let e = entry.clone();
                async move {
                    c.propose(timed(pb::ProposeRequest { entry: e, forwarded: false }))
                        .await
                        .map(|r| r.into_inner().outcome)
                }
            })
            .await?;
        self.witness_all(&entry);
        Ok(outcome)
    }

    /// Tells every node about `entry` in the background (`Notary.Witness`),
    /// so each starts a deadline for it even if the node that took it keeps
    /// it to itself: a leader that leaves it out of the log is then deposed
    /// (box-chain's `liveness`). Failures are only logged at debug level.
    fn witness_all(&self, entry: &[u8]) {
        for node in self.nodes.iter() {
            let Ok(mut c) = self.client(node) else { continue };
            let (entry, addr) = (entry.to_vec(), node.addr.clone());
            tokio::spawn(async move {
                if let Err(e) = c.witness(timed(pb::WitnessRequest { entry })).await {
                    tracing::debug!(node = %addr, "witness not delivered: {}", e.message());
                }
            });
        }
    }

    /// A sealed block (canonical bytes) and the latest height, or `None`
    /// past the end.
    pub async fn block(&self, height: u64) -> Result<Option<(Vec<u8>, u64)>, ChainError> {
        match self
            .each(|mut c| async move { c.get_block(timed(pb::BlockQuery { height })).await.map(|r| r.into_inner()) })
            .await
        {
            Ok(b) => Ok(Some((b.block, b.latest_height))),
            Err(ChainError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every node's view of the cluster, asked concurrently. Also moves the
    /// preferred node to the leader most nodes name.
    pub async fn cluster(&self) -> Vec<NodeView> {
        let mut tasks = tokio::task::JoinSet::new();
        for (i, node) in self.nodes.iter().enumerate() {
            let client = self.client(node);
            tasks.spawn(async move {
                let info = match client {
                    Ok(mut c) => c.cluster(timed(pb::ClusterQuery {})).await.map(|r| r.into_inner()).map_err(|s| {
                        if s.message().is_empty() { s.code().description().to_owned() } else { s.message().to_owned() }
                    }),
                    Err(e) => Err(e),
                };
                (i, info)
            });
        }
        let mut out: Vec<(usize, Result<pb::ClusterInfo, String>)> = tasks.join_all().await;
        out.sort_by_key(|(i, _)| *i);
        if let Some(leader) = out.iter().filter_map(|(_, r)| r.as_ref().ok()).map(|i| i.leader).find(|l| *l != 0)
            && let Some(idx) = self.nodes.iter().position(|n| n.id == leader)
        {
            self.preferred.store(idx, Ordering::Relaxed);
        }
        out.into_iter().map(|(i, info)| NodeView { node: self.nodes[i].clone(), info }).collect()
    }
}
