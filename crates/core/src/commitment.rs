//! The state commitment: a binary Merkle trie over 256-bit keys (the
//! definition is in the crate README, "State commitment").
//!
//! `root(S, d)` of a set `S` of rows (key, value hash) at depth `d` is zero
//! for no row, `keccak256(0x00 ‖ key ‖ valueHash)` for one row, and
//! `keccak256(0x01 ‖ root(S₀, d+1) ‖ root(S₁, d+1))` otherwise, `S₀`/`S₁` the
//! rows whose key has bit `d` (most significant first) clear/set. Keys are
//! keccak256 outputs, so a row sits at depth ≈ log₂ n: an update or a proof
//! costs O(log n) hashes.
//!
//! [`StateTree`] keeps the trie with its node hashes and shares unchanged
//! subtrees between clones (a clone is O(1); an update copies one path).
//! A node's hash is computed when first asked for (the root, a proof) and
//! kept until an update below it: the rows a block changes several times
//! are hashed once a block, each path once, not at every update.

use alloy::primitives::{B256, keccak256};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, OnceLock};

/// Tag of a row's leaf hash.
const LEAF: u8 = 0x00;
/// Tag of an inner node's hash.
const BRANCH: u8 = 0x01;
/// Longest possible proof: one sibling per key bit.
const MAX_DEPTH: usize = 256;

/// The leaf hash of a row.
pub fn leaf_hash(key: &B256, value_hash: &B256) -> B256 {
    let mut buf = [0u8; 65];
    buf[0] = LEAF;
    buf[1..33].copy_from_slice(key.as_slice());
    buf[33..].copy_from_slice(value_hash.as_slice());
    keccak256(buf)
}

fn branch_hash(left: &B256, right: &B256) -> B256 {
    let mut buf = [0u8; 65];
    buf[0] = BRANCH;
    buf[1..33].copy_from_slice(left.as_slice());
    buf[33..].copy_from_slice(right.as_slice());
    keccak256(buf)
}

/// Bit `d` of `key`, most significant bit of byte 0 first.
fn bit(key: &B256, d: usize) -> bool {
    key[d / 8] & (0x80 >> (d % 8)) != 0
}

/// A trie node; `hash` is its hash once computed (empty after an update
/// below it).
#[derive(Debug, Clone)]
enum Node {
    Empty,
    Leaf { key: B256, value: B256, hash: OnceLock<B256> },
    Branch { left: Arc<Node>, right: Arc<Node>, hash: OnceLock<B256> },
}

impl Node {
    fn hash(&self) -> B256 {
        match self {
            Self::Empty => B256::ZERO,
            Self::Leaf { key, value, hash } => *hash.get_or_init(|| leaf_hash(key, value)),
            Self::Branch { left, right, hash } => *hash.get_or_init(|| branch_hash(&left.hash(), &right.hash())),
        }
    }

    fn leaf(key: B256, value: B256) -> Self {
        Self::Leaf { key, value, hash: OnceLock::new() }
    }

    fn branch(left: Arc<Node>, right: Arc<Node>) -> Self {
        Self::Branch { left, right, hash: OnceLock::new() }
    }

    /// Two distinct leaves under one node at depth `d`.
    fn split(d: usize, a: Node, b: Node, a_key: &B256, b_key: &B256) -> Self {
        match (bit(a_key, d), bit(b_key, d)) {
            (false, true) => Self::branch(Arc::new(a), Arc::new(b)),
            (true, false) => Self::branch(Arc::new(b), Arc::new(a)),
            (same, _) => {
                let inner = Arc::new(Self::split(d + 1, a, b, a_key, b_key));
                let empty = Arc::new(Self::Empty);
                if same { Self::branch(empty, inner) } else { Self::branch(inner, empty) }
            }
        }
    }

    fn insert(&mut self, d: usize, key: B256, value: B256) {
        match self {
            Self::Empty => *self = Self::leaf(key, value),
            Self::Leaf { key: k, value: v, .. } if *k == key => {
                if *v != value {
                    *self = Self::leaf(key, value);
                }
            }
            Self::Leaf { key: k, .. } => {
                let other_key = *k;
                let other = std::mem::replace(self, Self::Empty);
                *self = Self::split(d, other, Self::leaf(key, value), &other_key, &key);
            }
            Self::Branch { left, right, hash } => {
                let child = if bit(&key, d) { &mut *right } else { &mut *left };
                Arc::make_mut(child).insert(d + 1, key, value);
                *hash = OnceLock::new();
            }
        }
    }

