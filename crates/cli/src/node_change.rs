//! Node-set governance from boxctl: adding or removing a node account is a
//! `NodeChange` signed by node accounts (adding needs every current node
//! account, removing a strict majority: box-core's rule), collected in a
//! change file that each node operator co-signs with their node's key file,
//! and submitted through a node with a node certificate (the gateway never
//! relays node changes).
//!
//! The change file is the [`SignedAction`] as JSON: the action and the
//! signatures so far. It holds nothing secret. Every signature in it is
//! recovered and checked against the registry whenever it is read, so a
//! file passed from hand to hand cannot claim signatures it does not carry.
//!
//! What this does not do: start, stop or configure the node's process (the
//! runbook in crates/chain/README.md and `boxctl dev node` do), or decide
//! anything: the nodes' companions check the change again before voting.

use crate::error::{CliError, CliResult};
use box_api::RegisteredNodeOut;
use box_core::Address;
use box_core::crypto::SecretKey;
use box_core::encoding::Canonical;
use box_core::governance::{GovernanceAction, SignedAction};
use box_core::ids::SubjectId;
use box_core::notary::Subject;
use box_core::typed::{Domain, NodeChange};
use box_proto::{Node, NodeClient, SubjectStatus, TlsMaterial};
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

/// Reads a node account key file through the one loader every process uses
/// (box-ops `unlock`), so a node's key file reads the same in box-node and
/// boxctl: an encrypted keystore (passphrase as `unlock` says), the
/// plaintext form only with `unlock.dev`.
pub fn load_node_key(path: &Path, unlock: &box_ops::unlock::Unlock) -> CliResult<SecretKey> {
    box_ops::unlock::load_key(path, unlock, "box-node").map_err(|e| CliError::usage(e.to_string()))
}

/// The node registry the gateway verified (genesis plus notarized node
/// changes), by node id.
pub async fn registry(s: &crate::Session) -> CliResult<Vec<RegisteredNodeOut>> {
    let status = s.client().await?.status().await?;
    if status.nodes.is_empty() {
        return Err(CliError::failed("the gateway does not report the node registry (it predates this boxctl)"));
    }
    Ok(status.nodes)
}

/// The node id a node certificate (PEM) names in its `box:node:<id>` URI.
pub fn node_id_of_certificate(path: &Path) -> CliResult<u64> {
    let pem = std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("cannot read the certificate {}: {e}", path.display())))?;
    match box_ops::role::CertRole::of_pem(&pem) {
        Ok(box_ops::role::CertRole::Node(id)) => Ok(id),
        Ok(other) => Err(CliError::usage(format!(
            "{} is a {other} certificate, not a node's (its URI must be box:node:<id>)",
            path.display()
        ))),
        Err(e) => Err(CliError::usage(format!("{}: {e}", path.display()))),
    }
}

/// The change adding `account` as node `id` at `endpoint`.
pub fn add(
    registry: &[RegisteredNodeOut],
    account: Address,
    id: u64,
    endpoint: &str,
    nonce: u64,
) -> CliResult<NodeChange> {
    if let Some(n) = registry.iter().find(|n| n.account == account || n.id == id) {
        return Err(CliError::refused(
            "node_registered",
            format!("node {} (account {}) is registered already", n.id, n.account),
        ));
    }
    Ok(NodeChange { account, nodeId: id, endpoint: endpoint.to_owned(), add: true, nonce })
}

/// The change removing the registered node `id`.
pub fn remove(registry: &[RegisteredNodeOut], id: u64, nonce: u64) -> CliResult<NodeChange> {
    let n = registry
        .iter()
        .find(|n| n.id == id)
        .ok_or_else(|| CliError::refused("node_not_registered", format!("node {id} is not registered")))?;
    Ok(NodeChange { account: n.account, nodeId: id, endpoint: n.endpoint.clone(), add: false, nonce })
}

/// A nonce for a new change: the time in seconds (two changes of the same
/// node in one second would need `--nonce`).
pub fn fresh_nonce() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Where a change stands: who signed, how many it needs, who may still sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// What it does, in words.
    pub action: String,
    /// Node accounts that signed, ascending.
    pub signed: Vec<Address>,
    /// Signatures it needs.
    pub needed: usize,
    /// Registered node accounts.
    pub registered: usize,
    /// Registered accounts that have not signed yet.
    pub waiting_for: Vec<Address>,
}

impl Progress {
    /// Whether it has its signatures.
    pub fn complete(&self) -> bool {
        self.signed.len() >= self.needed
    }

    /// `2 of 3 signed; waiting for 0x…` or `3 of 3 signed: ready to submit`.
    pub fn line(&self) -> String {
        let head = format!("{} of {} signed", self.signed.len(), self.needed);
        if self.complete() {
            return format!("{head}: ready to submit");
        }
        let more = self.needed - self.signed.len();
        let who: Vec<String> = self.waiting_for.iter().map(|a| a.to_checksum(None)).collect();
        if more == self.waiting_for.len() {
            format!("{head}; waiting for {}", who.join(", "))
        } else {
            format!("{head}; waiting for {more} more of {}", who.join(", "))
        }
    }
}

