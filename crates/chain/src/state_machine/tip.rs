//! A snapshot's bytes: the state at the chain tip, and what raft applied
//! after it, in a binary form bounded by the live state, not the history.
//!
//! The layout (all integers big-endian; "sized" is a `u64` length then the
//! bytes):
//!
//! 1. [`MAGIC`] (`BOXRAFTS` and version 1);
//! 2. sized JSON `{"lastApplied", "membership"}`: raft's log position and
//!    membership (openraft's own types);
//! 3. `last_time` (`u64`): the latest entry time applied;
//! 4. sized box-core follower checkpoint ([`box_core::checkpoint::encode`]) of
//!    the state after the tip block: height, state root, parent, next log
//!    index, the tip's sealed header, the notary state's rows;
//! 5. the pending block (sealed, awaiting its signature): a flag byte, then
//!    its header's seven fields (`height`, `parent`, `entriesRoot`,
//!    `stateHash`, `time`, `firstIndex`, `entryCount`) and its entries;
//! 6. the unsealed entries.
//!
//! Entries are a `u64` count, then each as its log index, its time and its
//! sized canonical bytes. What the pending and unsealed entries notarized,
//! decided and proved is not in the bytes: the node that installs them
//! recomputes it by replaying them on the tip's state
//! ([`super::verify::verify_tip`]).

use crate::types::NodeId;
use box_core::B256;
use box_core::block::{BlockHeader, LoggedEntry};
use box_core::encoding::Canonical;
use box_core::notary::Entry;
use openraft::{BasicNode, LogId, StoredMembership};
use serde::{Deserialize, Serialize};

/// The first bytes of a binary snapshot (magic and version 1). A snapshot
/// without them is an earlier version's JSON.
pub const MAGIC: &[u8; 9] = b"BOXRAFTS\x01";

/// Raft's part of a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RaftPart {
    /// The last log id applied.
    pub last_applied: Option<LogId<NodeId>>,
    /// The last membership applied.
    pub membership: StoredMembership<NodeId, BasicNode>,
}

/// A binary snapshot's parts, as read: nothing in it is checked by
/// [`TipSnapshot::decode`] (installing checks it, `super::verify`).
#[derive(Debug, Clone, PartialEq)]
pub struct TipSnapshot {
    /// Raft's log position and membership.
    pub raft: RaftPart,
    /// The latest entry time applied.
    pub last_time: u64,
    /// box-core's follower checkpoint of the state after the tip block.
    pub checkpoint: Vec<u8>,
    /// The sealed block awaiting its signature: its header and entries.
    pub pending: Option<(BlockHeader, Vec<LoggedEntry>)>,
    /// The entries applied after it (or after the tip), not yet sealed.
    pub unsealed: Vec<LoggedEntry>,
}

