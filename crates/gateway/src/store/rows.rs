//! Rows as the store hands them out: typed (box-core's ids, addresses,
//! amounts, signatures and signed structs; statuses as enums), parsed once
//! when read (see [`super::codec`] for the stored text).

use super::StoreError;
use super::codec::{col, get, get_opt};
use box_api::{CollectionState, RelayOutcome, Role};
use box_core::encoding::Canonical;
use box_core::governance::GovernanceAction;
use box_core::ids::{FlowHash, SubjectId, TransferId};
use box_core::typed::{BoxFlow, TransferRequest};
use box_core::{Address, Amount, B256, Signature};
use sqlx::any::AnyRow;
use std::collections::BTreeSet;

/// A registered person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Their address.
    pub address: Address,
    /// Display name.
    pub name: String,
    /// Registered roles.
    pub roles: BTreeSet<Role>,
    /// The admin who registered them.
    pub registered_by: Address,
    /// When.
    pub registered_at: i64,
}

impl Person {
    pub(crate) fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            address: get(r, "address")?,
            name: col(r, "name")?,
            roles: get(r, "roles")?,
            registered_by: get(r, "registered_by")?,
            registered_at: col(r, "registered_at")?,
        })
    }
}

/// An escrowed keystore.
#[derive(Debug, Clone, PartialEq)]
pub struct Escrow {
    /// The client-encrypted keystore v3 JSON, as uploaded.
    pub keystore: serde_json::Value,
    /// Who uploaded it.
    pub uploaded_by: Address,
    /// When.
    pub uploaded_at: i64,
}

impl Escrow {
    pub(crate) fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        let text: String = col(r, "keystore")?;
        Ok(Self {
            keystore: serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("column keystore: not JSON: {e}")))?,
            uploaded_by: get(r, "uploaded_by")?,
            uploaded_at: col(r, "uploaded_at")?,
        })
    }
}

fn canonical<T: Canonical>(r: &AnyRow, name: &str) -> Result<T, StoreError> {
    let bytes: Vec<u8> = get(r, name)?;
    T::decode(&bytes).map_err(|e| StoreError::Corrupt(format!("column {name}: {e}")))
}

/// A flow draft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRow {
    /// Flow hash.
    pub hash: FlowHash,
    /// Name.
    pub name: String,
    /// The flow (stored canonical).
    pub flow: BoxFlow,
    /// Admin who drafted it.
    pub created_by: Address,
    /// When.
    pub created_at: i64,
    /// When it was queued for the chain.
    pub submitted_at: Option<i64>,
}

impl FlowRow {
    pub(crate) fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            hash: get(r, "hash")?,
            name: col(r, "name")?,
            flow: canonical(r, "body")?,
            created_by: get(r, "created_by")?,
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
    pub id: TransferId,
    /// Flow hash.
    pub flow_hash: FlowHash,
    /// Applicant.
    pub applicant: Address,
    /// Asset (address(0) = ETH).
    pub asset: Address,
    /// Destination.
    pub destination: Address,
    /// Amount in base units.
    pub amount: Amount,
    /// The signed request (stored canonical; the columns above repeat its
    /// fields for filtering).
    pub request: TransferRequest,
    /// Applicant's signature.
    pub applicant_signature: Signature,
    /// The open level (1-based); levels + 1 once complete.
    pub level: i64,
    /// Where it stands at the gateway.
    pub state: CollectionState,
    /// Rejection reason.
    pub reason: Option<String>,
    /// Who rejected.
    pub rejected_by: Option<Address>,
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
            id: get(r, "id")?,
            flow_hash: get(r, "flow_hash")?,
            applicant: get(r, "applicant")?,
            asset: get(r, "asset")?,
            destination: get(r, "destination")?,
            amount: get(r, "amount")?,
            request: canonical(r, "request")?,
            applicant_signature: get(r, "applicant_signature")?,
            level: col(r, "level")?,
            state: get(r, "state")?,
            reason: col(r, "reason")?,
            rejected_by: get_opt(r, "rejected_by")?,
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
    pub transfer_id: TransferId,
    /// Level, 1-based.
    pub level: i64,
    /// Approver.
    pub approver: Address,
    /// Signature.
    pub signature: Signature,
    /// When.
    pub created_at: i64,
}

