//! Resume instead of replay: the signer persists the notary state it
//! verified (box-core's [`checkpoint`], in its redb store) when it has
//! caught up with the nodes, then at most every [`PERSIST_EVERY`] while
//! blocks arrive, and when it is stopped by a signal; a restart takes it back and verifies only the blocks after
//! it. A persisted state that does not hold together (its rows do not give
//! the root it claims, its header does not chain to its verifier, another
//! genesis) is discarded with a log line saying why, and the chain is
//! verified from the genesis as before.
//!
//! The header of the resumed height is handed to the cross-check
//! ([`crate::crosscheck`]), so nothing is executed on the resumed state
//! before every node that answers agrees with it, as after a replay. Nor is
//! the resumed state caught up before a node has told its tip (a streamed
//! block, or the cross-check's first round: [`crate::runtime::Tip`]); at the
//! tip, that round alone makes it so, without waiting for a new block.

use crate::store::Store;
use box_core::audit::HistoryVerifier;
use box_core::checkpoint;
use box_core::evidence::SealedHeader;
use box_core::typed::Genesis;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Least time between two persisted states while blocks arrive: writing one
/// costs the size of the state, so it is amortised over many blocks.
pub const PERSIST_EVERY: Duration = Duration::from_secs(60);

/// What the signer starts from ([`load`]).
#[derive(Debug)]
pub struct Loaded {
    /// The persisted verifier if it holds together, else the genesis's.
    pub verifier: HistoryVerifier,
    /// The sealed header of the resumed height (`None`: from the genesis).
    pub header: Option<SealedHeader>,
    /// Whether the resumed state was persisted in an earlier form (an
    /// earlier version's JSON checkpoint, or one that lists every retired
    /// id): it is written again in the current form at the first catch-up
    /// ([`Persisted::new`]), so an upgrade in place migrates it once.
    pub outdated: bool,
}

/// The verifier to start from: the persisted one if it holds together, else
/// the genesis; with the header of its height.
pub fn load(store: &Store, genesis: &Genesis) -> Result<Loaded, String> {
    let fresh = || {
        let verifier = HistoryVerifier::new(genesis).map_err(|e| format!("genesis: {e}"))?;
        Ok::<_, String>(Loaded { verifier, header: None, outdated: false })
    };
    let Some(bytes) = store.verified_state().map_err(|e| e.to_string())? else {
        tracing::info!("no persisted verified state: verifying the chain from the genesis");
        return fresh();
    };
    let started = Instant::now();
    match checkpoint::decode_indexed(genesis, &bytes) {
        Ok(c) if c.verifier.state().retired_indexed() != store.retired_count().map_err(|e| e.to_string())? => {
            tracing::warn!(
                "the persisted verified state leaves {} retired ids to the store's index, which holds {}; \
                 verifying the chain from the genesis",
                c.verifier.state().retired_indexed(),
                store.retired_count().map_err(|e| e.to_string())?
            );
            fresh()
        }
        Ok(c) => {
            let height = c.verifier.height();
            tracing::info!(
                height,
                root = %c.verifier.state().state_root(),
                ms = started.elapsed().as_millis() as u64,
                retired_indexed = c.verifier.state().retired_indexed(),
                "resumed from the verified state persisted at height {height}; verifying only the blocks after it"
            );
            let outdated = !checkpoint::is_current(&bytes);
            Ok(Loaded { verifier: c.verifier, header: c.header, outdated })
        }
        Err(e) => {
            tracing::warn!("{e}; verifying the chain from the genesis");
            fresh()
        }
    }
}

/// What this run has persisted, and whether a write is under way.
#[derive(Debug)]
pub struct Persisted {
    /// Height resumed from (logged at the first catch-up).
    resumed: u64,
    /// Height of the last persisted state (or resumed from).
    height: u64,
    /// When it was written (`None`: not yet by this run).
    at: Option<Instant>,
    caught_up_once: bool,
    /// The state persisted is in an earlier form: written again at the
    /// first catch-up even at the same height.
    outdated: bool,
    writing: Option<tokio::task::JoinHandle<()>>,
    /// How many retired ids the store's index holds (the first, in
    /// retirement order): a write adds those retired after them.
    indexed: Arc<AtomicU64>,
}

impl Persisted {
    /// A run that resumed at `height` (0: from the genesis) with `indexed`
    /// retired ids in the store's index (its state's
    /// `retired_indexed()`; 0 from the genesis), from a state persisted in
    /// an earlier form if `outdated` ([`Loaded::outdated`]).
    pub fn new(height: u64, indexed: u64, outdated: bool) -> Self {
        Self {
            resumed: height,
            height,
            at: None,
            caught_up_once: false,
            outdated,
            writing: None,
            indexed: Arc::new(AtomicU64::new(indexed)),
        }
    }

