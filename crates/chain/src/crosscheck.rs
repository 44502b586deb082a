//! Cross-checking sealed block headers between nodes, to detect equivocation.
//!
//! With 2n+1 nodes raft gives no agreement under a Byzantine leader: it can
//! commit different entries at one index on different followers and seal both
//! versions, and each fork verifies on its own. An honest node signs exactly
//! one header per height, the committed one. So a validly sealed header at a
//! height that differs from the one this process verified convicts its
//! sealer; when the same account sealed both, the pair is an
//! [`Equivocation`] anyone can check, and it goes on the chain.
//!
//! [`HeaderCheck`] is the one implementation: nodes run it against their
//! peers ([`run`]), the signer against every node it dials. It compares each
//! height once per peer (a cursor per peer), at most 256 headers per call.
//! What it cannot do: see a fork hidden from every node this process reaches,
//! or say which fork is right. Agreement under a Byzantine leader needs 3f+1
//! nodes and a BFT engine.

use crate::fault::Faults;
use crate::liveness::Liveness;
use crate::network::Channels;
use crate::pb;
use crate::proposer::Proposer;
use crate::state_machine::Shared;
use box_core::Address;
use box_core::block::Block;
use box_core::encoding::Canonical;
use box_core::evidence::{Equivocation, SealedHeader};
use box_core::notary::Entry;
use box_core::typed::Domain;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tonic::Status;

/// Most headers one `Headers` call returns.
pub const MAX_HEADERS: u64 = 256;
/// How long a peer may take to answer.
const TIMEOUT: Duration = Duration::from_secs(2);
/// Heights below its own a node compares again after it starts.
pub const RECHECK_AFTER_START: u64 = 4096;

/// A validly sealed header from a peer that differs from ours at its height.
#[derive(Debug, Clone)]
pub struct Conflict {
    /// The peer that served it.
    pub node: String,
    /// The header this process verified at that height.
    pub ours: SealedHeader,
    /// The peer's.
    pub theirs: SealedHeader,
    /// Who sealed ours.
    pub our_sealer: Address,
    /// Who sealed theirs: the account convicted of signing a header that is
    /// not the one this process verified.
    pub sealer: Address,
}

impl Conflict {
    /// The height of both headers.
    pub fn height(&self) -> u64 {
        self.ours.header.height
    }

    /// The proof for the chain, when one account sealed both headers.
    pub fn proof(&self) -> Option<Equivocation> {
        (self.sealer == self.our_sealer).then(|| Equivocation::new(self.ours.clone(), self.theirs.clone())).flatten()
    }

    /// Everything a person needs to check it, for the error log.
    pub fn describe(&self, domain: &Domain) -> String {
        let h = |s: &SealedHeader| {
            format!(
                "hash {} (time {}, entries root {}, state {}), seal 0x{}",
                s.hash(domain),
                s.header.time,
                s.header.entriesRoot,
                s.header.stateHash,
                hex::encode(s.signature.as_bytes())
            )
        };
        format!(
            "EQUIVOCATION at height {}: {} sealed a header that differs from ours (sealed by {}); {} served it. ours: {}; theirs: {}",
            self.height(),
            self.sealer,
            self.our_sealer,
            self.node,
            h(&self.ours),
            h(&self.theirs)
        )
    }
}

/// Asks `client` for the sealed headers `from..=to`; returns them with the
/// node's latest height.
pub async fn fetch(
    client: &mut pb::notary_client::NotaryClient<tonic::transport::Channel>,
    from: u64,
    to: u64,
) -> Result<(Vec<SealedHeader>, u64), String> {
    let mut req = tonic::Request::new(pb::HeadersQuery { from_height: from, to_height: to });
    req.set_timeout(TIMEOUT);
    let info = client.headers(req).await.map_err(|s| s.message().to_owned())?.into_inner();
    let headers = info
        .headers
        .iter()
        .map(|b| Block::decode(b).map(|b| b.sealed_header()).map_err(|e| format!("a header does not decode: {e}")))
        .collect::<Result<_, _>>()?;
    Ok((headers, info.latest_height))
}

/// Cursors of one cross-checking process: per peer, the last height compared
/// and the latest height it reported in the last round it answered.
pub struct HeaderCheck {
    channels: Channels,
    checked: HashMap<String, u64>,
    answered: HashMap<String, u64>,
    floor: u64,
}

impl HeaderCheck {
    /// Dials peers through `channels`.
    pub fn new(channels: Channels) -> Self {
        Self { channels, checked: HashMap::new(), answered: HashMap::new(), floor: 0 }
    }

    /// The highest height up to which every header this process verified
    /// (up to `height`) was compared with every peer of the last round that
    /// holds it, provided at least `quorum` peers have been compared up to
    /// there; 0 otherwise. Peers that did not answer or are behind do not
    /// hold it back. This is what the signer acts on: a state no node it
    /// reaches contradicts.
    pub fn confirmed(&self, height: u64, quorum: usize) -> u64 {
        let mut h = height;
        for (node, latest) in &self.answered {
            let checked = self.cursor(node);
            if checked < (*latest).min(height) {
                h = h.min(checked);
            }
        }
        let agreeing = self.answered.keys().filter(|n| self.cursor(n) >= h).count();
        if agreeing >= quorum { h } else { 0 }
    }

