//! The one-time backfill of final statuses for a gateway upgraded in place.
//!
//! A gateway built before migration 5 recorded no final status
//! ([`crate::finals`]) for the transfers that became final under it, and it
//! resumes from its persisted verified state past the blocks that made them
//! final, so nothing replays them. Once such a transfer retires from the
//! live state, its view would fall back to `submitted`. At start this task
//! walks the transfers the chain was given that have no recorded row (and
//! only those: the set shrinks to nothing once done) and, for each:
//!
//! - live in the verified replica and final: records it as the replica holds it;
//! - live and not final, or not in any block the gateway verified (not live,
//!   not retired): nothing to do — [`crate::finals::record`] records it when
//!   the verified block that makes it final is applied;
//! - retired from the replica: asks a node for its row with a proof
//!   (`Notary.GetTransferProof`), and records it only if the proof verifies
//!   against the header's `stateHash` **and** that header (and its seal) is
//!   the one of the block the gateway itself verified and stored at that
//!   height, and the row is final. A node cannot make it record anything the
//!   verified chain does not say. A gateway that bootstrapped (again) at
//!   height H holds no block below H: a proof at such a height counts only
//!   if a strict majority of the node registry, verified from the genesis,
//!   attests its header (box-proto `bootstrap::certify_header`), as the
//!   state at H itself was. That is how a transfer of its own that finished
//!   and retired while the gateway was down longer than the retention window
//!   gets its final row.
//!
//! It runs beside the server (readiness never waits for it). A transfer it
//! could not settle (no node reachable, no proof yet, a proof that does not
//! check) is tried again in a later round, with a backoff doubling to ten
//! minutes, until every one is settled or the gateway stops.

use crate::follower::SharedReplica;
use crate::store::{FinalKind, FinalTransfer, Store};
use box_core::block::{Block, BlockHeader};
use box_core::encoding::Canonical;
use box_core::ids::TransferId;
use box_core::notary::TransferStatus;
use box_core::typed::Genesis;
use box_proto::bootstrap::{BootstrapError, certify_header, registry_chain};
use box_proto::{NodeClient, ProvenTransfer};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::watch;

/// Transfers read per page.
const PAGE: i64 = 256;
/// The longest wait between rounds.
const MAX_WAIT: Duration = Duration::from_secs(600);

/// What one round reads from: the gateway's store, the nodes, the verified
/// replica, and the node-registry chain (verified from the genesis when a
/// proof below the blocks this gateway holds first needs it, once a round).
struct Round<'a> {
    store: &'a Store,
    nodes: &'a NodeClient,
    replica: &'a SharedReplica,
    genesis: &'a Genesis,
    registry: Option<box_core::attestation::RegistryChain>,
    /// Headers below the first held block a strict majority attested this
    /// round, by height (transfers that retired in one block share one).
    attested: BTreeMap<u64, BlockHeader>,
}

/// What became of one transfer.
enum Settled {
    /// A row was recorded.
    Recorded,
    /// Nothing to record now; the follower records it when it becomes final.
    Nothing,
}

/// Runs the backfill until every transfer without a row is settled, then
/// idles; returns when `shutdown` changes.
pub async fn run(
    store: Store,
    nodes: NodeClient,
    replica: SharedReplica,
    genesis: Genesis,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut wait = Duration::from_secs(1);
    loop {
        let mut r = Round {
            store: &store,
            nodes: &nodes,
            replica: &replica,
            genesis: &genesis,
            registry: None,
            attested: BTreeMap::new(),
        };
        let (recorded, unsettled) = round(&mut r).await;
        if recorded > 0 || unsettled > 0 {
            tracing::info!(recorded, unsettled, "backfill of final statuses: a round done");
        }
        if unsettled == 0 {
            // Done; idle until shutdown (the server treats a background
            // task that ends as a failure).
            let _ = shutdown.changed().await;
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
        wait = (wait * 2).min(MAX_WAIT);
    }
}

/// One pass over the transfers without a row: how many were recorded and
/// how many are left to try again.
async fn round(r: &mut Round<'_>) -> (u64, u64) {
    let (mut recorded, mut unsettled) = (0u64, 0u64);
    let mut after: Option<TransferId> = None;
    loop {
        let page = match r.store.transfers_without_final(after.as_ref(), PAGE).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!("backfill of final statuses: cannot read the transfers, retrying: {e}");
                return (recorded, unsettled + 1);
            }
        };
        for id in &page {
            match settle(r, id).await {
                Ok(Settled::Recorded) => recorded += 1,
                Ok(Settled::Nothing) => {}
                Err(why) => {
                    tracing::warn!(transfer = %id, "backfill of final statuses: not yet: {why}; trying again later");
                    unsettled += 1;
                }
            }
        }
        match page.last() {
            Some(last) if page.len() as i64 == PAGE => after = Some(*last),
            _ => return (recorded, unsettled),
        }
    }
}

