//! Rows as stored. Hex and decimal strings; the API layer parses them into
//! box-core types.

use super::{StoreError, col};
use sqlx::any::AnyRow;

/// A registered person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Address, 0x-hex lowercase.
    pub address: String,
    /// Display name.
    pub name: String,
    /// Comma-separated roles.
    pub roles: String,
    /// The admin who registered them.
    pub registered_by: String,
    /// When.
    pub registered_at: i64,
}

impl Person {
    pub(crate) fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            address: col(r, "address")?,
            name: col(r, "name")?,
            roles: col(r, "roles")?,
            registered_by: col(r, "registered_by")?,
            registered_at: col(r, "registered_at")?,
        })
    }
}

/// A flow draft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRow {
    /// Flow hash.
    pub hash: String,
    /// Name.
    pub name: String,
    /// Canonical BoxFlow, hex.
    pub body: String,
    /// Admin who drafted it.
    pub created_by: String,
    /// When.
    pub created_at: i64,
    /// When it was queued for the chain.
    pub submitted_at: Option<i64>,
}

impl FlowRow {
    pub(crate) fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            hash: col(r, "hash")?,
            name: col(r, "name")?,
            body: col(r, "body")?,
            created_by: col(r, "created_by")?,
            created_at: col(r, "created_at")?,
            submitted_at: col(r, "submitted_at")?,
        })
    }
}

pub(crate) const TRANSFER_COLUMNS: &str = "id, flow_hash, applicant, asset, destination, amount, request, \
     applicant_signature, level, state, reason, rejected_by, version, created_at, updated_at";

/// A transfer being collected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRow {
    /// Transfer id.
    pub id: String,
    /// Flow hash.
    pub flow_hash: String,
    /// Applicant.
    pub applicant: String,
    /// Asset (address(0) = ETH).
    pub asset: String,
    /// Destination.
    pub destination: String,
    /// Amount in base units, decimal.
    pub amount: String,
    /// Canonical TransferRequest, hex.
    pub request: String,
    /// Applicant's signature, hex.
    pub applicant_signature: String,
    /// The open level (1-based); levels + 1 once complete.
    pub level: i64,
    /// `collecting`, `submitting` or `rejected`.
    pub state: String,
    /// Rejection reason.
    pub reason: Option<String>,
    /// Who rejected.
    pub rejected_by: Option<String>,
    /// Optimistic-concurrency version.
    pub version: i64,
    /// Created.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
}

impl TransferRow {
    pub(crate) fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: col(r, "id")?,
            flow_hash: col(r, "flow_hash")?,
            applicant: col(r, "applicant")?,
            asset: col(r, "asset")?,
            destination: col(r, "destination")?,
            amount: col(r, "amount")?,
            request: col(r, "request")?,
            applicant_signature: col(r, "applicant_signature")?,
            level: col(r, "level")?,
            state: col(r, "state")?,
            reason: col(r, "reason")?,
            rejected_by: col(r, "rejected_by")?,
            version: col(r, "version")?,
            created_at: col(r, "created_at")?,
            updated_at: col(r, "updated_at")?,
        })
    }
}

/// One approver's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRow {
    /// Transfer id.
    pub transfer_id: String,
    /// Level, 1-based.
    pub level: i64,
    /// Approver address.
    pub approver: String,
    /// Signature, hex.
    pub signature: String,
    /// When.
    pub created_at: i64,
}

impl ApprovalRow {
    pub(crate) fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            transfer_id: col(r, "transfer_id")?,
            level: col(r, "level")?,
            approver: col(r, "approver")?,
            signature: col(r, "signature")?,
            created_at: col(r, "created_at")?,
        })
    }
}

/// Filters for listing transfers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransferFilter {
    /// Only this applicant's.
    pub applicant: Option<String>,
    /// Only this local state.
    pub state: Option<String>,
    /// Only this flow's.
    pub flow_hash: Option<String>,
    /// Page size.
    pub limit: i64,
    /// Skip.
    pub offset: i64,
}

/// A governance action being signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GovernanceRow {
    /// Signing hash.
    pub hash: String,
    /// Canonical action struct, hex.
    pub action: String,
    /// What it does.
    pub description: String,
    /// Created.
    pub created_at: i64,
    /// When it was queued for the chain.
    pub queued_at: Option<i64>,
}

impl GovernanceRow {
    pub(crate) fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            hash: col(r, "hash")?,
            action: col(r, "action")?,
            description: col(r, "description")?,
            created_at: col(r, "created_at")?,
            queued_at: col(r, "queued_at")?,
        })
    }
}

/// A subject to queue for the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutbox {
    /// Subject id, hex.
    pub subject_id: String,
    /// Subject kind.
    pub kind: String,
    /// Canonical Subject, hex.
    pub subject: String,
}

pub(crate) const OUTBOX_COLUMNS: &str =
    "subject_id, kind, subject, created_at, attempts, last_error, relayed_at, outcome";

/// A queued subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// Subject id.
    pub subject_id: String,
    /// Kind.
    pub kind: String,
    /// Canonical Subject, hex.
    pub subject: String,
    /// Queued at.
    pub created_at: i64,
    /// Submission attempts.
    pub attempts: i64,
    /// Last failure.
    pub last_error: Option<String>,
    /// When a node accepted it.
    pub relayed_at: Option<i64>,
    /// The node's answer.
    pub outcome: Option<String>,
}

impl OutboxRow {
    pub(crate) fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            subject_id: col(r, "subject_id")?,
            kind: col(r, "kind")?,
            subject: col(r, "subject")?,
            created_at: col(r, "created_at")?,
            attempts: col(r, "attempts")?,
            last_error: col(r, "last_error")?,
            relayed_at: col(r, "relayed_at")?,
            outcome: col(r, "outcome")?,
        })
    }
}
