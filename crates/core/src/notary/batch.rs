//! A companion's votes on several subjects in one log entry
//! ([`Entry::Votes`](super::Entry::Votes)).
//!
//! Each vote inside stays an individually signed `NodeVote`, so quorum
//! certificates stay per subject and verify exactly as before. Applying a
//! batch applies each of its votes in order exactly as a single
//! [`Entry::Vote`](super::Entry::Vote) is applied: a vote that does not count
//! (bad signature, unregistered key, unknown or decided subject, other
//! content, a second vote) is ignored with its reason and the others still
//! count. The batch itself only bounds the count; it does not require one
//! signer or distinct subjects (a repeated vote is ignored as a second vote,
//! as it would be in its own entry).

use crate::encoding::{Body, Canonical, DecodeError, Kind};
use crate::typed::{NodeVote, Signed};
use alloy::sol;
use alloy::sol_types::SolValue;
use serde::{Deserialize, Serialize};

/// Most votes one batch may carry; a longer one is refused when built and
/// when decoded.
pub const MAX_BATCH_VOTES: usize = 256;

sol! {
    /// Wire form: each element is the canonical encoding of a `Signed<NodeVote>`
    /// (version, kind 6, body).
    struct VoteBatchWire { bytes[] votes; }
}

/// A batch's vote count is outside 1..=[`MAX_BATCH_VOTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a vote batch holds 1 to {MAX_BATCH_VOTES} votes; this one has {0}")]
pub struct BatchSize(pub usize);

/// One to [`MAX_BATCH_VOTES`] signed node votes, applied in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Signed<NodeVote>>", into = "Vec<Signed<NodeVote>>")]
pub struct VoteBatch(Vec<Signed<NodeVote>>);

impl VoteBatch {
    /// A batch of `votes`, refused when empty or longer than [`MAX_BATCH_VOTES`].
    pub fn new(votes: Vec<Signed<NodeVote>>) -> Result<Self, BatchSize> {
        if votes.is_empty() || votes.len() > MAX_BATCH_VOTES {
            return Err(BatchSize(votes.len()));
        }
        Ok(Self(votes))
    }

    /// The votes, in the order they are applied.
    pub fn votes(&self) -> &[Signed<NodeVote>] {
        &self.0
    }
}

impl TryFrom<Vec<Signed<NodeVote>>> for VoteBatch {
    type Error = BatchSize;
    fn try_from(votes: Vec<Signed<NodeVote>>) -> Result<Self, BatchSize> {
        Self::new(votes)
    }
}

impl From<VoteBatch> for Vec<Signed<NodeVote>> {
    fn from(b: VoteBatch) -> Self {
        b.0
    }
}

impl Body for VoteBatch {
    const KIND: Kind = Kind::VoteBatch;

    fn encode_body(&self) -> Vec<u8> {
        VoteBatchWire { votes: self.0.iter().map(|v| v.encode().into()).collect() }.abi_encode()
    }

    fn decode_body(body: &[u8]) -> Result<Self, DecodeError> {
        let w = VoteBatchWire::abi_decode_validate(body).map_err(|e| DecodeError::Malformed(e.to_string()))?;
        if w.votes.is_empty() || w.votes.len() > MAX_BATCH_VOTES {
            return Err(DecodeError::Invalid(BatchSize(w.votes.len()).to_string()));
        }
        let votes = w.votes.iter().map(|b| Signed::<NodeVote>::decode(b)).collect::<Result<Vec<_>, _>>()?;
        Ok(Self(votes))
    }
}
