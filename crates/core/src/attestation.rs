//! State attestations: a node account's signed word that the block at one
//! height, with one hash, has one state root; and what makes a list of them
//! a certificate a new follower may start from (issue 13, item 3).
//!
//! A block header is signed by its leader only: one account's word. A
//! follower that does not replay the history from the genesis needs more
//! than that before it takes a state as its starting point. A
//! [`StateAttestation`] is signed (EIP-712, the deployment's [`Domain`],
//! like every other signed object; its type hash keeps it apart from a
//! block seal or a vote) by a node account, and [`certify`] accepts one
//! statement only when a strict majority of distinct accounts of the
//! registry the follower verified signed it.
//!
//! The registry itself comes from [`verify_registry_chain`]: the genesis
//! nodes, then every notarized `NodeChange` in order, each one's quorum
//! certificate checked against the registry before it. The chain is small
//! (one item per node change), so a follower verifies it from the genesis
//! every time.
//!
//! What this does not do: fetch anything, or say that the state a node
//! serves has the attested root (the caller recomputes the root from the
//! rows: `checkpoint::decode`). A majority that signs a false root is
//! outside the threat model (DESIGN §2: at most a minority of nodes is
//! faulty); a minority that does gets nowhere.

#![allow(missing_docs)] // sol!-generated fields.

use crate::crypto::SecretKey;
use crate::encoding::Canonical;
use crate::governance::{GovernanceAction, verify_action};
use crate::notary::Subject;
use crate::quorum::{NodeRegistry, QuorumCertificate, verify_certificate};
use crate::typed::{Domain, Genesis};
use alloy::primitives::{Address, Signature};
use alloy::sol;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

sol! {
    /// A node account's statement: the sealed block at `height` has hash
    /// `blockHash` (its header's EIP-712 signing hash) and state root
    /// `stateRoot` (its header's `stateHash`).
    #[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct StateAttestation {
        uint64 height;
        bytes32 blockHash;
        bytes32 stateRoot;
    }
}

/// Why attestations or a registry chain are not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AttestationError(pub String);

/// A statement with one account's signature over it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedAttestation {
    /// What is attested.
    pub attestation: StateAttestation,
    /// The node account's signature (65 bytes, low-s) over it.
    pub signature: Signature,
}

impl SignedAttestation {
    /// Signs `attestation` with `key` under `domain`.
    pub fn sign(domain: &Domain, key: &SecretKey, attestation: StateAttestation) -> Self {
        let signature = domain.sign(key, &attestation);
        Self { attestation, signature }
    }

    /// The account that signed it (whether it is registered is [`certify`]'s question).
    pub fn signer(&self, domain: &Domain) -> Result<Address, AttestationError> {
        domain
            .recover(&self.attestation, &self.signature)
            .map_err(|e| AttestationError(format!("the signature does not recover: {e}")))
    }
}

/// A statement a strict majority of a registry signed. Only [`certify`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certified {
    attestation: StateAttestation,
    signers: BTreeSet<Address>,
}

impl Certified {
    /// The statement.
    pub fn attestation(&self) -> &StateAttestation {
        &self.attestation
    }
    /// The distinct registered accounts that signed it.
    pub fn signers(&self) -> &BTreeSet<Address> {
        &self.signers
    }
}

/// Whether `attestations` certify `statement` for `registry`: signed by a
/// strict majority (`n / 2 + 1`) of distinct registered accounts. An item
/// about another statement, with a signature that does not recover, from an
/// unregistered account or from an account already counted does not count;
/// the refusal names each with its reason, and how many signed.
pub fn certify(
    domain: &Domain,
    registry: &NodeRegistry,
    statement: &StateAttestation,
    attestations: &[SignedAttestation],
) -> Result<Certified, AttestationError> {
    let mut signers = BTreeSet::new();
    let mut ignored = Vec::new();
    for (i, a) in attestations.iter().enumerate() {
        let n = i + 1;
        let who = match a.signer(domain) {
            Ok(who) => who,
            Err(e) => {
                ignored.push(format!("attestation {n}: {e}"));
                continue;
            }
        };
        if a.attestation != *statement {
            ignored.push(format!(
                "attestation {n} by {who} is about block {} (hash {}, state root {}), not block {} (hash {}, state root {})",
                a.attestation.height,
                a.attestation.blockHash,
                a.attestation.stateRoot,
                statement.height,
                statement.blockHash,
                statement.stateRoot
            ));
        } else if !registry.contains(&who) {
            ignored.push(format!("attestation {n} is signed by {who}, which is not a registered node account"));
        } else if !signers.insert(who) {
            ignored.push(format!("attestation {n}: {who} attested twice (counted once)"));
        }
    }
    if signers.len() >= registry.majority() {
        return Ok(Certified { attestation: statement.clone(), signers });
    }
    let mut why = format!(
        "{} of {} registered node accounts attest block {} with state root {}; a strict majority needs {}",
        signers.len(),
        registry.len(),
        statement.height,
        statement.stateRoot,
        registry.majority()
    );
    if !ignored.is_empty() {
        why.push_str(&format!(" (not counted: {})", ignored.join("; ")));
    }
    Err(AttestationError(why))
}

