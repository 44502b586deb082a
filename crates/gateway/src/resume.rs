//! Resume instead of replay: the follower persists the notary state it
//! verified (box-core's [`checkpoint`], in the gateway's store) now and then
//! and at shutdown; a restart takes it back and verifies only the stored and
//! served blocks after it.
//!
//! A persisted state is taken back only if box-core's [`checkpoint::decode_indexed`]
//! accepts it (its rows give the root it claims, its header chains to its
//! verifier), the stored block at its height is the one whose header it
//! holds, and the store's retired-id index runs from position 0 to the
//! count the state leaves to it ([`Store::retired_span`]: two indexed
//! lookups, not a count of every id); otherwise it is discarded, with a log
//! line saying why, and the stored blocks are replayed from the genesis as
//! before (a gateway that bootstrapped, which holds no blocks before its
//! bootstrap, bootstraps again: [`crate::bootstrap`]).

use crate::follower::SharedReplica;
use crate::store::Store;
use box_core::block::Block;
use box_core::checkpoint;
use box_core::encoding::Canonical;
use box_core::typed::Genesis;
use std::time::{Duration, Instant};

/// Least time between two persisted states while blocks arrive: writing one
/// costs the size of the state, so it is amortised over many blocks.
pub const PERSIST_EVERY: Duration = Duration::from_secs(60);

/// The stored block at `height`, decoded.
async fn stored_block(store: &Store, height: u64) -> Result<Option<Block>, String> {
    let Some(body) = store.block(height as i64).await.map_err(|e| e.to_string())? else { return Ok(None) };
    let bytes = hex::decode(body.trim_start_matches("0x")).map_err(|e| format!("stored block {height}: {e}"))?;
    Block::decode(&bytes).map(Some).map_err(|e| format!("stored block {height}: {e}"))
}

/// The checkpoint bytes of a stored body: hex (box-core's binary
/// checkpoint) or, as earlier versions stored it, the JSON text itself.
fn body_bytes(body: &str) -> Vec<u8> {
    if body.starts_with('{') {
        return body.as_bytes().to_vec();
    }
    // Not hex: handed on as it is, and refused by the decoder with the reason.
    hex::decode(body).unwrap_or_else(|_| body.as_bytes().to_vec())
}

/// Where a start took the verified state from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resumed {
    /// The height of the persisted state taken back (0: nothing resumed).
    pub height: u64,
    /// Whether that state was in an earlier form (JSON, or binary listing
    /// every retired id): [`Persisted`] writes it again in the current form
    /// at once, even at the same height.
    pub outdated: bool,
}

/// Takes the persisted verified state back into `replica` (at genesis) if it
/// holds together; says at which height (0: nothing resumed) and in which
/// form.
pub async fn resume(store: &Store, replica: &SharedReplica, genesis: &Genesis) -> Result<Resumed, String> {
    let Some((_, body)) = store.verified_state().await.map_err(|e| e.to_string())? else {
        tracing::info!("no persisted verified state: replaying the stored blocks from the genesis");
        return Ok(Resumed::default());
    };
    let started = Instant::now();
    let decoded = tokio::task::spawn_blocking({
        let genesis = genesis.clone();
        move || {
            let bytes = body_bytes(&body);
            checkpoint::decode_indexed(&genesis, &bytes).map(|c| (c, !checkpoint::is_current(&bytes)))
        }
    })
    .await
    .map_err(|e| format!("the checkpoint task failed: {e}"))?;
    let (c, outdated) = match decoded {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("{e}; replaying the stored blocks from the genesis");
            return Ok(Resumed::default());
        }
    };
    let height = c.verifier.height();
    if height > 0 {
        let held = stored_block(store, height).await?.map(|b| b.sealed_header());
        if held != c.header {
            tracing::warn!(
                "the persisted verified state is discarded: the stored block {height} is not the one it was \
                 written after; replaying the stored blocks from the genesis"
            );
            return Ok(Resumed::default());
        }
    }
    let root = c.verifier.state().state_root().0;
    let indexed = c.verifier.state().retired_indexed();
    if indexed > 0 {
        let span = store.retired_span().await.map_err(|e| e.to_string())?;
        if span != Some((0, indexed - 1)) {
            let holds = span.map_or_else(|| "is empty".to_owned(), |(lo, hi)| format!("holds positions {lo} to {hi}"));
            tracing::warn!(
                "the persisted verified state is discarded: it leaves the first {indexed} retired ids to the \
                 store's index, which {holds} (a partial restore or an edit of the database?); replaying the \
                 stored blocks from the genesis"
            );
            return Ok(Resumed::default());
        }
    }
    replica.resume(c.verifier);
    tracing::info!(
        height,
        %root,
        ms = started.elapsed().as_millis() as u64,
        retired_indexed = indexed,
        outdated,
        "resumed from the verified state persisted at height {height}; verifying only the blocks after it"
    );
    Ok(Resumed { height, outdated })
}

