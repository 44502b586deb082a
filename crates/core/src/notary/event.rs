//! What applying an entry produced.

use super::subject::{Subject, SubjectKind};
use crate::ids::{ContentHash, FlowHash, SubjectId, TransferId};
use crate::quorum::QuorumCertificate;
use alloy::primitives::{Address, B256};
use serde::{Deserialize, Serialize};

/// Lifecycle of a flow (DESIGN.md §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowStatus {
    /// On the chain, awaiting votes.
    Submitted,
    /// A majority of nodes found it well-formed.
    Notarized,
    /// Every key holder enabled it.
    Authorized,
    /// Anchored on the public chain: transfers may use it.
    Active,
    /// Disabled by a key holder; final.
    Disabled,
    /// A majority of nodes refused it.
    Rejected,
}

/// Lifecycle of a transfer (DESIGN.md §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TransferStatus {
    /// On the chain, awaiting votes.
    Submitted,
    /// Notarized; the signer verifies next.
    Notarized,
    /// Signed and broadcast.
    Broadcast {
        /// Public transaction hash.
        tx_hash: B256,
        /// Nonce used.
        nonce: u64,
    },
    /// Confirmed at the configured depth.
    Confirmed {
        /// Public transaction hash.
        tx_hash: B256,
    },
    /// A majority of nodes refused it.
    Rejected {
        /// The reasons they gave.
        reason: String,
    },
    /// The signer refused it; nothing was signed.
    Refused {
        /// Why.
        reason: String,
    },
    /// Reverted or dropped on the public chain.
    Failed {
        /// Why.
        reason: String,
    },
}

impl TransferStatus {
    /// Whether nothing but a rule-bound exception moves it any more:
    /// confirmed, rejected, refused or failed. (A signer's `Reorged` report
    /// takes a confirmed transfer back to broadcast, and a new transbox
    /// reopens a rejected one.) A final transfer retires from the live state
    /// after `RETAIN_SECONDS` (crate README, "Retirement").
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Confirmed { .. } | Self::Rejected { .. } | Self::Refused { .. } | Self::Failed { .. })
    }
}

impl TransferStatus {
    /// Whether the transfer can still move (or has moved) funds, so that it
    /// counts towards the period limit.
    pub fn counts_towards_limits(&self) -> bool {
        !matches!(self, Self::Rejected { .. } | Self::Refused { .. } | Self::Failed { .. })
    }
}

/// One consequence of an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A new subject awaits votes.
    Submitted {
        /// Id.
        subject: SubjectId,
        /// Kind.
        kind: SubjectKind,
        /// Content hash votes must name.
        content: ContentHash,
    },
    /// The same subject again: nothing changed.
    Duplicate {
        /// Id.
        subject: SubjectId,
    },
    /// The entry was refused and changed nothing.
    Refused {
        /// Why.
        reason: String,
    },
    /// A vote was counted.
    VoteCounted {
        /// Subject.
        subject: SubjectId,
        /// Voter account.
        voter: Address,
        /// Accept or refuse.
        accept: bool,
    },
    /// A vote changed nothing.
    VoteIgnored {
        /// Subject.
        subject: SubjectId,
        /// Why.
        reason: String,
    },
    /// A strict majority accepted the subject.
    Notarized {
        /// Id.
        subject: SubjectId,
        /// The subject, so subscribers need nothing else.
        payload: Box<Subject>,
        /// The votes that decided it.
        certificate: QuorumCertificate,
    },
    /// A strict majority refused the subject.
    Rejected {
        /// Id.
        subject: SubjectId,
        /// Kind.
        kind: SubjectKind,
        /// Each refusing node's reason, "account: reason".
        reasons: Vec<String>,
    },
    /// A flow changed status.
    FlowStatus {
        /// Flow.
        flow: FlowHash,
        /// New status.
        status: FlowStatus,
    },
    /// A transfer changed status.
    TransferStatus {
        /// Transfer.
        transfer: TransferId,
        /// New status.
        status: TransferStatus,
    },
    /// A governance action took effect.
    Governance {
        /// Subject.
        subject: SubjectId,
        /// What it did.
        description: String,
    },
    /// The signer announced its status.
    SignerAnnounced {
        /// Its sequence number.
        sequence: u64,
        /// [`crate::ceremony::SignerState`] as a byte.
        state: u8,
    },
    /// A key-holder device's ceremony message was relayed to the signer.
    CeremonyMessage {
        /// The device key that signed it.
        device: Address,
        /// [`crate::ceremony::Purpose`] as a byte.
        purpose: u8,
    },
    /// The node registry changed; the majority is recomputed.
    RegistryChanged {
        /// The accounts now registered.
        accounts: Vec<Address>,
    },
    /// Proof that a registered node account sealed two different headers at
    /// one height is now on record.
    Equivocation {
        /// The account that sealed both.
        node: Address,
        /// The height of the two headers.
        height: u64,
    },
}