    /// Compares nothing at or below `height` any more, with any peer: what
    /// the caller no longer keeps (or compared in an earlier run).
    pub fn skip_to(&mut self, height: u64) {
        self.floor = self.floor.max(height);
        for c in self.checked.values_mut() {
            *c = (*c).max(height);
        }
    }

    fn cursor(&self, node: &str) -> u64 {
        self.checked.get(node).copied().unwrap_or(0).max(self.floor)
    }

    /// One round: asks each of `nodes` for its headers above what was
    /// compared, up to `height`, and compares each with `ours`. Peers that do
    /// not answer, or answer with fewer headers than they claim to hold, are
    /// skipped until the next round. A differing header is a
    /// [`Conflict`] only if it is sealed by an account `registered` accepts;
    /// anything else is junk from that peer and only logged.
    pub async fn round(
        &mut self,
        nodes: &[String],
        height: u64,
        domain: &Domain,
        registered: impl Fn(&Address) -> bool,
        ours: impl Fn(u64) -> Option<SealedHeader>,
    ) -> Vec<Conflict> {
        let mut out = Vec::new();
        for node in nodes {
            let from = self.cursor(node) + 1;
            if from > height {
                continue;
            }
            let to = height.min(from + MAX_HEADERS - 1);
            let Ok(ch) = self.channels.get(node) else { continue };
            let (theirs, latest) = match fetch(&mut pb::notary_client::NotaryClient::new(ch), from, to).await {
                Ok(answer) => answer,
                Err(e) => {
                    self.answered.remove(node);
                    tracing::debug!(%node, "headers not compared this round: {e}");
                    continue;
                }
            };
            let mut last = from - 1;
            for t in theirs {
                let h = t.header.height;
                if h != last + 1 {
                    tracing::warn!(%node, "served header {h} where {} was expected", last + 1);
                    break;
                }
                let Some(mine) = ours(h) else { break };
                last = h;
                if mine.header == t.header {
                    continue;
                }
                match t.sealer(domain) {
                    Ok(sealer) if registered(&sealer) => {
                        let our_sealer = mine.sealer(domain).unwrap_or(Address::ZERO);
                        out.push(Conflict { node: node.clone(), ours: mine, theirs: t, our_sealer, sealer });
                    }
                    Ok(sealer) => {
                        tracing::warn!(%node, "served a header at {h} sealed by {sealer}, not a node account")
                    }
                    Err(e) => tracing::warn!(%node, "served a header at {h} whose seal does not verify: {e}"),
                }
            }
            if last >= from {
                self.checked.insert(node.clone(), last);
            }
            // A peer that does not serve every header it claims to hold up to
            // `to` counts as not answering: it cannot hold `confirmed` back.
            if last >= to.min(latest) {
                self.answered.insert(node.clone(), latest);
            } else {
                tracing::warn!(%node, "claims height {latest} but served headers only up to {last}");
                self.answered.remove(node);
            }
        }
        out
    }
}

fn sealed_at(shared: &Shared, height: u64) -> Option<SealedHeader> {
    let bytes = shared.block(height).ok()??;
    Block::decode(&bytes).ok().map(|b| b.sealed_header())
}

/// The `Headers` RPC: this node's sealed headers `from..=to` (at most
/// [`MAX_HEADERS`], at most up to its height), as header-only blocks.
pub fn serve(shared: &Shared, faults: &Faults, from: u64, to: u64) -> Result<pb::HeadersInfo, Status> {
    let latest = shared.read().height();
    let from = from.max(1);
    let to = to.min(latest).min(from.saturating_add(MAX_HEADERS - 1));
    let mut headers = Vec::new();
    for h in from..=to {
        let sealed = match faults.forged(h) {
            Some(forged) => forged,
            None => sealed_at(shared, h).ok_or_else(|| Status::internal(format!("block {h} is missing")))?,
        };
        headers.push(Block::header_only(sealed).encode());
    }
    Ok(pb::HeadersInfo { headers, latest_height: latest })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn check(peers: &[(&str, u64, u64)]) -> HeaderCheck {
        let mut c = HeaderCheck::new(Channels::new(tonic::transport::ClientTlsConfig::new()));
        for (node, checked, latest) in peers {
            c.checked.insert((*node).to_owned(), *checked);
            c.answered.insert((*node).to_owned(), *latest);
        }
        c
    }

    #[test]
    fn confirmed_waits_for_every_peer_that_holds_a_height_and_a_quorum() {
        // All compared up to our height 10.
        assert_eq!(check(&[("a", 10, 12), ("b", 10, 10), ("c", 10, 11)]).confirmed(10, 2), 10);
        // One peer holds heights 8..10 that were not compared yet: they are not confirmed.
        assert_eq!(check(&[("a", 10, 12), ("b", 7, 10)]).confirmed(10, 2), 7);
        // A peer behind us (compared up to its own height) holds nothing back,
        // but does not count towards the quorum above its height.
        assert_eq!(check(&[("a", 10, 12), ("b", 4, 4), ("c", 10, 10)]).confirmed(10, 2), 10);
        assert_eq!(check(&[("a", 10, 12), ("b", 4, 4)]).confirmed(10, 2), 0);
        // Nobody answered: nothing is confirmed.
        assert_eq!(check(&[]).confirmed(10, 1), 0);
        // What the caller no longer keeps is not waited for.
        let mut skipped = check(&[("a", 10, 12), ("b", 7, 10)]);
        skipped.skip_to(9);
        assert_eq!(skipped.confirmed(10, 2), 9);
    }
}
