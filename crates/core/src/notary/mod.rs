//! The notary state machine: `apply(entry, time) -> events`.
//!
//! Every node applies the same log in the same order and reaches the same
//! state (see [`NotaryState::state_hash`]); the signer and the auditor replay
//! it too. Subjects are recorded on submission and decided by votes: a strict
//! majority of registered node accounts accepting the same content notarizes
//! it, a strict majority refusing rejects it. A subject's effect (a flow
//! becoming authorized, a node joining, a transfer being broadcast) happens
//! only when it is notarized, and authority rules that need no clock are
//! checked again at that moment, so even a dishonest majority cannot make a
//! non-key-holder pause the system or a non-signer confirm a transfer.
//!
//! [`NotaryState::verdict`] is what a node's companion runs to decide its vote.

mod equivocation;
mod event;
mod subject;

pub use event::{Event, FlowStatus, TransferStatus};
pub use subject::{Entry, Subject, SubjectKind};

use crate::Refusal;
use crate::amount::Amount;
use crate::asset::AssetRegistry;
use crate::ceremony::{
    Ceremony, ENDORSEMENT_LEN, MAX_DEVICE_ID_LEN, MAX_SEALED_LEN, Purpose, SignerAnnounce, SignerState,
};
use crate::flow::{VerifiedFlow, verify_flow};
use crate::governance::{GovernanceAction, verify_action};
use crate::ids::{ContentHash, FlowHash, StateHash, SubjectId, Timestamp, TransferId};
use crate::quorum::{NodeRegistry, QuorumCertificate};
use crate::transbox::{Policy, TransferContext, check_transbox, verify_transbox};
use crate::typed::{Domain, Genesis, GenesisNode, ReportStatus, Signed};
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    flows: BTreeMap<FlowHash, FlowRecord>,
    transfers: BTreeMap<TransferId, TransferRecord>,
    subjects: BTreeMap<SubjectId, SubjectRecord>,
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
            flows: BTreeMap::new(),
            transfers: BTreeMap::new(),
            subjects: BTreeMap::new(),
            signer_status: None,
            applied: 0,
            equivocators: BTreeMap::new(),
            ceremony_seen: CeremonySeen::default(),
        })
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
    /// Subjects still awaiting a decision, in id order.
    pub fn pending(&self) -> impl Iterator<Item = (&SubjectId, &SubjectRecord)> {
        self.subjects.iter().filter(|(_, r)| r.status == SubjectStatus::Pending)
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
        for (id, rec) in &s.subjects {
            if rec.subject.id(&domain).ok() != Some(*id) || rec.subject.content() != rec.content {
                return bad("a subject is filed under the wrong id or content hash");
            }
        }
        Ok(s)
    }

    /// Keccak-256 of the snapshot: equal on every replica that applied the same log.
    pub fn state_hash(&self) -> StateHash {
        StateHash(keccak256(self.snapshot()))
    }

    /// Applies one log entry stamped with time `at`.
    pub fn apply(&mut self, entry: &Entry, at: Timestamp) -> Vec<Event> {
        self.applied += 1;
        match entry {
            Entry::Submit(s) => self.submit(s, at),
            Entry::Vote(v) => self.vote(v),
            Entry::Ceremony(c) => self.ceremony(c),
            Entry::Evidence(e) => self.evidence(e),
        }
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

    /// Ceremony messages change nothing but the signer's announced status:
    /// they are relayed to the signer through the log, which checks them
    /// itself. Here only authenticity and freshness gates keep strangers and
    /// replays out of the record.
    fn ceremony(&mut self, c: &Ceremony) -> Vec<Event> {
        let domain = self.domain();
        let refused = |reason: String| vec![Event::Refused { reason }];
        match c {
            Ceremony::Announce(a) => {
                match a.signer(&domain) {
                    Ok(s) if s == self.genesis.signer => {}
                    Ok(s) => return refused(format!("signer announcement signed by {s}, not the signer")),
                    Err(e) => return refused(format!("signer announcement signature: {e}")),
                }
                if SignerState::from_u8(a.value.state).is_none() {
                    return refused(format!("unknown signer state {}", a.value.state));
                }
                if let Some(prev) = &self.signer_status
                    && a.value.sequence <= prev.value.sequence
                {
                    return refused(format!(
                        "signer announcement {} is not newer than {} (a replay)",
                        a.value.sequence, prev.value.sequence
                    ));
                }
                self.signer_status = Some(a.clone());
                vec![Event::SignerAnnounced { sequence: a.value.sequence, state: a.value.state }]
            }
            Ceremony::Message(m) => {
                let device = match m.signer(&domain) {
                    Ok(d) => d,
                    Err(e) => return refused(format!("ceremony message signature: {e}")),
                };
                if Purpose::from_u8(m.value.purpose).is_none() {
                    return refused(format!("unknown ceremony purpose {}", m.value.purpose));
                }
                if m.value.sealed.len() > MAX_SEALED_LEN
                    || m.value.deviceId.len() > MAX_DEVICE_ID_LEN
                    || m.value.endorsement.len() > ENDORSEMENT_LEN
                {
                    return refused("ceremony message is oversized".into());
                }
                let hash = keccak256(crate::encoding::Canonical::encode(c));
                if self.ceremony_seen.boot != m.value.boot {
                    self.ceremony_seen = CeremonySeen { boot: m.value.boot, messages: BTreeSet::new() };
                }
                if self.ceremony_seen.messages.contains(&hash) {
                    return refused(format!("ceremony message {hash} was recorded before (a replay)"));
                }
                if self.ceremony_seen.messages.len() >= MAX_CEREMONY_MESSAGES_PER_BOOT {
                    return refused(format!(
                        "more than {MAX_CEREMONY_MESSAGES_PER_BOOT} ceremony messages for one signer boot"
                    ));
                }
                self.ceremony_seen.messages.insert(hash);
                vec![Event::CeremonyMessage { device, purpose: m.value.purpose }]
            }
        }
    }

    fn submit(&mut self, subject: &Subject, at: Timestamp) -> Vec<Event> {
        let domain = self.domain();
        let id = match subject.id(&domain) {
            Ok(id) => id,
            Err(e) => return vec![Event::Refused { reason: e.to_string() }],
        };
        let content = subject.content();
        if let Some(existing) = self.subjects.get(&id) {
            return if existing.content == content {
                vec![Event::Duplicate { subject: id }]
            } else {
                vec![Event::Refused {
                    reason: format!("subject {id} was already submitted with different content; it is decided once"),
                }]
            };
        }
        if let Err(reason) = self.authenticity(subject, &domain) {
            return vec![Event::Refused { reason }];
        }
        if let Subject::Transfer(t) = subject
            && let Err(refusal) = self.transfer_open(&t.transfer_id(&domain))
        {
            return vec![Event::Refused { reason: refusal.to_string() }];
        }
        let mut events = vec![Event::Submitted { subject: id, kind: subject.kind(), content }];
        match subject {
            Subject::Flow(f) => {
                let h = domain.flow_hash(f);
                self.flows.entry(h).or_insert_with(|| FlowRecord {
                    flow: f.clone(),
                    status: FlowStatus::Submitted,
                    enabled_by: BTreeSet::new(),
                    anchor_tx: None,
                });
            }
            Subject::Transfer(t) => {
                let tid = t.transfer_id(&domain);
                match self.transfers.get_mut(&tid) {
                    // Another transbox for a transfer still being decided: it
                    // is decided on its own; at most one is notarized.
                    Some(r) if r.status == TransferStatus::Submitted => r.open = r.open.saturating_add(1),
                    // New, or every earlier transbox for it was rejected.
                    _ => {
                        self.transfers.insert(
                            tid,
                            TransferRecord {
                                subject: id,
                                flow: FlowHash(t.request.flowHash),
                                asset: t.request.asset,
                                amount: Amount(t.request.amount),
                                max_fee: Amount(t.request.maxFee),
                                applicant: t.request.applicant,
                                submitted_at: at,
                                status: TransferStatus::Submitted,
                                open: 1,
                            },
                        );
                        events.push(Event::TransferStatus { transfer: tid, status: TransferStatus::Submitted });
                    }
                }
            }
            _ => {}
        }
        self.subjects.insert(
            id,
            SubjectRecord {
                subject: subject.clone(),
                content,
                submitted_at: at,
                status: SubjectStatus::Pending,
                accepts: BTreeMap::new(),
                refusals: BTreeMap::new(),
            },
        );
        events
    }

    fn vote(&mut self, vote: &crate::typed::Signed<crate::typed::NodeVote>) -> Vec<Event> {
        let subject = SubjectId(vote.value.subject);
        let ignored = |reason: String| vec![Event::VoteIgnored { subject, reason }];
        let voter = match vote.signer(&self.domain()) {
            Ok(v) => v,
            Err(e) => return ignored(format!("vote signature: {e}")),
        };
        if !self.registry.contains(&voter) {
            return ignored(format!("{voter} is not a registered node account"));
        }
        let Some(rec) = self.subjects.get_mut(&subject) else {
            return ignored("unknown subject".into());
        };
        if rec.status != SubjectStatus::Pending {
            return ignored("the subject is already decided".into());
        }
        if ContentHash(vote.value.contentHash) != rec.content {
            return ignored(format!("{voter} voted for other content than was submitted"));
        }
        if rec.accepts.contains_key(&voter) || rec.refusals.contains_key(&voter) {
            return ignored(format!("{voter} already voted"));
        }
        if vote.value.accept {
            if !vote.value.reason.is_empty() {
                return ignored("an accept vote carries no reason".into());
            }
            rec.accepts.insert(voter, vote.signature);
        } else {
            rec.refusals.insert(voter, vote.value.reason.clone());
        }
        let mut events = vec![Event::VoteCounted { subject, voter, accept: vote.value.accept }];
        events.extend(self.tally(subject));
        events
    }

    /// Decides `id` if a strict majority of the current registry agrees.
    fn tally(&mut self, id: SubjectId) -> Vec<Event> {
        let majority = self.registry.majority();
        let Some(rec) = self.subjects.get(&id) else { return Vec::new() };
        if rec.status != SubjectStatus::Pending {
            return Vec::new();
        }
        let accepts: Vec<Signature> =
            rec.accepts.iter().filter(|(a, _)| self.registry.contains(a)).map(|(_, s)| *s).collect();
        let refusals: Vec<String> =
            rec.refusals.iter().filter(|(a, _)| self.registry.contains(a)).map(|(a, r)| format!("{a}: {r}")).collect();
        if accepts.len() >= majority {
            let certificate = QuorumCertificate { subject: id, content: rec.content, votes: accepts };
            let payload = rec.subject.clone();
            match self.effect(id, &payload) {
                Ok(mut effects) => {
                    if let Some(r) = self.subjects.get_mut(&id) {
                        r.status = SubjectStatus::Notarized { certificate: certificate.clone() };
                    }
                    let mut events = vec![Event::Notarized { subject: id, payload: Box::new(payload), certificate }];
                    events.append(&mut effects);
                    events
                }
                Err(refusal) => self.reject(id, vec![format!("notary: {refusal}")]),
            }
        } else if refusals.len() >= majority {
            self.reject(id, refusals)
        } else {
            Vec::new()
        }
    }

    fn reject(&mut self, id: SubjectId, reasons: Vec<String>) -> Vec<Event> {
        let Some(rec) = self.subjects.get_mut(&id) else { return Vec::new() };
        rec.status = SubjectStatus::Rejected { reasons: reasons.clone() };
        let kind = rec.subject.kind();
        let domain = self.genesis.domain();
        let mut events = vec![Event::Rejected { subject: id, kind, reasons: reasons.clone() }];
        match &rec.subject {
            Subject::Flow(f) => {
                let h = domain.flow_hash(f);
                if let Some(fr) = self.flows.get_mut(&h) {
                    fr.status = FlowStatus::Rejected;
                    events.push(Event::FlowStatus { flow: h, status: FlowStatus::Rejected });
                }
            }
            Subject::Transfer(t) => {
                // The transfer is rejected once no transbox for it is left
                // pending; one notarized by another transbox stays notarized.
                let tid = t.transfer_id(&domain);
                if let Some(tr) = self.transfers.get_mut(&tid)
                    && tr.status == TransferStatus::Submitted
                {
                    tr.open = tr.open.saturating_sub(1);
                    if tr.open == 0 {
                        tr.status = TransferStatus::Rejected { reason: reasons.join("; ") };
                        events.push(Event::TransferStatus { transfer: tid, status: tr.status.clone() });
                    }
                }
            }
            _ => {}
        }
        events
    }

    /// What a companion votes: `Ok` to accept the subject's content, or the
    /// refusal to vote against it with. `now` is the companion's view of the
    /// time (the log time of the latest entry it applied). Meaningful only
    /// while the subject is [`SubjectStatus::Pending`]: once it is decided its
    /// effect is part of the state (an anchored flow is no longer merely
    /// authorized), so companions skip decided subjects.
    pub fn verdict(&self, id: &SubjectId, now: Timestamp) -> Result<ContentHash, Refusal> {
        let rec = self.subjects.get(id).ok_or_else(|| Refusal::MalformedTransfer(format!("unknown subject {id}")))?;
        let domain = self.domain();
        match &rec.subject {
            Subject::Flow(f) => verify_flow(&domain, f).map(|_| ()),
            Subject::FlowAuthorization(a) => self.check_authorization(a),
            Subject::Transfer(t) => {
                let tid = t.transfer_id(&domain);
                self.transfer_open(&tid)?;
                let flow = self.active_flow(&FlowHash(t.request.flowHash))?;
                let history = self.history(&flow.hash(), &t.request.asset, Some(&tid));
                let eth_history = self.history(&flow.hash(), &Address::ZERO, Some(&tid));
                let ctx = TransferContext {
                    domain: &domain,
                    flow: &flow,
                    policy: self.policy(),
                    now,
                    history: &history,
                    eth_history: &eth_history,
                };
                verify_transbox(t, &ctx).map(|_| ())
            }
            Subject::Governance(g) => self.check_governance(g).map(|_| ()),
            Subject::SignerReport(r) => self.check_report(&r.value).map(|_| ()),
        }?;
        Ok(rec.content)
    }

    /// Whether a node should let `subject` into the log, as far as this
    /// replica can tell: the authenticity gates [`NotaryState::apply`] applies
    /// to every submission, and for a transfer the checks no later state can
    /// lift ([`check_transbox`]: signatures, thresholds, the flow's fixed
    /// limits) against the flow it names. A subject that passes may still be
    /// refused or rejected once in the log; one that fails never could be
    /// notarized. `apply` itself does not run the transfer checks: what a
    /// majority puts in the log is decided by votes, and the signer verifies
    /// everything again.
    pub fn admission(&self, subject: &Subject) -> Result<(), Inadmissible> {
        let domain = self.domain();
        self.authenticity(subject, &domain).map_err(Inadmissible::Refused)?;
        if let Subject::Transfer(t) = subject {
            let h = FlowHash(t.request.flowHash);
            let Some(rec) = self.flows.get(&h) else {
                return Err(Inadmissible::NotYet(format!(
                    "the transfer names flow {h}, which this node does not know (yet: it may be behind)"
                )));
            };
            let flow = verify_flow(&domain, &rec.flow).map_err(|e| Inadmissible::Refused(e.to_string()))?;
            check_transbox(t, &domain, &flow, self.assets().get(&t.request.asset).as_ref())
                .map_err(|e| Inadmissible::Refused(e.to_string()))?;
        }
        Ok(())
    }

    /// Cheap authenticity gates that keep strangers from filling the state:
    /// a signer report must be the signer's, an authorization a key holder's.
    fn authenticity(&self, subject: &Subject, domain: &Domain) -> Result<(), String> {
        match subject {
            Subject::SignerReport(r) => match r.signer(domain) {
                Ok(s) if s == self.genesis.signer => Ok(()),
                Ok(s) => Err(format!("signer report signed by {s}, not the signer")),
                Err(e) => Err(format!("signer report signature: {e}")),
            },
            Subject::FlowAuthorization(a) => match a.signer(domain) {
                Ok(s) if self.key_holders.contains(&s) => Ok(()),
                Ok(s) => Err(format!("flow authorization signed by {s}, not a key holder")),
                Err(e) => Err(e.to_string()),
            },
            _ => Ok(()),
        }
    }

    /// A transfer id takes a new transbox, and a transbox is notarized, only
    /// while no transbox for it has been notarized: a transfer executes at
    /// most once.
    fn transfer_open(&self, tid: &TransferId) -> Result<(), Refusal> {
        match self.transfers.get(tid) {
            Some(r) if !matches!(r.status, TransferStatus::Submitted | TransferStatus::Rejected { .. }) => {
                Err(Refusal::Replay(format!("{tid} (notarized as subject {})", r.subject)))
            }
            _ => Ok(()),
        }
    }

    /// The deployment-wide rules as they stand.
    pub fn policy(&self) -> Policy<'_> {
        Policy { assets: &self.assets, frozen: &self.frozen, blocked: &self.blocked, paused: self.paused.as_deref() }
    }

    /// A verified, active flow, or why not.
    pub fn active_flow(&self, h: &FlowHash) -> Result<VerifiedFlow, Refusal> {
        let rec = self.flows.get(h).ok_or_else(|| Refusal::UnknownFlow(h.to_string()))?;
        if rec.status != FlowStatus::Active {
            return Err(Refusal::FlowNotActive {
                flow: h.to_string(),
                status: format!("{:?}", rec.status).to_lowercase(),
            });
        }
        verify_flow(&self.domain(), &rec.flow)
    }

    /// Earlier transfers under `flow` as they count towards its period limit
    /// for `asset`, excluding `except`: for a token its amounts; for ETH
    /// (`address(0)`) every ETH amount plus every transfer's fee cap
    /// ([`crate::transbox::eth_spend`]).
    pub fn history(&self, flow: &FlowHash, asset: &Address, except: Option<&TransferId>) -> Vec<(Timestamp, Amount)> {
        self.transfers
            .iter()
            .filter(|(id, t)| Some(*id) != except && t.flow == *flow && t.status.counts_towards_limits())
            .filter_map(|(_, t)| {
                let counted = if asset.is_zero() {
                    crate::transbox::eth_spend(&t.asset, t.amount, t.max_fee)
                        .unwrap_or(Amount(alloy::primitives::U256::MAX))
                } else if t.asset == *asset {
                    t.amount
                } else {
                    return None;
                };
                Some((t.submitted_at, counted))
            })
            .collect()
    }

    fn check_authorization(&self, a: &crate::typed::Signed<crate::typed::FlowAuthorization>) -> Result<(), Refusal> {
        let who =
            a.signer(&self.domain()).map_err(|err| Refusal::BadSignature { who: "flow authorization".into(), err })?;
        if !self.key_holders.contains(&who) {
            return Err(Refusal::Unauthorized(format!("{who} is not a key holder")));
        }
        let h = FlowHash(a.value.flowHash);
        let rec = self.flows.get(&h).ok_or_else(|| Refusal::UnknownFlow(h.to_string()))?;
        match (&rec.status, a.value.enable) {
            (FlowStatus::Submitted | FlowStatus::Rejected, _) => Err(Refusal::FlowNotActive {
                flow: h.to_string(),
                status: format!("{:?} (it must be notarized first)", rec.status).to_lowercase(),
            }),
            (FlowStatus::Disabled, true) => {
                Err(Refusal::Governance(format!("flow {h} is disabled; a disabled flow cannot be enabled again")))
            }
            _ => Ok(()),
        }
    }

    fn check_governance(
        &self,
        g: &crate::governance::SignedAction,
    ) -> Result<crate::governance::VerifiedAction, Refusal> {
        let v = verify_action(&self.domain(), g, &self.key_holders, &self.registry)?;
        if let GovernanceAction::RegisterAsset(a) = v.action()
            && !a.registered
            && self.assets.get(&a.token).is_none()
        {
            return Err(Refusal::Governance(format!("asset {} is not registered", a.token)));
        }
        if let GovernanceAction::NodeChange(c) = v.action()
            && c.add
        {
            if c.nodeId == 0 {
                return Err(Refusal::Governance("a node id must be at least 1".into()));
            }
            if let Some(other) = self.nodes.values().find(|n| n.nodeId == c.nodeId) {
                return Err(Refusal::Governance(format!("node id {} is already used by {}", c.nodeId, other.account)));
            }
            if c.endpoint.rsplit_once(':').is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err()) {
                return Err(Refusal::Governance(format!("endpoint {:?} is not host:port", c.endpoint)));
            }
        }
        Ok(v)
    }

    /// The transfer or flow status a report moves to, if the transition is allowed.
    fn check_report(&self, r: &crate::typed::SignerReport) -> Result<ReportEffect, Refusal> {
        let status = ReportStatus::from_u8(r.status)
            .ok_or_else(|| Refusal::Unauthorized(format!("unknown report status {}", r.status)))?;
        if status == ReportStatus::Anchored {
            let h = FlowHash(r.subject);
            let rec = self.flows.get(&h).ok_or_else(|| Refusal::UnknownFlow(h.to_string()))?;
            return if rec.status == FlowStatus::Authorized {
                Ok(ReportEffect::Flow(h, r.txHash))
            } else {
                Err(Refusal::FlowNotActive {
                    flow: h.to_string(),
                    status: format!("{:?}, not authorized", rec.status).to_lowercase(),
                })
            };
        }
        let tid = TransferId(r.subject);
        let t =
            self.transfers.get(&tid).ok_or_else(|| Refusal::Replay(format!("{tid} is unknown; no report possible")))?;
        use TransferStatus as T;
        let next = match (&t.status, status) {
            (T::Notarized, ReportStatus::Broadcast) | (T::Broadcast { .. }, ReportStatus::Broadcast) => {
                T::Broadcast { tx_hash: r.txHash, nonce: r.nonce }
            }
            (T::Notarized, ReportStatus::Refused) => T::Refused { reason: r.detail.clone() },
            (T::Broadcast { tx_hash, .. }, ReportStatus::Confirmed) if *tx_hash == r.txHash || r.txHash.is_zero() => {
                T::Confirmed { tx_hash: *tx_hash }
            }
            (T::Broadcast { .. }, ReportStatus::Confirmed) => T::Confirmed { tx_hash: r.txHash },
            (T::Broadcast { .. }, ReportStatus::Failed) => T::Failed { reason: r.detail.clone() },
            (T::Confirmed { tx_hash }, ReportStatus::Reorged) => T::Broadcast { tx_hash: *tx_hash, nonce: r.nonce },
            (current, s) => {
                return Err(Refusal::Unauthorized(format!("a {s:?} report cannot follow transfer state {current:?}")));
            }
        };
        Ok(ReportEffect::Transfer(tid, next))
    }

    /// Applies a notarized subject's effect, re-checking the authority rules
    /// that need no clock.
    fn effect(&mut self, id: SubjectId, subject: &Subject) -> Result<Vec<Event>, Refusal> {
        let domain = self.domain();
        let mut events = Vec::new();
        match subject {
            Subject::Flow(f) => {
                let h = domain.flow_hash(f);
                verify_flow(&domain, f)?;
                if let Some(r) = self.flows.get_mut(&h) {
                    r.status = FlowStatus::Notarized;
                }
                events.push(Event::FlowStatus { flow: h, status: FlowStatus::Notarized });
            }
            Subject::FlowAuthorization(a) => {
                self.check_authorization(a)?;
                let who =
                    a.signer(&domain).map_err(|err| Refusal::BadSignature { who: "flow authorization".into(), err })?;
                let h = FlowHash(a.value.flowHash);
                let key_holders = self.key_holders.clone();
                if let Some(r) = self.flows.get_mut(&h) {
                    let before = r.status.clone();
                    if a.value.enable {
                        r.enabled_by.insert(who);
                        if r.status == FlowStatus::Notarized && key_holders.is_subset(&r.enabled_by) {
                            r.status = FlowStatus::Authorized;
                        }
                    } else {
                        r.status = FlowStatus::Disabled;
                    }
                    if r.status != before {
                        events.push(Event::FlowStatus { flow: h, status: r.status.clone() });
                    }
                }
            }
            Subject::Transfer(t) => {
                let tid = t.transfer_id(&domain);
                self.transfer_open(&tid)?;
                if let Some(r) = self.transfers.get_mut(&tid) {
                    r.status = TransferStatus::Notarized;
                    r.subject = id;
                    r.open = r.open.saturating_sub(1);
                }
                events.push(Event::TransferStatus { transfer: tid, status: TransferStatus::Notarized });
            }
            Subject::Governance(g) => {
                let v = self.check_governance(g)?;
                events.push(Event::Governance { subject: id, description: v.action().describe() });
                match v.action() {
                    GovernanceAction::FreezeEmployee(a) => {
                        if a.frozen {
                            self.frozen.insert(a.employee)
                        } else {
                            self.frozen.remove(&a.employee)
                        };
                    }
                    GovernanceAction::BlockDestination(a) => {
                        if a.blocked {
                            self.blocked.insert(a.destination)
                        } else {
                            self.blocked.remove(&a.destination)
                        };
                    }
                    GovernanceAction::RegisterAsset(a) => {
                        if a.registered {
                            let asset = AssetRegistry::erc20(a.token, &a.symbol, a.decimals)
                                .map_err(|e| Refusal::Governance(e.to_string()))?;
                            self.assets.insert(asset);
                        } else {
                            self.assets.remove(&a.token);
                        }
                    }
                    GovernanceAction::PauseTransfers(a) => {
                        self.paused = a.paused.then(|| a.reason.clone());
                    }
                    GovernanceAction::NodeChange(c) => {
                        self.registry = self.registry.apply_change(c, v.signers())?;
                        if c.add {
                            let node =
                                GenesisNode { nodeId: c.nodeId, endpoint: c.endpoint.clone(), account: c.account };
                            self.nodes.insert(c.account, node);
                        } else {
                            self.nodes.remove(&c.account);
                        }
                        events.push(Event::RegistryChanged { accounts: self.registry.accounts().copied().collect() });
                        // The majority changed: pending subjects may now be decided.
                        let pending: Vec<SubjectId> = self.pending().map(|(s, _)| *s).filter(|s| *s != id).collect();
                        for s in pending {
                            events.extend(self.tally(s));
                        }
                    }
                }
            }
            Subject::SignerReport(r) => {
                let signer =
                    r.signer(&domain).map_err(|err| Refusal::BadSignature { who: "signer report".into(), err })?;
                if signer != self.genesis.signer {
                    return Err(Refusal::Unauthorized(format!("report signed by {signer}, not the signer")));
                }
                match self.check_report(&r.value)? {
                    ReportEffect::Flow(h, tx) => {
                        if let Some(f) = self.flows.get_mut(&h) {
                            f.status = FlowStatus::Active;
                            f.anchor_tx = Some(tx);
                        }
                        events.push(Event::FlowStatus { flow: h, status: FlowStatus::Active });
                    }
                    ReportEffect::Transfer(tid, next) => {
                        if let Some(t) = self.transfers.get_mut(&tid) {
                            t.status = next.clone();
                        }
                        events.push(Event::TransferStatus { transfer: tid, status: next });
                    }
                }
            }
        }
        Ok(events)
    }
}

enum ReportEffect {
    Flow(FlowHash, B256),
    Transfer(TransferId, TransferStatus),
}
