//! A snapshot's tip is installed only once a strict majority of the node
//! registry attests it (issue 13 item 4: installing "verifies the tip's
//! certificate").
//!
//! The tip's seal is one node's signature: a leader that seals a second
//! header at a height (another time, another order of entries) could hand a
//! lagging node a state the chain never had. So, after the snapshot's own
//! checks (`super::verify`), [`certify_tip`]:
//! 1. takes the node-registry chain its peers serve, verified from the
//!    genesis (box-core `attestation::verify_registry_chain`, through
//!    box-proto's `bootstrap`), and requires the tip state's registry to be
//!    the one that chain gives for the tip's height;
//! 2. asks the registry's nodes for their `StateAttestation` of the tip's
//!    height and requires a strict majority of that registry to attest the
//!    tip's exact height, block hash and state root (box-core
//!    `attestation::certify`).
//!
//! It waits (`waiting:` lines, 0.5 s doubling to 8 s) while fewer attest,
//! e.g. peers that do not hold the tip yet or are down: raft's state machine
//! applies nothing meanwhile, and this node serves only what it held. It
//! refuses only when a strict majority attests *another* block at that
//! height: proof that the snapshot's tip is not the chain's.
//!
//! The genesis state (height 0) needs no attestation: it is this node's own
//! genesis file. An earlier version's JSON snapshot is not attested: it
//! carries every block from the genesis, replayed with every seal and
//! certificate.
//!
//! Liveness: a node can install a snapshot only while a strict majority of
//! the registry's nodes (itself excepted, as it lacks the tip) answer. In a
//! 3-node deployment with one node down, a node that lags behind the purged
//! log waits until the third is back.

use super::Shared;
use crate::peers::{FIRST_RETRY, MAX_RETRY};
use box_core::attestation::{
    RegistryChain, RegistryChange, SignedAttestation, StateAttestation, certify, statement_of,
};
use box_core::block::BlockHeader;
use box_core::quorum::NodeRegistry;
use box_core::typed::{Domain, Genesis};
use box_proto::bootstrap::{BootstrapError, attestations, registry_chain};
use box_proto::{Channels, Node, NodeClient};
use tokio::sync::watch;

/// Where a node gets what certifies a snapshot's tip: the node-registry
/// chain and the registry's attestations of a height.
#[tonic::async_trait]
pub trait TipAttesters: Send + Sync {
    /// The registry chain verified from `genesis`; `Err` says why none is
    /// available now (retried).
    async fn registry_chain(&self, genesis: &Genesis) -> Result<RegistryChain, String>;

    /// The attestations of `height` the nodes of `chain`'s registry give
    /// now, and why the others gave none.
    async fn attestations(&self, chain: &RegistryChain, height: u64) -> (Vec<SignedAttestation>, Vec<String>);

    /// Whether the node is shutting down (the wait ends with a refusal).
    fn stopping(&self) -> bool;
}

/// A node's peers over mutual TLS: the configured ones and every node of
/// the registry at its registered endpoint.
pub struct PeerAttesters {
    client: NodeClient,
    shutdown: watch::Receiver<bool>,
}

impl PeerAttesters {
    /// Asks `configured` (this node excluded by the caller) over `channels`
    /// until `shutdown` turns true.
    pub fn new(configured: Vec<Node>, channels: Channels, shutdown: watch::Receiver<bool>) -> Self {
        Self { client: NodeClient::with_channels(configured, channels), shutdown }
    }
}

#[tonic::async_trait]
impl TipAttesters for PeerAttesters {
    async fn registry_chain(&self, genesis: &Genesis) -> Result<RegistryChain, String> {
        registry_chain(&self.client, genesis).await.map_err(|e| match e {
            BootstrapError::Unavailable(m) | BootstrapError::Refused(m) => m,
        })
    }

    async fn attestations(&self, chain: &RegistryChain, height: u64) -> (Vec<SignedAttestation>, Vec<String>) {
        attestations(&self.client, chain, height).await
    }

    fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }
}

/// What a set of attestations says about a statement.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// A strict majority of the registry attests it: this many accounts.
    Certified(usize),
    /// A strict majority attests another block at its height (the reason names it).
    Contradicted(String),
    /// Too few attest it yet (the reason counts them).
    Short(String),
}

/// Judges `statement` by `got` against `registry` (box-core `certify`): no
/// attestation counts for two statements, as `certify` counts each account
/// once per statement and two majorities of one registry share an account,
/// which then signed two blocks at one height.
fn judge(domain: &Domain, registry: &NodeRegistry, statement: &StateAttestation, got: &[SignedAttestation]) -> Verdict {
    let short = match certify(domain, registry, statement, got) {
        Ok(c) => return Verdict::Certified(c.signers().len()),
        Err(e) => e.0,
    };
    let mut others: Vec<&StateAttestation> = Vec::new();
    for a in got.iter().map(|a| &a.attestation) {
        if a.height == statement.height && a != statement && !others.contains(&a) {
            others.push(a);
        }
    }
    for other in others {
        if let Ok(c) = certify(domain, registry, other, got) {
            return Verdict::Contradicted(format!(
                "{} of {} registered node accounts attest another block {} (hash {}, state root {}) than its tip \
                 (hash {}, state root {})",
                c.signers().len(),
                registry.len(),
                other.height,
                other.blockHash,
                other.stateRoot,
                statement.blockHash,
                statement.stateRoot
            ));
        }
    }
    Verdict::Short(short)
}

