//! The notary state as rows of the state commitment (crate README, "State
//! commitment"): each row is `keccak256(tag ‖ id)` → the ABI encoding of one
//! of the leaf structs below. After every applied entry only the rows that
//! entry touched are written again, so the root costs O(log n) per row.

#![allow(missing_docs)] // sol!-generated fields.

use super::{Entry, Event, FlowStatus, NotaryState, Subject, SubjectStatus, TransferStatus};
use crate::commitment::{RowProof, StateTree};
use crate::encoding::Canonical;
use crate::ids::{FlowHash, StateHash, SubjectId, TransferId};
use alloy::primitives::{Address, B256, Bytes, keccak256};
use alloy::sol;
use alloy::sol_types::SolValue;
use std::collections::{BTreeMap, BTreeSet};

/// Row tags: the first byte hashed into a row's key.
pub mod tag {
    /// The one meta row (id zero).
    pub const META: u8 = 0x00;
    /// A registered node account.
    pub const NODE: u8 = 0x01;
    /// A registered ERC-20 asset.
    pub const ASSET: u8 = 0x02;
    /// A frozen employee.
    pub const FROZEN: u8 = 0x03;
    /// A blocked destination.
    pub const BLOCKED: u8 = 0x04;
    /// A node account on record as an equivocator.
    pub const EQUIVOCATOR: u8 = 0x05;
    /// A ceremony message recorded for the current signer boot.
    pub const CEREMONY: u8 = 0x06;
    /// A destination listed in the address book.
    pub const ADDRESS_BOOK: u8 = 0x07;
    /// The ids retired from the live state, folded (id zero; absent while
    /// none has retired).
    pub const RETIRED: u8 = 0x08;
    /// A flow, by flow hash.
    pub const FLOW: u8 = 0x10;
    /// A transfer, by transfer id.
    pub const TRANSFER: u8 = 0x11;
    /// A subject, by subject id.
    pub const SUBJECT: u8 = 0x12;
}

/// Tags of the rows kept in step with small sets, re-synced as a whole.
pub(super) const SMALL: [u8; 7] =
    [tag::NODE, tag::ASSET, tag::FROZEN, tag::BLOCKED, tag::EQUIVOCATOR, tag::CEREMONY, tag::ADDRESS_BOOK];

/// The value of a set-membership row (frozen, blocked, ceremony message).
pub(super) const MEMBER: &[u8] = &[0x01];

sol! {
    /// The meta row.
    #[derive(Debug, PartialEq, Eq)]
    struct MetaLeaf {
        bytes32 genesis;
        uint64 applied;
        bool paused;
        string pauseReason;
        bytes signerStatus;
        bytes32 ceremonyBoot;
    }

    /// A registered node.
    #[derive(Debug, PartialEq, Eq)]
    struct NodeLeaf { uint64 nodeId; string endpoint; }

    /// A registered ERC-20 asset.
    #[derive(Debug, PartialEq, Eq)]
    struct AssetLeaf { string symbol; uint8 decimals; }

    /// An equivocator on record.
    #[derive(Debug, PartialEq, Eq)]
    struct EquivocatorLeaf { uint64 height; }

    /// A destination in the address book: its label and the one flow it is
    /// listed for (zero: every flow).
    #[derive(Debug, PartialEq, Eq)]
    struct AddressBookLeaf { string label; bytes32 flow; }

    /// The retired ids: how many, and their fold in retirement order
    /// (`chain_i = keccak256(chain_{i-1} ‖ tag_i ‖ id_i)`, `chain_0 = 0`).
    #[derive(Debug, PartialEq, Eq)]
    struct RetiredLeaf { uint64 count; bytes32 chain; }

    /// A flow.
    #[derive(Debug, PartialEq, Eq)]
    struct FlowLeaf {
        uint8 status;
        address[] enabledBy;
        bool anchored;
        bytes32 anchorTx;
        bytes flow;
    }

    /// A transfer.
    #[derive(Debug, PartialEq, Eq)]
    struct TransferLeaf {
        bytes32 subject;
        bytes32 flow;
        address asset;
        uint256 amount;
        uint256 maxFee;
        address applicant;
        uint64 submittedAt;
        uint32 open;
        uint8 status;
        bytes32 txHash;
        uint64 nonce;
        string reason;
    }

    /// A subject with its votes.
    #[derive(Debug, PartialEq, Eq)]
    struct SubjectLeaf {
        bytes payload;
        bytes32 content;
        uint64 submittedAt;
        uint8 status;
        address[] acceptedBy;
        bytes[] acceptSignatures;
        address[] refusedBy;
        string[] refusalReasons;
        bytes[] certificateVotes;
        string[] rejectionReasons;
    }
}

