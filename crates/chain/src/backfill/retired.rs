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
//!
//! A transfer no peer proved by the end of its run is recorded with the run
//! and asked about again ([`ask_again`]) at every start and then now and
//! then, until a proof of it is kept.

use super::backoff;
use crate::peers::FIRST_RETRY;
use crate::state_machine::{FetchedProof, RejectedRecord, Shared, Undecided};
use box_core::block::Block;
use box_core::encoding::Canonical;
use box_core::ids::TransferId;
use box_core::notary::{Entry, Subject};
use box_proto::{NodeClient, NodeError, SubjectStatus};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Fetches, for the blocks `bottom..=top` below an installed snapshot,
/// the proofs ([`fetch_proofs`]) and then the rejections
/// ([`fetch_rejections`]) of what retired before the snapshot's tip, from
/// `peers` (one client each), then records the run as done, with the
/// transfers no peer proved and the subjects whose standing was not settled
/// ([`Shared::proofs_fetched`]; [`ask_again`] asks about those later). Returns early, the run still recorded as
/// wanted (a restart asks again), when the node stops.
pub(super) async fn fetch_retired(
    shared: Arc<Shared>,
    peers: Vec<NodeClient>,
    range: (u64, u64),
    mut shutdown: watch::Receiver<bool>,
) {
    let Some(unheld) = fetch_proofs(&shared, &peers, range, &mut shutdown).await else { return };
    let Some(unsettled) = fetch_rejections(&shared, &peers, range, &mut shutdown).await else { return };
    if let Err(e) = shared.proofs_fetched(range, &unheld, &unsettled) {
        let (bottom, top) = range;
        tracing::warn!("what retired in blocks {bottom}..={top} is kept, but the run is not recorded as done ({e})");
    }
}

/// Asks the peers (`peers`, one client each, in turn) for the latest proven
/// row of each transfer the notarized records of the blocks `bottom..=top`
/// name and this node holds no proof of ([`unproven`]), and keeps the first that
/// verifies against the header this node holds at its height
/// ([`Shared::store_fetched_proof`]); a peer whose proof does not verify is
/// passed over for the next. So the node serves `GetTransferProof` for
/// transfers that retired before its snapshot, as a node that applied their
/// blocks does. While no proof verifies and a peer did not answer (or the
/// store fails) it waits and retries with a backoff (0.5 s doubling to 8 s,
/// a `waiting:` line): that peer may hold it, for at most [`PATIENCE`].
/// The other transfers are asked about meanwhile; each pass retries only
/// those still waiting. A transfer no peer holds a verifying proof of now,
/// or still waited for after [`PATIENCE`], is returned, to be asked about
/// again later ([`ask_again`]): a peer that held it may have been down or
/// gone, or caught up by snapshot itself and not have fetched it yet (or
/// no node has one: its last change and its retirement fell in one block,
/// crate README). So a peer that stays silent for good (still configured
/// after it left, say) holds nothing up. `None` if the node stops first.
async fn fetch_proofs(
    shared: &Arc<Shared>,
    peers: &[NodeClient],
    (bottom, top): (u64, u64),
    shutdown: &mut watch::Receiver<bool>,
) -> Option<Vec<TransferId>> {
    let what = format!("the records of blocks {bottom}..={top}");
    let ids = read_retrying(&what, shutdown, || unproven(shared, bottom, top)).await?;
    let total = ids.len();
    let describe = |id: &TransferId| format!("the proof of transfer {id} is not fetched yet");
    let ask = |id| async move { proof_from_peers(shared, peers, &id).await.map(|f| (id, f)) };
    let (found, mut unheld) = in_passes(ids, Some(PATIENCE), shutdown, describe, ask).await?;
    let silent = unheld.len();
    let (mut kept, mut absent, mut refused) = (0, 0, 0);
    for (id, f) in found {
        match f {
            Some(FetchedProof::Kept) => kept += 1,
            Some(FetchedProof::Held) => {}
            Some(FetchedProof::Refused) => refused += 1,
            None => absent += 1,
        }
        if matches!(f, Some(FetchedProof::Refused) | None) {
            unheld.push(id);
        }
    }
    if refused > 0 {
        tracing::warn!(
            "for {refused} transfers of blocks {bottom}..={top} every proof peers sent failed to verify; none kept"
        );
    }
    tracing::info!(
        "kept {kept} verified proofs of transfers retired below the snapshot (blocks {bottom}..={top}) from peers; \
         {absent} of {total} not held by any peer, {silent} waited for in vain (asked about again later)"
    );
    Some(unheld)
}