/// The node change in `signed`, or a usage error.
fn change_of(signed: &SignedAction) -> CliResult<&NodeChange> {
    match &signed.action {
        GovernanceAction::NodeChange(c) => Ok(c),
        other => Err(CliError::usage(format!("the change file holds \"{}\", not a node change", other.describe()))),
    }
}

/// Checks every signature of `signed` against the registry and counts them.
/// A signature by anyone else, or a second one by the same account, is
/// refused: the file was tampered with or mixed up.
pub fn progress(domain: &Domain, registry: &[RegisteredNodeOut], signed: &SignedAction) -> CliResult<Progress> {
    let change = change_of(signed)?;
    let hash = signed.action.signing_hash(domain);
    let accounts: BTreeSet<Address> = registry.iter().map(|n| n.account).collect();
    let mut signers = BTreeSet::new();
    for (i, sig) in signed.signatures.iter().enumerate() {
        let who = box_core::crypto::recover(&hash, sig)
            .map_err(|e| CliError::Untrusted(format!("signature {} of the change file does not verify: {e}", i + 1)))?;
        if !accounts.contains(&who) {
            return Err(CliError::Untrusted(format!(
                "signature {} is by {who}, who is not a registered node account",
                i + 1
            )));
        }
        if !signers.insert(who) {
            return Err(CliError::Untrusted(format!("{who} signed the change twice")));
        }
    }
    let needed = if change.add { accounts.len() } else { accounts.len() / 2 + 1 };
    Ok(Progress {
        action: signed.action.describe(),
        waiting_for: accounts.difference(&signers).copied().collect(),
        signed: signers.into_iter().collect(),
        needed,
        registered: accounts.len(),
    })
}

/// Adds `key`'s signature to `signed`. Refuses a key that is no registered
/// node account or that signed already.
pub fn sign(
    domain: &Domain,
    registry: &[RegisteredNodeOut],
    signed: &mut SignedAction,
    key: &SecretKey,
) -> CliResult<()> {
    let before = progress(domain, registry, signed)?;
    let who = key.address();
    if !registry.iter().any(|n| n.account == who) {
        return Err(CliError::refused("not_a_node_account", format!("{who} is not a registered node account")));
    }
    if before.signed.contains(&who) {
        return Err(CliError::refused("already_signed", format!("{who} has signed this change already")));
    }
    signed.signatures.push(key.sign_hash(&signed.action.signing_hash(domain)));
    Ok(())
}

/// Reads a change file.
pub fn read(path: &Path) -> CliResult<SignedAction> {
    let text = std::fs::read(path).map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
    let signed: SignedAction = serde_json::from_slice(&text)
        .map_err(|e| CliError::usage(format!("{} is not a node change file: {e}", path.display())))?;
    change_of(&signed)?;
    Ok(signed)
}

/// Writes a change file (replacing it: it only ever gains signatures).
pub fn write(path: &Path, signed: &SignedAction) -> CliResult<()> {
    let text = serde_json::to_string_pretty(signed).map_err(|e| CliError::failed(e.to_string()))?;
    std::fs::write(path, text + "\n").map_err(|e| CliError::failed(format!("cannot write {}: {e}", path.display())))
}

/// The lines a node operator reads before signing: the struct and each field.
pub fn to_be_signed(domain: &Domain, signed: &SignedAction) -> CliResult<Vec<String>> {
    let change = change_of(signed)?;
    Ok(vec![
        format!("to be signed (NodeChange): {}", signed.action.describe()),
        format!("  {:<12} {}", "account", change.account.to_checksum(None)),
        format!("  {:<12} {}", "nodeId", change.nodeId),
        format!("  {:<12} {}", "endpoint", change.endpoint),
        format!("  {:<12} {}", "add", change.add),
        format!("  {:<12} {}", "nonce", change.nonce),
        format!("  {:<12} {}", "hash", signed.action.signing_hash(domain)),
    ])
}

/// How a change is submitted: through these nodes, with a node certificate.
#[derive(Debug, Clone)]
pub struct Via {
    /// Node endpoints (host:port), tried in order.
    pub nodes: Vec<String>,
    /// The deployment CA, the node certificate and its key.
    pub tls: TlsMaterial,
    /// How long to wait for the nodes' decision.
    pub wait: Duration,
}