    fn remove(&mut self, d: usize, key: &B256) {
        match self {
            Self::Empty => {}
            Self::Leaf { key: k, .. } => {
                if k == key {
                    *self = Self::Empty;
                }
            }
            Self::Branch { left, right, hash } => {
                let child = if bit(key, d) { &mut *right } else { &mut *left };
                Arc::make_mut(child).remove(d + 1, key);
                // One row left below: it moves up to this depth.
                let lone = match (&**left, &**right) {
                    (Self::Empty, Self::Empty) => Some(Self::Empty),
                    (Self::Empty, leaf @ Self::Leaf { .. }) | (leaf @ Self::Leaf { .. }, Self::Empty) => {
                        Some(leaf.clone())
                    }
                    _ => None,
                };
                match lone {
                    Some(node) => *self = node,
                    None => *hash = OnceLock::new(),
                }
            }
        }
    }
}

/// The state trie: rows (key → value hash) with every node hash kept once
/// computed, so a root after updates costs one path of hashes per row
/// changed. Two trees are equal when they hold the same rows (the same
/// root: keccak256 is collision-resistant).
#[derive(Debug, Clone)]
pub struct StateTree {
    root: Arc<Node>,
    len: usize,
}

impl PartialEq for StateTree {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.root() == other.root()
    }
}

impl Eq for StateTree {}

impl Default for StateTree {
    fn default() -> Self {
        Self { root: Arc::new(Node::Empty), len: 0 }
    }
}

impl StateTree {
    /// The root (zero for no row).
    pub fn root(&self) -> B256 {
        self.root.hash()
    }

    /// How many rows it holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no row.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The value hash of `key`'s row.
    pub fn get(&self, key: &B256) -> Option<B256> {
        let mut node = &*self.root;
        let mut d = 0;
        loop {
            match node {
                Node::Empty => return None,
                Node::Leaf { key: k, value, .. } => return (k == key).then_some(*value),
                Node::Branch { left, right, .. } => {
                    node = if bit(key, d) { right } else { left };
                    d += 1;
                }
            }
        }
    }

    /// Sets `key`'s row to the value whose keccak256 is `value_hash`.
    pub fn insert(&mut self, key: B256, value_hash: B256) {
        if self.get(&key).is_none() {
            self.len += 1;
        }
        Arc::make_mut(&mut self.root).insert(0, key, value_hash);
    }

    /// Removes `key`'s row, if any.
    pub fn remove(&mut self, key: &B256) {
        if self.get(key).is_some() {
            self.len -= 1;
            Arc::make_mut(&mut self.root).remove(0, key);
        }
    }

    /// The siblings from the root down to `key`'s row, or `None` without
    /// such a row.
    pub fn proof(&self, key: &B256) -> Option<Vec<B256>> {
        let mut siblings = Vec::new();
        let mut node = &*self.root;
        loop {
            match node {
                Node::Empty => return None,
                Node::Leaf { key: k, .. } => return (k == key).then_some(siblings),
                Node::Branch { left, right, .. } => {
                    let (next, sibling) = if bit(key, siblings.len()) { (right, left) } else { (left, right) };
                    siblings.push(sibling.hash());
                    node = next;
                }
            }
        }
    }
}

/// One row of a state and the siblings from the root to it (top-down).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowProof {
    /// The row's key.
    pub key: B256,
    /// The row's value bytes (keccak256 of them is the value hash).
    #[serde(with = "hex_bytes")]
    pub value: Vec<u8>,
    /// Sibling hashes from the root down to the row.
    pub siblings: Vec<B256>,
}

impl RowProof {
    /// The root this proof leads to.
    pub fn root(&self) -> Option<B256> {
        if self.siblings.len() > MAX_DEPTH {
            return None;
        }
        let mut acc = leaf_hash(&self.key, &keccak256(&self.value));
        for (d, sibling) in self.siblings.iter().enumerate().rev() {
            acc = if bit(&self.key, d) { branch_hash(sibling, &acc) } else { branch_hash(&acc, sibling) };
        }
        Some(acc)
    }

