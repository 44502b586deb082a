//! Why something was refused, in words an operator can act on.

use crate::crypto::SignatureError;
use alloy::primitives::Address;

/// A verification refusal. Each variant names one rule; its message says
/// which rule failed and with what values, so it can be shown to a person as is.
///
/// Grouped by what the caller should do: `Malformed*` means the submitter must
/// fix the object; `Unauthorized*`/signature variants mean the wrong person
/// signed; `Policy*` means the object is fine but the rules of the deployment
/// (limits, freezes, pauses) forbid it now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A flow breaks a well-formedness rule.
    #[error("flow is malformed: {0}")]
    MalformedFlow(String),
    /// A transfer request or transbox breaks a structural rule.
    #[error("transfer is malformed: {0}")]
    MalformedTransfer(String),
    /// A signature does not verify.
    #[error("{who}'s signature is invalid: {err}")]
    BadSignature {
        /// Whose signature (role and position).
        who: String,
        /// What was wrong with it.
        err: SignatureError,
    },
    /// The applicant signature recovers to someone else.
    #[error("the request names applicant {named} but was signed by {signer}")]
    ApplicantMismatch {
        /// The applicant in the request.
        named: Address,
        /// Who actually signed.
        signer: Address,
    },
    /// The applicant may not apply under this flow.
    #[error("applicant {0} is not in the flow's employee group")]
    NotAnEmployee(Address),
    /// Someone signed a level they are not an approver of.
    #[error("{signer} signed level {level} ({name}) but is not one of its approvers")]
    NotAnApprover {
        /// The signer.
        signer: Address,
        /// 1-based level.
        level: usize,
        /// Level name.
        name: String,
    },
    /// The same person twice.
    #[error("{signer} approved more than once (level {level} ({name})); each person counts once")]
    DuplicateApprover {
        /// The signer.
        signer: Address,
        /// 1-based level.
        level: usize,
        /// Level name.
        name: String,
    },
    /// Approvals in a level are not in ascending signer order.
    #[error("approvals of level {level} are not ordered by approver address (ascending)")]
    UnorderedApprovals {
        /// 1-based level.
        level: usize,
    },
    /// The applicant tried to approve.
    #[error("{0} approved their own request; nobody approves their own request")]
    SelfApproval(Address),
    /// Too few approvals at a level.
    #[error("level {level} ({name}) has {have} of {need} required approvals")]
    BelowThreshold {
        /// 1-based level.
        level: usize,
        /// Level name.
        name: String,
        /// Valid distinct approvals present.
        have: usize,
        /// Threshold.
        need: u32,
    },
    /// The transbox has a different number of levels than the flow.
    #[error("the transfer carries approvals for {have} levels but the flow has {need}")]
    LevelCount {
        /// Levels in the transbox.
        have: usize,
        /// Levels in the flow.
        need: usize,
    },
    /// The request was made for another flow.
    #[error("the request is for flow {request} but was checked against flow {flow}")]
    WrongFlow {
        /// Flow named in the request.
        request: String,
        /// Flow checked against.
        flow: String,
    },
    /// Wrong public chain.
    #[error("the request is for chain id {request} but this deployment runs on chain id {expected}")]
    WrongChain {
        /// Chain in the request.
        request: u64,
        /// Expected chain.
        expected: u64,
    },
    /// The asset is not registered.
    #[error("asset {0} is not registered")]
    UnknownAsset(Address),
    /// The flow has no limit for this asset.
    #[error("the flow sets no limit for asset {0}, so it may not move it")]
    NoLimitForAsset(Address),
    /// Over the per-transfer limit.
    #[error("amount {amount} exceeds the per-transfer limit of {limit} (base units)")]
    OverPerTransferLimit {
        /// Requested base units.
        amount: String,
        /// Limit in base units.
        limit: String,
    },
    /// Over the rolling-period limit.
    #[error(
        "amount {amount} plus {used} already moved in the last {period_seconds}s exceeds the period limit of {limit} (base units)"
    )]
    OverPeriodLimit {
        /// Requested base units.
        amount: String,
        /// Already moved within the window.
        used: String,
        /// Limit in base units.
        limit: String,
        /// Window length.
        period_seconds: u64,
    },
    /// The request's timestamp is in the future.
    #[error("the request is dated {request}s, more than {skew}s after now ({now}s)")]
    FutureRequest {
        /// Request time.
        request: u64,
        /// Now.
        now: u64,
        /// Allowed skew.
        skew: u64,
    },
    /// The applicant is frozen.
    #[error("applicant {0} is frozen by governance")]
    FrozenEmployee(Address),
    /// The destination is blocked.
    #[error("destination {0} is blocked by governance")]
    BlockedDestination(Address),
    /// Transfers are paused.
    #[error("transfers are paused: {0}")]
    Paused(String),
    /// The flow is not active.
    #[error("flow {flow} is not active (it is {status})")]
    FlowNotActive {
        /// Flow hash.
        flow: String,
        /// Its status.
        status: String,
    },
    /// Unknown flow.
    #[error("flow {0} is unknown to the notary")]
    UnknownFlow(String),
    /// The transfer id was executed or submitted before.
    #[error("transfer {0} was already submitted; a transfer executes at most once")]
    Replay(String),
    /// A certificate or vote problem.
    #[error("quorum certificate refused: {0}")]
    Certificate(String),
    /// Someone signed who may not.
    #[error("not authorized: {0}")]
    Unauthorized(String),
    /// A governance action breaks a rule.
    #[error("governance action refused: {0}")]
    Governance(String),
}
