//! The nodes' replies as values: what applying an entry produced
//! ([`Outcome`]), what a submission did ([`SubmitOutcome`]) and where a
//! subject stands ([`SubjectView`]). Read once, where the bytes come in;
//! nothing downstream matches text.
//!
//! `Display` gives the words the nodes used to send (`submitted`,
//! `duplicate`, `refused: <reason>`), for logs and for the records that
//! keep them (the gateway's outbox).

use crate::pb;
use box_core::B256;
use box_core::ids::SubjectId;
use box_core::notary::SubjectKind;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A reply a node should not have sent: a value the protocol does not
/// define. A client treats the node as failed and asks another.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed reply: {0}")]
pub struct Malformed(pub String);

/// What applying one entry to the log produced, on the node that applied it.
///
/// It says what the log did with the entry, not what the chain decided about
/// a subject: a submitted subject is notarized or rejected later, by votes
/// (see [`SubjectView`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// In the log; nothing of its own to report.
    Applied,
    /// A new subject was recorded.
    Submitted,
    /// The subject was known already; nothing changed.
    Duplicate,
    /// The notary refused the entry, for this reason.
    Refused(String),
    /// A companion's vote was counted.
    Vote,
    /// The entry changed nothing, for this reason (e.g. a late vote).
    Ignored(String),
    /// A signer announcement or ceremony message was recorded for the signer.
    Relayed,
    /// Equivocation evidence was recorded.
    Recorded,
    /// A block was closed (a leader command).
    Sealed,
    /// A block was signed and stored (a leader command).
    Signed,
}

impl Outcome {
    /// The wire form: the enum and the reason (empty unless refused or ignored).
    pub fn to_wire(&self) -> (pb::Outcome, String) {
        match self {
            Self::Applied => (pb::Outcome::Applied, String::new()),
            Self::Submitted => (pb::Outcome::Submitted, String::new()),
            Self::Duplicate => (pb::Outcome::Duplicate, String::new()),
            Self::Refused(r) => (pb::Outcome::Refused, r.clone()),
            Self::Vote => (pb::Outcome::Vote, String::new()),
            Self::Ignored(r) => (pb::Outcome::Ignored, r.clone()),
            Self::Relayed => (pb::Outcome::Relayed, String::new()),
            Self::Recorded => (pb::Outcome::Recorded, String::new()),
            Self::Sealed => (pb::Outcome::Sealed, String::new()),
            Self::Signed => (pb::Outcome::Signed, String::new()),
        }
    }

    /// Reads the wire form. Refuses an unknown or unspecified value.
    pub fn from_wire(outcome: i32, reason: String) -> Result<Self, Malformed> {
        let code = pb::Outcome::try_from(outcome).map_err(|_| Malformed(format!("unknown outcome {outcome}")))?;
        Ok(match code {
            pb::Outcome::Unspecified => return Err(Malformed("the outcome is unspecified".into())),
            pb::Outcome::Applied => Self::Applied,
            pb::Outcome::Submitted => Self::Submitted,
            pb::Outcome::Duplicate => Self::Duplicate,
            pb::Outcome::Refused => Self::Refused(reason),
            pb::Outcome::Vote => Self::Vote,
            pb::Outcome::Ignored => Self::Ignored(reason),
            pb::Outcome::Relayed => Self::Relayed,
            pb::Outcome::Recorded => Self::Recorded,
            pb::Outcome::Sealed => Self::Sealed,
            pb::Outcome::Signed => Self::Signed,
        })
    }

    /// The reason, for a refused or ignored entry.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Refused(r) | Self::Ignored(r) => Some(r),
            _ => None,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Applied => f.write_str("applied"),
            Self::Submitted => f.write_str("submitted"),
            Self::Duplicate => f.write_str("duplicate"),
            Self::Refused(r) => write!(f, "refused: {r}"),
            Self::Vote => f.write_str("vote"),
            Self::Ignored(r) => write!(f, "ignored: {r}"),
            Self::Relayed => f.write_str("relayed"),
            Self::Recorded => f.write_str("recorded"),
            Self::Sealed => f.write_str("sealed"),
            Self::Signed => f.write_str("signed"),
        }
    }
}

/// What a submission did. A refused subject is an error, not an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubmitOutcome {
    /// A new subject was recorded.
    Submitted,
    /// The subject was known already; nothing changed (submission is idempotent).
    Duplicate,
}

impl fmt::Display for SubmitOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Submitted => "submitted",
            Self::Duplicate => "duplicate",
        })
    }
}

/// A node's answer to `Submit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitReply {
    /// The subject's id, as the node computed it.
    pub subject_id: SubjectId,
    /// New or already known.
    pub outcome: SubmitOutcome,
    /// The node that appended it to the log (the leader then): the node
    /// that answered, or the leader it relayed to. `None` if the node did
    /// not say. One node's word: a hint of whom to ask first, nothing more.
    pub leader: Option<u64>,
}

