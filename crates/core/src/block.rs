//! Blocks: committed log entries sealed under a node account's signature.
//!
//! A block holds a contiguous run of log entries, each with the time the
//! leader stamped on it. Its header commits to the previous block's hash, a
//! Merkle root of the entries, and the notary state hash after applying them;
//! the leader signs the header (EIP-712) with its node account key.
//!
//! Merkle tree: leaf = keccak256(0x00 ‖ be64(index) ‖ be64(time) ‖ entry bytes),
//! node = keccak256(0x01 ‖ left ‖ right); a lone node at the end of a level is
//! promoted unchanged (no duplication, so no two entry lists share a root).

#![allow(missing_docs)] // sol!-generated fields.

use crate::crypto::{SecretKey, SignatureError};
use crate::encoding::{Body, Canonical, DecodeError, Kind};
use crate::evidence::SealedHeader;
use crate::notary::Entry;
use crate::typed::Domain;
use alloy::primitives::{B256, Bytes, Signature, keccak256};
use alloy::sol;
use alloy::sol_types::SolValue;
use serde::{Deserialize, Serialize};

sol! {
    /// What the leader signs when it seals a block.
    #[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct BlockHeader {
        uint64 height;
        bytes32 parent;
        bytes32 entriesRoot;
        bytes32 stateHash;
        uint64 time;
        uint64 firstIndex;
        uint64 entryCount;
    }

    struct LoggedEntryWire { uint64 index; uint64 time; bytes entry; }
    struct BlockWire { BlockHeader header; bytes signature; LoggedEntryWire[] entries; }
}

/// One committed log entry: its log index, the leader's time stamp, the entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedEntry {
    /// Log index.
    pub index: u64,
    /// Time the leader stamped (seconds).
    pub time: u64,
    /// The entry.
    pub entry: Entry,
}

impl LoggedEntry {
    /// The Merkle leaf of this entry.
    pub fn leaf(&self) -> B256 {
        let bytes = self.entry.encode();
        let mut buf = Vec::with_capacity(17 + bytes.len());
        buf.push(0u8);
        buf.extend_from_slice(&self.index.to_be_bytes());
        buf.extend_from_slice(&self.time.to_be_bytes());
        buf.extend_from_slice(&bytes);
        keccak256(buf)
    }
}

fn node(l: &B256, r: &B256) -> B256 {
    let mut buf = [0u8; 65];
    buf[0] = 1;
    buf[1..33].copy_from_slice(l.as_slice());
    buf[33..].copy_from_slice(r.as_slice());
    keccak256(buf)
}

/// The Merkle root of `leaves` (zero for none).
pub fn merkle_root(leaves: &[B256]) -> B256 {
    if leaves.is_empty() {
        return B256::ZERO;
    }
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        level = level.chunks(2).map(|p| if p.len() == 2 { node(&p[0], &p[1]) } else { p[0] }).collect();
    }
    level[0]
}

/// Proof that one leaf is in a tree: the sibling at each level (`None` where
/// the node was promoted), bottom-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    /// Position of the leaf.
    pub position: u64,
    /// Number of leaves.
    pub leaves: u64,
    /// Siblings bottom-up; `None` where the node had no sibling.
    pub siblings: Vec<Option<B256>>,
}

/// The inclusion proof of leaf `position`, or `None` if out of range.
pub fn merkle_proof(leaves: &[B256], position: usize) -> Option<InclusionProof> {
    if position >= leaves.len() {
        return None;
    }
    let mut siblings = Vec::new();
    let mut level = leaves.to_vec();
    let mut i = position;
    while level.len() > 1 {
        let sib = i ^ 1;
        siblings.push(level.get(sib).copied());
        level = level.chunks(2).map(|p| if p.len() == 2 { node(&p[0], &p[1]) } else { p[0] }).collect();
        i /= 2;
    }
    Some(InclusionProof { position: position as u64, leaves: leaves.len() as u64, siblings })
}

/// Whether `proof` shows `leaf` under `root`.
pub fn verify_inclusion(root: &B256, leaf: &B256, proof: &InclusionProof) -> bool {
    if proof.position >= proof.leaves || proof.siblings.len() > 64 {
        return false;
    }
    let mut acc = *leaf;
    let mut i = proof.position;
    let mut width = proof.leaves;
    for sib in &proof.siblings {
        let expect_sibling = (i ^ 1) < width;
        match (sib, expect_sibling) {
            (Some(s), true) => acc = if i.is_multiple_of(2) { node(&acc, s) } else { node(s, &acc) },
            (None, false) => {}
            _ => return false,
        }
        i /= 2;
        width = width.div_ceil(2);
    }
    width == 1 && acc == *root
}