/// Submits `signed` through a node and waits until the nodes notarize it;
/// returns its subject id. A rejection is refused with the nodes' reasons.
pub async fn submit(domain: &Domain, signed: &SignedAction, via: &Via) -> CliResult<SubjectId> {
    let subject = Subject::Governance(signed.clone());
    let id = subject.id(domain).map_err(|e| CliError::usage(e.to_string()))?;
    let client = NodeClient::new(via.nodes.iter().map(|n| Node::at(n.clone())).collect(), &via.tls);
    let deadline = Instant::now() + via.wait;
    loop {
        match client.submit(subject.encode()).await {
            Ok(_) => break,
            Err(box_proto::NodeError::Unavailable(why)) if Instant::now() < deadline => {
                tracing::debug!("no node took the change yet: {why}");
            }
            Err(box_proto::NodeError::Refused(why)) => return Err(CliError::refused("node_change_refused", why)),
            Err(e) => return Err(CliError::Unavailable(format!("no node took the change: {e}"))),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    loop {
        match client.subject(&id).await {
            Ok(v) if v.status == SubjectStatus::Notarized => return Ok(id),
            Ok(v) if v.status == SubjectStatus::Rejected => {
                return Err(CliError::refused("node_change_rejected", v.reasons.join("; ")));
            }
            _ => {}
        }
        if Instant::now() > deadline {
            return Err(CliError::Timeout(format!(
                "the node change {id} was not decided within {} s (it may still be)",
                via.wait.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use box_core::B256;

    fn key(i: u8) -> SecretKey {
        SecretKey::from_bytes(&[i; 32]).unwrap()
    }

    fn registry() -> Vec<RegisteredNodeOut> {
        (1..=3u8)
            .map(|i| RegisteredNodeOut {
                id: u64::from(i),
                endpoint: format!("127.0.0.1:700{i}"),
                account: key(i).address(),
            })
            .collect()
    }

    fn domain() -> Domain {
        box_core::typed::Genesis {
            deploymentId: B256::repeat_byte(1),
            chainId: 1,
            keyHolders: vec![],
            nodes: vec![],
            signer: Address::ZERO,
            assets: vec![],
            time: 0,
        }
        .domain()
    }

    #[test]
    fn adding_needs_every_node_account_and_removing_a_majority() {
        let (reg, d) = (registry(), domain());
        let add = add(&reg, key(4).address(), 4, "127.0.0.1:7004", 1).unwrap();
        let mut signed = SignedAction { action: GovernanceAction::NodeChange(add), signatures: vec![] };
        sign(&d, &reg, &mut signed, &key(1)).unwrap();
        let p = progress(&d, &reg, &signed).unwrap();
        assert_eq!((p.signed.len(), p.needed), (1, 3));
        assert!(p.line().starts_with("1 of 3 signed; waiting for 0x"), "{}", p.line());
        sign(&d, &reg, &mut signed, &key(2)).unwrap();
        sign(&d, &reg, &mut signed, &key(3)).unwrap();
        assert_eq!(progress(&d, &reg, &signed).unwrap().line(), "3 of 3 signed: ready to submit");

        let rm = remove(&reg, 3, 2).unwrap();
        assert_eq!((rm.account, rm.endpoint.as_str(), rm.add), (key(3).address(), "127.0.0.1:7003", false));
        let mut signed = SignedAction { action: GovernanceAction::NodeChange(rm), signatures: vec![] };
        sign(&d, &reg, &mut signed, &key(1)).unwrap();
        assert!(progress(&d, &reg, &signed).unwrap().line().contains("waiting for 1 more of"));
        sign(&d, &reg, &mut signed, &key(2)).unwrap();
        assert!(progress(&d, &reg, &signed).unwrap().complete());
        assert!(matches!(remove(&reg, 9, 1), Err(CliError::Refused { .. })));
        assert!(matches!(add_existing(&reg), Err(CliError::Refused { .. })));
    }

    fn add_existing(reg: &[RegisteredNodeOut]) -> CliResult<NodeChange> {
        add(reg, key(2).address(), 9, "127.0.0.1:1", 1)
    }

    #[test]
    fn strangers_twice_signed_and_forged_files_are_refused() {
        let (reg, d) = (registry(), domain());
        let rm = remove(&reg, 3, 2).unwrap();
        let mut signed = SignedAction { action: GovernanceAction::NodeChange(rm), signatures: vec![] };
        let e = sign(&d, &reg, &mut signed, &key(9)).unwrap_err();
        assert!(e.to_string().contains("is not a registered node account"), "{e}");
        sign(&d, &reg, &mut signed, &key(1)).unwrap();
        let e = sign(&d, &reg, &mut signed, &key(1)).unwrap_err();
        assert!(e.to_string().contains("has signed this change already"), "{e}");
        // A file carrying a stranger's signature, or one twice, is not trusted.
        let mut forged = signed.clone();
        forged.signatures.push(key(9).sign_hash(&forged.action.signing_hash(&d)));
        assert!(matches!(progress(&d, &reg, &forged), Err(CliError::Untrusted(_))));
        let mut twice = signed.clone();
        twice.signatures.push(twice.signatures[0]);
        assert!(matches!(progress(&d, &reg, &twice), Err(CliError::Untrusted(_))));
    }
}