/// A row's key: `keccak256(tag ‖ id)`.
pub fn row_key(tag: u8, id: &B256) -> B256 {
    let mut buf = [0u8; 33];
    buf[0] = tag;
    buf[1..].copy_from_slice(id.as_slice());
    keccak256(buf)
}

/// An address-book row's value.
fn address_book_leaf(e: &crate::address_book::BookEntry) -> Vec<u8> {
    AddressBookLeaf { label: e.label.clone(), flow: e.flow.map(|f| f.0).unwrap_or_default() }.abi_encode()
}

fn address_id(a: &Address) -> B256 {
    a.into_word()
}

/// A flow status's code in its row.
fn flow_status_code(s: &FlowStatus) -> u8 {
    match s {
        FlowStatus::Submitted => 0,
        FlowStatus::Notarized => 1,
        FlowStatus::Authorized => 2,
        FlowStatus::Active => 3,
        FlowStatus::Disabled => 4,
        FlowStatus::Rejected => 5,
    }
}

impl TransferLeaf {
    /// The transfer's status as its row says it, or `None` for an unknown code.
    pub fn transfer_status(&self) -> Option<TransferStatus> {
        let reason = || self.reason.clone();
        Some(match self.status {
            0 => TransferStatus::Submitted,
            1 => TransferStatus::Notarized,
            2 => TransferStatus::Broadcast { tx_hash: self.txHash, nonce: self.nonce },
            3 => TransferStatus::Confirmed { tx_hash: self.txHash },
            4 => TransferStatus::Rejected { reason: reason() },
            5 => TransferStatus::Refused { reason: reason() },
            6 => TransferStatus::Failed { reason: reason() },
            _ => return None,
        })
    }
}

/// A proof of one transfer's row, checked against a block header's state root.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TransferProof {
    /// The transfer.
    pub transfer: TransferId,
    /// Its row and the path to the root.
    pub row: RowProof,
}

impl TransferProof {
    /// The transfer's row, if this proof shows it under `state_root` (a
    /// block header's `stateHash`). `None` if the key is not the transfer's,
    /// the value does not decode, or the path leads elsewhere.
    pub fn verify(&self, state_root: &B256) -> Option<TransferLeaf> {
        if self.row.key != row_key(tag::TRANSFER, &self.transfer.0) || !self.row.verifies(state_root) {
            return None;
        }
        TransferLeaf::abi_decode_validate(&self.row.value).ok()
    }
}

impl NotaryState {
    /// The state root: the root of the state commitment over every row
    /// (crate README, "State commitment"). Kept up to date entry by entry.
    pub fn state_root(&self) -> StateHash {
        StateHash(self.tree.root())
    }

    /// The state root computed from scratch over every row, O(n): what
    /// [`NotaryState::state_root`] must always equal (tests and audits).
    pub fn recomputed_state_root(&self) -> StateHash {
        let mut tree = StateTree::default();
        for (key, value) in self.all_rows() {
            tree.insert(key, keccak256(value));
        }
        StateHash(tree.root())
    }

    /// Proof of transfer `id`'s row under [`NotaryState::state_root`].
    pub fn transfer_proof(&self, id: &TransferId) -> Option<TransferProof> {
        let key = row_key(tag::TRANSFER, &id.0);
        let value = self.transfer_row(id)?;
        let siblings = self.tree.proof(&key)?;
        Some(TransferProof { transfer: *id, row: RowProof { key, value, siblings } })
    }

