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
//! Before the last block of a run is stored, the run's notarized records are
//! read from a peer's `Subscribe` stream and kept only if each subject id is
//! its payload's and each quorum certificate verifies against the registry
//! this node holds ([`checked_record`]).
//!
//! Once a gap is closed, what retired from the live state in its blocks is
//! fetched too ([`retired`]): the latest proven row of each transfer, kept
//! only if it verifies against the header this node holds at its height,
//! and each rejection a strict majority of the registry's nodes report.
//!
//! What it does not do: recompute a fetched block's transfer proofs or
//! registry-change index (they need the state before the block, which the
//! node never had), nor check that a fetched record belongs to the height a
//! peer names. See the crate README ("Snapshots") for what a node answers
//! about those heights.

use crate::peers::{FIRST_RETRY, MAX_RETRY};
use crate::state_machine::{Backfilled, NotarizedRecord, Shared};
use box_core::B256;
use box_core::block::Block;
use box_core::encoding::Canonical;
use box_core::notary::Subject;
use box_core::quorum::{QuorumCertificate, verify_certificate};
use box_proto::pb;
use box_proto::pb::notary_client::NotaryClient;
use box_proto::{Channels, Node, NodeClient};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

mod retired;

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
    // The runs whose proofs a task of this process fetches.
    let mut proving = BTreeSet::new();
    // The task asking again about what fetched runs left unsettled, if one
    // runs, and whether the next one is this start's (which asks at once).
    let (mut asking, mut at_start): (Option<tokio::task::JoinHandle<()>>, bool) = (None, true);
    let clients = || -> Vec<NodeClient> {
        peers(&shared, &configured, own)
            .into_iter()
            .map(|peer| NodeClient::with_channels(vec![peer], channels.clone()))
            .collect()
    };
    loop {
        match shared.proofs_wanted() {
            Ok(wanted) => {
                for range in wanted.into_iter().filter(|r| proving.insert(*r)) {
                    tokio::spawn(retired::fetch_retired(shared.clone(), clients(), range, shutdown.clone()));
                }
            }
            Err(e) => tracing::warn!("cannot read which transfer proofs are still to fetch ({e}); looking again later"),
        }
        if asking.as_ref().is_none_or(|t| t.is_finished()) {
            let left =
                shared.proofs_unheld().and_then(|t| Ok(!t.is_empty() || !shared.rejections_unsettled()?.is_empty()));
            match left {
                Ok(true) => {
                    let task = retired::ask_again(shared.clone(), clients(), at_start, shutdown.clone());
                    asking = Some(tokio::spawn(task));
                    at_start = false;
                }
                Ok(false) => at_start = false,
                Err(e) => tracing::warn!("cannot read what fetched runs left unsettled ({e}); looking again later"),
            }
        }
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
        let fetched = fetch(&peers, &channels, gap.top, &gap.hash, &shared).await;
        if fetched.is_ok() && gap.top == gap.bottom {
            // The gap's last block: its run's records first (see `Gap::tip`).
            let upto = gap.tip.max(gap.top);
            let kept = fetch_records(&peers, &channels, gap.bottom, upto, &shared).await;
            tracing::info!("kept {kept} verified notarized records of blocks {}..={upto} from peers", gap.bottom);
        }
        match fetched {
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
                    if !backoff(&mut wait, &mut shutdown).await {
                        return;
                    }
                }
            },
            Err(why) => {
                tracing::info!(
                    "waiting: block {} is not available from any peer yet ({why}); retrying in {} s",
                    gap.top,
                    wait.as_secs_f32()
                );
                if !backoff(&mut wait, &mut shutdown).await {
                    return;
                }
                continue;
            }
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// How long a peer's `Subscribe` stream may stay silent before the records
/// of a fetched run are taken as complete: the peer reads its stored
/// records height by height, so silence means it reached its latest block.
const RECORDS_SILENCE: Duration = Duration::from_secs(5);

/// A notarized record a peer sent, kept only if its subject id is its
/// payload's and its quorum certificate is for that subject and content
/// with votes from a strict majority of `registry` (the registry this node
/// holds: a certificate of an older registry that no longer verifies is
/// dropped).
fn checked_record(
    ev: &pb::NotarizedEvent,
    domain: &box_core::typed::Domain,
    registry: &box_core::quorum::NodeRegistry,
) -> Option<NotarizedRecord> {
    let subject = Subject::decode(&ev.subject).ok()?;
    let id = subject.id(domain).ok()?;
    let cert = QuorumCertificate::decode(&ev.certificate).ok()?;
    let claimed: [u8; 32] = ev.subject_id.as_slice().try_into().ok()?;
    if id.0 != B256::from(claimed) || cert.subject != id || cert.content != subject.content() {
        return None;
    }
    verify_certificate(domain, registry, &cert).ok()?;
    Some(NotarizedRecord { subject: id, payload: ev.subject.clone(), certificate: ev.certificate.clone() })
}