fn put_sized(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn put_entries(out: &mut Vec<u8>, entries: &[LoggedEntry]) {
    out.extend_from_slice(&(entries.len() as u64).to_be_bytes());
    for e in entries {
        out.extend_from_slice(&e.index.to_be_bytes());
        out.extend_from_slice(&e.time.to_be_bytes());
        put_sized(out, &e.entry.encode());
    }
}

impl TipSnapshot {
    /// The bytes (see the module docs).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        // Serialising openraft's plain data types into a Vec cannot fail.
        put_sized(&mut out, &serde_json::to_vec(&self.raft).unwrap_or_default());
        out.extend_from_slice(&self.last_time.to_be_bytes());
        put_sized(&mut out, &self.checkpoint);
        match &self.pending {
            None => out.push(0),
            Some((h, entries)) => {
                out.push(1);
                out.extend_from_slice(&h.height.to_be_bytes());
                for b in [h.parent, h.entriesRoot, h.stateHash] {
                    out.extend_from_slice(b.as_slice());
                }
                for n in [h.time, h.firstIndex, h.entryCount] {
                    out.extend_from_slice(&n.to_be_bytes());
                }
                put_entries(&mut out, entries);
            }
        }
        put_entries(&mut out, &self.unsealed);
        out
    }

    /// Reads bytes written by [`TipSnapshot::encode`]; the error names the
    /// part that does not read.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut r = Reader(bytes);
        if r.take(MAGIC.len(), "its magic")? != MAGIC {
            return Err("it does not start with the snapshot magic and version 1".into());
        }
        let raft = serde_json::from_slice(r.sized("its raft metadata")?)
            .map_err(|e| format!("its raft metadata does not parse ({e})"))?;
        let last_time = r.u64("its latest entry time")?;
        let checkpoint = r.sized("its tip state")?.to_vec();
        let pending = match r.take(1, "its pending block")?[0] {
            0 => None,
            1 => {
                let height = r.u64("its pending header")?;
                let (parent, entries_root, state_hash) =
                    (r.b256("its pending header")?, r.b256("its pending header")?, r.b256("its pending header")?);
                let (time, first, count) =
                    (r.u64("its pending header")?, r.u64("its pending header")?, r.u64("its pending header")?);
                let header = BlockHeader {
                    height,
                    parent,
                    entriesRoot: entries_root,
                    stateHash: state_hash,
                    time,
                    firstIndex: first,
                    entryCount: count,
                };
                Some((header, r.entries("its pending entries")?))
            }
            f => return Err(format!("its pending block has the unknown flag {f}")),
        };
        let unsealed = r.entries("its unsealed entries")?;
        r.end("its unsealed entries")?;
        Ok(Self { raft, last_time, checkpoint, pending, unsealed })
    }
}

/// Reads a snapshot's parts (and the store's binary rows, `super::rows`)
/// front to back; every error names the part that does not read.
pub(super) struct Reader<'a>(pub(super) &'a [u8]);

impl<'a> Reader<'a> {
    pub(super) fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err(format!("it ends inside {what}"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    pub(super) fn u64(&mut self, what: &str) -> Result<u64, String> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    pub(super) fn b256(&mut self, what: &str) -> Result<B256, String> {
        Ok(B256::from_slice(self.take(32, what)?))
    }

    pub(super) fn sized(&mut self, what: &str) -> Result<&'a [u8], String> {
        let n = self.u64(what)?;
        let n = usize::try_from(n).map_err(|_| format!("{what} claims {n} bytes"))?;
        self.take(n, what)
    }

    /// Nothing may follow `what`, the last part.
    pub(super) fn end(&self, what: &str) -> Result<(), String> {
        if self.0.is_empty() { Ok(()) } else { Err(format!("{} bytes follow {what}", self.0.len())) }
    }

    fn entries(&mut self, what: &str) -> Result<Vec<LoggedEntry>, String> {
        let n = self.u64(what)?;
        // Each entry takes at least 24 bytes: a count beyond what is left is a lie.
        if n > (self.0.len() / 24) as u64 {
            return Err(format!("{what} claims {n} entries, more than its bytes hold"));
        }
        let mut out = Vec::with_capacity(n as usize);
        for k in 0..n {
            let index = self.u64(what)?;
            let time = self.u64(what)?;
            let entry =
                Entry::decode(self.sized(what)?).map_err(|e| format!("{what}: entry {k} does not decode ({e})"))?;
            out.push(LoggedEntry { index, time, entry });
        }
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_reads_back_as_written_and_a_truncated_one_does_not() {
        let entry = |index| LoggedEntry { index, time: 7, entry: Entry::Submit(box_testkit::sample_flow(index)) };
        let header = BlockHeader {
            height: 3,
            parent: B256::repeat_byte(1),
            entriesRoot: B256::repeat_byte(2),
            stateHash: B256::repeat_byte(3),
            time: 9,
            firstIndex: 4,
            entryCount: 1,
        };
        let snap = TipSnapshot {
            raft: RaftPart { last_applied: None, membership: StoredMembership::default() },
            last_time: 11,
            checkpoint: vec![1, 2, 3],
            pending: Some((header, vec![entry(4)])),
            unsealed: vec![entry(5), entry(6)],
        };
        let bytes = snap.encode();
        assert_eq!(TipSnapshot::decode(&bytes).unwrap(), snap);
        for cut in [5, 20, bytes.len() - 1] {
            assert!(TipSnapshot::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
}
