//! The notary state machine: `apply(entry, time) -> events`.
//!
//! Every node applies the same log in the same order and reaches the same
//! state (see [`NotaryState::state_root`]); the signer and the auditor replay
//! it too. Subjects are recorded on submission and decided by votes: a strict
//! majority of registered node accounts accepting the same content notarizes
//! it, a strict majority refusing rejects it. A subject's effect (a flow
//! becoming authorized, a node joining, a transfer being broadcast) happens
//! only when it is notarized, and authority rules that need no clock are
//! checked again at that moment, so even a dishonest majority cannot make a
//! non-key-holder pause the system or a non-signer confirm a transfer.
//!
//! [`NotaryState::verdict`] is what a node's companion runs to decide its vote.

mod apply;
mod batch;
mod binary;
mod effect;
mod equivocation;
mod event;
mod index;
mod journal;
mod retire;
mod rows;
mod rules;
mod subject;

pub use batch::{BatchSize, MAX_BATCH_VOTES, VoteBatch};
pub use binary::STATE_MAGIC;
pub(crate) use binary::{Reader, put_sized};
pub use event::{Event, FlowStatus, TransferStatus};
pub use retire::{RETAIN_SECONDS, retired_fold};
pub use rows::{RetiredLeaf, TransferLeaf, TransferProof, row_key, tag};
pub use subject::{Entry, Subject, SubjectKind};

use crate::address_book::AddressBook;
use crate::amount::Amount;
use crate::asset::AssetRegistry;
use crate::ceremony::{Ceremony, SignerAnnounce};
use crate::ids::{ContentHash, FlowHash, SubjectId, Timestamp, TransferId};
use crate::quorum::{NodeRegistry, QuorumCertificate};
use crate::typed::{Domain, Genesis, GenesisNode, Signed};
use alloy::primitives::{Address, B256, Signature, keccak256};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Most key holders a deployment may have.
pub const MAX_KEY_HOLDERS: usize = 16;

/// A flow the notary knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowRecord {
    /// The flow.
    pub flow: crate::typed::BoxFlow,
    /// Where it is in its lifecycle.
    pub status: FlowStatus,
    /// Key holders whose enable is notarized.
    pub enabled_by: BTreeSet<Address>,
    /// The anchoring transaction, once confirmed.
    pub anchor_tx: Option<B256>,
}

/// A transfer the notary knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferRecord {
    /// The subject that carries it.
    pub subject: SubjectId,
    /// Its flow.
    pub flow: FlowHash,
    /// Asset address (0 = ETH).
    pub asset: Address,
    /// Amount in base units.
    pub amount: Amount,
    /// The signed fee cap (wei): what it counts towards the ETH period limit
    /// besides an ETH amount.
    #[serde(default)]
    pub max_fee: Amount,
    /// Who applied.
    pub applicant: Address,
    /// When it was submitted (log time).
    pub submitted_at: Timestamp,
    /// Where it is.
    pub status: TransferStatus,
    /// How many transboxes for this transfer still await a decision. Each
    /// transbox is its own subject; while one is pending another may be
    /// submitted, and the transfer is rejected only when none is left.
    #[serde(default)]
    pub open: u32,
    /// While `status` is confirmed: the detail of the signer's confirmed
    /// report, for people to see (a token that delivered less than the
    /// amount: `shortfall: delivered 247.5 of 250 FEE; 2.5 FEE did not
    /// arrive …`, in the token's units with its symbol; a confirmation after
    /// a reorg undid an earlier one). Empty otherwise, and for a confirmation
    /// with nothing to add. It is the signer's word, signed by it; nothing
    /// here checks it against the public chain.
    #[serde(default)]
    pub detail: String,
}

impl TransferRecord {
    /// The confirmed report's detail, if the transfer is confirmed and the
    /// signer said something about it (see [`TransferRecord::detail`]).
    pub fn confirmed_detail(&self) -> Option<&str> {
        (matches!(self.status, TransferStatus::Confirmed { .. }) && !self.detail.is_empty())
            .then_some(self.detail.as_str())
    }
}

