//! What retired from the live state below a snapshot a node installed: a
//! node that applied those blocks keeps, for each transfer, its latest row
//! proven against a header (`GetTransferProof`) and, for each rejected
//! subject, its kind and the refusing nodes' reasons (`GetSubject`); a node
//! that caught up by snapshot fetches both from its peers once a gap's
//! blocks and records are kept ([`Shared::proofs_wanted`]).
//!
//! A proof is kept only if it verifies against the header this node holds
//! at its height, whoever sent it. A rejection proves nothing by itself
//! (it is a node's record of the votes in the chain, crate README,
//! "Rejections by id"), so one is kept only when a strict majority of the
//! registry's nodes answer it alike, of a kind and at a height this node's
//! own blocks agree with: the trust a snapshot's tip needs.

use super::backoff;
use crate::peers::FIRST_RETRY;
use crate::state_machine::{FetchedProof, RejectedRecord, Shared};
use box_core::block::Block;
use box_core::encoding::Canonical;
use box_core::ids::{SubjectId, TransferId};
use box_core::notary::{Entry, Subject, SubjectKind};
use box_proto::{NodeClient, NodeError, SubjectStatus};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tokio::sync::watch;

/// Fetches, for the blocks `bottom..=top` below an installed snapshot,
/// the proofs ([`fetch_proofs`]) and then the rejections
/// ([`fetch_rejections`]) of what retired before the snapshot's tip, from
/// `peers` (one client each), then records the run as done
/// ([`Shared::proofs_fetched`]). Returns early, the run still recorded as
/// wanted (a restart asks again), when the node stops.
pub(super) async fn fetch_retired(
    shared: Arc<Shared>,
    peers: Vec<NodeClient>,
    range: (u64, u64),
    mut shutdown: watch::Receiver<bool>,
) {
    if !fetch_proofs(&shared, &peers, range, &mut shutdown).await {
        return;
    }
    if !fetch_rejections(&shared, &peers, range, &mut shutdown).await {
        return;
    }
    if let Err(e) = shared.proofs_fetched(range) {
        let (bottom, top) = range;
        tracing::warn!("what retired in blocks {bottom}..={top} is kept, but the run is not recorded as done ({e})");
    }
}

/// Asks the peers (`peers`, one client each, in
/// turn) for the latest proven row of each transfer those records name and
/// this node holds no proof of ([`unproven`]), and keeps the first that
/// verifies against the header this node holds at its height
/// ([`Shared::store_fetched_proof`]); a peer whose proof does not verify is
/// passed over for the next. So the node serves `GetTransferProof` for
/// transfers that retired before its snapshot, as a node that applied their
/// blocks does. While no peer answers (or the store fails) it waits and
/// retries with a backoff (0.5 s doubling to 8 s, a `waiting:` line); a
/// transfer no peer holds a verifying proof of is left (its last change and
/// its retirement fell in one block, crate README). `false` if the node
/// stops first.
async fn fetch_proofs(
    shared: &Arc<Shared>,
    peers: &[NodeClient],
    (bottom, top): (u64, u64),
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    let what = format!("the records of blocks {bottom}..={top}");
    let Some(ids) = read_retrying(&what, shutdown, || unproven(shared, bottom, top)).await else { return false };
    let (mut kept, mut absent, mut refused) = (0, 0, 0);
    for id in &ids {
        let mut wait = FIRST_RETRY;
        loop {
            match proof_from_peers(shared, peers, id).await {
                Ok(Some(FetchedProof::Kept)) => kept += 1,
                Ok(Some(FetchedProof::Held)) => {}
                Ok(Some(FetchedProof::Refused)) => refused += 1,
                Ok(None) => absent += 1,
                Err(e) => {
                    tracing::info!(
                        "waiting: the proof of transfer {id} is not fetched yet ({e}); retrying in {} s",
                        wait.as_secs_f32()
                    );
                    if !backoff(&mut wait, shutdown).await {
                        return false;
                    }
                    continue;
                }
            }
            break;
        }
    }
    if refused > 0 {
        tracing::warn!(
            "for {refused} transfers of blocks {bottom}..={top} every proof peers sent failed to verify; none kept"
        );
    }
    tracing::info!(
        "kept {kept} verified proofs of transfers retired below the snapshot (blocks {bottom}..={top}) from peers; \
         {absent} of {} not held by any peer",
        ids.len()
    );
    true
}

