//! The signer's side of equivocation detection: it compares every header it
//! verified with every node it dials ([`box_proto::crosscheck::HeaderCheck`])
//! and acts only on a state none of them contradicts.
//!
//! - **Confirmed height.** Execution waits until the verified height was
//!   compared with every node that answered and holds it, and with at least
//!   a majority of the configured nodes. A forked header at or below it is
//!   therefore seen before anything is signed on top of it.
//! - **Evidence.** A differing header sealed by a registered node account
//!   convicts that account: logged at ERROR with both headers, kept in the
//!   store (`equivocations`), and when the same account sealed both, the
//!   proof is proposed to the chain. While a convicted account (or one the
//!   chain records) is a registered node, the signer signs nothing; a
//!   governed `NodeChange` removing it ends that.
//!
//! It keeps the most recent [`RETAINED`] verified headers: after a restart
//! the replayed history was compared in earlier runs, and a node that falls
//! further behind is compared from where the retained headers begin.

use crate::link::Link;
use box_core::Address;
use box_core::evidence::SealedHeader;
use box_core::typed::Domain;
use box_proto::crosscheck::{Conflict, HeaderCheck};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::mpsc;

/// Most verified headers kept for comparison.
pub const RETAINED: usize = 4096;

/// Headers the signer verified, by height (the most recent [`RETAINED`]).
#[derive(Debug, Default)]
pub struct Verified {
    headers: Mutex<BTreeMap<u64, SealedHeader>>,
}

impl Verified {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, SealedHeader>> {
        // A poisoned lock means a panic elsewhere; the map stays usable.
        self.headers.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds the header of a block the verifier accepted.
    pub fn insert(&self, header: SealedHeader) {
        let mut m = self.lock();
        m.insert(header.header.height, header);
        while m.len() > RETAINED {
            m.pop_first();
        }
    }

    /// The verified header at `height`, if still retained.
    pub fn get(&self, height: u64) -> Option<SealedHeader> {
        self.lock().get(&height).cloned()
    }

    /// The lowest retained height.
    fn floor(&self) -> Option<u64> {
        self.lock().keys().next().copied()
    }
}

/// What the cross-check tells the signer's main task, in this order per round.
#[derive(Debug)]
pub enum Finding {
    /// A node served a validly sealed header that differs from a verified one.
    Conflict(Box<Conflict>),
    /// Every verified header up to `height` was compared (see the module
    /// doc); `latest` is the greatest height that more answering nodes
    /// claim than the faulty ones tolerated ([`HeaderCheck::latest`];
    /// `None`: too few answered yet).
    Confirmed {
        /// The confirmed height.
        height: u64,
        /// The nodes' tip as they claim it.
        latest: Option<u64>,
    },
}

/// Equivocation the signer found itself, as kept in its store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The account that sealed the differing header.
    pub sealer: Address,
    /// The height.
    pub height: u64,
    /// The node that served it.
    pub served_by: String,
    /// The canonical `Equivocation` (hex) when the same account sealed both headers.
    pub proof: Option<String>,
}

/// Runs until `out` closes: a round as soon as a block was verified (at
/// least every half second), comparing the headers up to `verified` with
/// every node, then reporting conflicts and the confirmed height.
pub async fn run(
    link: Link,
    domain: Domain,
    headers: Arc<Verified>,
    verified: Arc<VerifiedHeight>,
    out: mpsc::Sender<Finding>,
) {
    let nodes = link.nodes().to_vec();
    let quorum = nodes.len() / 2 + 1;
    let mut check = HeaderCheck::new(link.channels().clone());
    loop {
        if let Some(floor) = headers.floor() {
            check.skip_to(floor.saturating_sub(1));
        }
        let height = verified.get();
        // Every seal is judged by the main task against the verified registry.
        let conflicts = check.round(&nodes, height, &domain, |_| true, |h| headers.get(h)).await;
        for c in conflicts {
            if out.send(Finding::Conflict(Box::new(c))).await.is_err() {
                return;
            }
        }
        let backers = (nodes.len() + 1).saturating_sub(quorum);
        let confirmed = Finding::Confirmed { height: check.confirmed(height, quorum), latest: check.latest(backers) };
        if out.send(confirmed).await.is_err() {
            return;
        }
        // Next round as soon as a block was verified, at the latest in half a second.
        verified.changed_from(height, Duration::from_millis(500)).await;
    }
}

/// The height the signer has verified, shared with the cross-check: set by
/// the main task after each verified block, which wakes the cross-check at
/// once (execution waits for a round that confirms the height, so a round
/// started only at the next poll delayed every transfer by up to the
/// polling period: 50 ms, 25 ms on average).
#[derive(Debug, Default)]
pub struct VerifiedHeight {
    height: AtomicU64,
    changed: tokio::sync::Notify,
}

impl VerifiedHeight {
    /// Records `height` and wakes the cross-check.
    pub fn set(&self, height: u64) {
        self.height.store(height, Ordering::SeqCst);
        self.changed.notify_one();
    }