/// How a subject stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SubjectStatus {
    /// Awaiting votes.
    Pending,
    /// Decided in favour.
    Notarized {
        /// The deciding votes.
        certificate: QuorumCertificate,
    },
    /// Decided against.
    Rejected {
        /// "account: reason" per refusing node.
        reasons: Vec<String>,
    },
}

/// A subject with its votes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectRecord {
    /// The payload.
    pub subject: Subject,
    /// Hash of its canonical encoding.
    pub content: ContentHash,
    /// When it was submitted.
    pub submitted_at: Timestamp,
    /// Decision.
    pub status: SubjectStatus,
    /// Accept votes by account.
    pub accepts: BTreeMap<Address, Signature>,
    /// Refusals by account, with reasons.
    pub refusals: BTreeMap<Address, String>,
}

/// Why a node keeps a subject out of the log ([`NotaryState::admission`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Inadmissible {
    /// It breaks a rule that no later state can lift (a signature, a
    /// threshold, a limit fixed by its flow): refuse it for good.
    #[error("{0}")]
    Refused(String),
    /// This replica cannot decide yet (it does not know the transfer's flow;
    /// it may be behind): ask again later, or another node.
    #[error("{0}")]
    NotYet(String),
}

/// Why a state cannot be built or restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The genesis breaks a rule.
    #[error("genesis is invalid: {0}")]
    Genesis(String),
    /// The snapshot does not parse.
    #[error("snapshot is unreadable: {0}")]
    Snapshot(String),
}

/// The replicated notary state.
///
/// Its serde form is the snapshot (JSON); the state commitment is not in it:
/// it is rebuilt from the rows on deserialising.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct NotaryState {
    genesis: Genesis,
    key_holders: BTreeSet<Address>,
    registry: NodeRegistry,
    /// Raft id and endpoint of every registered node account.
    nodes: BTreeMap<Address, GenesisNode>,
    assets: AssetRegistry,
    frozen: BTreeSet<Address>,
    blocked: BTreeSet<Address>,
    paused: Option<String>,
    flows: journal::Journaled<FlowHash, FlowRecord>,
    transfers: journal::Journaled<TransferId, TransferRecord>,
    subjects: journal::Journaled<SubjectId, SubjectRecord>,
    /// The signer's latest announcement.
    signer_status: Option<Signed<SignerAnnounce>>,
    applied: u64,
    /// Node accounts proven to have sealed two headers at one height, with
    /// that height. Omitted from the snapshot while empty, so a history
    /// without evidence hashes as before this field existed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    equivocators: BTreeMap<Address, u64>,
    /// The signer boot the recorded ceremony messages are for, and their
    /// content hashes: a message is recorded once, so a replayed one (a late
    /// witness re-proposed, or a node replaying an old panic) never reaches
    /// the signer twice. Cleared when messages for a new boot arrive, so it
    /// stays as small as one boot's ceremony. Omitted while empty.
    #[serde(default, skip_serializing_if = "CeremonySeen::is_empty")]
    ceremony_seen: CeremonySeen,
    /// The governed address book. Omitted while empty, so a history that
    /// never listed a destination hashes as before this field existed.
    #[serde(default, skip_serializing_if = "AddressBook::is_empty")]
    address_book: AddressBook,
    /// When each finished transfer and decided subject still live retires
    /// (`retire`). Omitted while empty.
    #[serde(default, skip_serializing_if = "nothing_due")]
    retiring: journal::Journaled<B256, retire::Due>,
    /// The ids retired so far, in order, with their fold. Omitted while
    /// empty, so a history where nothing retired hashes as before.
    #[serde(default, skip_serializing_if = "retire::Retired::is_empty")]
    retired: retire::Retired,
    /// The state commitment over every row ([`NotaryState::state_root`]).
    #[serde(skip)]
    tree: crate::commitment::StateTree,
    /// The ids of the small sets' rows in `tree`, by tag.
    #[serde(skip)]
    small_rows: BTreeMap<u8, BTreeSet<B256>>,
    /// Pending subjects; transfers by flow and time.
    #[serde(skip)]
    index: index::Indexes,
    /// Each pending flow subject's flow hash, as its submission computed it.
    #[serde(skip)]
    flow_hashes: FlowHashes,
    /// keccak256 of the genesis's ABI encoding, as the meta row (written
    /// after every entry) commits to it.
    #[serde(skip)]
    genesis_hash: GenesisHash,
}