/// Settles transfer `id` (see the module doc); `Err` says why it must be
/// tried again.
async fn settle(round: &mut Round<'_>, id: &TransferId) -> Result<Settled, String> {
    let store = round.store;
    let (live, retired, ask_index, verified) = {
        let r = round.replica.read();
        let live = r
            .state()
            .transfer(id)
            .map(|t| FinalTransfer { status: t.status.clone(), detail: t.confirmed_detail().map(str::to_owned) });
        let listed = r.state().is_retired(&id.0);
        (live, listed, r.state().retired_indexed() > 0 && !listed, r.height())
    };
    // Retired before the state the replica resumed from: in the store's index.
    let retired = retired
        || (ask_index
            && live.is_none()
            && store.retired_among(&[id.0]).await.map_err(|e| e.to_string())?.contains(&id.0));
    let (height, row) = match live {
        Some(f) if f.status.is_final() => (verified, f),
        Some(_) => return Ok(Settled::Nothing),
        None if !retired => return Ok(Settled::Nothing),
        None => proven(round, id, verified).await?,
    };
    let body = serde_json::to_string(&row).map_err(|e| e.to_string())?;
    let height = i64::try_from(height).map_err(|_| format!("height {height} out of range"))?;
    store.put_finals(height, &[(FinalKind::Transfer, id.0, Some(body))]).await.map_err(|e| e.to_string())?;
    Ok(Settled::Recorded)
}

/// The final row of retired transfer `id` as a node proves it against a
/// header the gateway verified (at most `verified`), or, below the first
/// block it holds (it bootstrapped there), one a strict majority of the
/// registry attests; with that height.
async fn proven(round: &mut Round<'_>, id: &TransferId, verified: u64) -> Result<(u64, FinalTransfer), String> {
    let p =
        round.nodes.transfer_proof(id).await.map_err(|e| e.to_string())?.ok_or("no node holds a proof of its row")?;
    if p.height > verified {
        return Err(format!("its proof is at height {}, past the verified height {verified}", p.height));
    }
    let height = i64::try_from(p.height).map_err(|_| format!("its proof's height {} is out of range", p.height))?;
    let Some(stored) = round.store.block(height).await.map_err(|e| e.to_string())? else {
        let first = round.store.first_block().await.map_err(|e| e.to_string())?;
        return match first {
            Some(first) if height < first => Ok((p.height, certified(round, &p, first).await?)),
            _ => Err(format!("the verified block {} is not in the store", p.height)),
        };
    };
    let bytes = hex::decode(stored.trim_start_matches("0x")).map_err(|e| format!("stored block {}: {e}", p.height))?;
    let block = Block::decode(&bytes).map_err(|e| format!("stored block {}: {e}", p.height))?;
    Ok((p.height, check(&p, &block)?))
}

/// The final status proof `p` shows, at a height below `first`, the first
/// block this gateway holds: only if a strict majority of the registry at
/// that height attests the proof's header.
async fn certified(round: &mut Round<'_>, p: &ProvenTransfer, first: i64) -> Result<FinalTransfer, String> {
    if round.attested.get(&p.height) == Some(&p.header.header) {
        return final_row(p);
    }
    let chain = match round.registry.take() {
        Some(chain) => chain,
        None => registry_chain(round.nodes, round.genesis).await.map_err(|e| match e {
            BootstrapError::Unavailable(m) | BootstrapError::Refused(m) => {
                format!("its proof is at height {}, below block {first} where this gateway bootstrapped: {m}", p.height)
            }
        })?,
    };
    let domain = round.genesis.domain();
    let attested = certify_header(round.nodes, &domain, &chain, &p.header.header).await;
    round.registry = Some(chain);
    if attested.is_ok() {
        round.attested.insert(p.height, p.header.header.clone());
    }
    attested.map_err(|e| {
        format!(
            "its proof's header at height {}, below block {first} where this gateway bootstrapped, is not \
             attested by a strict majority of the node registry: {e}",
            p.height
        )
    })?;
    final_row(p)
}

/// The final status a node's proof `p` shows, if it holds: the proof
/// verifies against its header's `stateHash`, that header and its seal are
/// `verified`'s (the block this gateway verified at that height), and the
/// row is final. The error says which check failed.
pub fn check(p: &ProvenTransfer, verified: &Block) -> Result<FinalTransfer, String> {
    if verified.header != p.header.header || verified.signature != p.header.signature {
        return Err(format!("the proof's header is not the block {} this gateway verified", p.height));
    }
    final_row(p)
}

/// The final status the row proof `p` shows: it verifies against its own
/// header's `stateHash` and is final. The caller has established that the
/// header is the chain's.
fn final_row(p: &ProvenTransfer) -> Result<FinalTransfer, String> {
    let leaf = p.leaf().ok_or("the node's proof does not verify against the header it sent")?;
    let status = leaf.transfer_status().ok_or("the proven row has an unknown status code")?;
    if !status.is_final() {
        return Err("the proven row is not final".into());
    }
    let detail =
        (matches!(status, TransferStatus::Confirmed { .. }) && !leaf.reason.is_empty()).then(|| leaf.reason.clone());
    Ok(FinalTransfer { status, detail })
}
