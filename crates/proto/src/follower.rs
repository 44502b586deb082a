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
//! claims itself), and when it stays silent for [`STALL`] below the height
//! it claims itself, and when it keeps sending while it claims a height
//! that no other node has reached [`STALL`] later: a node that claims more
//! than it serves loses its claim (see [`BlockFollower::latest`]).
//! [`BlockFollower::next`] takes the blocks in order and checks each with
//! box-core's [`HistoryVerifier`] (height, parent hash, Merkle root, sealer,
//! state hash after replay, every quorum certificate) before handing it on:
//! nothing a node sends is believed before it verifies.
//!
//! What it does not do: detect a fork served consistently by every node
//! reached (the header cross-check, [`crate::crosscheck`], compares sealed
//! headers between nodes), or store blocks (the caller does, if it wants).

use crate::client::NodeClient;
use crate::pb;
use box_core::B256;
use box_core::audit::{AuditError, HistoryVerifier};
use box_core::block::Block;
use box_core::encoding::Canonical;
use box_core::notary::Event;
use std::collections::HashSet;
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

/// Where a follower keeps the retired ids its verified state leaves out
/// (box-core `checkpoint::encode_indexed`): its own store. Asked, before a
/// block is verified, which of the ids the block looks up it holds.
pub trait RetiredIndex: Send + Sync {
    /// Which of `ids` the index holds. An error is transient (a busy or
    /// failing store): the follower logs `waiting: …` and asks again, with
    /// backoff; it never decides a block on it.
    fn retired_among<'a>(&'a self, ids: &'a [B256]) -> BoxFuture<'a, Result<HashSet<B256>, String>>;
}

/// A boxed future the index returns.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Longest wait between two attempts to read the retired-id index.
const INDEX_BACKOFF_MAX: Duration = Duration::from_secs(5);

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
}

/// What the verifying side and the streaming task tell each other.
struct Feedback {
    /// The height verified so far: a new stream starts above it.
    verified: AtomicU64,
    /// Index + 1 of a node whose block was refused (0: none).
    bad: AtomicUsize,
    /// Wakes the streaming task when `bad` is set.
    refused: tokio::sync::Notify,
    /// Each node's standing claim: the greatest `latest_height` it streamed
    /// (`u64::MAX`: it has streamed nothing). Written by the streaming task
    /// as blocks arrive, before they are verified. Only the node streamed
    /// from can make good on a claim: when the follower moves away from a
    /// node (its stream failed, ended or stalled, or it sent a block that
    /// does not verify), its claim falls to what it sent.
    claims: Vec<AtomicU64>,
}

/// A node that has streamed nothing, in [`Feedback::claims`].
const UNHEARD: u64 = u64::MAX;

impl Feedback {
    fn new(nodes: usize, verified: u64) -> Self {
        Self {
            verified: AtomicU64::new(verified),
            bad: AtomicUsize::new(0),
            refused: tokio::sync::Notify::new(),
            claims: (0..nodes).map(|_| AtomicU64::new(UNHEARD)).collect(),
        }
    }

    /// Records `node`'s claim to hold `latest` (a node's claims only rise,
    /// until one is dropped).
    fn claim(&self, node: usize, latest: u64) {
        if let Some(c) = self.claims.get(node) {
            let _ = c.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |old| {
                Some(if old == UNHEARD { latest } else { old.max(latest) })
            });
        }
    }

    /// Drops what `node` claimed above `to`.
    fn drop_claim(&self, node: usize, to: u64) {
        if let Some(c) = self.claims.get(node) {
            let _ = c.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |old| (old != UNHEARD).then(|| old.min(to)));
        }
    }

    /// `node`'s standing claim (0 while it has streamed nothing).
    fn claim_of(&self, node: usize) -> u64 {
        match self.claims.get(node).map(|c| c.load(Ordering::SeqCst)) {
            None | Some(UNHEARD) => 0,
            Some(claimed) => claimed,
        }
    }

    /// The greatest standing claim, `None` while no node has streamed.
    fn greatest_claim(&self) -> Option<u64> {
        self.claims.iter().map(|c| c.load(Ordering::SeqCst)).filter(|&c| c != UNHEARD).max()
    }
}

/// Follows the chain's sealed blocks from every node, verifying each (see the
/// module doc). The streaming task stops when the follower is dropped.
pub struct BlockFollower<V> {
    verifier: V,
    nodes: Vec<String>,
    rx: mpsc::Receiver<Incoming>,
    feedback: Arc<Feedback>,
    task: tokio::task::JoinHandle<()>,
    /// The follower's index of retired ids, if its state leaves them to one.
    index: Option<Arc<dyn RetiredIndex>>,
    /// A block received and not yet verified (kept across a cancelled
    /// [`BlockFollower::next`] while the index is read).
    pending: Option<Incoming>,
}

