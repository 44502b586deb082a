//! Node registry, votes and quorum certificates.
//!
//! A subject is notarized when votes for the same content hash come from a
//! strict majority of the registered node accounts. The registry changes only
//! by governed transitions: adding a node needs every current account,
//! removing one a strict majority; the majority is recomputed from the size.

use crate::Refusal;
use crate::crypto::recover;
use crate::ids::{ContentHash, SubjectId};
use crate::typed::{Domain, NodeChange, NodeVote};
use alloy::primitives::{Address, Signature};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The set of node accounts whose votes count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRegistry {
    accounts: BTreeSet<Address>,
}

impl NodeRegistry {
    /// A registry of at least one distinct, non-zero account.
    pub fn new(accounts: impl IntoIterator<Item = Address>) -> Result<Self, Refusal> {
        let mut set = BTreeSet::new();
        for a in accounts {
            if a.is_zero() {
                return Err(Refusal::Certificate("address(0) cannot be a node account".into()));
            }
            if !set.insert(a) {
                return Err(Refusal::Certificate(format!("node account {a} is listed twice")));
            }
        }
        if set.is_empty() {
            return Err(Refusal::Certificate("the node registry is empty".into()));
        }
        Ok(Self { accounts: set })
    }

    /// Number of accounts.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// Never true for a registry built by [`NodeRegistry::new`].
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// Votes needed: a strict majority, `n / 2 + 1`.
    pub fn majority(&self) -> usize {
        self.accounts.len() / 2 + 1
    }

    /// Whether `a` is registered.
    pub fn contains(&self, a: &Address) -> bool {
        self.accounts.contains(a)
    }

    /// The accounts, ascending.
    pub fn accounts(&self) -> impl Iterator<Item = &Address> {
        self.accounts.iter()
    }

    /// The registry after `change`, given who (already verified) signed it.
    /// Adding needs every current account; removing a strict majority and
    /// must leave at least one account.
    pub fn apply_change(&self, change: &NodeChange, signers: &BTreeSet<Address>) -> Result<Self, Refusal> {
        let valid: BTreeSet<&Address> = signers.iter().filter(|s| self.contains(s)).collect();
        let mut next = self.accounts.clone();
        if change.add {
            if change.account.is_zero() {
                return Err(Refusal::Governance("address(0) cannot be a node account".into()));
            }
            if self.contains(&change.account) {
                return Err(Refusal::Governance(format!("node account {} is already registered", change.account)));
            }
            if valid.len() != self.len() {
                let missing: Vec<String> =
                    self.accounts.iter().filter(|a| !signers.contains(*a)).map(ToString::to_string).collect();
                return Err(Refusal::Governance(format!(
                    "adding a node needs every current node account; missing {}",
                    missing.join(", ")
                )));
            }
            next.insert(change.account);
        } else {
            if !self.contains(&change.account) {
                return Err(Refusal::Governance(format!("node account {} is not registered", change.account)));
            }
            if self.len() == 1 {
                return Err(Refusal::Governance("cannot remove the last node account".into()));
            }
            if valid.len() < self.majority() {
                return Err(Refusal::Governance(format!(
                    "removing a node needs {} of {} node accounts; {} signed",
                    self.majority(),
                    self.len(),
                    valid.len()
                )));
            }
            next.remove(&change.account);
        }
        Ok(Self { accounts: next })
    }
}

/// The accept votes of a strict majority for one subject's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuorumCertificate {
    /// The subject.
    pub subject: SubjectId,
    /// The content every vote accepted.
    pub content: ContentHash,
    /// Signatures over `NodeVote { subject, content, accept: true, reason: "" }`,
    /// ascending by voter address.
    pub votes: Vec<Signature>,
}

/// The vote a certificate's signatures are over.
pub fn accept_vote(subject: SubjectId, content: ContentHash) -> NodeVote {
    NodeVote { subject: subject.0, contentHash: content.0, accept: true, reason: String::new() }
}

/// A certificate checked against a registry ([`verify_certificate`]), or a
/// certificate the notary recorded ([`verify_recorded`]). Only those make one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCertificate {
    certificate: QuorumCertificate,
    voters: BTreeSet<Address>,
}

impl VerifiedCertificate {
    /// The certificate.
    pub fn certificate(&self) -> &QuorumCertificate {
        &self.certificate
    }
    /// The distinct accounts that voted (registered when it was counted).
    pub fn voters(&self) -> &BTreeSet<Address> {
        &self.voters
    }
}

/// Checks a certificate the notary recorded in its own state when it
/// notarized the subject: every vote is a valid accept signature over the
/// certificate's content, each from a distinct account. Whether those
/// accounts were registered and formed a strict majority was decided by the
/// notary's tally against the registry in force at that moment (it counts
/// registered accounts only), so a node change notarized later (a node added,
/// raising the majority, or a voter removed) does not undo the notarization.
/// Use it only on a certificate taken from a [`crate::notary::NotaryState`]
/// replayed from the genesis; a certificate from anywhere else needs
/// [`verify_certificate`] against the registry of its height.
pub fn verify_recorded(domain: &Domain, cert: &QuorumCertificate) -> Result<VerifiedCertificate, Refusal> {
    let hash = domain.signing_hash(&accept_vote(cert.subject, cert.content));
    let mut voters = BTreeSet::new();
    for (i, sig) in cert.votes.iter().enumerate() {
        let a =
            recover(&hash, sig).map_err(|e| Refusal::Certificate(format!("vote {} does not verify: {e}", i + 1)))?;
        if !voters.insert(a) {
            return Err(Refusal::Certificate(format!("node account {a} voted twice")));
        }
    }
    if voters.is_empty() {
        return Err(Refusal::Certificate("the certificate carries no vote".into()));
    }
    Ok(VerifiedCertificate { certificate: cert.clone(), voters })
}

/// Checks that a certificate carries accept votes for its content from
/// distinct registered node accounts forming a strict majority of `registry`.
pub fn verify_certificate(
    domain: &Domain,
    registry: &NodeRegistry,
    cert: &QuorumCertificate,
) -> Result<VerifiedCertificate, Refusal> {
    let hash = domain.signing_hash(&accept_vote(cert.subject, cert.content));
    let mut voters = BTreeSet::new();
    for (i, sig) in cert.votes.iter().enumerate() {
        let a =
            recover(&hash, sig).map_err(|e| Refusal::Certificate(format!("vote {} does not verify: {e}", i + 1)))?;
        if !registry.contains(&a) {
            return Err(Refusal::Certificate(format!(
                "vote {} is from {a}, which is not a registered node account",
                i + 1
            )));
        }
        if !voters.insert(a) {
            return Err(Refusal::Certificate(format!("node account {a} voted twice")));
        }
    }
    if voters.len() < registry.majority() {
        return Err(Refusal::Certificate(format!(
            "{} of {} node accounts voted; a strict majority needs {}",
            voters.len(),
            registry.len(),
            registry.majority()
        )));
    }
    Ok(VerifiedCertificate { certificate: cert.clone(), voters })
}