    /// Proof of destination `to`'s address-book row (tag `0x07`) under
    /// [`NotaryState::state_root`], if it is listed. Its value is
    /// `abi(AddressBookLeaf { string label, bytes32 flow })`.
    pub fn address_book_proof(&self, to: &Address) -> Option<RowProof> {
        let id = address_id(to);
        let value = address_book_leaf(self.address_book.get(to)?);
        let key = row_key(tag::ADDRESS_BOOK, &id);
        let siblings = self.tree.proof(&key)?;
        Some(RowProof { key, value, siblings })
    }

    /// Builds the commitment from every row (after a restore).
    pub(super) fn rebuild_tree(&mut self) {
        self.rebuild_indexes();
        self.tree = StateTree::default();
        self.small_rows = BTreeMap::new();
        for t in SMALL {
            self.sync_small(t);
        }
        self.write_meta();
        let flows: Vec<FlowHash> = self.flows.keys().copied().collect();
        flows.iter().for_each(|h| self.write_flow(h));
        let transfers: Vec<TransferId> = self.transfers.keys().copied().collect();
        transfers.iter().for_each(|t| self.write_transfer(t));
        let subjects: Vec<SubjectId> = self.subjects.keys().copied().collect();
        subjects.iter().for_each(|s| self.write_subject(s));
        self.write_retired();
    }

    /// Writes the rows `entry` (and the `events` it produced) touched;
    /// returns the subjects and transfers they are.
    pub(super) fn commit(&mut self, entry: &Entry, events: &[Event]) -> (BTreeSet<SubjectId>, BTreeSet<TransferId>) {
        let domain = self.domain();
        let mut subjects = BTreeSet::new();
        let mut resync = matches!(entry, Entry::Ceremony(_) | Entry::Evidence(_));
        // A submission that was taken names its subject in `Submitted` (below):
        // the id is computed here only for one that was not (a flow's id hashes the flow).
        if let Entry::Submit(s) = entry
            && !events.iter().any(|e| matches!(e, Event::Submitted { .. }))
            && let Ok(id) = s.id(&domain)
        {
            subjects.insert(id);
        }
        let (mut flows, mut transfers) = (BTreeSet::new(), BTreeSet::new());
        for ev in events {
            match ev {
                Event::Submitted { subject, .. }
                | Event::VoteCounted { subject, .. }
                | Event::Notarized { subject, .. }
                | Event::Rejected { subject, .. } => {
                    subjects.insert(*subject);
                }
                Event::Governance { .. } | Event::RegistryChanged { .. } | Event::Equivocation { .. } => resync = true,
                Event::FlowStatus { flow, .. } => {
                    flows.insert(*flow);
                }
                Event::TransferStatus { transfer, .. } => {
                    transfers.insert(*transfer);
                }
                _ => {}
            }
        }
        // A flow's row is made when its subject is submitted; after that it
        // changes only by an event naming the flow (`FlowStatus`, above) or by
        // an authorization or anchoring report (below), so a vote on a flow
        // subject does not hash the flow again.
        let submitted: BTreeSet<SubjectId> = events
            .iter()
            .filter_map(|ev| match ev {
                Event::Submitted { subject, .. } => Some(*subject),
                _ => None,
            })
            .collect();
        for id in &subjects {
            match self.subjects.get(id).map(|r| &r.subject) {
                Some(Subject::Flow(f)) if submitted.contains(id) => {
                    flows.insert(domain.flow_hash(f));
                }
                Some(Subject::Flow(_)) => {}
                Some(Subject::FlowAuthorization(a)) => {
                    flows.insert(FlowHash(a.value.flowHash));
                }
                Some(Subject::Transfer(t)) => {
                    transfers.insert(t.transfer_id(&domain));
                }
                Some(Subject::SignerReport(r)) => {
                    flows.insert(FlowHash(r.value.subject));
                    transfers.insert(TransferId(r.value.subject));
                }
                Some(Subject::Governance(_)) => resync = true,
                None => {}
            }
        }
        for s in &subjects {
            self.write_subject(s);
            self.index_subject(s);
        }
        flows.iter().for_each(|h| self.write_flow(h));
        for t in &transfers {
            self.write_transfer(t);
            self.index_transfer(t);
        }
        if resync {
            for t in SMALL {
                self.sync_small(t);
            }
        }
        self.write_meta();
        (subjects, transfers)
    }