/// Asks each peer in turn for transfer `id`'s proof until one verifies and
/// is kept (or was held already): `Some(Kept | Held)`. `Some(Refused)` if
/// peers sent proofs and none verified, `None` if every peer that answered
/// has none. `Err` when no peer answered, or the store failed: a reason to
/// wait, never an answer.
async fn proof_from_peers(
    shared: &Shared,
    peers: &[NodeClient],
    id: &box_core::ids::TransferId,
) -> Result<Option<FetchedProof>, String> {
    let (mut answered, mut refused, mut unreachable) = (false, false, Vec::new());
    for peer in peers {
        match peer.transfer_proof(id).await {
            Ok(Some(p)) => {
                answered = true;
                match shared.store_fetched_proof(p.height, &p.proof)? {
                    FetchedProof::Refused => {
                        let from = peer.nodes().first().map_or_else(String::new, |n| format!("node {}", n.id));
                        tracing::warn!(
                            "{from} sent a proof of transfer {id} at height {} that does not verify against the \
                             block this node holds there; asking the next peer",
                            p.height
                        );
                        refused = true;
                    }
                    done => return Ok(Some(done)),
                }
            }
            Ok(None) => answered = true,
            Err(e) => unreachable.push(e.to_string()),
        }
    }
    if !answered {
        return Err(format!("no peer answered: {}", unreachable.join("; ")));
    }
    Ok(refused.then_some(FetchedProof::Refused))
}

