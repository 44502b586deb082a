//! Test hooks that make a node misbehave like a Byzantine one, so the
//! defences against it can be tested with real processes. Set with
//! `BOX_NODE_FAULT` (like the signer's `BOX_SIGNER_FAULT`); unset in
//! production, where [`Faults::none`] changes nothing.
//!
//! - `withhold`: while this node leads, it keeps sending heartbeats but drops
//!   every proposal (submissions, relayed votes, its own companion's votes):
//!   each request is held until its caller gives up. It tells no other node
//!   about what it receives.
//! - `equivocate`: when this node, leading, seals a block that carries a
//!   transfer submission, it also seals a second header for that height
//!   (the same header one second later) and serves that one to whoever
//!   cross-checks headers with it.
//! - `overclaim`: this node claims to hold 1,000 blocks more than it does,
//!   as the `latest_height` of every block it streams and of every header
//!   round it answers; it serves only the blocks it holds.
//! - `forge-proofs`: this node serves every transfer proof (`GetTransferProof`)
//!   with the last byte of the transfer's row changed, so the proof no
//!   longer verifies against the header it names.
//! - `hide-proofs`: this node answers every `GetTransferProof` "not found",
//!   as a node caught up by snapshot that has not fetched a retired
//!   transfer's proof yet does.
//! - `forge-snapshots`: every snapshot this node sends (a leader catching a
//!   node up) carries a tip state with its last byte changed, so the state
//!   no longer hashes to the tip header's state root.
//! - `fork-snapshots`: every snapshot this node sends carries a consistent
//!   fork of the chain: its tip header one second later, sealed again with
//!   this node's own (registered) account key, the pending block's header
//!   pointing at it. Every check a snapshot's bytes allow passes; only the
//!   registry's attestations (a strict majority attests the real block)
//!   tell it apart.

use crate::state_machine::PendingBlock;
use box_core::crypto::SecretKey;
use box_core::evidence::SealedHeader;
use box_core::notary::{Entry, Subject};
use box_core::typed::Domain;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A misbehaviour to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Lead, heartbeat, and drop every proposal.
    Withhold,
    /// Seal a second, different header at a height and serve it to cross-checks.
    Equivocate,
    /// Claim heights it never serves.
    Overclaim,
    /// Serve transfer proofs that do not verify.
    ForgeProofs,
    /// Answer every transfer proof "not found".
    HideProofs,
    /// Send snapshots whose tip state is not the tip header's.
    ForgeSnapshots,
    /// Send snapshots whose tip is another, validly sealed block.
    ForkSnapshots,
}

/// How a faulty leader forges the snapshots it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forgery {
    /// The tip state's last byte changed (`forge-snapshots`).
    Bytes,
    /// A validly re-sealed fork of the tip (`fork-snapshots`).
    Fork,
}

/// How far above its height an overclaiming node claims to be.
const OVERCLAIM: u64 = 1_000;

impl Fault {
    /// Reads `BOX_NODE_FAULT` (`withhold`, `equivocate`, `overclaim`,
    /// `forge-proofs`, `hide-proofs`, `forge-snapshots` or `fork-snapshots`);
    /// anything else
    /// is no fault.
    pub fn from_env() -> Option<Self> {
        match std::env::var("BOX_NODE_FAULT").ok()?.as_str() {
            "withhold" => Some(Self::Withhold),
            "equivocate" => Some(Self::Equivocate),
            "overclaim" => Some(Self::Overclaim),
            "forge-proofs" => Some(Self::ForgeProofs),
            "hide-proofs" => Some(Self::HideProofs),
            "forge-snapshots" => Some(Self::ForgeSnapshots),
            "fork-snapshots" => Some(Self::ForkSnapshots),
            _ => None,
        }
    }
}

/// The injected fault, and what an equivocating node forged.
#[derive(Debug, Default)]
pub struct Faults {
    fault: Option<Fault>,
    forged: Mutex<BTreeMap<u64, SealedHeader>>,
}

impl Faults {
    /// An honest node.
    pub fn none() -> Self {
        Self::default()
    }

    /// A node with `fault`.
    pub fn new(fault: Option<Fault>) -> Self {
        Self { fault, forged: Mutex::default() }
    }

    /// Whether this node drops proposals while it leads.
    pub fn withholds(&self) -> bool {
        self.fault == Some(Fault::Withhold)
    }

    /// The height this node tells others it holds, its own `height` unless
    /// it overclaims.
    pub fn claimed(&self, height: u64) -> u64 {
        if self.fault == Some(Fault::Overclaim) { height + OVERCLAIM } else { height }
    }

    /// The row value this node serves in a transfer proof: `value` itself
    /// unless it forges proofs.
    pub fn served_row(&self, mut value: Vec<u8>) -> Vec<u8> {
        if self.fault == Some(Fault::ForgeProofs)
            && let Some(last) = value.last_mut()
        {
            *last ^= 1;
        }
        value
    }

    /// Whether this node answers every transfer proof "not found".
    pub fn hides_proofs(&self) -> bool {
        self.fault == Some(Fault::HideProofs)
    }

    /// How the snapshots this node sends are forged, if they are.
    pub fn forges_snapshots(&self) -> Option<Forgery> {
        match self.fault {
            Some(Fault::ForgeSnapshots) => Some(Forgery::Bytes),
            Some(Fault::ForkSnapshots) => Some(Forgery::Fork),
            _ => None,
        }
    }

    /// Called by the sealer right after it signed `pending`'s header: an
    /// equivocating node seals a second header for a block with a transfer.
    pub fn after_signing(&self, domain: &Domain, key: &SecretKey, pending: &PendingBlock) {
        if self.fault != Some(Fault::Equivocate)
            || !pending.entries.iter().any(|e| matches!(e.entry, Entry::Submit(Subject::Transfer(_))))
        {
            return;
        }
        let mut header = pending.header.clone();
        header.time += 1;
        let forged = SealedHeader { signature: domain.sign(key, &header), header };
        let mut map = self.forged.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let std::collections::btree_map::Entry::Vacant(slot) = map.entry(forged.header.height) {
            tracing::warn!(height = forged.header.height, "fault injection: sealed a second header at this height");
            slot.insert(forged);
        }
    }

    /// The header this node serves to cross-checks at `height` instead of its own, if it forged one.
    pub fn forged(&self, height: u64) -> Option<SealedHeader> {
        self.forged.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&height).cloned()
    }
}