/// When the replica's state was last persisted.
#[derive(Debug)]
pub struct Persisted {
    height: u64,
    at: Instant,
    /// How many retired ids the store's index holds (the first, in
    /// retirement order): a write adds those retired after them.
    indexed: u64,
    /// Whether the persisted state is in an earlier form
    /// ([`Resumed::outdated`]), to be written again even at its height.
    outdated: bool,
}

impl Persisted {
    /// Nothing persisted by this run yet (`resumed`: what was resumed
    /// from, whose state leaves `indexed` retired ids to the store's index).
    pub fn new(resumed: Resumed, indexed: u64) -> Self {
        Self { height: resumed.height, at: Instant::now(), indexed, outdated: resumed.outdated }
    }

    /// Whether the replica at `height` is due to be persisted.
    pub fn due(&self, height: u64) -> bool {
        height > self.height && self.at.elapsed() >= PERSIST_EVERY
    }

    /// Persists the replica's verified state if it is newer than the last
    /// persisted one and its last block is stored; a failure is logged and
    /// retried at the next chance (the previous state stays).
    pub async fn persist(&mut self, store: &Store, replica: &SharedReplica) {
        let verifier = replica.read().verifier().clone();
        let height = verifier.height();
        if height <= self.height && !self.outdated {
            return;
        }
        let header = match stored_block(store, height).await {
            Ok(Some(b)) => b.sealed_header(),
            Ok(None) => return, // not stored yet: next time
            Err(e) => {
                tracing::warn!("cannot persist the verified state: {e}");
                return;
            }
        };
        let root = verifier.state().state_root().0.to_string();
        let from = self.indexed;
        let (count, _) = verifier.state().retired_chain();
        let encoded = tokio::task::spawn_blocking(move || {
            let bytes = checkpoint::encode_indexed(&verifier, Some(&header), count)?;
            Some((hex::encode(bytes), verifier.state().retired_after(from)?.to_vec()))
        });
        let (body, retired) = match encoded.await {
            Ok(Some(parts)) => parts,
            Ok(None) => {
                tracing::warn!(
                    "cannot persist the verified state: the store's index holds {from} retired ids, the state {count}"
                );
                return;
            }
            Err(e) => {
                tracing::warn!("cannot persist the verified state: {e}");
                return;
            }
        };
        match store.put_verified_state_indexed(height as i64, &root, &body, from, &retired).await {
            Ok(()) => {
                tracing::info!(
                    height,
                    bytes = body.len(),
                    retired_indexed = count,
                    "persisted the verified state at height {height}"
                );
                *self = Self { height, at: Instant::now(), indexed: count, outdated: false };
            }
            Err(e) => tracing::warn!("cannot persist the verified state at height {height}: {e}"),
        }
    }
}

/// The store's retired-id index, as the block follower asks it
/// ([`box_proto::RetiredIndex`]).
#[derive(Debug)]
pub struct StoreIndex(pub Store);

impl box_proto::RetiredIndex for StoreIndex {
    fn retired_among<'a>(
        &'a self,
        ids: &'a [box_core::B256],
    ) -> box_proto::BoxFuture<'a, Result<std::collections::HashSet<box_core::B256>, String>> {
        Box::pin(async move { self.0.retired_among(ids).await.map_err(|e| e.to_string()) })
    }
}