    /// Whether the row is in the state whose root is `root`.
    pub fn verifies(&self, root: &B256) -> bool {
        self.root().is_some_and(|r| r == *root)
    }
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("0x{}", alloy::primitives::hex::encode(bytes)))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        alloy::primitives::hex::decode(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::BTreeMap;

    /// The definition, computed from scratch.
    fn root_of(rows: &BTreeMap<B256, B256>, d: usize) -> B256 {
        match rows.len() {
            0 => B256::ZERO,
            1 => rows.iter().map(|(k, v)| leaf_hash(k, v)).next().unwrap(),
            _ => {
                let (zero, one): (BTreeMap<_, _>, BTreeMap<_, _>) = rows.iter().partition(|(k, _)| !bit(k, d));
                branch_hash(&root_of(&zero, d + 1), &root_of(&one, d + 1))
            }
        }
    }

    #[test]
    fn incremental_updates_give_the_defined_root_and_every_row_proves() {
        let mut tree = StateTree::default();
        let mut rows = BTreeMap::new();
        assert_eq!(tree.root(), B256::ZERO);
        for i in 0u64..300 {
            let key = keccak256(i.to_be_bytes());
            let value = keccak256((i * 7).to_be_bytes());
            tree.insert(key, value);
            rows.insert(key, value);
            if i % 3 == 0 {
                let gone = keccak256((i / 2).to_be_bytes());
                tree.remove(&gone);
                rows.remove(&gone);
            }
            if i % 5 == 0 {
                tree.insert(key, keccak256(b"changed"));
                rows.insert(key, keccak256(b"changed"));
            }
            assert_eq!(tree.root(), root_of(&rows, 0), "after row {i}");
            assert_eq!(tree.len(), rows.len());
        }
        let snapshot = tree.clone();
        for key in rows.keys().copied().collect::<Vec<_>>() {
            tree.remove(&key);
        }
        assert_eq!((tree.root(), tree.len()), (B256::ZERO, 0), "every row removed");
        assert_eq!(snapshot.root(), root_of(&rows, 0), "a clone keeps its own rows");
        // Keys sharing a long prefix (a deep split) and their removal.
        let (a, b) = (B256::ZERO, B256::with_last_byte(1));
        tree.insert(a, keccak256(b"a"));
        tree.insert(b, keccak256(b"b"));
        assert_eq!(tree.proof(&b).unwrap().len(), 256);
        tree.remove(&a);
        assert_eq!(tree.root(), leaf_hash(&b, &keccak256(b"b")));
    }

    /// Hashes are computed when asked for: many updates between two roots,
    /// a clone taken after a root and both changed apart, and a proof
    /// asked before any root all give the definition's hashes; equal rows
    /// make equal trees whatever was computed in each.
    #[test]
    fn roots_asked_after_many_updates_and_on_diverged_clones_are_the_defined_ones() {
        let mut tree = StateTree::default();
        let mut rows = BTreeMap::new();
        for round in 0u64..6 {
            for i in 0u64..40 {
                let key = keccak256((round * 1000 + i % 25).to_be_bytes());
                let value = keccak256([round.to_be_bytes(), i.to_be_bytes()].concat());
                tree.insert(key, value);
                rows.insert(key, value);
                if i % 7 == 0 {
                    let gone = keccak256(((round.saturating_sub(1)) * 1000 + i % 25).to_be_bytes());
                    tree.remove(&gone);
                    rows.remove(&gone);
                }
            }
            let key = *rows.keys().next().unwrap();
            let proof = RowProof { key, value: Vec::new(), siblings: tree.proof(&key).unwrap() };
            let by_proof = {
                let mut acc = leaf_hash(&key, &rows[&key]);
                for (d, sibling) in proof.siblings.iter().enumerate().rev() {
                    acc = if bit(&key, d) { branch_hash(sibling, &acc) } else { branch_hash(&acc, sibling) };
                }
                acc
            };
            assert_eq!(by_proof, root_of(&rows, 0), "a proof asked before the root, round {round}");
            assert_eq!(tree.root(), root_of(&rows, 0), "round {round}");
            let mut clone = tree.clone();
            let mut clone_rows = rows.clone();
            let k = keccak256(b"only in the clone");
            clone.insert(k, k);
            clone_rows.insert(k, k);
            tree.insert(keccak256(round.to_le_bytes()), k);
            rows.insert(keccak256(round.to_le_bytes()), k);
            assert_eq!(clone.root(), root_of(&clone_rows, 0));
            assert_eq!(tree.root(), root_of(&rows, 0));
            assert_ne!(clone, tree);
        }
        let mut same = StateTree::default();
        for (k, v) in rows.iter().rev() {
            same.insert(*k, *v);
        }
        assert_eq!(same, tree, "the same rows inserted in another order, no root asked in `same`");
    }

    #[test]
    fn a_proof_verifies_its_row_only() {
        let mut tree = StateTree::default();
        for i in 0u64..50 {
            tree.insert(keccak256(i.to_be_bytes()), keccak256(i.to_le_bytes()));
        }
        let key = keccak256(7u64.to_be_bytes());
        let good = RowProof { key, value: 7u64.to_le_bytes().to_vec(), siblings: tree.proof(&key).unwrap() };
        assert!(good.verifies(&tree.root()));
        let mut other_value = good.clone();
        other_value.value = 8u64.to_le_bytes().to_vec();
        assert!(!other_value.verifies(&tree.root()));
        let mut other_key = good.clone();
        other_key.key = keccak256(8u64.to_be_bytes());
        assert!(!other_key.verifies(&tree.root()));
        let mut short = good.clone();
        short.siblings.pop();
        assert!(!short.verifies(&tree.root()));
        assert!(tree.proof(&keccak256(b"absent")).is_none());
    }
}
