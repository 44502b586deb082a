//! The one verifying follower of the chain's sealed blocks.
//!
//! ```text
//!  node A ─┐  Blocks stream (one node at a time)     ┌──────────────────────────────┐
//!  node B ─┼──────────────────────────────────────▶ │ BlockFollower::next           │──▶ Followed::Verified
//!  node C ─┘  ◀── switch: failure, stall, bad block  │  HistoryVerifier::push (core) │──▶ Followed::Refused
//!                                                    └──────────────────────────────┘
//! ```
//!
//! A background task streams `Notary.Blocks` from one node, from the first
//! height not yet verified. It moves to the next node when the stream fails
//! or ends, when the consumer refused a block that node sent, and when the
//! stream stays silent for [`STALL`] while another node reports a greater
//! height than verified (a node that withholds blocks, whatever height it
//! claims itself). [`BlockFollower::next`] takes the
//! blocks in order and checks each with box-core's
//! [`HistoryVerifier`] (height, parent
//! hash, Merkle root, sealer, state hash after replay, every quorum
//! certificate) before handing it on: nothing a node sends is believed
//! before it verifies.
//!
//! What it does not do: detect a fork served consistently by every node
//! reached (the header cross-check, [`crate::crosscheck`], compares sealed
//! headers between nodes), or store blocks (the caller does, if it wants).

use crate::client::NodeClient;
use crate::pb;
use box_core::audit::{AuditError, HistoryVerifier};
use box_core::block::Block;
use box_core::encoding::Canonical;
use box_core::notary::Event;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;

/// How long a block stream may stay silent before the other nodes are asked
/// whether they have more.
pub const STALL: Duration = Duration::from_secs(3);
/// Blocks received but not yet verified, at most.
const QUEUE: usize = 256;

/// Where the verifier a follower checks blocks with lives: owned by the
/// follower ([`HistoryVerifier`] itself), or in a cell the caller shares with
/// readers (e.g. behind a lock). An implementation must run `f` on the one
/// verifier whose state the caller reads, and nothing else.
pub trait VerifierCell {
    /// Runs `f` on the verifier.
    fn with_verifier<R>(&mut self, f: impl FnOnce(&mut HistoryVerifier) -> R) -> R;
}

impl VerifierCell for HistoryVerifier {
    fn with_verifier<R>(&mut self, f: impl FnOnce(&mut HistoryVerifier) -> R) -> R {
        f(self)
    }
}

/// What the follower made of the next block a node sent.
#[derive(Debug)]
pub enum Followed {
    /// The block verified and was applied to the verifier.
    Verified {
        /// The node that sent it.
        node: String,
        /// The block.
        block: Box<Block>,
        /// Its canonical bytes, as received.
        bytes: Vec<u8>,
        /// What applying it produced.
        events: Vec<Event>,
    },
    /// The block was refused and the verifier is unchanged; the follower
    /// moves to another node.
    Refused {
        /// The node that sent it.
        node: String,
        /// Why.
        reason: Refusal,
    },
}

/// Why a block was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The bytes are not a canonical block.
    #[error("the block does not decode: {0}")]
    Undecodable(String),
    /// Not the next height (a node that skips or repeats).
    #[error("block {got} arrived where {expected} was expected")]
    OutOfOrder {
        /// The next height to verify.
        expected: u64,
        /// The height received.
        got: u64,
    },
    /// It does not verify against the history verified so far.
    #[error("block {height} does not verify: {error}")]
    DoesNotVerify {
        /// Its height.
        height: u64,
        /// The block, for a caller that inspects what it tried to do.
        block: Box<Block>,
        /// The verifier's reason.
        error: AuditError,
    },
}

/// A block from a node, not yet verified.
struct Incoming {
    node: usize,
    bytes: Vec<u8>,
    latest: u64,
}

/// What the verifying side tells the streaming task.
#[derive(Default)]
struct Feedback {
    /// The height verified so far: a new stream starts above it.
    verified: AtomicU64,
    /// Index + 1 of a node whose block was refused (0: none).
    bad: AtomicUsize,
    /// Wakes the streaming task when `bad` is set.
    refused: tokio::sync::Notify,
}

/// Follows the chain's sealed blocks from every node, verifying each (see the
/// module doc). The streaming task stops when the follower is dropped.
pub struct BlockFollower<V> {
    verifier: V,
    nodes: Vec<String>,
    rx: mpsc::Receiver<Incoming>,
    feedback: Arc<Feedback>,
    latest: u64,
    task: tokio::task::JoinHandle<()>,
}

impl<V> std::fmt::Debug for BlockFollower<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockFollower").field("nodes", &self.nodes).field("latest", &self.latest).finish()
    }
}

impl<V> Drop for BlockFollower<V> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<V: VerifierCell> BlockFollower<V> {
    /// Starts following `client`'s nodes from the block after the one
    /// `verifier` has verified. Must be called inside a tokio runtime.
    pub fn start(client: NodeClient, mut verifier: V) -> Self {
        let feedback = Arc::new(Feedback::default());
        feedback.verified.store(verifier.with_verifier(|v| v.height()), Ordering::SeqCst);
        let (tx, rx) = mpsc::channel(QUEUE);
        let nodes = client.nodes().iter().map(|n| n.addr.clone()).collect();
        let task = tokio::spawn(stream(client, feedback.clone(), tx));
        Self { verifier, nodes, rx, feedback, latest: 0, task }
    }