    fn put(&mut self, key: B256, value: Option<Vec<u8>>) {
        match value {
            Some(v) => self.tree.insert(key, keccak256(v)),
            None => self.tree.remove(&key),
        }
    }

    fn write_meta(&mut self) {
        let value = self.meta_row();
        self.put(row_key(tag::META, &B256::ZERO), Some(value));
    }

    /// Writes the retired row (absent while nothing has retired).
    pub(super) fn write_retired(&mut self) {
        let value = self.retired_row();
        self.put(row_key(tag::RETIRED, &B256::ZERO), value);
    }

    pub(super) fn retired_row(&self) -> Option<Vec<u8>> {
        let (count, chain) = self.retired_chain();
        (count > 0).then(|| RetiredLeaf { count, chain }.abi_encode())
    }

    fn write_flow(&mut self, h: &FlowHash) {
        let value = self.flow_row(h);
        self.put(row_key(tag::FLOW, &h.0), value);
    }

    fn write_transfer(&mut self, t: &TransferId) {
        let value = self.transfer_row(t);
        self.put(row_key(tag::TRANSFER, &t.0), value);
    }

    fn write_subject(&mut self, s: &SubjectId) {
        let value = self.subject_row(s);
        self.put(row_key(tag::SUBJECT, &s.0), value);
    }

    /// Makes the rows of small set `t` what the state holds.
    fn sync_small(&mut self, t: u8) {
        let want = self.small_set(t);
        let had = self.small_rows.remove(&t).unwrap_or_default();
        for gone in had.iter().filter(|id| !want.contains_key(*id)) {
            self.tree.remove(&row_key(t, gone));
        }
        for (id, value) in &want {
            self.tree.insert(row_key(t, id), keccak256(value));
        }
        self.small_rows.insert(t, want.into_keys().collect());
    }

    pub(super) fn small_set(&self, t: u8) -> BTreeMap<B256, Vec<u8>> {
        match t {
            tag::NODE => self
                .nodes
                .values()
                .map(|n| {
                    (address_id(&n.account), NodeLeaf { nodeId: n.nodeId, endpoint: n.endpoint.clone() }.abi_encode())
                })
                .collect(),
            tag::ASSET => self
                .assets
                .all()
                .into_iter()
                .filter_map(|a| match a {
                    crate::asset::Asset::Erc20 { contract, symbol, decimals } => {
                        Some((address_id(&contract), AssetLeaf { symbol, decimals }.abi_encode()))
                    }
                    crate::asset::Asset::Eth => None,
                })
                .collect(),
            tag::FROZEN => self.frozen.iter().map(|a| (address_id(a), MEMBER.to_vec())).collect(),
            tag::BLOCKED => self.blocked.iter().map(|a| (address_id(a), MEMBER.to_vec())).collect(),
            tag::EQUIVOCATOR => self
                .equivocators
                .iter()
                .map(|(a, h)| (address_id(a), EquivocatorLeaf { height: *h }.abi_encode()))
                .collect(),
            tag::CEREMONY => self.ceremony_seen.messages.iter().map(|m| (*m, MEMBER.to_vec())).collect(),
            tag::ADDRESS_BOOK => self.address_book.iter().map(|(a, e)| (address_id(a), address_book_leaf(e))).collect(),
            _ => BTreeMap::new(),
        }
    }

    pub(super) fn meta_row(&self) -> Vec<u8> {
        MetaLeaf {
            genesis: *self.genesis_hash.0.get_or_init(|| keccak256(self.genesis.abi_encode())),
            applied: self.applied,
            paused: self.paused.is_some(),
            pauseReason: self.paused.clone().unwrap_or_default(),
            signerStatus: self.signer_status.as_ref().map(|s| Bytes::from(s.encode())).unwrap_or_default(),
            ceremonyBoot: self.ceremony_seen.boot,
        }
        .abi_encode()
    }