impl<V> std::fmt::Debug for BlockFollower<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockFollower")
            .field("nodes", &self.nodes)
            .field("claimed", &self.feedback.greatest_claim())
            .finish()
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
        let nodes: Vec<String> = client.nodes().iter().map(|n| n.addr.clone()).collect();
        let feedback = Arc::new(Feedback::new(nodes.len(), verifier.with_verifier(|v| v.height())));
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(stream(client, feedback.clone(), tx));
        Self { verifier, nodes, rx, feedback, task, index: None, pending: None }
    }

    /// Answers the verifier's lookups of retired ids from `index` (a
    /// verifier resumed from a checkpoint that leaves them to the follower's
    /// store). Without one, a block that needs the index is refused.
    pub fn with_index(mut self, index: Arc<dyn RetiredIndex>) -> Self {
        self.index = Some(index);
        self
    }

    /// The verifier (its state is the verified chain's).
    pub fn verifier(&self) -> &V {
        &self.verifier
    }

    /// The verifier, mutably (for readers of a shared cell).
    pub fn verifier_mut(&mut self) -> &mut V {
        &mut self.verifier
    }

    /// The greatest height a node has streamed as its `latest_height` and
    /// still stands by, or the verified height if that is greater. One
    /// node's claim proves nothing, but a caller that acts only when it has
    /// verified this far never acts on a view older than a node showed.
    ///
    /// A claim stands while its node is the one streamed from and has not
    /// been caught claiming more than it serves: its stream silent for
    /// [`STALL`] below the height it claimed (while no other node has more
    /// than is verified), or still sending below a height it claimed
    /// [`STALL`] ago that no other node has reached since (a node that
    /// streams real blocks as they are sealed, each with a false claim).
    /// A node streaming a backlog is not caught: the others hold its tip.
    /// When the follower moves away from a node, for that or any other
    /// reason (a failed or ended stream, a block that does not verify), the
    /// node's claim falls to what it sent. So one node that claims heights
    /// it never serves holds a caller back for about [`STALL`], not for
    /// good; the header cross-check, not this claim, is what tells the tip
    /// a majority holds. Read at any time: the streaming task updates it as
    /// blocks arrive.
    pub fn latest(&self) -> u64 {
        let verified = self.feedback.verified.load(Ordering::SeqCst);
        self.feedback.greatest_claim().unwrap_or(0).max(verified)
    }

    /// Whether any node has streamed a block (and so told its height):
    /// until then [`BlockFollower::latest`] is only the verified height.
    pub fn heard(&self) -> bool {
        self.feedback.greatest_claim().is_some()
    }

    /// The next block verified or refused. Blocks at or below the verified
    /// height (a resumed stream overlaps) are skipped. Cancel-safe: it waits
    /// for the next block to arrive and, on a state that leaves retired ids
    /// to the follower's index ([`BlockFollower::with_index`]), for the
    /// index's answers (while the store fails, with backoff, logging
    /// `waiting: …`); a block received is kept until it is verified.
    /// `None` only when there are no nodes to follow.
    pub async fn next(&mut self) -> Option<Followed> {
        loop {
            let mut inc = match self.pending.take() {
                Some(inc) => inc,
                None => self.rx.recv().await?,
            };
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
            let lookups = self.verifier.with_verifier(|v| v.retired_lookups(&block));
            let pushed = match (&self.index, lookups.is_empty()) {
                (Some(index), false) => {
                    // Cancel-safe: the block waits in `pending` while the index is read.
                    let index = index.clone();
                    self.pending = Some(inc);
                    let found = ask(index.as_ref(), &lookups).await;
                    let Some(back) = self.pending.take() else { continue };
                    inc = back;
                    self.verifier.with_verifier(|v| v.push_answered(&block, &found))
                }
                _ => self.verifier.with_verifier(|v| v.push(&block)),
            };
            match pushed {
                Ok(events) => {
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

/// Which of `ids` `index` holds, asking again with backoff while it fails.
async fn ask(index: &dyn RetiredIndex, ids: &[B256]) -> HashSet<B256> {
    let mut delay = Duration::from_millis(100);
    loop {
        match index.retired_among(ids).await {
            Ok(found) => return found,
            Err(e) => {
                tracing::warn!("waiting: the index of retired ids cannot be read ({e}); asking again in {delay:?}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(INDEX_BACKOFF_MAX);
            }
        }
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
        // The greatest height this stream has sent (the node sends them in
        // order from `from`; one that does not is refused by the verifier).
        let mut sent = from - 1;
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
        // While this node claims more than it sent: since when, and what it
        // claimed then (checked against the other nodes below).
        let mut behind: Option<(tokio::time::Instant, u64)> = None;
        loop {
            let next = tokio::select! {
                next = tokio::time::timeout(STALL, blocks.next()) => next,
                () = feedback.refused.notified() => {
                    if feedback.bad.swap(0, Ordering::SeqCst) == node + 1 {
                        tracing::warn!(node = %addr(node), "served a block that does not verify; switching node");
                        feedback.drop_claim(node, feedback.verified.load(Ordering::SeqCst));
                        node = (node + 1) % n;
                        break;
                    }
                    continue;
                }
            };
            match next {
                Ok(Some(Ok(info))) => {
                    sent += 1;
                    feedback.claim(node, info.latest_height);
                    let inc = Incoming { node, bytes: info.block };
                    if out.send(inc).await.is_err() {
                        return;
                    }
                    // A node that keeps sending real blocks while claiming
                    // more is never silent; its claim must be one the other
                    // nodes reach: every other node has had `STALL` to
                    // hold what it claimed `STALL` ago.
                    let claimed = feedback.claim_of(node);
                    match behind {
                        _ if claimed <= sent => behind = None,
                        None => behind = Some((tokio::time::Instant::now(), claimed)),
                        Some((since, then)) if since.elapsed() >= STALL => {
                            if let Some((best, h)) = best_elsewhere(&client, node).await
                                && h < then
                            {
                                tracing::warn!(
                                    node = %addr(node), other = %addr(best),
                                    "claimed height {then} {STALL:?} ago and sends only up to {sent}, \
                                     but no other node has more than {h}; its claim is dropped; switching node"
                                );
                                feedback.drop_claim(node, sent);
                                node = best;
                                break;
                            }
                            behind = Some((tokio::time::Instant::now(), claimed));
                        }
                        Some(_) => {}
                    }
                }
                Ok(Some(Err(e))) => {
                    tracing::warn!(node = %addr(node), "block stream failed: {}", e.message());
                    feedback.drop_claim(node, sent);
                    node = (node + 1) % n;
                    break;
                }
                Ok(None) => {
                    feedback.drop_claim(node, sent);
                    node = (node + 1) % n;
                    break;
                }
                Err(_) => {
                    // Silent: fine if nobody has more, a withholding node
                    // otherwise (whatever height it claims itself), and one
                    // that claims more than it sends by its own word.
                    let mine = feedback.verified.load(Ordering::SeqCst);
                    if let Some((best, h)) = best_elsewhere(&client, node).await
                        && h > mine
                    {
                        tracing::warn!(
                            node = %addr(node), better = %addr(best),
                            "stream stalled at {mine} while another node has {h}; switching"
                        );
                        feedback.drop_claim(node, sent);
                        node = best;
                        break;
                    }
                    let claimed = feedback.claim_of(node);
                    if claimed > sent {
                        tracing::warn!(
                            node = %addr(node),
                            "claims height {claimed} but sent nothing past {sent} for {STALL:?}; \
                             its claim is dropped; switching node"
                        );
                        feedback.drop_claim(node, sent);
                        node = (node + 1) % n;
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// An index whose store fails `fails` times, then answers.
    struct Flaky {
        fails: AtomicUsize,
        held: HashSet<B256>,
    }

    impl RetiredIndex for Flaky {
        fn retired_among<'a>(&'a self, ids: &'a [B256]) -> BoxFuture<'a, Result<HashSet<B256>, String>> {
            Box::pin(async move {
                if self.fails.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
                    return Err("database is locked".to_owned());
                }
                Ok(ids.iter().filter(|id| self.held.contains(*id)).copied().collect())
            })
        }
    }

    #[tokio::test]
    async fn a_failing_index_is_asked_again_until_it_answers_and_never_decides_on_the_failure() {
        let held = B256::repeat_byte(1);
        let index = Flaky { fails: AtomicUsize::new(2), held: HashSet::from([held]) };
        let found = ask(&index, &[held, B256::repeat_byte(2)]).await;
        assert_eq!(found, HashSet::from([held]));
        assert_eq!(index.fails.load(Ordering::SeqCst), 0, "asked again after each failure");
    }
}
