//! Fetching the blocks a node lacks below a snapshot it installed
//! ([`Shared::gaps`]): a snapshot carries the state at the chain tip, not the
//! blocks, so a node that catches up by snapshot asks its peers for them.
//!
//! Each block is fetched from the top of its gap down and stored only if it
//! hashes to what the certified chain names: the installed tip's hash (its
//! seal checked when the snapshot was installed), then each stored block's
//! parent. A peer that answers with another block is skipped; a peer that is
//! down or does not hold the block yet is retried with a backoff (0.5 s
//! doubling to 8 s), with a `waiting:` line. It runs beside raft: applying
//! never waits for it.
//!
//! What it does not do: recompute a fetched block's derived records (what it
//! notarized and decided, its transfer proofs): those need the state before
//! the block, which the node never had. See the crate README ("Snapshots")
//! for what a node answers about those heights.

use crate::peers::{FIRST_RETRY, MAX_RETRY};
use crate::state_machine::{Backfilled, Shared};
use box_core::block::Block;
use box_core::encoding::Canonical;
use box_proto::{Channels, Node, NodeClient};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::watch;

/// The nodes to ask: the configured peers and every registered node's
/// endpoint, except this node (`own`).
fn peers(shared: &Shared, configured: &[Node], own: u64) -> Vec<Node> {
    let mut by_id: BTreeMap<u64, String> = configured.iter().map(|n| (n.id, n.addr.clone())).collect();
    for n in shared.read().notary.nodes() {
        by_id.entry(n.nodeId).or_insert_with(|| n.endpoint.clone());
    }
    by_id.into_iter().filter(|(id, _)| *id != own).map(|(id, addr)| Node { id, addr }).collect()
}

/// Asks each peer in turn for block `height`; the first that hashes to
/// `want` is returned. `Err` says why none did.
async fn fetch(
    peers: &[Node],
    channels: &Channels,
    height: u64,
    want: &box_core::B256,
    shared: &Shared,
) -> Result<Block, String> {
    let domain = shared.read().notary.domain();
    let mut reasons = Vec::new();
    for peer in peers {
        let client = NodeClient::with_channels(vec![peer.clone()], channels.clone());
        match client.block(height).await {
            Ok(Some((raw, _))) => match Block::decode(&raw) {
                Ok(b) if b.hash(&domain) == *want => return Ok(b),
                Ok(_) => {
                    // Either this peer or the sealer of the snapshot's tip sealed another header.
                    tracing::error!(
                        "node {} at {} answered another block {height} than the chain this node's snapshot \
                         certified; if every peer does, the snapshot's tip was sealed by a node that sealed \
                         another header at its height",
                        peer.id,
                        peer.addr
                    );
                    reasons.push(format!("node {} answered another block", peer.id));
                }
                Err(e) => reasons.push(format!("node {}'s block does not decode ({e})", peer.id)),
            },
            Ok(None) => reasons.push(format!("node {} does not hold it", peer.id)),
            Err(e) => reasons.push(format!("node {}: {e}", peer.id)),
        }
    }
    if reasons.is_empty() {
        reasons.push("no peer is configured".into());
    }
    Err(reasons.join("; "))
}

/// Fetches every missing block until none is missing, then waits for the
/// next installed snapshot; returns at shutdown.
pub async fn run(
    shared: Arc<Shared>,
    configured: Vec<Node>,
    own: u64,
    channels: Channels,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut wait = FIRST_RETRY;
    let mut announced = None;
    loop {
        let gap = match shared.gaps() {
            Ok(g) => g.first().copied(),
            Err(e) => {
                tracing::error!("waiting: cannot read the blocks to fetch ({e}); retrying in {} s", wait.as_secs_f32());
                None
            }
        };
        let Some(gap) = gap else {
            tokio::select! {
                _ = shared.backfill.notified() => continue,
                _ = tokio::time::sleep(MAX_RETRY) => continue,
                _ = shutdown.changed() => return,
            }
        };
        if announced != Some(gap.bottom) {
            tracing::info!(
                "fetching blocks {}..={} from peers, from the installed snapshot's tip down",
                gap.bottom,
                gap.top
            );
            announced = Some(gap.bottom);
        }
        let peers = peers(&shared, &configured, own);
        match fetch(&peers, &channels, gap.top, &gap.hash, &shared).await {
            Ok(block) => match shared.store_backfilled(gap, &block) {
                Ok(Backfilled::Stored) => wait = FIRST_RETRY,
                Ok(Backfilled::Closed) => {
                    wait = FIRST_RETRY;
                    tracing::info!(
                        "fetched blocks {}..={}: this node holds the chain below its snapshot",
                        gap.bottom,
                        gap.top
                    );
                }
                Ok(Backfilled::Unlinked) => {
                    tracing::error!(
                        "fetched block {} is not the child of the block {} this node holds: its own chain and the \
                         certified one disagree below height {}; keeping both, investigate this node's store",
                        gap.bottom,
                        gap.bottom - 1,
                        gap.bottom
                    );
                }
                Ok(Backfilled::Conflict) => tracing::error!(
                    "this node holds another block {} than the certified chain's: it is kept, and the blocks below \
                     it are not fetched; investigate this node's store",
                    gap.top
                ),
                Err(e) => {
                    tracing::warn!(
                        "waiting: block {} fetched but not stored ({e}); retrying in {} s",
                        gap.top,
                        wait.as_secs_f32()
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = shutdown.changed() => return,
                    }
                    wait = (wait * 2).min(MAX_RETRY);
                }
            },
            Err(why) => {
                tracing::info!(
                    "waiting: block {} is not available from any peer yet ({why}); retrying in {} s",
                    gap.top,
                    wait.as_secs_f32()
                );
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => return,
                }
                wait = (wait * 2).min(MAX_RETRY);
                continue;
            }
        }
        if *shutdown.borrow() {
            return;
        }
    }
}