    /// The verifier (its state is the verified chain's).
    pub fn verifier(&self) -> &V {
        &self.verifier
    }

    /// The verifier, mutably (for readers of a shared cell).
    pub fn verifier_mut(&mut self) -> &mut V {
        &mut self.verifier
    }

    /// The greatest height any node has reported, verified or not. One
    /// node's claim: it proves nothing, but a caller that acts only when it
    /// has verified this far never acts on a view older than a node showed.
    pub fn latest(&self) -> u64 {
        self.latest
    }

    /// The next block verified or refused. Blocks at or below the verified
    /// height (a resumed stream overlaps) are skipped. Cancel-safe: it waits
    /// only for the next block to arrive, then verifies without waiting.
    /// `None` only when there are no nodes to follow.
    pub async fn next(&mut self) -> Option<Followed> {
        loop {
            let inc = self.rx.recv().await?;
            self.latest = self.latest.max(inc.latest);
            let node = self.nodes.get(inc.node).cloned().unwrap_or_default();
            let block = match Block::decode(&inc.bytes) {
                Ok(b) => b,
                Err(e) => return Some(self.refuse(inc.node, node, Refusal::Undecodable(e.to_string()))),
            };
            let height = block.header.height;
            let verified = self.verifier.with_verifier(|v| v.height());
            if height <= verified {
                continue;
            }
            if height != verified + 1 {
                let reason = Refusal::OutOfOrder { expected: verified + 1, got: height };
                return Some(self.refuse(inc.node, node, reason));
            }
            match self.verifier.with_verifier(|v| v.push(&block)) {
                Ok(events) => {
                    self.latest = self.latest.max(height);
                    self.feedback.verified.store(height, Ordering::SeqCst);
                    return Some(Followed::Verified { node, block: Box::new(block), bytes: inc.bytes, events });
                }
                Err(error) => {
                    let reason = Refusal::DoesNotVerify { height, block: Box::new(block), error };
                    return Some(self.refuse(inc.node, node, reason));
                }
            }
        }
    }

    /// Records that `index` sent a refused block: the stream moves on.
    fn refuse(&self, index: usize, node: String, reason: Refusal) -> Followed {
        self.feedback.bad.store(index + 1, Ordering::SeqCst);
        self.feedback.refused.notify_one();
        Followed::Refused { node, reason }
    }
}

/// Streams blocks from one node at a time into `out`, until `out` closes.
async fn stream(client: NodeClient, feedback: Arc<Feedback>, out: mpsc::Sender<Incoming>) {
    let n = client.nodes().len();
    if n == 0 {
        return; // dropping `out` ends `next`
    }
    let addr = |i: usize| client.nodes()[i].addr.clone();
    let mut node = 0usize;
    loop {
        if out.is_closed() {
            return;
        }
        let from = feedback.verified.load(Ordering::SeqCst) + 1;
        let Ok(mut c) = client.raw(node) else {
            node = (node + 1) % n;
            continue;
        };
        // A stream carries no deadline: the stall timer below watches it.
        let blocks = match c.blocks(pb::SubscribeRequest { from_height: from }).await {
            Ok(s) => s.into_inner(),
            Err(e) => {
                tracing::warn!(node = %addr(node), "cannot follow blocks: {} {}", e.code(), e.message());
                node = (node + 1) % n;
                tokio::time::sleep(Duration::from_millis(300)).await;
                continue;
            }
        };
        tokio::pin!(blocks);
        loop {
            let next = tokio::select! {
                next = tokio::time::timeout(STALL, blocks.next()) => next,
                () = feedback.refused.notified() => {
                    if feedback.bad.swap(0, Ordering::SeqCst) == node + 1 {
                        tracing::warn!(node = %addr(node), "served a block that does not verify; switching node");
                        node = (node + 1) % n;
                        break;
                    }
                    continue;
                }
            };
            match next {
                Ok(Some(Ok(info))) => {
                    let inc = Incoming { node, bytes: info.block, latest: info.latest_height };
                    if out.send(inc).await.is_err() {
                        return;
                    }
                }
                Ok(Some(Err(e))) => {
                    tracing::warn!(node = %addr(node), "block stream failed: {}", e.message());
                    node = (node + 1) % n;
                    break;
                }
                Ok(None) => {
                    node = (node + 1) % n;
                    break;
                }
                Err(_) => {
                    // Silent: fine if nobody has more, a withholding node
                    // otherwise (whatever height it claims itself).
                    let mine = feedback.verified.load(Ordering::SeqCst);
                    if let Some((best, h)) = best_elsewhere(&client, node).await
                        && h > mine
                    {
                        tracing::warn!(
                            node = %addr(node), better = %addr(best),
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

/// The node other than `current` that reports the greatest height, with it.
async fn best_elsewhere(client: &NodeClient, current: usize) -> Option<(usize, u64)> {
    let mut best: Option<(usize, u64)> = None;
    for (i, view) in client.cluster().await.into_iter().enumerate() {
        if let Ok(info) = view.info
            && i != current
            && best.is_none_or(|(_, b)| info.height > b)
        {
            best = Some((i, info.height));
        }
    }
    best
}
