//! A verifying replica of the notary state, fed by sealed blocks.
//!
//! The gateway does not trust any one node for what it shows: box-proto's
//! [`BlockFollower`] streams the sealed blocks from whichever node serves
//! them (switching on failure, stall or a block that does not verify) and
//! checks each with box-core's `HistoryVerifier`, the same checks as the
//! auditor's `verify_history` (height, parent hash, Merkle root, the sealer is
//! a registered node account, the state hash after replay, every quorum
//! certificate), replaying them through the notary state machine. Flow,
//! transfer and subject statuses come from that state. Blocks are kept in the
//! store, so a restart replays locally and the audit export needs no node.

use crate::store::Store;
use box_core::B256;
use box_core::audit::HistoryVerifier;
use box_core::block::Block;
use box_core::encoding::Canonical;
use box_core::notary::{Event, NotaryState};
use box_core::typed::Genesis;
use box_proto::{BlockFollower, Followed, NodeClient, VerifierCell};
use std::collections::HashSet;
use std::sync::{Arc, RwLock, RwLockReadGuard};
use tokio::sync::watch;

/// The replica: the notary state after `height` verified blocks, checked
/// block by block by box-core's `HistoryVerifier` (the auditor's own checks).
#[derive(Debug, Clone)]
pub struct Replica {
    verifier: HistoryVerifier,
    latest_seen: u64,
    recorded_to: u64,
}

impl Replica {
    /// The state at genesis.
    pub fn new(genesis: Genesis) -> Result<Self, String> {
        Ok(Self {
            verifier: HistoryVerifier::new(&genesis).map_err(|e| e.to_string())?,
            latest_seen: 0,
            recorded_to: 0,
        })
    }

    /// The notary state.
    pub fn state(&self) -> &NotaryState {
        self.verifier.state()
    }

    /// Verified blocks applied.
    pub fn height(&self) -> u64 {
        self.verifier.height()
    }

    /// The greatest height a node claims that the block follower still
    /// stands by (box-proto `BlockFollower::latest`), at least the verified
    /// height; read at each block and every 0.5 s between blocks.
    pub fn latest_seen(&self) -> u64 {
        self.latest_seen
    }

    /// Whether the store may hold a final status recorded at a height this
    /// replica has not verified yet: it started below the highest height
    /// one was recorded at (a gateway that bootstrapped again below the
    /// height it had verified, or a crash between recording a block's
    /// final statuses and storing the block). The views then read the
    /// recorded status and show the newer of the two.
    pub fn behind_records(&self) -> bool {
        self.height() < self.recorded_to
    }

    /// The verifier (what is persisted).
    pub fn verifier(&self) -> &HistoryVerifier {
        &self.verifier
    }

    /// Verifies the next block and applies it, returning the events it
    /// produced; on error nothing changes. `found`: which of the verifier's
    /// `retired_lookups(block)` the store's retired-id index holds (empty
    /// when the state leaves nothing to it).
    pub fn apply(&mut self, block: &Block, found: &HashSet<B256>) -> Result<Vec<Event>, String> {
        let events = self.verifier.push_answered(block, found).map_err(|e| e.to_string())?;
        self.latest_seen = self.latest_seen.max(self.verifier.height());
        Ok(events)
    }
}

/// The replica shared between the follower task and the API.
#[derive(Debug, Clone)]
pub struct SharedReplica {
    inner: Arc<RwLock<Replica>>,
    heights: watch::Sender<u64>,
}

impl SharedReplica {
    /// Wraps a replica.
    pub fn new(r: Replica) -> Self {
        let (heights, _) = watch::channel(r.height());
        Self { inner: Arc::new(RwLock::new(r)), heights }
    }

    /// Reads the replica.
    pub fn read(&self) -> RwLockReadGuard<'_, Replica> {
        self.inner.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Notified with the height after every applied block.
    pub fn heights(&self) -> watch::Receiver<u64> {
        self.heights.subscribe()
    }

    fn apply(&self, block: &Block, found: &HashSet<B256>) -> Result<Vec<Event>, String> {
        let mut r = self.inner.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let events = r.apply(block, found)?;
        let h = r.height();
        drop(r);
        self.heights.send_replace(h);
        Ok(events)
    }

    /// Replaces the verified state with one taken back from the store
    /// ([`crate::resume`]).
    pub(crate) fn resume(&self, verifier: HistoryVerifier) {
        let mut r = self.inner.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        r.verifier = verifier;
        r.latest_seen = r.latest_seen.max(r.verifier.height());
        let h = r.height();
        drop(r);
        self.heights.send_replace(h);
    }

    /// Takes the highest height the store recorded a final status at
    /// (`Store::finals_recorded_to`, read once at start).
    pub(crate) fn recorded_to(&self, height: u64) {
        let mut r = self.inner.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        r.recorded_to = height;
    }

