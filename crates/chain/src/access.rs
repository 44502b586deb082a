//! Who may call what on a node (DESIGN §2): every gRPC service serves only
//! the roles that need it, and a valid certificate of the deployment CA is
//! not authority. The caller's role comes from its certificate
//! ([`caller`], reading box-ops's [`CertRole`]).
//!
//! | call | served to |
//! |---|---|
//! | `Raft.*` | node certificates of the current membership, and only for their own messages: the leader id of an AppendEntries or InstallSnapshot, the candidate id of a Vote, must be the certificate's node |
//! | `Notary.Submit` | the gateway (flows, flow authorizations, transfers, governance), the signer (its reports), nodes (anything: they forward) |
//! | `Notary.Propose` | the gateway (key holders' ceremony messages), the signer (its announcements and equivocation evidence), nodes (anything: forwarded entries, votes, evidence) |
//! | `Notary.Witness` | whoever may write the witnessed entry (it may later be proposed by the node itself) |
//! | reads (`GetSubject`, `GetBlock`, `GetProof`, `GetTransferProof`, `Subscribe`, `Blocks`, `Ceremony`, `Cluster`, `SignerStatus`, `Headers`) | every role |
//! | for new followers (`Attest`, `RegistryChain`, `GetState`) | every role |
//!
//! The current membership is read at every call, so nodes added or removed
//! by governance are let in or shut out as the change reaches this node:
//! the voters of this node's raft membership and the node registry of its
//! notary state (genesis plus notarized node changes). A node that is not yet
//! part of the membership it holds (brand new, or replaying the log up to
//! the entry that added it) also accepts the voters listed in its own
//! configuration, since the leader that feeds it may have joined after
//! everything it has replayed so far.
//!
//! What this does not do: judge the content of what is submitted (the
//! notary and the companions do), or check the server's role on outgoing
//! calls (the client trusts the CA and the host name).

use crate::state_machine::Shared;
use crate::types::{NodeId, TypeConfig};
use box_core::ceremony::Ceremony;
use box_core::notary::{Entry, Subject};
use box_ops::role::CertRole;
use openraft::Raft;
use std::collections::BTreeSet;
use std::sync::Arc;
use tonic::Status;

/// The role the caller's client certificate names. Refuses a call without a
/// client certificate (`UNAUTHENTICATED`) and one whose certificate names no
/// role (`PERMISSION_DENIED`), with the reason.
pub fn caller<T>(request: &tonic::Request<T>) -> Result<CertRole, tonic::Status> {
    let certs = request.peer_certs().ok_or_else(|| {
        tonic::Status::unauthenticated("no client certificate; every call needs a certificate of the deployment CA")
    })?;
    let leaf = certs.first().ok_or_else(|| tonic::Status::unauthenticated("the client presented no certificate"))?;
    let der = leaf.as_ref();
    if let Some(role) = known_roles().get(der) {
        return Ok(*role);
    }
    let role = CertRole::of_certificate(der).map_err(|e| tonic::Status::permission_denied(e.to_string()))?;
    let mut known = known_roles();
    if known.len() >= KNOWN_CERTIFICATES {
        known.clear();
    }
    known.insert(der.to_vec(), role);
    Ok(role)
}

/// How many callers' certificates [`caller`] remembers the role of (a
/// deployment has a handful: its nodes, the gateway, the signer,
/// operators); past that it forgets them all and starts again.
const KNOWN_CERTIFICATES: usize = 64;

/// The roles of certificates already read, by their DER bytes: parsing a
/// certificate (x509) on every call was about 1% of a node's CPU under load.
/// A role is a function of the bytes alone, and the TLS layer has checked
/// the chain and validity of the certificate on this connection before any
/// call reaches [`caller`].
fn known_roles() -> std::sync::MutexGuard<'static, std::collections::HashMap<Vec<u8>, CertRole>> {
    static KNOWN: std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<Vec<u8>, CertRole>>> =
        std::sync::OnceLock::new();
    KNOWN.get_or_init(Default::default).lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What an entry written to the log is, for deciding who may write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// A subject signed by people (flow, flow authorization, transfer, governance).
    Submission,
    /// The signer's report.
    SignerReport,
    /// A companion's vote.
    Vote,
    /// The signer's announcement.
    Announcement,
    /// A key holder's ceremony message.
    CeremonyMessage,
    /// Evidence of equivocation (two validly sealed headers at one height):
    /// self-proving, so nodes and the signer, who cross-check headers, may send it.
    Evidence,
}

impl Write {
    /// What `entry` is.
    pub fn of(entry: &Entry) -> Self {
        match entry {
            Entry::Submit(s) => Self::of_subject(s),
            Entry::Vote(_) | Entry::Votes(_) => Self::Vote,
            Entry::Ceremony(Ceremony::Announce(_)) => Self::Announcement,
            Entry::Ceremony(Ceremony::Message(_)) => Self::CeremonyMessage,
            Entry::Evidence(_) => Self::Evidence,
        }
    }

    /// What submitting `subject` is.
    pub fn of_subject(subject: &Subject) -> Self {
        match subject {
            Subject::SignerReport(_) => Self::SignerReport,
            _ => Self::Submission,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Submission => "submit flows, authorizations, transfers or governance actions",
            Self::SignerReport => "submit signer reports",
            Self::Vote => "propose node votes",
            Self::Announcement => "propose signer announcements",
            Self::CeremonyMessage => "propose key-ceremony messages",
            Self::Evidence => "propose equivocation evidence",
        }
    }
}