/// How long [`fetch_proofs`] waits for a silent peer that might hold a
/// proof no peer that answered sent (and [`fetch_rejections`] for silent
/// peers that could make up a majority); then [`ask_again`] takes over.
const PATIENCE: Duration = Duration::from_secs(120);

/// How long after a pass of [`ask_again`] the next one starts: doubling
/// from the first to the second.
const ASK_AGAIN_AFTER: (Duration, Duration) = (Duration::from_secs(60), Duration::from_secs(3_600));

/// Asks `peers` (one client each) again about what fetched runs left
/// unsettled: a proof of each transfer no peer proved then
/// ([`Shared::proofs_unheld`]) and the standing of each subject whose
/// peers were waited for in vain ([`Shared::rejections_unsettled`]). At
/// once if `at_once` (a start), else after a minute; then again after a
/// minute, doubling to an hour, until nothing is left or the node stops.
/// A proof is kept, and a rejection, as in [`fetch_proofs`] and
/// [`fetch_rejections`]; a subject is settled too once the answers settle
/// that no majority reports a rejection. So a node whose peers were
/// themselves still catching up, or down for good at the time, serves
/// those once a peer holds them, without waiting for anyone in the
/// meantime. Each pass logs what it settled and what is left.
pub(super) async fn ask_again(
    shared: Arc<Shared>,
    peers: Vec<NodeClient>,
    at_once: bool,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut wait = ASK_AGAIN_AFTER.0;
    if !at_once {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
    }
    loop {
        let proof = |id| {
            let (shared, peers) = (&shared, &peers);
            async move { proof_from_peers(shared, peers, &id).await }
        };
        let majority = shared.read().notary.registry().majority();
        let rejection = |c| {
            let peers = &peers;
            async move { rejection_from_peers(peers, &c, majority).await }
        };
        let proofs = proofs_again(&shared, proof).await;
        let rejections = rejections_again(&shared, rejection).await;
        match (proofs, rejections) {
            (Ok((0, 0)), Ok((0, 0))) => return,
            (Ok((_, 0)), Ok((_, 0))) => {
                tracing::info!(
                    "what the runs below a snapshot left unsettled is settled now: every transfer no peer proved \
                     then is proven, every subject's standing settled"
                );
                return;
            }
            (Ok((kept, unproven)), Ok((settled, unsettled))) => tracing::info!(
                "asked the peers again about what the runs below a snapshot left unsettled: kept {kept} verified \
                 proofs ({unproven} transfers still unproven), settled {settled} subjects ({unsettled} still \
                 unsettled); asking again in {} s",
                wait.as_secs()
            ),
            (Err(e), _) | (_, Err(e)) => tracing::warn!(
                "waiting: cannot ask again about what the runs below a snapshot left unsettled ({e}); retrying in {} s",
                wait.as_secs()
            ),
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
        wait = (wait * 2).min(ASK_AGAIN_AFTER.1);
    }
}

/// One pass of [`ask_again`] over the transfers: asks (`ask`) about each
/// of [`Shared::proofs_unheld`] and takes those now proven off it. Returns
/// how many were proven and how many are left; a peer that did not answer
/// leaves its transfer for the next pass. `Err` if the store fails.
async fn proofs_again<F, Fut>(shared: &Shared, mut ask: F) -> Result<(usize, usize), String>
where
    F: FnMut(TransferId) -> Fut,
    Fut: std::future::Future<Output = Result<Option<FetchedProof>, String>>,
{
    let unheld = shared.proofs_unheld().map_err(|e| e.to_string())?;
    let mut proven = Vec::new();
    for id in &unheld {
        if let Ok(Some(FetchedProof::Kept | FetchedProof::Held)) = ask(*id).await {
            proven.push(*id);
        }
    }
    shared.proofs_now_held(&proven).map_err(|e| e.to_string())?;
    Ok((proven.len(), unheld.len() - proven.len()))
}

/// One pass of [`ask_again`] over the subjects: asks (`ask`, as
/// [`rejection_from_peers`] answers) about each of
/// [`Shared::rejections_unsettled`], keeps a rejection a majority reports
/// ([`Shared::store_fetched_rejection`]), and takes off the list each
/// subject whose answers settled, rejected or not. Returns how many were
/// settled and how many are left; `Err` if the store fails.
async fn rejections_again<F, Fut>(shared: &Shared, mut ask: F) -> Result<(usize, usize), String>
where
    F: FnMut(Undecided) -> Fut,
    Fut: std::future::Future<Output = Result<Option<(u64, RejectedRecord)>, String>>,
{
    let unsettled = shared.rejections_unsettled().map_err(|e| e.to_string())?;
    let mut settled = Vec::new();
    for c in &unsettled {
        match ask(*c).await {
            Ok(Some((height, record))) => {
                shared.store_fetched_rejection(height, &record)?;
                settled.push(c.id);
            }
            Ok(None) => settled.push(c.id),
            Err(_) => {}
        }
    }
    shared.rejections_settled(&settled).map_err(|e| e.to_string())?;
    Ok((settled.len(), unsettled.len() - settled.len()))
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
    if !unreachable.is_empty() {
        // A peer that did not answer may hold what those that did lack.
        let answered = if answered { "no peer that answered sent one that verifies" } else { "no peer answered" };
        return Err(format!("{answered}: {}", unreachable.join("; ")));
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

/// Asks about each of `items` (`ask`), then, after a backoff (0.5 s
/// doubling to 8 s), again about those it could not settle yet (`Err`: a
/// peer that could answer is silent, or the store failed), until none is
/// left or, with a `patience`, until that long has passed since the first
/// pass: one waiting item never holds up the others. Logs one `waiting:`
/// line per pass, naming the first item still waiting (`describe`) and how
/// many are. Returns the answers, in no particular order, and the items
/// given up on (none without a `patience`); `None` if the node stops first.
async fn in_passes<T, O, F, Fut>(
    items: Vec<T>,
    patience: Option<Duration>,
    shutdown: &mut watch::Receiver<bool>,
    describe: impl Fn(&T) -> String,
    mut ask: F,
) -> Option<(Vec<O>, Vec<T>)>
where
    T: Copy,
    F: FnMut(T) -> Fut,
    Fut: std::future::Future<Output = Result<O, String>>,
{
    let (mut waiting, mut wait, mut answers) = (items, FIRST_RETRY, Vec::new());
    let started = tokio::time::Instant::now();
    loop {
        let (mut again, mut first) = (Vec::new(), None);
        for item in waiting {
            match ask(item).await {
                Ok(answer) => answers.push(answer),
                Err(e) => {
                    first.get_or_insert_with(|| format!("{} ({e})", describe(&item)));
                    again.push(item);
                }
            }
        }
        let Some(first) = first else { return Some((answers, Vec::new())) };
        if patience.is_some_and(|p| started.elapsed() >= p) {
            tracing::info!("no longer waiting: {first}; {} left to ask about again later", again.len());
            return Some((answers, again));
        }
        tracing::info!("waiting: {first}; {} still waiting, retrying in {} s", again.len(), wait.as_secs_f32());
        if !backoff(&mut wait, shutdown).await {
            return None;
        }
        waiting = again;
    }
}

/// Asks every peer for the standing of each subject submitted in the
/// blocks `bottom..=top` that this node holds no decision of
/// ([`undecided`]), and keeps a rejection ([`Shared::store_fetched_rejection`])
/// when a strict majority of the registry's nodes report the same one, of
/// the kind the submission in this node's block has, decided in a block of
/// the run at or after that submission. So `GetSubject` answers such a
/// subject as a node that applied the blocks does. While the peers that did
/// not answer could still make up that majority (or the store fails) it
/// waits and retries with a backoff (a `waiting:` line), for at most
/// [`PATIENCE`], asking about the other subjects meanwhile ([`in_passes`]).
/// Returns the subjects still waited for then, to be asked about again
/// later ([`ask_again`]); `None` if the node stops first.
async fn fetch_rejections(
    shared: &Arc<Shared>,
    peers: &[NodeClient],
    (bottom, top): (u64, u64),
    shutdown: &mut watch::Receiver<bool>,
) -> Option<Vec<Undecided>> {
    let what = format!("the blocks {bottom}..={top}");
    let candidates = read_retrying(&what, shutdown, || undecided(shared, bottom, top)).await?;
    let majority = shared.read().notary.registry().majority();
    let total = candidates.len();
    let describe = |c: &Undecided| format!("the standing of subject {} is not settled yet", c.id);
    let ask = |c: Undecided| async move {
        match rejection_from_peers(peers, &c, majority).await? {
            Some((height, record)) => shared.store_fetched_rejection(height, &record).map(usize::from),
            None => Ok(0),
        }
    };
    let (stored, unsettled) = in_passes(candidates, Some(PATIENCE), shutdown, describe, ask).await?;
    let kept: usize = stored.iter().sum();
    tracing::info!(
        "kept {kept} rejections of subjects retired below the snapshot (blocks {bottom}..={top}) that a strict \
         majority of the registry's nodes ({majority}) reported alike; {} of the {} subjects submitted there \
         without a decision held here were not, {} of them waited for in vain (asked about again later)",
        total - kept,
        total,
        unsettled.len()
    );
    Some(unsettled)
}

/// Asks every peer for subject `c`'s standing: `Some((height, record))`
/// when at least `majority` of them report the same rejection, of `c`'s
/// kind, decided at a height from `c.submitted` to `c.top`; `None` when the
/// answers settle that they do not ([`settle`]). `Err` while the peers that
/// did not answer could still make up such a majority: a reason to wait.
async fn rejection_from_peers(
    peers: &[NodeClient],
    c: &Undecided,
    majority: usize,
) -> Result<Option<(u64, RejectedRecord)>, String> {
    let top = c.top;
    let mut unreachable = Vec::new();
    let mut alike: BTreeMap<(u64, Vec<String>), usize> = BTreeMap::new();
    for peer in peers {
        match peer.subject(&c.id).await {
            Ok(view) => {
                if view.status == SubjectStatus::Rejected && view.kind == Some(c.kind) {
                    *alike.entry((view.height, view.reasons)).or_default() += 1;
                }
            }
            Err(NodeError::NotFound(_)) => {}
            Err(e) => unreachable.push(e.to_string()),
        }
    }
    match settle(alike, unreachable.len(), majority) {
        Settled::Told(height, reasons) if (c.submitted..=top).contains(&height) => {
            Ok(Some((height, RejectedRecord { subject: c.id, kind: c.kind, reasons })))
        }
        Settled::Told(height, _) => {
            tracing::warn!(
                "a majority of the peers report subject {} rejected at height {height}, outside the blocks {}..={top} \
                 from its submission to the snapshot; not kept",
                c.id,
                c.submitted
            );
            Ok(None)
        }
        Settled::NotTold => Ok(None),
        Settled::Wait => Err(format!(
            "no {majority} peers report one rejection yet, and {} did not answer: {}",
            unreachable.len(),
            unreachable.join("; ")
        )),
    }
}

/// What the peers' reports of one subject settle.
#[derive(Debug, PartialEq, Eq)]
enum Settled {
    /// A majority report this rejection: its height and reasons.
    Told(u64, Vec<String>),
    /// No majority reports one rejection, and the peers that did not answer
    /// could not make one up.
    NotTold,
    /// The peers that did not answer could still make up a majority.
    Wait,
}

/// Settles the reports of one subject: `alike` counts the peers reporting
/// each rejection (height and reasons), `unreachable` the peers that did
/// not answer; `majority` is a strict majority of the registry's nodes.
fn settle(alike: BTreeMap<(u64, Vec<String>), usize>, unreachable: usize, majority: usize) -> Settled {
    let best = alike.values().copied().max().unwrap_or(0);
    match alike.into_iter().find(|(_, n)| *n >= majority) {
        Some(((height, reasons), _)) => Settled::Told(height, reasons),
        None if best + unreachable >= majority => Settled::Wait,
        None => Settled::NotTold,
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
                out.push(Undecided { id, kind: subject.kind(), submitted: h, top });
            }
        }
        Ok(out)
    };
    match tokio::task::spawn_blocking(read).await {
        Ok(found) => found,
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reports(rows: &[(u64, &str, usize)]) -> BTreeMap<(u64, Vec<String>), usize> {
        rows.iter().map(|(h, r, n)| ((*h, vec![(*r).to_owned()]), *n)).collect()
    }

    /// A registry of 4 (majority 3), the node asking being one of them: its
    /// three peers must all report one rejection; a peer that does not
    /// answer is waited for while it could still make up the majority.
    /// An item that cannot be settled yet is asked about again after the
    /// others, never before them; a node stopping during the wait ends it.
    #[tokio::test]
    async fn an_item_waiting_for_a_silent_peer_does_not_hold_up_the_others() {
        let asked = std::cell::RefCell::new(Vec::new());
        let ask = |i: u32| {
            let asked = &asked;
            async move {
                asked.borrow_mut().push(i);
                let first_time = asked.borrow().iter().filter(|&&a| a == i).count() == 1;
                if i == 2 && first_time { Err("node 2 did not answer".to_owned()) } else { Ok(i * 10) }
            }
        };
        let (_stop, mut shutdown) = watch::channel(false);
        let (mut answers, given_up) =
            in_passes(vec![1, 2, 3, 4], None, &mut shutdown, |i| format!("item {i}"), ask).await.unwrap();
        answers.sort_unstable();
        assert_eq!((answers, given_up), (vec![10, 20, 30, 40], vec![]));
        assert_eq!(*asked.borrow(), vec![1, 2, 3, 4, 2], "3 and 4 are asked before 2 again");

        // With its patience run out, an item still waiting is given up on
        // (handed back), the others answered.
        asked.borrow_mut().clear();
        let (answers, given_up) =
            in_passes(vec![1, 2, 3], Some(Duration::ZERO), &mut shutdown, |i| format!("item {i}"), ask).await.unwrap();
        assert_eq!((answers, given_up), (vec![10, 30], vec![2]));

        let (stop, mut shutdown) = watch::channel(false);
        let never = |_: u32| async { Err::<u32, _>("no peer answered".to_owned()) };
        let stopping = async {
            tokio::task::yield_now().await;
            stop.send_replace(true);
        };
        let (got, ()) = tokio::join!(in_passes(vec![1], None, &mut shutdown, |i| format!("item {i}"), never), stopping);
        assert!(got.is_none(), "a stopping node ends the wait");
    }

    /// What a run left unsettled (transfers no peer proved, subjects whose
    /// peers were waited for in vain) is recorded with the run, in its
    /// transaction, and survives a reopen of the store (a restart); a pass
    /// takes off the transfers now proven (kept, or held already) and the
    /// subjects whose answers settled (a rejection kept, or none reported),
    /// and leaves the rest for the next.
    #[tokio::test]
    #[allow(clippy::unwrap_used)]
    async fn what_a_run_left_unsettled_is_kept_across_a_restart_and_asked_about_until_settled() {
        let dir = tempfile::tempdir().unwrap();
        let id = |b: u8| TransferId(box_core::B256::repeat_byte(b));
        let (kept, held, refused, absent, silent) = (id(1), id(2), id(3), id(4), id(5));
        let subject = |b: u8| Undecided {
            id: box_core::ids::SubjectId(box_core::B256::repeat_byte(b)),
            kind: box_core::notary::SubjectKind::Flow,
            submitted: 4,
            top: 9,
        };
        let (rejected, not_rejected, still_silent) = (subject(0x11), subject(0x12), subject(0x13));
        {
            let shared = crate::state_machine::test_machine(dir.path(), 0x5C).shared();
            shared.proofs_fetched((3, 9), &[kept, held, refused], &[rejected, not_rejected]).unwrap();
            shared.proofs_fetched((10, 12), &[], &[]).unwrap();
            shared.proofs_fetched((13, 20), &[absent, silent], &[still_silent]).unwrap();
        }
        let shared = crate::state_machine::test_machine(dir.path(), 0x5C).shared();
        assert_eq!(shared.proofs_unheld().unwrap(), BTreeSet::from([kept, held, refused, absent, silent]));
        assert_eq!(shared.rejections_unsettled().unwrap(), BTreeSet::from([rejected, not_rejected, still_silent]));

        let asked = std::cell::RefCell::new(Vec::new());
        let ask = |t: TransferId| {
            asked.borrow_mut().push(t);
            async move {
                match t {
                    t if t == kept => Ok(Some(FetchedProof::Kept)),
                    t if t == held => Ok(Some(FetchedProof::Held)),
                    t if t == refused => Ok(Some(FetchedProof::Refused)),
                    t if t == absent => Ok(None),
                    _ => Err("node 2 did not answer".to_owned()),
                }
            }
        };
        assert_eq!(proofs_again(&shared, ask).await.unwrap(), (2, 3));
        assert_eq!(asked.borrow().len(), 5, "each asked about once");
        assert_eq!(shared.proofs_unheld().unwrap(), BTreeSet::from([refused, absent, silent]));
        let all_proven = |_: TransferId| async { Ok(Some(FetchedProof::Kept)) };
        assert_eq!(proofs_again(&shared, all_proven).await.unwrap(), (3, 0));
        assert!(shared.proofs_unheld().unwrap().is_empty());
        assert_eq!(proofs_again(&shared, all_proven).await.unwrap(), (0, 0), "nothing left to ask about");

        let record = RejectedRecord { subject: rejected.id, kind: rejected.kind, reasons: vec!["0xabc: no".into()] };
        let ask = |c: Undecided| {
            let record = record.clone();
            async move {
                match c {
                    c if c == rejected => Ok(Some((7, record))),
                    c if c == not_rejected => Ok(None),
                    _ => Err("no 2 peers report one rejection yet, and 1 did not answer".to_owned()),
                }
            }
        };
        assert_eq!(rejections_again(&shared, ask).await.unwrap(), (2, 1));
        assert_eq!(shared.rejections_unsettled().unwrap(), BTreeSet::from([still_silent]));
        assert_eq!(shared.decided_at(&rejected.id).unwrap(), Some(7), "the rejection is kept at its height");
        assert!(shared.rejection(&rejected.id).unwrap().is_some());
        assert!(shared.rejection(&not_rejected.id).unwrap().is_none());
        let none_reported = |_: Undecided| async { Ok(None) };
        assert_eq!(rejections_again(&shared, none_reported).await.unwrap(), (1, 0));
        assert!(shared.rejections_unsettled().unwrap().is_empty());
    }

    #[test]
    fn a_rejection_is_told_by_a_majority_and_waited_for_while_one_could_still_form() {
        let told = Settled::Told(7, vec!["0xabc: no".to_owned()]);
        assert_eq!(settle(reports(&[(7, "0xabc: no", 3)]), 0, 3), told);
        assert_eq!(settle(reports(&[(7, "0xabc: no", 2), (8, "0xabc: no", 1)]), 0, 3), Settled::NotTold);
        assert_eq!(settle(reports(&[(7, "0xabc: no", 2)]), 1, 3), Settled::Wait);
        assert_eq!(settle(reports(&[(7, "0xabc: no", 1), (7, "0xdef: no", 1)]), 1, 3), Settled::NotTold);
        // Nobody reports a rejection: unknown to all that answered.
        assert_eq!(settle(BTreeMap::new(), 0, 3), Settled::NotTold);
        assert_eq!(settle(BTreeMap::new(), 3, 3), Settled::Wait);
        assert_eq!(settle(BTreeMap::new(), 2, 3), Settled::NotTold);
    }
}