/// A cache of keccak256 of a state's genesis (which never changes), filled
/// when first asked for: neither in the snapshot nor in equality.
#[derive(Debug, Clone, Default)]
struct GenesisHash(std::sync::OnceLock<B256>);

impl PartialEq for GenesisHash {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for GenesisHash {}

/// Pending flow subjects' flow hashes, by subject id: what deciding on a
/// flow needs, kept from its submission, as hashing a flow (its EIP-712
/// struct hash over every employee, level and approver) is the costliest
/// step of applying one. A cache of a pure function (a flow subject's id is
/// keccak256 of its kind and flow hash), so it is neither in the snapshot
/// nor in equality, and a subject missing from it has its flow hashed again.
#[derive(Debug, Clone, Default)]
struct FlowHashes(std::collections::HashMap<SubjectId, FlowHash>);

impl PartialEq for FlowHashes {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for FlowHashes {}

impl FlowHashes {
    /// Most hashes held; past it the cache starts again.
    const MAX: usize = 4096;

    fn remember(&mut self, id: SubjectId, hash: FlowHash) {
        if self.0.len() >= Self::MAX {
            self.0.clear();
        }
        self.0.insert(id, hash);
    }

    fn take(&mut self, id: &SubjectId) -> Option<FlowHash> {
        self.0.remove(id)
    }
}

impl Serialize for NotaryState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        NotaryState::serialize(self, s)
    }
}

impl<'de> Deserialize<'de> for NotaryState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut state = NotaryState::deserialize(d)?;
        state.rebuild_tree();
        Ok(state)
    }
}

fn nothing_due(q: &journal::Journaled<B256, retire::Due>) -> bool {
    q.is_empty()
}

/// Ceremony messages recorded for one signer boot ([`NotaryState`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
struct CeremonySeen {
    boot: B256,
    messages: BTreeSet<B256>,
}

impl CeremonySeen {
    fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

/// Most ceremony messages recorded for one signer boot (a ceremony needs a
/// few per key holder; beyond this a boot's messages are refused).
pub const MAX_CEREMONY_MESSAGES_PER_BOOT: usize = 4096;

impl NotaryState {
    /// The state at genesis.
    pub fn new(genesis: Genesis) -> Result<Self, StateError> {
        let bad = |m: String| StateError::Genesis(m);
        if genesis.chainId == 0 {
            return Err(bad("chain id 0 is not a valid EIP-155 chain id".into()));
        }
        let key_holders: BTreeSet<Address> = genesis.keyHolders.iter().copied().collect();
        if key_holders.len() != genesis.keyHolders.len() {
            return Err(bad("a key holder is listed twice".into()));
        }
        if key_holders.len() < 3 || key_holders.len() > MAX_KEY_HOLDERS {
            return Err(bad(format!("needs 3 to {MAX_KEY_HOLDERS} key holders, has {}", key_holders.len())));
        }
        if key_holders.contains(&Address::ZERO) || genesis.signer.is_zero() {
            return Err(bad("address(0) cannot be a key holder or the signer".into()));
        }
        let registry = NodeRegistry::new(genesis.nodes.iter().map(|n| n.account)).map_err(|e| bad(e.to_string()))?;
        let ids: BTreeSet<u64> = genesis.nodes.iter().map(|n| n.nodeId).collect();
        if ids.len() != genesis.nodes.len() || ids.contains(&0) {
            return Err(bad("node ids must be distinct and at least 1".into()));
        }
        let nodes = genesis.nodes.iter().map(|n| (n.account, n.clone())).collect();
        let mut assets = AssetRegistry::default();
        for a in &genesis.assets {
            assets.insert(AssetRegistry::erc20(a.token, &a.symbol, a.decimals).map_err(|e| bad(e.to_string()))?);
        }
        Ok(Self {
            genesis,
            key_holders,
            registry,
            nodes,
            assets,
            frozen: BTreeSet::new(),
            blocked: BTreeSet::new(),
            paused: None,
            flows: Default::default(),
            transfers: Default::default(),
            subjects: Default::default(),
            signer_status: None,
            applied: 0,
            equivocators: BTreeMap::new(),
            ceremony_seen: CeremonySeen::default(),
            address_book: AddressBook::default(),
            retiring: Default::default(),
            retired: Default::default(),
            tree: crate::commitment::StateTree::default(),
            small_rows: BTreeMap::new(),
            index: index::Indexes::default(),
            flow_hashes: FlowHashes::default(),
            genesis_hash: GenesisHash::default(),
        }
        .with_tree())
    }