    /// Called after every verified block while the signer has caught up:
    /// logs the first catch-up (how many blocks this run verified) and
    /// persists the state when it is newer and the last write is older than
    /// [`PERSIST_EVERY`] (the first time: at once). The bytes are written
    /// off the signer's task; a failed write is logged, the old state stays.
    /// `header` is the sealed header of the verifier's height (nothing is
    /// persisted without it).
    pub fn caught_up(&mut self, store: &Arc<Store>, verifier: &HistoryVerifier, header: Option<SealedHeader>) {
        let height = verifier.height();
        if !self.caught_up_once {
            self.caught_up_once = true;
            let verified = height.saturating_sub(self.resumed);
            tracing::info!(
                resumed = self.resumed,
                verified,
                "caught up at height {height}: verified {verified} blocks after height {}",
                self.resumed
            );
        }
        let newer = height > self.height || self.outdated;
        let due = newer && self.at.is_none_or(|at| at.elapsed() >= PERSIST_EVERY);
        if !due || self.writing.as_ref().is_some_and(|w| !w.is_finished()) {
            return;
        }
        let Some(header) = header.filter(|h| h.header.height == height) else { return };
        // The clone is a copy in memory; encoding and the durable write run
        // on a blocking thread.
        self.height = height;
        self.outdated = false;
        self.at = Some(Instant::now());
        self.writing =
            Some(tokio::task::spawn_blocking(write(store.clone(), verifier.clone(), header, self.indexed.clone(), "")));
    }

    /// Called once when the signer is stopped (`SIGTERM`, `SIGINT`): waits
    /// for a write under way, then persists the verified state if it is
    /// newer than the last one persisted, so the next start resumes from the
    /// tip rather than from the last periodic save. Logs `persisted the
    /// verified state at height H on stop` (or why not). It does not help
    /// after `kill -9` or a crash: then the last periodic save is used.
    pub async fn on_stop(&mut self, store: &Arc<Store>, verifier: &HistoryVerifier, header: Option<SealedHeader>) {
        if let Some(w) = self.writing.take() {
            let _ = w.await;
        }
        let height = verifier.height();
        if height <= self.height && !self.outdated {
            tracing::info!(
                "stopping at height {height}: the verified state persisted at height {} is current",
                self.height
            );
            return;
        }
        let Some(header) = header.filter(|h| h.header.height == height) else {
            tracing::warn!(
                "stopping at height {height}: its header is not at hand, the verified state is not persisted"
            );
            return;
        };
        self.height = height;
        self.outdated = false;
        let job = tokio::task::spawn_blocking(write(
            store.clone(),
            verifier.clone(),
            header,
            self.indexed.clone(),
            " on stop",
        ));
        if let Err(e) = job.await {
            tracing::warn!("cannot persist the verified state at height {height} on stop: {e}");
        }
    }
}

/// The blocking job that encodes `verifier` and writes it durably, with the
/// ids retired since the index was last written; logs the outcome (`what`
/// is appended to the log line).
fn write(
    store: Arc<Store>,
    verifier: HistoryVerifier,
    header: SealedHeader,
    indexed: Arc<AtomicU64>,
    what: &'static str,
) -> impl FnOnce() {
    move || {
        let height = verifier.height();
        let from = indexed.load(Ordering::SeqCst);
        let (count, _) = verifier.state().retired_chain();
        let (Some(new), Some(bytes)) =
            (verifier.state().retired_after(from), checkpoint::encode_indexed(&verifier, Some(&header), count))
        else {
            tracing::warn!(
                "cannot persist the verified state at height {height}{what}: the store's index holds {from} retired ids, the state {count}"
            );
            return;
        };
        match store.put_verified_state_indexed(&bytes, from, new) {
            Ok(()) => {
                indexed.store(count, Ordering::SeqCst);
                tracing::info!(
                    height,
                    bytes = bytes.len(),
                    retired_indexed = count,
                    "persisted the verified state at height {height}{what}"
                )
            }
            Err(e) => tracing::warn!("cannot persist the verified state at height {height}{what}: {e}"),
        }
    }
}

/// The store's retired-id index, as the block follower asks it
/// ([`box_proto::RetiredIndex`]): point lookups in redb, on a blocking thread.
#[derive(Debug)]
pub struct StoreIndex(pub Arc<Store>);

impl box_proto::RetiredIndex for StoreIndex {
    fn retired_among<'a>(
        &'a self,
        ids: &'a [box_core::B256],
    ) -> box_proto::BoxFuture<'a, Result<std::collections::HashSet<box_core::B256>, String>> {
        let (store, ids) = (self.0.clone(), ids.to_vec());
        // redb reads block: off the signer's task.
        Box::pin(async move {
            tokio::task::spawn_blocking(move || store.retired_among(&ids).map_err(|e| e.to_string()))
                .await
                .map_err(|e| format!("the lookup task failed: {e}"))?
        })
    }
}
