//! The check every process makes at start: the genesis it was given against
//! the one the chain's nodes run.
//!
//! A gateway or signer given another deployment's genesis (or a stale copy)
//! would otherwise start, verify nothing the nodes seal, and log the same
//! error forever. [`check_genesis`] asks the nodes for their genesis
//! fingerprint (`ClusterInfo.genesis_fingerprint`) until one answers, and
//! refuses when any node that answers runs another genesis, naming both
//! fingerprints and the node. Nodes that cannot be reached are waited for
//! (a transient failure, retried with backoff and logged), never a refusal.
//!
//! What it does not do: prove the nodes' genesis is the right one. That is
//! what people compare out of band (`boxctl genesis fingerprint`).

use crate::{NodeClient, NodeView};
use box_core::B256;
use box_core::genesis::Fingerprint;
use std::time::Duration;

/// A node runs another genesis than the one this process was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the genesis file's fingerprint is {ours}, but node {node} ({endpoint}) runs a genesis with fingerprint {theirs}: \
     this process was given another deployment's genesis (or the nodes were); refusing to run. Compare both with \
     `boxctl genesis fingerprint FILE` and use the deployment's genesis"
)]
pub struct GenesisMismatch {
    /// The short fingerprint of the genesis this process was given.
    pub ours: String,
    /// The short fingerprint the node reported.
    pub theirs: String,
    /// The node's id.
    pub node: u64,
    /// The node's endpoint.
    pub endpoint: String,
}

/// The most time between two rounds of asking unreachable nodes.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What one round of asking every node found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Round {
    /// A node reported the same fingerprint (its id; the first in node order).
    Agrees(u64),
    /// Nodes answered, none with a fingerprint (they predate it): nothing to compare.
    NotReported,
    /// No node answered: the reasons, one per node.
    NoAnswer(Vec<String>),
}

/// Asks every node once and compares each reported fingerprint with `ours`.
pub async fn compare_once(client: &NodeClient, ours: Fingerprint) -> Result<Round, GenesisMismatch> {
    compare(&client.cluster().await, ours)
}

/// Compares the fingerprint each node reported in `views` (what
/// [`NodeClient::cluster`] answered) with `ours`.
pub fn compare(views: &[NodeView], ours: Fingerprint) -> Result<Round, GenesisMismatch> {
    let mut agreed = None;
    let mut answered = false;
    for v in views {
        let Ok(info) = &v.info else { continue };
        answered = true;
        let theirs = &info.genesis_fingerprint;
        if theirs.is_empty() {
            continue;
        }
        if theirs.as_slice() != ours.0.as_slice() {
            return Err(GenesisMismatch {
                ours: ours.short(),
                theirs: match <[u8; 32]>::try_from(theirs.as_slice()) {
                    Ok(b) => Fingerprint(B256::from(b)).short(),
                    Err(_) => format!("of {} bytes (malformed)", theirs.len()),
                },
                node: v.node.id,
                endpoint: v.node.addr.clone(),
            });
        }
        agreed.get_or_insert(v.node.id);
    }
    Ok(match (agreed, answered) {
        (Some(id), _) => Round::Agrees(id),
        (None, true) => Round::NotReported,
        (None, false) => Round::NoAnswer(
            views.iter().filter_map(|v| v.info.as_ref().err().map(|e| format!("node {}: {e}", v.node.id))).collect(),
        ),
    })
}

/// Asks the nodes until one answers (see [`compare_once`]), retrying with
/// capped exponential backoff while none does and logging why. Returns the
/// id of a node that agreed, or `None` when the nodes that answered predate
/// the fingerprint (logged).
pub async fn check_genesis(client: &NodeClient, ours: Fingerprint) -> Result<Option<u64>, GenesisMismatch> {
    let mut backoff = Duration::from_millis(250);
    loop {
        match compare_once(client, ours).await? {
            Round::Agrees(id) => return Ok(Some(id)),
            Round::NotReported => {
                tracing::warn!("the nodes do not report their genesis fingerprint (an older box-node); not compared");
                return Ok(None);
            }
            Round::NoAnswer(why) => {
                tracing::warn!(
                    retry_in_ms = backoff.as_millis() as u64,
                    "waiting for a node to compare the genesis with ({})",
                    why.join("; ")
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