    fn with_tree(mut self) -> Self {
        self.rebuild_tree();
        self
    }

    /// The deployment's EIP-712 domain.
    pub fn domain(&self) -> Domain {
        self.genesis.domain()
    }
    /// The genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }
    /// Current node registry.
    pub fn registry(&self) -> &NodeRegistry {
        &self.registry
    }
    /// The raft id and endpoint of every registered node account: what the
    /// raft voter set should be.
    pub fn nodes(&self) -> impl Iterator<Item = &GenesisNode> {
        self.nodes.values()
    }
    /// Key holders.
    pub fn key_holders(&self) -> &BTreeSet<Address> {
        &self.key_holders
    }
    /// Registered assets.
    pub fn assets(&self) -> &AssetRegistry {
        &self.assets
    }
    /// `Some(reason)` while paused.
    pub fn paused(&self) -> Option<&str> {
        self.paused.as_deref()
    }
    /// Whether an employee is frozen.
    pub fn is_frozen(&self, a: &Address) -> bool {
        self.frozen.contains(a)
    }
    /// Whether a destination is blocked.
    pub fn is_blocked(&self, a: &Address) -> bool {
        self.blocked.contains(a)
    }
    /// The governed address book (read by flows with `addressBookOnly`).
    pub fn address_book(&self) -> &AddressBook {
        &self.address_book
    }
    /// A flow.
    pub fn flow(&self, h: &FlowHash) -> Option<&FlowRecord> {
        self.flows.get(h)
    }
    /// A transfer.
    pub fn transfer(&self, id: &TransferId) -> Option<&TransferRecord> {
        self.transfers.get(id)
    }
    /// Every flow, by hash.
    pub fn flows(&self) -> impl Iterator<Item = (&FlowHash, &FlowRecord)> {
        self.flows.iter()
    }

    /// Every transfer, by id.
    pub fn transfers(&self) -> impl Iterator<Item = (&TransferId, &TransferRecord)> {
        self.transfers.iter()
    }