impl ApprovalRow {
    pub(crate) fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            transfer_id: get(r, "transfer_id")?,
            level: col(r, "level")?,
            approver: get(r, "approver")?,
            signature: get(r, "signature")?,
            created_at: col(r, "created_at")?,
        })
    }
}

/// Filters for listing transfers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransferFilter {
    /// Only this applicant's.
    pub applicant: Option<Address>,
    /// Only this local state.
    pub state: Option<CollectionState>,
    /// Only this flow's.
    pub flow_hash: Option<FlowHash>,
    /// Page size.
    pub limit: i64,
    /// Skip.
    pub offset: i64,
}

/// A governance action being signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GovernanceRow {
    /// Signing hash.
    pub hash: B256,
    /// The action (stored canonical).
    pub action: GovernanceAction,
    /// What it does.
    pub description: String,
    /// Created.
    pub created_at: i64,
    /// When it was queued for the chain.
    pub queued_at: Option<i64>,
}

impl GovernanceRow {
    pub(crate) fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        let bytes: Vec<u8> = get(r, "action")?;
        Ok(Self {
            hash: get(r, "hash")?,
            action: box_api::action::decode_action(&bytes)
                .map_err(|e| StoreError::Corrupt(format!("column action: {e}")))?,
            description: col(r, "description")?,
            created_at: col(r, "created_at")?,
            queued_at: col(r, "queued_at")?,
        })
    }
}

/// What kind of subject an outbox row holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubjectKind {
    /// A flow.
    Flow,
    /// A key holder's enable or disable.
    FlowAuthorization,
    /// A complete TransBox.
    Transfer,
    /// A governance action with its signatures.
    Governance,
    /// The signer's report.
    SignerReport,
}

impl SubjectKind {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Flow => "flow",
            Self::FlowAuthorization => "flow_authorization",
            Self::Transfer => "transfer",
            Self::Governance => "governance",
            Self::SignerReport => "signer_report",
        }
    }
}

impl super::codec::Stored for SubjectKind {
    fn to_sql(&self) -> String {
        self.as_str().to_owned()
    }
    fn from_sql(s: &str) -> Result<Self, String> {
        [Self::Flow, Self::FlowAuthorization, Self::Transfer, Self::Governance, Self::SignerReport]
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not a subject kind"))
    }
}

/// A subject to queue for the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutbox {
    /// Subject id.
    pub subject_id: SubjectId,
    /// Subject kind.
    pub kind: SubjectKind,
    /// Canonical Subject bytes.
    pub subject: Vec<u8>,
}

pub(crate) const OUTBOX_COLUMNS: &str =
    "subject_id, kind, subject, created_at, attempts, last_error, relayed_at, outcome";

/// A queued subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// Subject id.
    pub subject_id: SubjectId,
    /// Kind.
    pub kind: SubjectKind,
    /// Canonical Subject, 0x hex as stored: the relay decodes it (and
    /// refuses a corrupt row by itself, so one bad row blocks no other).
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
    pub outcome: Option<RelayOutcome>,
}

impl OutboxRow {
    pub(crate) fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            subject_id: get(r, "subject_id")?,
            kind: get(r, "kind")?,
            subject: col(r, "subject")?,
            created_at: col(r, "created_at")?,
            attempts: col(r, "attempts")?,
            last_error: col(r, "last_error")?,
            relayed_at: col(r, "relayed_at")?,
            outcome: get_opt(r, "outcome")?,
        })
    }
}

impl From<OutboxRow> for box_api::RelayOut {
    fn from(o: OutboxRow) -> Self {
        Self {
            subject_id: o.subject_id,
            queued_at: o.created_at,
            attempts: o.attempts,
            last_error: o.last_error,
            relayed_at: o.relayed_at,
            outcome: o.outcome,
        }
    }
}
