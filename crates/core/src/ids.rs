//! Newtypes for every identifier, hash and instant BOX handles.
//!
//! Each wraps a 32-byte hash or a primitive so that a flow hash can never be
//! passed where a transfer id is expected. None of them checks anything by
//! itself: a `FlowHash` says what a value *is*, not that the flow is valid.

use alloy::primitives::{B256, keccak256};
use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! hash_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub B256);

        impl $name {
            /// The raw 32 bytes.
            pub const fn as_b256(&self) -> &B256 {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl From<B256> for $name {
            fn from(b: B256) -> Self {
                Self(b)
            }
        }

        impl std::str::FromStr for $name {
            type Err = alloy::hex::FromHexError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse::<B256>().map(Self)
            }
        }
    };
}

hash_newtype!(
    /// Identity of a deployment; the EIP-712 domain salt, so a signature made
    /// for one BOX deployment is worthless in another.
    DeploymentId
);
hash_newtype!(
    /// EIP-712 signing hash of a [`crate::typed::BoxFlow`]: the flow's identity.
    FlowHash
);
hash_newtype!(
    /// Identity of one transfer: the EIP-712 signing hash of its
    /// [`crate::typed::TransferRequest`]. Every TransBox carrying the same request
    /// has the same transfer id, so one request executes at most once whatever
    /// set of approvals accompanies it.
    TransferId
);
hash_newtype!(
    /// Keccak-256 of the canonical encoding of a TransBox (request plus all
    /// signatures): what the nodes vote on.
    TransBoxHash
);
hash_newtype!(
    /// What the notary decides on: one flow, one authorization, one transfer,
    /// one governance action or one signer report.
    SubjectId
);
hash_newtype!(
    /// Keccak-256 of the canonical encoding of a subject's payload; votes name it
    /// so that a vote for other content counts for nothing.
    ContentHash
);
hash_newtype!(
    /// The notary state's root: the state commitment over its rows (crate
    /// README, "State commitment").
    StateHash
);
hash_newtype!(
    /// The caller's unique id for a transfer request (chosen by the applicant).
    RequestId
);

impl ContentHash {
    /// Hash of arbitrary canonical bytes.
    pub fn of(bytes: &[u8]) -> Self {
        Self(keccak256(bytes))
    }
}

/// An EIP-155 chain id of the public chain.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChainId(pub u64);

impl fmt::Display for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Seconds since the Unix epoch. Core never reads a clock: every instant is an
/// argument (for the notary, the time the leader stamped on the log entry).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// `self - seconds`, saturating at the epoch.
    pub fn saturating_sub(self, seconds: u64) -> Self {
        Self(self.0.saturating_sub(seconds))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
