//! The signer's link to the chain: it dials every node over mutual TLS (it
//! opens no port itself), follows sealed blocks from whichever node serves
//! them, switches node when one fails, stalls or serves a block that does not
//! verify, and submits its reports and announcements to any node (and tells
//! the others about them, so a leader that withholds them is noticed).
//!
//! Nothing received here is trusted: blocks go to
//! [`box_core::audit::HistoryVerifier`] before anything acts on them.

use crate::ports::LinkError;
use box_chain::network::{Channels, TlsMaterial};
use box_chain::pb;
use box_chain::pb::notary_client::NotaryClient;
use box_core::block::Block;
use box_core::encoding::Canonical;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tonic::transport::Channel;

/// How long a block stream may stay silent before other nodes are asked
/// whether they have more.
const STALL: Duration = Duration::from_secs(3);
/// How long a node may take to take a submission: a withholding leader (or a
/// node relaying to one) holds it, and the next node is tried.
const SUBMIT_TIMEOUT: Duration = Duration::from_secs(15);

fn timed<T>(msg: T, timeout: Duration) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.set_timeout(timeout);
    r
}

/// The nodes.
#[derive(Clone)]
pub struct Link {
    nodes: Vec<String>,
    channels: Channels,
    next: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Link({:?})", self.nodes)
    }
}

/// A block from a node, not yet verified.
#[derive(Debug)]
pub struct Incoming {
    /// Which node sent it.
    pub node: usize,
    /// The decoded block, or why it does not decode.
    pub block: Result<Block, String>,
    /// The sending node's latest height.
    pub latest: u64,
}

impl Link {
    /// Dials `nodes` with `tls` (lazily).
    pub fn new(nodes: Vec<String>, tls: &TlsMaterial) -> Self {
        Self { nodes, channels: Channels::new(tls.client()), next: Arc::default() }
    }

    fn client(&self, i: usize) -> Option<NotaryClient<Channel>> {
        self.channels.get(&self.nodes[i]).ok().map(NotaryClient::new)
    }