    /// A subject by id.
    pub fn subject(&self, id: &SubjectId) -> Option<&SubjectRecord> {
        self.subjects.get(id)
    }
    /// Entries applied so far.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// The canonical snapshot bytes (deterministic JSON: ordered maps, fixed
    /// field order).
    pub fn snapshot(&self) -> Vec<u8> {
        // Serialising plain data into a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Restores from [`NotaryState::snapshot`] bytes, refusing a snapshot
    /// whose invariants a genesis would not satisfy (it may come from disk or
    /// from another node).
    pub fn restore(bytes: &[u8]) -> Result<Self, StateError> {
        let s: Self = serde_json::from_slice(bytes).map_err(|e| StateError::Snapshot(e.to_string()))?;
        s.checked()
    }

    /// [`NotaryState::restore`]'s checks on a state deserialised some other
    /// way (inside a follower's checkpoint): the state if it passes.
    pub fn checked(self) -> Result<Self, StateError> {
        self.check(true)
    }

    /// [`NotaryState::checked`], folding the retired ids again only if
    /// `fold` (a state this process wrote to its own store is trusted for
    /// them, as a follower's index is: [`crate::checkpoint::decode_own`]).
    pub(crate) fn check(self, fold: bool) -> Result<Self, StateError> {
        let s = self;
        let bad = |m: &str| Err(StateError::Snapshot(m.to_owned()));
        if s.registry.is_empty() {
            return bad("the node registry is empty");
        }
        if !s.nodes.keys().eq(s.registry.accounts()) || s.nodes.iter().any(|(a, n)| n.account != *a) {
            return bad("the node endpoints do not match the node registry");
        }
        if s.key_holders.len() < 3 || s.key_holders.len() > MAX_KEY_HOLDERS {
            return bad("the key-holder set has an impossible size");
        }
        if s.key_holders != s.genesis.keyHolders.iter().copied().collect::<BTreeSet<_>>() {
            return bad("the key holders differ from the genesis");
        }
        for asset in s.assets.all() {
            if let crate::asset::Asset::Erc20 { contract, symbol, decimals } = &asset
                && AssetRegistry::erc20(*contract, symbol, *decimals).is_err()
            {
                return bad("an asset in the registry is invalid");
            }
        }
        let domain = s.domain();
        for (id, rec) in s.subjects.iter() {
            if rec.subject.id(&domain).ok() != Some(*id) || rec.subject.content() != rec.content {
                return bad("a subject is filed under the wrong id or content hash");
            }
        }
        if s.flows.iter().any(|(h, rec)| domain.flow_hash(&rec.flow) != *h) {
            return bad("a flow is filed under another flow's hash");
        }
        // Ids a follower keeps in its own index are not here to fold: its
        // store is trusted like the rest of it (crate `checkpoint`).
        if !s.retired.folds(fold) {
            return bad("the retired ids do not fold to the retired row's chain (or one is listed twice)");
        }
        if s.transfers.keys().any(|t| s.retired.lists(&t.0)) || s.subjects.keys().any(|id| s.retired.lists(&id.0)) {
            return bad("a retired id is still in the live state");
        }
        for (id, due) in s.retiring.iter() {
            let live = match due.tag {
                tag::TRANSFER => s.transfers.contains_key(&TransferId(*id)),
                tag::SUBJECT => s.subjects.contains_key(&SubjectId(*id)),
                _ => false,
            };
            if !live {
                return bad("an item due to retire is not in the live state");
            }
        }
        Ok(s)
    }

    /// Applies one log entry stamped with time `at`.
    pub fn apply(&mut self, entry: &Entry, at: Timestamp) -> Vec<Event> {
        self.applied += 1;
        let events = match entry {
            Entry::Submit(s) => self.submit(s, at),
            Entry::Vote(v) => self.vote(v, &mut None),
            // One companion signs a batch: its first vote recovered gives
            // the key the others are checked against.
            Entry::Votes(b) => {
                let mut known = None;
                b.votes().iter().flat_map(|v| self.vote(v, &mut known)).collect()
            }
            Entry::Ceremony(c) => self.ceremony(c),
            Entry::Evidence(e) => self.evidence(e),
        };
        let (subjects, transfers) = self.commit(entry, &events);
        self.schedule(&subjects, &transfers, at);
        self.retire_due(at);
        events
    }

    /// Whether the ceremony message `c` (its canonical encoding hashed) was
    /// recorded already for its boot.
    pub fn ceremony_recorded(&self, c: &Ceremony) -> bool {
        match c {
            Ceremony::Message(m) => {
                self.ceremony_seen.boot == m.value.boot
                    && self.ceremony_seen.messages.contains(&keccak256(crate::encoding::Canonical::encode(c)))
            }
            Ceremony::Announce(_) => false,
        }
    }

    /// The signer's latest announcement, if it has made one.
    pub fn signer_status(&self) -> Option<&Signed<SignerAnnounce>> {
        self.signer_status.as_ref()
    }

    /// The hot wallet, as the signer's latest announcement names it: the
    /// signer keeps the wallet's address across restarts, so every
    /// announcement after the first unseal carries it. `None` before then.
    pub fn hot_wallet(&self) -> Option<Address> {
        self.signer_status.as_ref().map(|a| a.value.wallet).filter(|w| !w.is_zero())
    }
}
