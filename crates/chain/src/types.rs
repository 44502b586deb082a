//! What the replicated log carries.

use box_proto::Outcome;
use openraft::{BasicNode, Entry};
use serde::{Deserialize, Serialize};
use std::io::Cursor;

/// Raft node id.
pub type NodeId = u64;

/// One replicated command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// A notary entry (box-core canonical `Entry` bytes), stamped with the
    /// leader's clock in seconds.
    Notary {
        /// Leader time, seconds since the epoch.
        time: u64,
        /// Canonical `Entry` bytes (hex in JSON: a third of the size of a
        /// number array; bytes in a binary encoding).
        #[serde(with = "hex_or_bytes")]
        entry: Vec<u8>,
    },
    /// The leader asks every replica to close block `height` over the entries
    /// not yet sealed. Each replica builds the same header from its own state.
    Seal {
        /// The height to close.
        height: u64,
        /// Leader time for the header.
        time: u64,
    },
    /// The leader's node-account signature over the header of `height`.
    SignBlock {
        /// The height being signed.
        height: u64,
        /// 65-byte signature.
        #[serde(with = "hex_or_bytes")]
        signature: Vec<u8>,
    },
}

/// A byte string as hex in a human-readable format (JSON: the log store's
/// rows, raft messages to a peer that reads only JSON) and as a byte string
/// in a binary one (postcard raft messages, `crate::network`).
mod hex_or_bytes {
    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};
    use std::fmt;

    pub(super) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() { hex::serde::serialize(v, s) } else { s.serialize_bytes(v) }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct Bytes;
        impl Visitor<'_> for Bytes {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
        }
        if d.is_human_readable() { hex::serde::deserialize(d) } else { d.deserialize_byte_buf(Bytes) }
    }
}

/// What applying a command produced, returned to whoever proposed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// What applying it produced (the same value a client reads from a reply).
    pub outcome: Outcome,
    /// The subject the entry concerned, if any.
    pub subject: Option<[u8; 32]>,
    /// The entry was not applied because the block being built is full
    /// ([`crate::state_machine::BLOCK_ENTRY_BUDGET`]); `outcome` says so. It
    /// changed nothing and is to be proposed again once the block is sealed:
    /// the Notary API answers it as `UNAVAILABLE` (a wait, never a refusal).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deferred: bool,
}

impl Applied {
    /// An outcome that concerns no subject.
    pub fn only(outcome: Outcome) -> Self {
        Self { outcome, subject: None, deferred: false }
    }

    /// An entry left unapplied because the block being built is full.
    pub fn deferred(reason: String) -> Self {
        Self { outcome: Outcome::Ignored(reason), subject: None, deferred: true }
    }

    /// An outcome about `subject`.
    pub fn about(outcome: Outcome, subject: [u8; 32]) -> Self {
        Self { outcome, subject: Some(subject), deferred: false }
    }
}

impl Default for Applied {
    /// Applied, with nothing of its own to report.
    fn default() -> Self {
        Self::only(Outcome::Applied)
    }
}

openraft::declare_raft_types!(
    /// BOX's raft type configuration.
    pub TypeConfig:
        D = Command,
        R = Applied,
        NodeId = NodeId,
        Node = BasicNode,
        Entry = Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);