    /// The node addresses, as configured.
    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }

    /// The channels it dials with.
    pub fn channels(&self) -> &Channels {
        &self.channels
    }

    /// Tells every node but `taken_by` about `entry` (canonical `Entry`
    /// bytes), so each starts a deadline for it even if the node that took
    /// it keeps it to itself (see `box_chain::liveness`).
    fn witness_elsewhere(&self, taken_by: usize, entry: &[u8]) {
        for (i, addr) in self.nodes.iter().enumerate() {
            let Some(mut c) = self.client(i).filter(|_| i != taken_by) else { continue };
            let (entry, addr) = (entry.to_vec(), addr.clone());
            tokio::spawn(async move {
                if let Err(e) = c.witness(timed(pb::WitnessRequest { entry }, Duration::from_secs(2))).await {
                    tracing::debug!(node = %addr, "witness not delivered: {}", e.message());
                }
            });
        }
    }

    /// Submits a subject (canonical bytes) to the first node that takes it.
    /// A node's refusal by rule is [`LinkError::Refused`]; no node taking it,
    /// [`LinkError::Unavailable`].
    pub async fn submit(&self, subject: Vec<u8>) -> Result<String, LinkError> {
        let mut last = String::from("no nodes configured");
        for k in 0..self.nodes.len() {
            let i = (self.next.load(Ordering::Relaxed) + k) % self.nodes.len();
            let Some(mut c) = self.client(i) else { continue };
            match c.submit(timed(pb::SubmitRequest { subject: subject.clone() }, SUBMIT_TIMEOUT)).await {
                Ok(r) => {
                    // A subject's canonical bytes are its Submit entry's.
                    self.witness_elsewhere(i, &subject);
                    return Ok(r.into_inner().outcome);
                }
                // Undecodable, or refused by rule (admission): no node will take it.
                Err(e) if matches!(e.code(), tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition) => {
                    return Err(LinkError::Refused(e.message().to_owned()));
                }
                Err(e) => {
                    last = format!("{}: {}", self.nodes[i], e.message());
                    self.next.store((i + 1) % self.nodes.len(), Ordering::Relaxed);
                }
            }
        }
        Err(LinkError::Unavailable(last))
    }

    /// Proposes a raw entry (canonical bytes) to the first node that takes it.
    pub async fn propose(&self, entry: Vec<u8>) -> Result<String, String> {
        let mut last = String::from("no nodes configured");
        for k in 0..self.nodes.len() {
            let i = (self.next.load(Ordering::Relaxed) + k) % self.nodes.len();
            let Some(mut c) = self.client(i) else { continue };
            match c.propose(timed(pb::ProposeRequest { entry: entry.clone(), forwarded: false }, SUBMIT_TIMEOUT)).await
            {
                Ok(r) => {
                    self.witness_elsewhere(i, &entry);
                    return Ok(r.into_inner().outcome);
                }
                Err(e) if e.code() == tonic::Code::InvalidArgument => return Err(e.message().to_owned()),
                Err(e) => {
                    last = format!("{}: {}", self.nodes[i], e.message());
                    self.next.store((i + 1) % self.nodes.len(), Ordering::Relaxed);
                }
            }
        }
        Err(last)
    }

    /// The highest sealed height any node reports, with that node.
    pub async fn best_height(&self) -> Option<(usize, u64)> {
        let mut best: Option<(usize, u64)> = None;
        for i in 0..self.nodes.len() {
            let Some(mut c) = self.client(i) else { continue };
            let q = tokio::time::timeout(Duration::from_secs(2), c.cluster(pb::ClusterQuery {})).await;
            if let Ok(Ok(info)) = q {
                let h = info.into_inner().height;
                if best.is_none_or(|(_, b)| h > b) {
                    best = Some((i, h));
                }
            }
        }
        best
    }

    /// Follows sealed blocks from `verified + 1` on, forever, sending them to
    /// `out`. `verified` is the height the consumer has accepted; `bad` is set
    /// by the consumer to the index + 1 of a node whose block it refused,
    /// which makes the follower move to another node and resume from
    /// `verified + 1`.
    pub async fn follow(self, verified: Arc<AtomicU64>, bad: Arc<AtomicUsize>, out: mpsc::Sender<Incoming>) {
        let n = self.nodes.len();
        let mut node = 0usize;
        loop {
            if out.is_closed() {
                return;
            }
            let from = verified.load(Ordering::SeqCst) + 1;
            let Some(mut c) = self.client(node) else {
                node = (node + 1) % n;
                continue;
            };
            let stream = match c.blocks(pb::SubscribeRequest { from_height: from }).await {
                Ok(s) => s.into_inner(),
                Err(e) => {
                    tracing::warn!(node = %self.nodes[node], "cannot follow blocks: {} {}", e.code(), e.message());
                    node = (node + 1) % n;
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    continue;
                }
            };
            tokio::pin!(stream);
            loop {
                match tokio::time::timeout(STALL, stream.next()).await {
                    Ok(Some(Ok(info))) => {
                        let block = Block::decode(&info.block).map_err(|e| e.to_string());
                        if out.send(Incoming { node, block, latest: info.latest_height }).await.is_err() {
                            return;
                        }
                        if bad.swap(0, Ordering::SeqCst) == node + 1 {
                            tracing::warn!(node = %self.nodes[node], "served a block that does not verify; switching node");
                            node = (node + 1) % n;
                            break;
                        }
                    }
                    Ok(Some(Err(e))) => {
                        tracing::warn!(node = %self.nodes[node], "block stream failed: {}", e.message());
                        node = (node + 1) % n;
                        break;
                    }
                    Ok(None) => {
                        node = (node + 1) % n;
                        break;
                    }
                    Err(_) => {
                        // Silent: fine if nobody has more, a withholding node otherwise.
                        let mine = verified.load(Ordering::SeqCst);
                        if let Some((best, h)) = self.best_height().await
                            && h > mine
                            && best != node
                        {
                            tracing::warn!(
                                node = %self.nodes[node], better = %self.nodes[best],
                                "stream stalled at {mine} while another node has {h}; switching"
                            );
                            node = best;
                            break;
                        }
                    }
                }
            }
        }
    }
}