/// One notarized node-registry change as a node serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryChange {
    /// The height of the block that notarized it.
    pub height: u64,
    /// The canonical `Subject` (a governance `NodeChange`).
    pub subject: Vec<u8>,
    /// The canonical `QuorumCertificate` that notarized it.
    pub certificate: Vec<u8>,
}

/// The node registries of a verified chain of changes: the genesis one and
/// the one after each change, with the height it took effect at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryChain {
    steps: Vec<(u64, NodeRegistry)>,
    endpoints: BTreeMap<Address, String>,
    changes: Vec<RegistryChange>,
}

impl RegistryChain {
    /// The registry in force after block `height`: the last one whose
    /// change is at `height` or below (the genesis registry before any).
    pub fn at(&self, height: u64) -> &NodeRegistry {
        let i = self.steps.partition_point(|(h, _)| *h <= height);
        &self.steps[i.saturating_sub(1)].1
    }

    /// The latest registry.
    pub fn latest(&self) -> &NodeRegistry {
        self.at(u64::MAX)
    }

    /// The height of the last change (0 when there was none).
    pub fn last_change(&self) -> u64 {
        self.steps.last().map_or(0, |(h, _)| *h)
    }

    /// The verified changes at heights up to `height`, in order: what a
    /// node that took this chain serves as its own (a node caught up by a
    /// snapshot, whose fetched blocks carry no records to index).
    pub fn changes_to(&self, height: u64) -> &[RegistryChange] {
        let n = self.changes.partition_point(|c| c.height <= height);
        &self.changes[..n]
    }

    /// The endpoint (`host:port`) the genesis or the latest change that
    /// added `account` gives for it.
    pub fn endpoint(&self, account: &Address) -> Option<&str> {
        self.endpoints.get(account).map(String::as_str)
    }
}

/// Verifies `changes` in order from `genesis`'s node registry: heights
/// ascending, each a governance `NodeChange` subject whose quorum
/// certificate names that subject and content and carries a strict majority
/// of the registry before it, whose own signatures meet its authority
/// (adding: every account; removing: a majority) and which applies to that
/// registry; no subject twice. The first item that fails is named with the
/// reason.
pub fn verify_registry_chain(genesis: &Genesis, changes: &[RegistryChange]) -> Result<RegistryChain, AttestationError> {
    let domain = genesis.domain();
    let registry = NodeRegistry::new(genesis.nodes.iter().map(|n| n.account))
        .map_err(|e| AttestationError(format!("the genesis node registry: {e}")))?;
    let key_holders: BTreeSet<Address> = genesis.keyHolders.iter().copied().collect();
    let mut endpoints: BTreeMap<Address, String> =
        genesis.nodes.iter().map(|n| (n.account, n.endpoint.clone())).collect();
    let mut steps = vec![(0u64, registry)];
    let mut seen = BTreeSet::new();
    for (i, c) in changes.iter().enumerate() {
        let fail =
            |why: String| AttestationError(format!("node-registry change {} (block {}): {why}", i + 1, c.height));
        let Some((before_height, before)) = steps.last().map(|(h, r)| (*h, r.clone())) else {
            return Err(fail("no registry before it".into())); // never: `steps` starts with the genesis one
        };
        if c.height == 0 || c.height < before_height {
            return Err(fail(format!("its height does not follow the previous change's ({before_height})")));
        }
        let subject = Subject::decode(&c.subject).map_err(|e| fail(format!("the subject does not decode: {e}")))?;
        let Subject::Governance(signed) = &subject else {
            return Err(fail("the subject is not a governance action".into()));
        };
        let GovernanceAction::NodeChange(change) = &signed.action else {
            return Err(fail("the governance action is not a node change".into()));
        };
        let id = subject.id(&domain).map_err(|e| fail(e.to_string()))?;
        if !seen.insert(id) {
            return Err(fail("the same change is listed twice".into()));
        }
        let cert = QuorumCertificate::decode(&c.certificate)
            .map_err(|e| fail(format!("the certificate does not decode: {e}")))?;
        if cert.subject != id || cert.content != subject.content() {
            return Err(fail("the certificate is for another subject or content".into()));
        }
        verify_certificate(&domain, &before, &cert).map_err(|e| fail(e.to_string()))?;
        let v = verify_action(&domain, signed, &key_holders, &before).map_err(|e| fail(e.to_string()))?;
        let after = before.apply_change(change, v.signers()).map_err(|e| fail(e.to_string()))?;
        if change.add {
            endpoints.insert(change.account, change.endpoint.clone());
        }
        steps.push((c.height, after));
    }
    Ok(RegistryChain { steps, endpoints, changes: changes.to_vec() })
}

/// The statement a sealed header makes: its height, its hash under
/// `domain` and its state root.
pub fn statement_of(domain: &Domain, header: &crate::block::BlockHeader) -> StateAttestation {
    StateAttestation { height: header.height, blockHash: domain.signing_hash(header), stateRoot: header.stateHash }
}
