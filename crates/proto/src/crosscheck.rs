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
//! [`HeaderCheck`] is the one implementation of the comparing side: nodes run
//! it against their peers (box-chain's `crosscheck`), the signer against every
//! node it dials. It compares each height once per peer (a cursor per peer),
//! at most [`MAX_HEADERS`] headers per call. What it cannot do: see a fork
//! hidden from every node this process reaches, or say which fork is right.
//! Agreement under a Byzantine leader needs 3f+1 nodes and a BFT engine.

use crate::pb;
use crate::tls::Channels;
use box_core::Address;
use box_core::block::Block;
use box_core::encoding::Canonical;
use box_core::evidence::{Equivocation, SealedHeader};
use box_core::typed::Domain;
use std::collections::HashMap;
use std::time::Duration;

/// Most headers one `Headers` call returns.
pub const MAX_HEADERS: u64 = 256;
/// How long a peer may take to answer.
const TIMEOUT: Duration = Duration::from_secs(2);

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

    /// The greatest height at least `backers` of the peers that answered
    /// their last round claim to hold (`None`: fewer answered). Unverified
    /// claims: with `backers` one more than the faulty peers tolerated
    /// (configured nodes − quorum + 1), at least one honest peer holds it,
    /// so one lying peer can neither raise it past every honest one nor
    /// hold a caller that waits to verify it back.
    pub fn latest(&self, backers: usize) -> Option<u64> {
        let mut claims: Vec<u64> = self.answered.values().copied().collect();
        claims.sort_unstable_by(|a, b| b.cmp(a));
        claims.get(backers.max(1) - 1).copied()
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
        // Nobody answered: nothing is confirmed, and no tip is known.
        assert_eq!(check(&[]).confirmed(10, 1), 0);
        assert_eq!(check(&[]).latest(1), None);
        assert_eq!(check(&[("a", 10, 12), ("b", 4, 4)]).latest(1), Some(12));
        // One peer claiming far more is not backed by a second.
        let peers = check(&[("a", 10, 1_000_000), ("b", 10, 11), ("c", 10, 10)]);
        assert_eq!(peers.latest(2), Some(11));
        assert_eq!(check(&[("a", 10, 1_000_000)]).latest(2), None);
        // What the caller no longer keeps is not waited for.
        let mut skipped = check(&[("a", 10, 12), ("b", 7, 10)]);
        skipped.skip_to(9);
        assert_eq!(skipped.confirmed(10, 2), 9);
    }
}
