//! Serving and running the header cross-check on a node (see
//! [`box_proto::crosscheck`] for what it detects and what it cannot): the
//! `Headers` RPC ([`serve`]), and the task that compares this node's sealed
//! headers with every peer's and puts equivocation evidence on the chain
//! ([`run`]).

use crate::fault::Faults;
use crate::liveness::Liveness;
use crate::proposer::Proposer;
use crate::state_machine::Shared;
use box_core::block::Block;
use box_core::encoding::Canonical;
use box_core::evidence::SealedHeader;
use box_core::notary::Entry;
use box_proto::crosscheck::{HeaderCheck, MAX_HEADERS};
use box_proto::pb;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tonic::Status;

/// Heights below its own a node compares again after it starts.
pub const RECHECK_AFTER_START: u64 = 4096;

fn sealed_at(shared: &Shared, height: u64) -> Option<SealedHeader> {
    shared.sealed_header(height).ok()?
}

/// The `Headers` RPC: this node's sealed headers `from..=to` (at most
/// [`MAX_HEADERS`], at most up to its height), as header-only blocks.
pub fn serve(shared: &Shared, faults: &Faults, from: u64, to: u64) -> Result<pb::HeadersInfo, Status> {
    let latest = shared.read().height();
    let from = from.max(1);
    let to = to.min(latest).min(from.saturating_add(MAX_HEADERS - 1));
    let mut headers = Vec::new();
    for h in from..=to {
        let header = match faults.forged(h) {
            Some(forged) => Block::header_only(forged).encode(),
            None => shared
                .header(h)
                .map_err(|e| Status::internal(format!("the store failed reading header {h}: {e}")))?
                .ok_or_else(|| Status::internal(format!("block {h} is missing")))?,
        };
        headers.push(header);
    }
    Ok(pb::HeadersInfo { headers, latest_height: faults.claimed(latest) })
}

/// Runs until `shutdown` changes: every second, compares this node's sealed
/// headers with every peer's. A conflict is logged at ERROR with the
/// evidence, recorded durably (once per sealer and height), and when one
/// account sealed both headers, proposed to the chain as an
/// [`Entry::Evidence`], watched like any entry this node wants in the log.
pub async fn run(
    shared: Arc<Shared>,
    liveness: Arc<Liveness>,
    proposer: Proposer,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut check = HeaderCheck::new(liveness.channels().clone());
    // A restarted node compared older heights in earlier runs: the cost of a
    // start does not grow with the history.
    check.skip_to(shared.read().height().saturating_sub(RECHECK_AFTER_START));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
        let (height, domain, registry) = {
            let s = shared.read();
            (s.height(), s.notary.domain(), s.notary.registry().clone())
        };
        let peers = liveness.peers();
        let conflicts = check.round(&peers, height, &domain, |a| registry.contains(a), |h| sealed_at(&shared, h)).await;
        for c in conflicts {
            let proof = c.proof();
            let record = serde_json::json!({
                "height": c.height(),
                "sealer": c.sealer,
                "servedBy": c.node,
                "ours": c.ours,
                "theirs": c.theirs,
                "proof": proof.as_ref().map(|p| format!("0x{}", hex::encode(p.encode()))),
            });
            match shared.record_evidence(c.sealer, c.height(), record.to_string().as_bytes()) {
                Ok(true) => tracing::error!("{}", c.describe(&domain)),
                Ok(false) => continue, // known already
                Err(e) => tracing::error!("{} (not recorded: {e})", c.describe(&domain)),
            }
            if let Some(p) = proof {
                let entry = Entry::Evidence(p).encode();
                liveness.received(&entry);
                let proposer = proposer.clone();
                tokio::spawn(async move {
                    if let Err(e) = proposer.entry(entry, false).await {
                        tracing::warn!("equivocation evidence not in the log yet (it is retried): {e}");
                    }
                });
            }
        }
    }
}