impl SubmitReply {
    /// The wire form.
    pub fn to_wire(&self) -> pb::SubmitResponse {
        let outcome = match self.outcome {
            SubmitOutcome::Submitted => pb::Outcome::Submitted,
            SubmitOutcome::Duplicate => pb::Outcome::Duplicate,
        };
        pb::SubmitResponse {
            subject_id: self.subject_id.0.to_vec(),
            outcome: outcome as i32,
            leader: self.leader.unwrap_or(0),
        }
    }

    /// Reads the wire form: a 32-byte id and `SUBMITTED` or `DUPLICATE`.
    pub fn from_wire(r: pb::SubmitResponse) -> Result<Self, Malformed> {
        let outcome = match Outcome::from_wire(r.outcome, String::new())? {
            Outcome::Submitted => SubmitOutcome::Submitted,
            Outcome::Duplicate => SubmitOutcome::Duplicate,
            other => return Err(Malformed(format!("a submission cannot be \"{other}\""))),
        };
        let id: [u8; 32] = r
            .subject_id
            .as_slice()
            .try_into()
            .map_err(|_| Malformed(format!("a subject id is 32 bytes, got {}", r.subject_id.len())))?;
        Ok(Self { subject_id: SubjectId(B256::from(id)), outcome, leader: Some(r.leader).filter(|l| *l != 0) })
    }
}

/// A node's answer to `Propose`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposeReply {
    /// The entry's log index.
    pub index: u64,
    /// What applying it produced.
    pub outcome: Outcome,
    /// As [`SubmitReply::leader`]: the node that appended it, if said.
    pub leader: Option<u64>,
}

impl ProposeReply {
    /// The wire form.
    pub fn to_wire(&self) -> pb::ProposeResponse {
        let (outcome, reason) = self.outcome.to_wire();
        pb::ProposeResponse { index: self.index, outcome: outcome as i32, reason, leader: self.leader.unwrap_or(0) }
    }

    /// Reads the wire form.
    pub fn from_wire(r: pb::ProposeResponse) -> Result<Self, Malformed> {
        Ok(Self {
            index: r.index,
            outcome: Outcome::from_wire(r.outcome, r.reason)?,
            leader: Some(r.leader).filter(|l| *l != 0),
        })
    }
}

/// Where a subject stands on the node that answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubjectStatus {
    /// The node has no record of it.
    Unknown,
    /// Recorded; votes are being collected.
    Pending,
    /// A majority of node accounts voted for it.
    Notarized,
    /// A majority refused it.
    Rejected,
}

impl fmt::Display for SubjectStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unknown => "unknown",
            Self::Pending => "pending",
            Self::Notarized => "notarized",
            Self::Rejected => "rejected",
        })
    }
}

/// A node's answer to `GetSubject`. What one node says: it proves nothing
/// by itself (the certificate does, checked against the node registry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectView {
    /// Where it stands.
    pub status: SubjectStatus,
    /// What it is; `None` when unknown.
    pub kind: Option<SubjectKind>,
    /// The canonical `QuorumCertificate` when notarized; empty otherwise. Not checked here.
    pub certificate: Vec<u8>,
    /// The refusing nodes' reasons when rejected.
    pub reasons: Vec<String>,
    /// Height of the block that holds the decision; 0 until sealed.
    pub height: u64,
}

fn kind_to_wire(k: SubjectKind) -> pb::SubjectKind {
    match k {
        SubjectKind::Flow => pb::SubjectKind::Flow,
        SubjectKind::FlowAuthorization => pb::SubjectKind::FlowAuthorization,
        SubjectKind::Transfer => pb::SubjectKind::Transfer,
        SubjectKind::Governance => pb::SubjectKind::Governance,
        SubjectKind::SignerReport => pb::SubjectKind::SignerReport,
    }
}

impl SubjectView {
    /// What a node answers for a subject it has no record of.
    pub fn unknown() -> Self {
        Self { status: SubjectStatus::Unknown, kind: None, certificate: Vec::new(), reasons: Vec::new(), height: 0 }
    }

    /// The wire form.
    pub fn to_wire(&self) -> pb::SubjectInfo {
        let status = match self.status {
            SubjectStatus::Unknown => pb::SubjectStatus::Unknown,
            SubjectStatus::Pending => pb::SubjectStatus::Pending,
            SubjectStatus::Notarized => pb::SubjectStatus::Notarized,
            SubjectStatus::Rejected => pb::SubjectStatus::Rejected,
        };
        pb::SubjectInfo {
            status: status as i32,
            kind: self.kind.map_or(pb::SubjectKind::Unspecified, kind_to_wire) as i32,
            certificate: self.certificate.clone(),
            reasons: self.reasons.clone(),
            height: self.height,
        }
    }