/// Fetches the notarized records of the fetched blocks `bottom..=top` from
/// the first peer that streams them (`Subscribe`), keeps those that verify
/// ([`checked_record`]) where this node holds none, and returns how many.
async fn fetch_records(peers: &[Node], channels: &Channels, bottom: u64, top: u64, shared: &Shared) -> usize {
    let (domain, registry) = {
        let s = shared.read();
        (s.notary.domain(), s.notary.registry().clone())
    };
    for peer in peers {
        let Ok(channel) = channels.get(&peer.addr) else { continue };
        let mut client = NotaryClient::new(channel);
        let Ok(stream) = client.subscribe(pb::SubscribeRequest { from_height: bottom }).await else { continue };
        let mut stream = stream.into_inner();
        let mut by_height: BTreeMap<u64, Vec<NotarizedRecord>> = BTreeMap::new();
        let mut dropped = 0;
        while let Ok(Ok(Some(ev))) = tokio::time::timeout(RECORDS_SILENCE, stream.message()).await {
            if ev.height > top {
                break;
            }
            match checked_record(&ev, &domain, &registry) {
                Some(r) if ev.height >= bottom => by_height.entry(ev.height).or_default().push(r),
                _ => dropped += 1,
            }
        }
        if dropped > 0 {
            tracing::warn!(
                "{dropped} notarized records node {} sent for blocks {bottom}..={top} did not verify; dropped",
                peer.id
            );
        }
        if by_height.is_empty() {
            continue; // this peer holds none (it may have caught up by snapshot too)
        }
        let mut kept = 0;
        for (h, records) in by_height {
            match shared.store_fetched_records(h, &records) {
                Ok(n) => kept += n,
                Err(e) => tracing::warn!("the records of block {h} were not kept: {e}"),
            }
        }
        return kept;
    }
    0
}

/// Sleeps `wait`, then doubles it (at most [`MAX_RETRY`]); `false` if the
/// node is stopping instead.
async fn backoff(wait: &mut Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(*wait) => {}
        _ = shutdown.changed() => return false,
    }
    *wait = (*wait * 2).min(MAX_RETRY);
    true
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use box_core::B256;
    use box_core::ids::Timestamp;
    use box_core::notary::{Entry, Event, NotaryState};
    use box_core::typed::{Genesis, GenesisNode, NodeVote, Signed};
    use box_testkit::{key, sample_flow};

    fn genesis(node: &str) -> Genesis {
        Genesis {
            deploymentId: B256::repeat_byte(0x7B),
            chainId: 31337,
            keyHolders: (0..3).map(|i| key(&format!("records-holder-{i}")).address()).collect(),
            nodes: vec![GenesisNode { nodeId: 1, endpoint: "127.0.0.1:1".into(), account: key(node).address() }],
            signer: key("records-signer").address(),
            assets: vec![],
            time: 1_800_000_000,
        }
    }

    /// Flow `n` notarized by the genesis's one node: the event a peer streams.
    fn notarized(n: u64) -> pb::NotarizedEvent {
        let g = genesis("records-node");
        let domain = g.domain();
        let mut state = NotaryState::new(g.clone()).unwrap();
        let now = Timestamp(g.time + 1);
        state.apply(&Entry::Submit(sample_flow(n)), now);
        let (id, _) = state.pending().next().map(|(id, r)| (*id, r.clone())).unwrap();
        let content = state.verdict(&id, now).expect("the flow is accepted");
        let vote = NodeVote { subject: id.0, contentHash: content.0, accept: true, reason: String::new() };
        let events = state.apply(&Entry::Vote(Signed::new(&domain, &key("records-node"), vote)), now);
        let Some(Event::Notarized { subject, payload, certificate }) =
            events.into_iter().find(|e| matches!(e, Event::Notarized { .. }))
        else {
            panic!("not notarized")
        };
        pb::NotarizedEvent {
            height: 3,
            subject_id: subject.0.to_vec(),
            subject: payload.encode(),
            certificate: certificate.encode(),
        }
    }

    #[test]
    fn a_fetched_record_is_kept_only_with_its_own_subject_and_a_certificate_of_the_registry() {
        let g = genesis("records-node");
        let (domain, registry) = {
            let s = NotaryState::new(g).unwrap();
            (s.domain(), s.registry().clone())
        };
        let honest = notarized(1);
        assert!(checked_record(&honest, &domain, &registry).is_some());

        let mut renamed = honest.clone();
        renamed.subject_id = notarized(2).subject_id;
        assert!(checked_record(&renamed, &domain, &registry).is_none(), "another subject's id");

        let mut swapped = honest.clone();
        swapped.certificate = notarized(2).certificate;
        assert!(checked_record(&swapped, &domain, &registry).is_none(), "another subject's certificate");

        let strangers = NotaryState::new(genesis("records-stranger")).unwrap().registry().clone();
        assert!(checked_record(&honest, &domain, &strangers).is_none(), "votes outside the registry");
    }
}