    /// The height last recorded.
    pub fn get(&self) -> u64 {
        self.height.load(Ordering::SeqCst)
    }

    /// Returns once the height is no longer `height`, or after `within`.
    /// A height set between the check and the wait is not missed: the
    /// wake-up waits for the next waiter.
    pub async fn changed_from(&self, height: u64, within: Duration) {
        if self.get() == height {
            let _ = tokio::time::timeout(within, self.changed.notified()).await;
        }
    }
}

/// Store key of the signer's own equivocation evidence.
pub const EVIDENCE_KEY: &str = "equivocations";

impl crate::runtime::Signer {
    /// The registered equivocator execution is halted for: one the verified
    /// chain records, or one this signer convicted itself.
    fn standing(&self) -> Option<(Address, u64)> {
        let state = self.follower.verifier().state();
        state.standing_equivocation().or_else(|| {
            self.evidence.iter().find(|e| state.registry().contains(&e.sealer)).map(|e| (e.sealer, e.height))
        })
    }

    /// Recomputes the halt (after a block or new evidence); logs and
    /// announces a change.
    pub(crate) fn update_halt(&mut self) {
        let now = self.standing();
        if now == self.halt {
            return;
        }
        match now {
            Some((node, height)) => {
                tracing::error!(%node, height, "execution halted: node account {node} equivocated at height {height}; nothing is signed until governance removes it");
                println!("box-signer: execution halted: node account {node} equivocated at height {height}");
            }
            None => {
                tracing::warn!("execution resumes: no registered node account stands convicted of equivocation");
                println!("box-signer: execution resumes");
            }
        }
        self.halt = now;
        self.announce_due = true;
    }

    /// The halt, in words for the announcement.
    pub(crate) fn halt_detail(&self) -> Option<String> {
        self.halt.map(|(node, height)| {
            format!(
                "execution halted: node account {node} equivocated at height {height}; remove it by governance to resume"
            )
        })
    }

    /// Whether execution may run now: the verified state is confirmed by the
    /// nodes reached, and no registered node stands convicted of equivocation.
    pub(crate) fn may_execute(&self) -> bool {
        self.halt.is_none() && self.confirmed >= self.follower.verifier().height()
    }

    /// Takes one cross-check finding.
    pub(crate) async fn on_finding(&mut self, finding: Finding) -> Result<(), crate::runtime::RunError> {
        let c = match finding {
            Finding::Confirmed { height, latest } => {
                self.confirmed = height;
                if let Some(latest) = latest {
                    self.tip.saw(latest);
                }
                return Ok(());
            }
            Finding::Conflict(c) => c,
        };
        if !self.follower.verifier().state().registry().contains(&c.sealer) {
            tracing::warn!(node = %c.node, "served a differing header at {} sealed by {}, not a registered node account", c.height(), c.sealer);
            return Ok(());
        }
        if self.evidence.iter().any(|e| e.sealer == c.sealer && e.height == c.height()) {
            return Ok(());
        }
        tracing::error!("{}", c.describe(&self.domain));
        let proof = c.proof();
        use box_core::encoding::Canonical;
        self.evidence.push(Evidence {
            sealer: c.sealer,
            height: c.height(),
            served_by: c.node.clone(),
            proof: proof.as_ref().map(|p| format!("0x{}", hex::encode(p.encode()))),
        });
        // redb: off the async workers.
        tokio::task::block_in_place(|| self.store.put(EVIDENCE_KEY, &self.evidence))?;
        self.update_halt();
        if let Some(p) = proof {
            let entry = box_core::notary::Entry::Evidence(p).encode();
            match self.link.propose(entry).await {
                Ok(outcome) => tracing::info!("equivocation evidence proposed to the chain: {outcome}"),
                Err(e) => tracing::warn!("equivocation evidence not proposed yet (the nodes propose it too): {e}"),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::VerifiedHeight;
    use std::sync::Arc;
    use std::time::Duration;

    /// The wait the cross-check would otherwise sit out (an hour): each case
    /// must end long before it, woken by the height, not by the clock.
    const LONG: Duration = Duration::from_secs(3600);
    const GUARD: Duration = Duration::from_secs(30);

    #[tokio::test]
    async fn the_cross_check_wakes_when_a_block_is_verified_not_at_a_poll() {
        let v = Arc::new(VerifiedHeight::default());
        // Already past the height the round checked: no wait at all.
        v.set(5);
        tokio::time::timeout(GUARD, v.changed_from(4, LONG)).await.expect("no wait when the height moved");
        // Set while the cross-check waits: it wakes.
        let waiting = tokio::spawn({
            let v = v.clone();
            async move { v.changed_from(5, LONG).await }
        });
        tokio::task::yield_now().await;
        v.set(6);
        tokio::time::timeout(GUARD, waiting).await.expect("woken by the new height").unwrap();
        // Set between the check and the wait: the wake-up is kept for it.
        v.set(7);
        tokio::time::timeout(GUARD, v.changed_from(7, LONG)).await.expect("the earlier wake-up is not lost");
        assert_eq!(v.get(), 7);
    }
}
