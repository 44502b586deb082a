//! The signer's link to the chain: it dials every node over mutual TLS (it
//! opens no port itself) through box-proto's one node client, and follows
//! sealed blocks through box-proto's one verifying follower.
//!
//! - Reports and announcements go to any node that takes them (failover,
//!   a deadline per call); every other node is told about them too, so a
//!   leader that withholds them is noticed (box-chain's `liveness`).
//! - Blocks come from whichever node serves them; the follower switches node
//!   when one fails, stalls or serves a block that does not verify.
//!
//! Nothing received here is trusted: blocks go to
//! [`box_core::audit::HistoryVerifier`] before anything acts on them.

use box_core::audit::HistoryVerifier;
use box_proto::{BlockFollower, Channels, Node, NodeClient, NodeError, Outcome, SubmitOutcome, Timeouts, TlsMaterial};
use std::time::Duration;

/// How long a node may take: to take a submission (a withholding leader, or
/// a node relaying to one, holds it, and the next node is tried), to answer
/// a read (the follower's stall check), to take a witness.
const TIMEOUTS: Timeouts =
    Timeouts { write: Duration::from_secs(15), read: Duration::from_secs(2), witness: Duration::from_secs(2) };

/// The nodes.
#[derive(Clone)]
pub struct Link {
    nodes: Vec<String>,
    client: NodeClient,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Link({:?})", self.nodes)
    }
}

impl Link {
    /// Dials `nodes` with `tls` (lazily).
    pub fn new(nodes: Vec<String>, tls: &TlsMaterial) -> Self {
        Self::named(nodes, &[], tls)
    }

    /// Dials `nodes` with `tls` (lazily), knowing each node whose endpoint
    /// `genesis_nodes` lists by its raft id: a report's answer then names
    /// the leader that appended it, and the next report goes to it directly
    /// instead of being relayed ([`box_proto::NodeClient`]). A node the
    /// genesis does not list is dialled all the same, by address only.
    pub fn named(nodes: Vec<String>, genesis_nodes: &[box_core::typed::GenesisNode], tls: &TlsMaterial) -> Self {
        let id = |addr: &str| genesis_nodes.iter().find(|n| n.endpoint == addr).map_or(0, |n| n.nodeId);
        let dialled = nodes.iter().map(|a| Node { id: id(a), addr: a.clone() }).collect();
        let client = NodeClient::new(dialled, tls).timeouts(TIMEOUTS);
        Self { nodes, client }
    }

    /// The raft id of the node asked first now (0 when the genesis does
    /// not list it): the leader once a report's answer named it.
    pub fn asks_first(&self) -> Option<u64> {
        self.client.preferred()
    }

    /// The node addresses, as configured.
    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }

    /// Waits until a node answers and compares its genesis fingerprint with
    /// `ours` (see [`box_proto::genesis::check_genesis`]): a mismatch is
    /// refused with both fingerprints; unreachable nodes are waited for.
    pub async fn check_genesis(
        &self,
        ours: box_core::genesis::Fingerprint,
    ) -> Result<Option<u64>, box_proto::GenesisMismatch> {
        box_proto::genesis::check_genesis(&self.client, ours).await
    }

    /// The channels it dials with.
    pub fn channels(&self) -> &Channels {
        self.client.channels()
    }

    /// Submits a subject (canonical bytes) to the first node that takes it.
    pub async fn submit(&self, subject: Vec<u8>) -> Result<SubmitOutcome, NodeError> {
        Ok(self.client.submit(subject).await?.outcome)
    }

    /// Proposes a raw entry (canonical bytes) to the first node that takes
    /// it; returns what applying it produced (which may be a refusal).
    pub async fn propose(&self, entry: Vec<u8>) -> Result<Outcome, NodeError> {
        Ok(self.client.propose(entry).await?.outcome)
    }

    /// Starts following sealed blocks from the one after `verifier`'s height,
    /// verifying each into it.
    pub fn follow(&self, verifier: HistoryVerifier) -> BlockFollower<HistoryVerifier> {
        BlockFollower::start(self.client.clone(), verifier)
    }
}