/// The transfers the notarized records of the blocks `bottom..=top` name
/// ([`Subject::transfer`]) of which this node holds no proof: those that
/// retired from the live state before the snapshot it installed (a live
/// one's row was proven against the installed tip). One pass over the
/// range's records, on a blocking thread.
async fn unproven(shared: &Arc<Shared>, bottom: u64, top: u64) -> Result<Vec<TransferId>, String> {
    let shared = shared.clone();
    let read = move || -> Result<Vec<TransferId>, redb::Error> {
        let domain = shared.read().notary.domain();
        let mut ids = BTreeSet::new();
        for h in bottom..=top {
            for r in shared.notarized(h)? {
                ids.extend(Subject::decode(&r.payload).ok().and_then(|s| s.transfer(&domain)));
            }
        }
        let mut out = Vec::new();
        for id in ids {
            if shared.transfer_proof(&id)?.is_none() {
                out.push(id);
            }
        }
        Ok(out)
    };
    match tokio::task::spawn_blocking(read).await {
        Ok(found) => found.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// Calls `read` until it succeeds, logging `waiting: cannot read {what} (…)`
/// and backing off (0.5 s doubling to 8 s) between tries; `None` if the
/// node stops first.
async fn read_retrying<T, F, Fut>(what: &str, shutdown: &mut watch::Receiver<bool>, mut read: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let mut wait = FIRST_RETRY;
    loop {
        match read().await {
            Ok(found) => return Some(found),
            Err(e) => tracing::warn!("waiting: cannot read {what} ({e}); retrying in {} s", wait.as_secs_f32()),
        }
        if !backoff(&mut wait, shutdown).await {
            return None;
        }
    }
}

/// A subject submitted in the blocks of a run that this node holds no
/// decision of and that is not live at its tip: rejected, or never
/// decided, before the snapshot.
#[derive(Debug, Clone, Copy)]
struct Undecided {
    id: SubjectId,
    kind: SubjectKind,
    /// The height of the block that carries its submission.
    submitted: u64,
}

/// Asks every peer for the standing of each subject submitted in the
/// blocks `bottom..=top` that this node holds no decision of
/// ([`undecided`]), and keeps a rejection ([`Shared::store_fetched_rejection`])
/// when a strict majority of the registry's nodes report the same one, of
/// the kind the submission in this node's block has, decided in a block of
/// the run at or after that submission. So `GetSubject` answers such a
/// subject as a node that applied the blocks does. While too few peers
/// answer (or the store fails) it waits and retries with a backoff (a
/// `waiting:` line). `false` if the node stops first.
async fn fetch_rejections(
    shared: &Arc<Shared>,
    peers: &[NodeClient],
    (bottom, top): (u64, u64),
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    let what = format!("the blocks {bottom}..={top}");
    let Some(candidates) = read_retrying(&what, shutdown, || undecided(shared, bottom, top)).await else {
        return false;
    };
    let majority = shared.read().notary.registry().majority();
    let mut kept = 0;
    for c in &candidates {
        let mut wait = FIRST_RETRY;
        loop {
            let outcome = match rejection_from_peers(peers, c, top, majority).await {
                Ok(Some((height, record))) => {
                    shared.store_fetched_rejection(height, &record).map(|new| kept += usize::from(new))
                }
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            };
            let Err(e) = outcome else { break };
            tracing::info!(
                "waiting: the standing of subject {} is not settled yet ({e}); retrying in {} s",
                c.id,
                wait.as_secs_f32()
            );
            if !backoff(&mut wait, shutdown).await {
                return false;
            }
        }
    }
    tracing::info!(
        "kept {kept} rejections of subjects retired below the snapshot (blocks {bottom}..={top}) that a strict \
         majority of the registry's nodes ({majority}) reported alike; {} of the {} subjects submitted there \
         without a decision held here were not",
        candidates.len() - kept,
        candidates.len()
    );
    true
}

/// Asks every peer for subject `c`'s standing: `Some((height, record))`
/// when at least `majority` of them report the same rejection, of `c`'s
/// kind, decided at a height from `c.submitted` to `top`; `None` when the
/// peers that answered do not (never decided, or disagreeing). `Err` while
/// fewer than `majority` peers answer at all: a reason to wait.
async fn rejection_from_peers(
    peers: &[NodeClient],
    c: &Undecided,
    top: u64,
    majority: usize,
) -> Result<Option<(u64, RejectedRecord)>, String> {
    let (mut answered, mut unreachable) = (0, Vec::new());
    let mut alike: BTreeMap<(u64, Vec<String>), usize> = BTreeMap::new();
    for peer in peers {
        match peer.subject(&c.id).await {
            Ok(view) => {
                answered += 1;
                if view.status == SubjectStatus::Rejected && view.kind == Some(c.kind) {
                    *alike.entry((view.height, view.reasons)).or_default() += 1;
                }
            }
            Err(NodeError::NotFound(_)) => answered += 1,
            Err(e) => unreachable.push(e.to_string()),
        }
    }
    match alike.into_iter().find(|(_, n)| *n >= majority).map(|(told, _)| told) {
        Some((height, reasons)) if (c.submitted..=top).contains(&height) => {
            Ok(Some((height, RejectedRecord { subject: c.id, kind: c.kind, reasons })))
        }
        Some((height, _)) => {
            tracing::warn!(
                "a majority of the peers report subject {} rejected at height {height}, outside the blocks {}..={top} \
                 from its submission to the snapshot; not kept",
                c.id,
                c.submitted
            );
            Ok(None)
        }
        None if answered < majority && !unreachable.is_empty() => {
            Err(format!("{answered} of the {majority} peers needed answered: {}", unreachable.join("; ")))
        }
        None => Ok(None),
    }
}

/// The subjects submitted in the blocks `bottom..=top` of which this node
/// holds no decision (`decided_at`) and no rejection, and which are not live
/// at its tip; with their kind and the height of their submission. One
/// pass over the run's blocks, on a blocking thread.
async fn undecided(shared: &Arc<Shared>, bottom: u64, top: u64) -> Result<Vec<Undecided>, String> {
    let shared = shared.clone();
    let read = move || -> Result<Vec<Undecided>, String> {
        let domain = shared.read().notary.domain();
        let (mut seen, mut out) = (BTreeSet::new(), Vec::new());
        for h in bottom..=top {
            let Some(raw) = shared.block(h).map_err(|e| e.to_string())? else { continue };
            let block = Block::decode(&raw).map_err(|e| format!("block {h} does not decode: {e}"))?;
            for logged in &block.entries {
                let Entry::Submit(subject) = &logged.entry else { continue };
                let Ok(id) = subject.id(&domain) else { continue };
                if !seen.insert(id)
                    || shared.read().notary.subject(&id).is_some()
                    || shared.decided_at(&id).map_err(|e| e.to_string())?.is_some()
                    || shared.rejection(&id).map_err(|e| e.to_string())?.is_some()
                {
                    continue;
                }
                out.push(Undecided { id, kind: subject.kind(), submitted: h });
            }
        }
        Ok(out)
    };
    match tokio::task::spawn_blocking(read).await {
        Ok(found) => found,
        Err(e) => Err(e.to_string()),
    }
}