/// Waits until a strict majority of the registry attests `header` (the
/// tip of a snapshot whose tip state's registry is `registry`); returns how
/// many did, and the node changes up to the tip of the registry chain
/// verified from the genesis that certified it (what the node then serves
/// as its own `RegistryChain`: the blocks it fetches below the tip carry no
/// records to index them from). `Err`: a strict majority attests another block at its height,
/// or the node is shutting down. See the module docs.
pub(super) async fn certify_tip(
    shared: &Shared,
    genesis: &Genesis,
    header: &BlockHeader,
    registry: &NodeRegistry,
) -> Result<(usize, Vec<RegistryChange>), String> {
    let domain = genesis.domain();
    let statement = statement_of(&domain, header);
    let height = header.height;
    let mut wait = FIRST_RETRY;
    loop {
        let why = match shared.attesters.get() {
            None => "this node's peers are not known yet".to_owned(),
            Some(a) if a.stopping() => return Err("the node is shutting down".into()),
            Some(a) => match a.registry_chain(genesis).await {
                Err(e) => format!("no verified node-registry chain: {e}"),
                Ok(chain) if chain.at(height) != registry => format!(
                    "the node registry in its tip state ({} accounts) is not the one the registry chain its peers \
                     serve gives for block {height} ({} accounts)",
                    registry.len(),
                    chain.at(height).len()
                ),
                Ok(chain) => {
                    let (got, failed) = a.attestations(&chain, height).await;
                    match judge(&domain, chain.at(height), &statement, &got) {
                        Verdict::Certified(n) => return Ok((n, chain.changes_to(height).to_vec())),
                        Verdict::Contradicted(why) => {
                            return Err(format!(
                                "{why}; the node that sent it (raft's leader) sealed a second block at that height: \
                                 investigate that node, and let a node the registry's majority agrees with lead"
                            ));
                        }
                        Verdict::Short(why) if failed.is_empty() => why,
                        Verdict::Short(why) => format!("{why}; no attestation from {}", failed.join("; ")),
                    }
                }
            },
        };
        tracing::warn!(
            "waiting: the snapshot's tip block {height} is not attested by a strict majority of the node registry \
             yet ({why}); retrying in {} s",
            wait.as_secs_f32()
        );
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(MAX_RETRY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use box_core::B256;
    use box_testkit::key;

    fn domain() -> Domain {
        box_core::typed::Genesis {
            deploymentId: B256::repeat_byte(0x3C),
            chainId: 31337,
            keyHolders: vec![key("judge-holder").address()],
            nodes: vec![],
            signer: key("judge-signer").address(),
            assets: vec![],
            time: 1_800_000_000,
        }
        .domain()
    }

    fn statement(byte: u8) -> StateAttestation {
        StateAttestation { height: 7, blockHash: B256::repeat_byte(byte), stateRoot: B256::repeat_byte(byte ^ 0xFF) }
    }

    /// Attestations of `statement(byte)` by the nodes named in `who`.
    fn by(who: &[&str], byte: u8) -> Vec<SignedAttestation> {
        who.iter().map(|n| SignedAttestation::sign(&domain(), &key(n), statement(byte))).collect()
    }

    #[test]
    fn a_tip_is_certified_contradicted_or_short_by_distinct_registered_accounts() {
        let registry = NodeRegistry::new(["n1", "n2", "n3"].map(|n| key(n).address())).unwrap();
        let judge = |got: Vec<SignedAttestation>| judge(&domain(), &registry, &statement(1), &got);

        assert_eq!(judge([by(&["n1", "n2"], 1), by(&["n3"], 2)].concat()), Verdict::Certified(2));
        let Verdict::Contradicted(why) = judge([by(&["n1"], 1), by(&["n2", "n3"], 2)].concat()) else {
            panic!("a majority attests another block")
        };
        assert!(why.contains("2 of 3 registered node accounts attest another block 7"), "{why}");
        // One each, a stranger, a repeat, another height: none is a majority.
        let mut other_height = statement(2);
        other_height.height = 8;
        let mixed = [
            by(&["n1"], 1),
            by(&["n2"], 2),
            by(&["stranger", "n1"], 1),
            vec![SignedAttestation::sign(&domain(), &key("n3"), other_height)],
        ]
        .concat();
        let Verdict::Short(why) = judge(mixed) else { panic!("no majority either way") };
        assert!(why.contains("1 of 3 registered node accounts attest block 7"), "{why}");
        assert!(matches!(judge(vec![]), Verdict::Short(_)));
    }
}