/// Whether `role` may write `what` to the log (through Submit or Propose).
/// Nodes may write anything: they forward what they were given and propose
/// their companions' votes.
pub fn may_write(role: CertRole, what: Write) -> Result<(), String> {
    let allowed = match role {
        CertRole::Node(_) => true,
        CertRole::Gateway => matches!(what, Write::Submission | Write::CeremonyMessage),
        CertRole::Signer => matches!(what, Write::SignerReport | Write::Announcement | Write::Evidence),
        CertRole::Auditor => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(format!("{role} may not {} (its certificate's role does not allow it)", what.describe()))
    }
}

/// The nodes whose certificates may speak raft to node `me`: the voters of
/// its raft membership and its notary's registered nodes, plus, while `me`
/// is not in the membership it holds (`members`, voters and learners), the
/// voters of its configuration.
pub fn raft_peers(
    me: NodeId,
    voters: impl IntoIterator<Item = NodeId>,
    members: &BTreeSet<NodeId>,
    registry: impl IntoIterator<Item = NodeId>,
    configured: &BTreeSet<NodeId>,
) -> BTreeSet<NodeId> {
    let mut peers: BTreeSet<NodeId> = voters.into_iter().chain(registry).collect();
    if !members.contains(&me) {
        peers.extend(configured);
    }
    peers
}

/// The checks one node makes on its callers; cheap to clone.
#[derive(Clone)]
pub struct Access {
    raft: Raft<TypeConfig>,
    shared: Arc<Shared>,
    me: NodeId,
    configured: Arc<BTreeSet<NodeId>>,
}

impl Access {
    /// Checks for node `me`, reading the membership from `raft` and the node
    /// registry from `shared` at each call; `configured` are the voters of
    /// this node's configuration.
    pub fn new(raft: Raft<TypeConfig>, shared: Arc<Shared>, me: NodeId, configured: BTreeSet<NodeId>) -> Self {
        Self { raft, shared, me, configured: Arc::new(configured) }
    }

    /// Who may speak raft to this node right now ([`raft_peers`]).
    pub fn raft_peers(&self) -> BTreeSet<NodeId> {
        let (voters, members): (Vec<NodeId>, BTreeSet<NodeId>) = {
            let m = self.raft.metrics();
            let m = m.borrow();
            let membership = m.membership_config.membership();
            (membership.voter_ids().collect(), membership.nodes().map(|(id, _)| *id).collect())
        };
        let registry = self.shared.registered_nodes();
        raft_peers(self.me, voters, &members, registry, &self.configured)
    }

    /// A raft message `rpc` from `caller` that names `sender` as its leader
    /// or candidate: refused unless the caller is that node and the node is
    /// a current member.
    pub fn raft(&self, caller: CertRole, rpc: &str, sender: Option<NodeId>) -> Result<(), Status> {
        let refuse = |reason: String| {
            tracing::warn!("raft {rpc} refused: {reason}");
            Err(Status::permission_denied(reason))
        };
        let CertRole::Node(node) = caller else {
            return refuse(format!("{caller} may not speak raft; only member nodes do"));
        };
        match sender {
            Some(s) if s == node => {}
            Some(s) => return refuse(format!("node {node}'s certificate cannot send a {rpc} on behalf of node {s}")),
            None => return refuse(format!("a {rpc} that names no leader or candidate")),
        }
        if !self.raft_peers().contains(&node) {
            return refuse(format!("node {node} is not a voter of the current membership"));
        }
        Ok(())
    }

    /// `caller` writes `what` to the log.
    pub fn write(&self, caller: CertRole, what: Write) -> Result<(), Status> {
        may_write(caller, what).map_err(Status::permission_denied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_writes_only_what_it_needs() {
        use Write::*;
        let all = [Submission, SignerReport, Vote, Announcement, CeremonyMessage];
        for w in all {
            assert!(may_write(CertRole::Node(7), w).is_ok());
            assert!(may_write(CertRole::Auditor, w).is_err());
        }
        let gateway: Vec<Write> = all.into_iter().filter(|w| may_write(CertRole::Gateway, *w).is_ok()).collect();
        assert_eq!(gateway, [Submission, CeremonyMessage]);
        let signer: Vec<Write> = all.into_iter().filter(|w| may_write(CertRole::Signer, *w).is_ok()).collect();
        assert_eq!(signer, [SignerReport, Announcement]);
        let why = may_write(CertRole::Signer, Submission).unwrap_err();
        assert_eq!(
            why,
            "the signer may not submit flows, authorizations, transfers or governance actions (its certificate's role does not allow it)"
        );
    }

    #[test]
    fn raft_peers_follow_the_membership_and_the_configuration_only_while_joining() {
        let set = |v: &[NodeId]| v.iter().copied().collect::<BTreeSet<NodeId>>();
        let configured = set(&[1, 2, 3]);
        // A member: voters and registry, not the configuration.
        assert_eq!(raft_peers(2, [1, 2, 4], &set(&[1, 2, 4, 9]), [1, 2, 5], &configured), set(&[1, 2, 4, 5]));
        // A removed node disappears once neither lists it.
        assert_eq!(raft_peers(1, [1, 2], &set(&[1, 2]), [1, 2], &configured), set(&[1, 2]));
        // A learner never speaks raft itself, so learners are not peers.
        assert!(!raft_peers(1, [1, 2], &set(&[1, 2, 9]), [1, 2], &configured).contains(&9));
        // Joining (not yet in the membership it holds): the configuration too.
        assert_eq!(raft_peers(7, [1], &set(&[1]), [1], &configured), set(&[1, 2, 3]));
        assert_eq!(raft_peers(7, [], &set(&[]), [1, 2], &set(&[4])), set(&[1, 2, 4]));
    }
}