    /// Reads the wire form. Refuses unknown values, and a known subject without a kind.
    pub fn from_wire(r: pb::SubjectInfo) -> Result<Self, Malformed> {
        let status = match pb::SubjectStatus::try_from(r.status) {
            Ok(pb::SubjectStatus::Unknown) => SubjectStatus::Unknown,
            Ok(pb::SubjectStatus::Pending) => SubjectStatus::Pending,
            Ok(pb::SubjectStatus::Notarized) => SubjectStatus::Notarized,
            Ok(pb::SubjectStatus::Rejected) => SubjectStatus::Rejected,
            Err(_) => return Err(Malformed(format!("unknown subject status {}", r.status))),
        };
        let kind = match pb::SubjectKind::try_from(r.kind) {
            Ok(pb::SubjectKind::Unspecified) => None,
            Ok(pb::SubjectKind::Flow) => Some(SubjectKind::Flow),
            Ok(pb::SubjectKind::FlowAuthorization) => Some(SubjectKind::FlowAuthorization),
            Ok(pb::SubjectKind::Transfer) => Some(SubjectKind::Transfer),
            Ok(pb::SubjectKind::Governance) => Some(SubjectKind::Governance),
            Ok(pb::SubjectKind::SignerReport) => Some(SubjectKind::SignerReport),
            Err(_) => return Err(Malformed(format!("unknown subject kind {}", r.kind))),
        };
        if kind.is_none() && status != SubjectStatus::Unknown {
            return Err(Malformed(format!("a {status} subject without a kind")));
        }
        Ok(Self { status, kind, certificate: r.certificate, reasons: r.reasons, height: r.height })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_round_trip_and_read_as_the_old_words() {
        let all = [
            Outcome::Applied,
            Outcome::Submitted,
            Outcome::Duplicate,
            Outcome::Refused("over the limit".into()),
            Outcome::Vote,
            Outcome::Ignored("late".into()),
            Outcome::Relayed,
            Outcome::Recorded,
            Outcome::Sealed,
            Outcome::Signed,
        ];
        for o in all {
            let (code, reason) = o.to_wire();
            assert_eq!(Outcome::from_wire(code as i32, reason).unwrap(), o);
        }
        assert_eq!(Outcome::Refused("over the limit".into()).to_string(), "refused: over the limit");
        assert_eq!(Outcome::Relayed.to_string(), "relayed");
        assert!(Outcome::from_wire(0, String::new()).is_err(), "unspecified is malformed");
        assert!(Outcome::from_wire(99, String::new()).is_err(), "unknown is malformed");
    }

    #[test]
    fn a_submission_is_new_or_duplicate_with_a_32_byte_id() {
        let r = SubmitReply {
            subject_id: SubjectId(B256::repeat_byte(7)),
            outcome: SubmitOutcome::Duplicate,
            leader: Some(2),
        };
        assert_eq!(SubmitReply::from_wire(r.to_wire()).unwrap(), r);
        let relayed = pb::SubmitResponse { subject_id: vec![7; 32], outcome: pb::Outcome::Relayed as i32, leader: 0 };
        assert!(SubmitReply::from_wire(relayed).is_err());
        let short = pb::SubmitResponse { subject_id: vec![7; 31], outcome: pb::Outcome::Submitted as i32, leader: 0 };
        assert!(SubmitReply::from_wire(short).is_err());
        // An older node says nothing of the leader: no hint, not a node 0.
        let unsaid = pb::SubmitResponse { subject_id: vec![7; 32], outcome: pb::Outcome::Submitted as i32, leader: 0 };
        assert_eq!(SubmitReply::from_wire(unsaid).unwrap().leader, None);
        let p = ProposeReply { index: 9, outcome: Outcome::Vote, leader: Some(3) };
        assert_eq!(ProposeReply::from_wire(p.to_wire()).unwrap(), p);
        let unsaid = ProposeReply { leader: None, ..p };
        assert_eq!(ProposeReply::from_wire(unsaid.to_wire()).unwrap(), unsaid);
    }

    #[test]
    fn subject_views_round_trip() {
        let v = SubjectView {
            status: SubjectStatus::Rejected,
            kind: Some(SubjectKind::Transfer),
            certificate: vec![],
            reasons: vec!["no".into()],
            height: 4,
        };
        assert_eq!(SubjectView::from_wire(v.to_wire()).unwrap(), v);
        assert_eq!(SubjectView::from_wire(SubjectView::unknown().to_wire()).unwrap(), SubjectView::unknown());
        let kindless = pb::SubjectInfo { status: pb::SubjectStatus::Pending as i32, ..Default::default() };
        assert!(SubjectView::from_wire(kindless).is_err());
    }
}