/// A sealed block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// The signed header.
    pub header: BlockHeader,
    /// The sealing node's signature over the header.
    pub signature: Signature,
    /// The entries, in log order.
    pub entries: Vec<LoggedEntry>,
}

impl Block {
    /// Seals `entries` as the block after `parent` (`B256::ZERO` for the first).
    pub fn seal(
        domain: &Domain,
        key: &SecretKey,
        height: u64,
        parent: B256,
        entries: Vec<LoggedEntry>,
        state_hash: B256,
        time: u64,
    ) -> Self {
        let leaves: Vec<B256> = entries.iter().map(LoggedEntry::leaf).collect();
        let header = BlockHeader {
            height,
            parent,
            entriesRoot: merkle_root(&leaves),
            stateHash: state_hash,
            time,
            firstIndex: entries.first().map_or(0, |e| e.index),
            entryCount: entries.len() as u64,
        };
        let signature = domain.sign(key, &header);
        Self { header, signature, entries }
    }

    /// The block's hash: the EIP-712 signing hash of its header.
    pub fn hash(&self, domain: &Domain) -> B256 {
        domain.signing_hash(&self.header)
    }

    /// Who sealed it.
    pub fn sealer(&self, domain: &Domain) -> Result<alloy::primitives::Address, SignatureError> {
        domain.recover(&self.header, &self.signature)
    }

    /// Its header with the seal, without the entries.
    pub fn sealed_header(&self) -> SealedHeader {
        SealedHeader { header: self.header.clone(), signature: self.signature }
    }

    /// A block of `sealed` with no entries: how a header alone travels (its
    /// canonical encoding is a [`Block`]'s). It verifies as a header only.
    pub fn header_only(sealed: SealedHeader) -> Self {
        Self { header: sealed.header, signature: sealed.signature, entries: Vec::new() }
    }

    /// The proof that entry `i` of this block is under its root.
    pub fn proof(&self, i: usize) -> Option<InclusionProof> {
        let leaves: Vec<B256> = self.entries.iter().map(LoggedEntry::leaf).collect();
        merkle_proof(&leaves, i)
    }
}

impl Body for Block {
    const KIND: Kind = Kind::Block;
    fn encode_body(&self) -> Vec<u8> {
        BlockWire {
            header: self.header.clone(),
            signature: Bytes::copy_from_slice(&self.signature.as_bytes()),
            entries: self
                .entries
                .iter()
                .map(|e| LoggedEntryWire { index: e.index, time: e.time, entry: e.entry.encode().into() })
                .collect(),
        }
        .abi_encode()
    }
    fn decode_body(body: &[u8]) -> Result<Self, DecodeError> {
        let w = BlockWire::abi_decode_validate(body).map_err(|e| DecodeError::Malformed(e.to_string()))?;
        let signature =
            crate::crypto::signature_from_bytes(&w.signature).map_err(|e| DecodeError::Invalid(e.to_string()))?;
        let entries = w
            .entries
            .iter()
            .map(|e| Ok(LoggedEntry { index: e.index, time: e.time, entry: Entry::decode(&e.entry)? }))
            .collect::<Result<Vec<_>, DecodeError>>()?;
        Ok(Self { header: w.header, signature, entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_leaf_has_a_proof_and_a_tampered_one_fails() {
        for n in 1..=9usize {
            let leaves: Vec<B256> = (0..n).map(|i| keccak256([i as u8])).collect();
            let root = merkle_root(&leaves);
            for (i, leaf) in leaves.iter().enumerate() {
                let p = merkle_proof(&leaves, i).unwrap();
                assert!(verify_inclusion(&root, leaf, &p), "n={n} i={i}");
                assert!(!verify_inclusion(&root, &keccak256(b"other"), &p));
                let mut shifted = p.clone();
                shifted.position = (p.position + 1) % n as u64;
                if n > 1 {
                    assert!(!verify_inclusion(&root, leaf, &shifted) || leaves[shifted.position as usize] == *leaf);
                }
            }
        }
        assert!(merkle_proof(&[B256::ZERO], 1).is_none());
    }
}
