//! What the notary decides on (subjects) and what its log holds (entries).

use super::batch::VoteBatch;
use crate::Refusal;
use crate::ceremony::Ceremony;
use crate::encoding::{Canonical, DecodeError, Kind, header};
use crate::evidence::Equivocation;
use crate::governance::SignedAction;
use crate::ids::{ContentHash, FlowHash, SubjectId, TransferId};
use crate::transbox::TransBox;
use crate::typed::{BoxFlow, Domain, FlowAuthorization, NodeVote, ReportStatus, Signed, SignerReport};
use alloy::primitives::keccak256;
use serde::{Deserialize, Serialize};

/// The kinds of subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    /// A flow submission.
    Flow,
    /// One key holder's enable/disable of a flow.
    FlowAuthorization,
    /// A transfer (transbox).
    Transfer,
    /// A governance action.
    Governance,
    /// A signer report.
    SignerReport,
}

impl SubjectKind {
    fn tag(self) -> &'static [u8] {
        match self {
            Self::Flow => b"BOX/subject/flow",
            Self::FlowAuthorization => b"BOX/subject/flow-authorization",
            Self::Transfer => b"BOX/subject/transfer",
            Self::Governance => b"BOX/subject/governance",
            Self::SignerReport => b"BOX/subject/signer-report",
        }
    }
}

/// A submitted subject with its payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload", rename_all = "snake_case", deny_unknown_fields)]
pub enum Subject {
    /// A flow.
    Flow(BoxFlow),
    /// A key holder's authorization.
    FlowAuthorization(Signed<FlowAuthorization>),
    /// A transfer.
    Transfer(TransBox),
    /// A governance action.
    Governance(SignedAction),
    /// A signer report.
    SignerReport(Signed<SignerReport>),
}

impl Subject {
    /// Its kind.
    pub fn kind(&self) -> SubjectKind {
        match self {
            Self::Flow(_) => SubjectKind::Flow,
            Self::FlowAuthorization(_) => SubjectKind::FlowAuthorization,
            Self::Transfer(_) => SubjectKind::Transfer,
            Self::Governance(_) => SubjectKind::Governance,
            Self::SignerReport(_) => SubjectKind::SignerReport,
        }
    }

    /// Its identity. Two submissions with the same id are the same subject:
    /// a flow by its hash, an authorization by (what, who), a transfer by its
    /// transbox hash, an action or report by its signing hash. Fails only when
    /// an authorization's signature does not recover.
    ///
    /// A transfer's subject is the whole transbox, not its transfer id: a
    /// transbox the nodes refuse (say, the real request without its approvals,
    /// sent first by someone else) must not take the id a valid transbox for
    /// the same request needs. The notary keeps the transfer itself, by
    /// transfer id, and notarizes at most one transbox per transfer id.
    pub fn id(&self, domain: &Domain) -> Result<SubjectId, Refusal> {
        let key: Vec<u8> = match self {
            Self::Flow(f) => return Ok(Self::flow_id(&domain.flow_hash(f))),
            Self::FlowAuthorization(a) => {
                let who = a
                    .signer(domain)
                    .map_err(|err| Refusal::BadSignature { who: "the flow authorization".into(), err })?;
                [domain.signing_hash(&a.value).as_slice(), who.as_slice()].concat()
            }
            Self::Transfer(t) => t.hash().0.to_vec(),
            Self::Governance(g) => g.action.signing_hash(domain).to_vec(),
            Self::SignerReport(r) => domain.signing_hash(&r.value).to_vec(),
        };
        Ok(SubjectId(keccak256([self.kind().tag(), key.as_slice()].concat())))
    }

    /// The id of the flow subject whose flow hashes to `flow` (what
    /// [`Subject::id`] gives a flow, without hashing the flow again).
    pub(crate) fn flow_id(flow: &FlowHash) -> SubjectId {
        SubjectId(keccak256([SubjectKind::Flow.tag(), flow.0.as_slice()].concat()))
    }

    /// The hash of its canonical encoding, which votes name.
    pub fn content(&self) -> ContentHash {
        self.content_hash()
    }

    /// The transfer whose row this subject changes once notarized: a
    /// transbox's, or a signer report's about a transfer (not an anchoring
    /// report, which is about a flow). `None` for every other subject.
    pub fn transfer(&self, domain: &Domain) -> Option<TransferId> {
        match self {
            Self::Transfer(t) => Some(t.transfer_id(domain)),
            Self::SignerReport(r) if r.value.status != ReportStatus::Anchored as u8 => {
                Some(TransferId(r.value.subject))
            }
            _ => None,
        }
    }
}

impl Canonical for Subject {
    fn encode(&self) -> Vec<u8> {
        match self {
            Self::Flow(v) => v.encode(),
            Self::FlowAuthorization(v) => v.encode(),
            Self::Transfer(v) => v.encode(),
            Self::Governance(v) => v.encode(),
            Self::SignerReport(v) => v.encode(),
        }
    }

    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (kind, _) = header(bytes)?;
        Ok(match kind {
            Kind::Flow => Self::Flow(Canonical::decode(bytes)?),
            Kind::FlowAuthorization => Self::FlowAuthorization(Canonical::decode(bytes)?),
            Kind::TransBox => Self::Transfer(Canonical::decode(bytes)?),
            Kind::Governance => Self::Governance(Canonical::decode(bytes)?),
            Kind::SignerReport => Self::SignerReport(Canonical::decode(bytes)?),
            other => return Err(DecodeError::Invalid(format!("a {other:?} is not a subject"))),
        })
    }
}

/// One entry of the notary log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "entry", content = "body", rename_all = "snake_case", deny_unknown_fields)]
pub enum Entry {
    /// Submit a subject for notarization.
    Submit(Subject),
    /// A node companion's vote.
    Vote(Signed<NodeVote>),
    /// A node companion's votes on several subjects, each applied as a
    /// [`Entry::Vote`] (see [`VoteBatch`]).
    Votes(VoteBatch),
    /// A key-ceremony message, relayed to the signer (never voted on).
    Ceremony(Ceremony),
    /// Proof that a node account sealed two different headers at one height
    /// (never voted on: it verifies by itself).
    Evidence(Equivocation),
}

impl Canonical for Entry {
    fn encode(&self) -> Vec<u8> {
        match self {
            Self::Submit(s) => s.encode(),
            Self::Vote(v) => v.encode(),
            Self::Votes(b) => b.encode(),
            Self::Ceremony(c) => c.encode(),
            Self::Evidence(e) => e.encode(),
        }
    }

    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (kind, _) = header(bytes)?;
        if kind == Kind::NodeVote {
            Ok(Self::Vote(Canonical::decode(bytes)?))
        } else if kind == Kind::VoteBatch {
            Ok(Self::Votes(Canonical::decode(bytes)?))
        } else if matches!(kind, Kind::SignerAnnounce | Kind::CeremonyMessage) {
            Ok(Self::Ceremony(Canonical::decode(bytes)?))
        } else if kind == Kind::Equivocation {
            Ok(Self::Evidence(Canonical::decode(bytes)?))
        } else {
            Ok(Self::Submit(Subject::decode(bytes)?))
        }
    }
}