    fn saw(&self, latest: u64) {
        let mut r = self.inner.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        // The follower's standing claim, replaced: a claim dropped by the
        // follower (a node that claimed more than it serves) goes with it.
        r.latest_seen = latest.max(r.verifier.height());
    }
}

/// Verifies into `replica` the blocks stored after `resumed`, the height
/// [`crate::resume::resume`] took the persisted state back at (0: nothing
/// resumed, every stored block from the genesis). Returns `resumed`. Fails
/// on the first stored block that does not verify or a store error.
pub async fn replay(store: &Store, replica: &SharedReplica, resumed: u64) -> Result<u64, String> {
    let started = std::time::Instant::now();
    let mut from = resumed + 1;
    let mut verified = 0u64;
    loop {
        let rows = store.blocks(from as i64, 256).await.map_err(|e| e.to_string())?;
        if rows.is_empty() {
            break;
        }
        for (height, body) in rows {
            let bytes =
                hex::decode(body.trim_start_matches("0x")).map_err(|e| format!("stored block {height}: {e}"))?;
            let block = Block::decode(&bytes).map_err(|e| format!("stored block {height}: {e}"))?;
            let lookups = replica.read().verifier().retired_lookups(&block);
            let found = match lookups.is_empty() {
                true => HashSet::new(),
                false => store.retired_among(&lookups).await.map_err(|e| e.to_string())?,
            };
            let events = replica.apply(&block, &found)?;
            crate::finals::record(store, replica, height as u64, &events).await;
            verified += 1;
            from = height as u64 + 1;
        }
    }
    let height = replica.read().height();
    tracing::info!(
        resumed,
        verified,
        height,
        ms = started.elapsed().as_millis() as u64,
        "verified {verified} stored blocks after height {resumed}; the replica is at height {height}"
    );
    Ok(resumed)
}

impl VerifierCell for SharedReplica {
    /// Runs `f` under the write lock, then tells the height watchers.
    fn with_verifier<R>(&mut self, f: impl FnOnce(&mut HistoryVerifier) -> R) -> R {
        let mut r = self.inner.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let out = f(&mut r.verifier);
        let h = r.height();
        r.latest_seen = r.latest_seen.max(h);
        drop(r);
        self.heights.send_if_modified(|old| std::mem::replace(old, h) != h);
        out
    }
}

/// How often the standing claim of the follower is read into the replica
/// between blocks.
const LATEST_REFRESH: std::time::Duration = std::time::Duration::from_millis(500);

/// Follows the chain until `shutdown` changes: box-proto's [`BlockFollower`]
/// verifies each next block into the replica; each verified block is stored,
/// and the verified state is persisted now and then ([`crate::resume`]).
pub async fn run(
    store: Store,
    nodes: NodeClient,
    replica: SharedReplica,
    resumed: crate::resume::Resumed,
    mut shutdown: watch::Receiver<bool>,
) {
    let index = Arc::new(crate::resume::StoreIndex(store.clone()));
    let mut follower = BlockFollower::start(nodes, replica.clone()).with_index(index);
    // What `load` left is persisted at once when it verified anything or
    // resumed from a state in an earlier form (written again in the current
    // one, even at the same height), then
    // every `PERSIST_EVERY` while blocks arrive, and at shutdown.
    let indexed = replica.read().state().retired_indexed();
    let mut persisted = crate::resume::Persisted::new(resumed, indexed);
    persisted.persist(&store, &replica).await;
    // `/v1/status` shows the follower's standing claim, read now and then
    // as well as at each block: a claim the follower drops (a node that
    // claimed more than it serves) leaves the status without waiting for
    // the next block.
    let mut refresh = tokio::time::interval(LATEST_REFRESH);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let followed = tokio::select! {
            f = follower.next() => f,
            _ = refresh.tick() => {
                replica.saw(follower.latest());
                continue;
            }
            _ = shutdown.changed() => {
                persisted.persist(&store, &replica).await;
                return;
            }
        };
        replica.saw(follower.latest());
        match followed {
            Some(Followed::Verified { block, bytes, events, .. }) => {
                let height = block.header.height;
                // Before the block is stored: a crash in between fetches and
                // records it again.
                crate::finals::record(&store, &replica, height, &events).await;
                if let Err(e) = store.put_block(height as i64, &format!("0x{}", hex::encode(&bytes))).await {
                    tracing::warn!("could not store block {height}: {e}");
                }
                if persisted.due(height) {
                    persisted.persist(&store, &replica).await;
                }
            }
            Some(Followed::Refused { node, reason }) => {
                tracing::error!(%node, "refusing a block from the chain: {reason}");
            }
            None => return, // no nodes configured
        }
    }
}