    pub(super) fn flow_row(&self, h: &FlowHash) -> Option<Vec<u8>> {
        let r = self.flows.get(h)?;
        Some(
            FlowLeaf {
                status: flow_status_code(&r.status),
                enabledBy: r.enabled_by.iter().copied().collect(),
                anchored: r.anchor_tx.is_some(),
                anchorTx: r.anchor_tx.unwrap_or_default(),
                flow: r.flow.abi_encode().into(),
            }
            .abi_encode(),
        )
    }

    pub(super) fn transfer_row(&self, t: &TransferId) -> Option<Vec<u8>> {
        let r = self.transfers.get(t)?;
        let (status, tx_hash, nonce, reason) = match &r.status {
            TransferStatus::Submitted => (0, B256::ZERO, 0, ""),
            TransferStatus::Notarized => (1, B256::ZERO, 0, ""),
            TransferStatus::Broadcast { tx_hash, nonce } => (2, *tx_hash, *nonce, ""),
            TransferStatus::Confirmed { tx_hash } => (3, *tx_hash, 0, r.detail.as_str()),
            TransferStatus::Rejected { reason } => (4, B256::ZERO, 0, reason.as_str()),
            TransferStatus::Refused { reason } => (5, B256::ZERO, 0, reason.as_str()),
            TransferStatus::Failed { reason } => (6, B256::ZERO, 0, reason.as_str()),
        };
        Some(
            TransferLeaf {
                subject: r.subject.0,
                flow: r.flow.0,
                asset: r.asset,
                amount: r.amount.0,
                maxFee: r.max_fee.0,
                applicant: r.applicant,
                submittedAt: r.submitted_at.0,
                open: r.open,
                status,
                txHash: tx_hash,
                nonce,
                reason: reason.to_owned(),
            }
            .abi_encode(),
        )
    }

    pub(super) fn subject_row(&self, id: &SubjectId) -> Option<Vec<u8>> {
        let r = self.subjects.get(id)?;
        let (status, votes, reasons) = match &r.status {
            SubjectStatus::Pending => (0, Vec::new(), Vec::new()),
            SubjectStatus::Notarized { certificate } => {
                (1, certificate.votes.iter().map(|s| Bytes::from(s.as_bytes().to_vec())).collect(), Vec::new())
            }
            SubjectStatus::Rejected { reasons } => (2, Vec::new(), reasons.clone()),
        };
        Some(
            SubjectLeaf {
                payload: r.subject.encode().into(),
                content: r.content.0,
                submittedAt: r.submitted_at.0,
                status,
                acceptedBy: r.accepts.keys().copied().collect(),
                acceptSignatures: r.accepts.values().map(|s| Bytes::from(s.as_bytes().to_vec())).collect(),
                refusedBy: r.refusals.keys().copied().collect(),
                refusalReasons: r.refusals.values().cloned().collect(),
                certificateVotes: votes,
                rejectionReasons: reasons,
            }
            .abi_encode(),
        )
    }

    /// Every row of the state, by key (O(n)).
    fn all_rows(&self) -> BTreeMap<B256, Vec<u8>> {
        let mut rows = BTreeMap::new();
        rows.insert(row_key(tag::META, &B256::ZERO), self.meta_row());
        rows.extend(self.retired_row().map(|v| (row_key(tag::RETIRED, &B256::ZERO), v)));
        for t in SMALL {
            for (id, v) in self.small_set(t) {
                rows.insert(row_key(t, &id), v);
            }
        }
        for h in self.flows.keys() {
            rows.extend(self.flow_row(h).map(|v| (row_key(tag::FLOW, &h.0), v)));
        }
        for t in self.transfers.keys() {
            rows.extend(self.transfer_row(t).map(|v| (row_key(tag::TRANSFER, &t.0), v)));
        }
        for s in self.subjects.keys() {
            rows.extend(self.subject_row(s).map(|v| (row_key(tag::SUBJECT, &s.0), v)));
        }
        rows
    }
}
