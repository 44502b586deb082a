//! A small deployment for tests and benches: keys, a genesis, a flow, transboxes
//! and helpers to drive the notary. Keys come from labels: test-only.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used, clippy::expect_used)]

use box_core::crypto::SecretKey;
use box_core::governance::{GovernanceAction, SignedAction};
use box_core::ids::{ChainId, ContentHash, DeploymentId, SubjectId, Timestamp};
use box_core::notary::{Entry, Event, NotaryState, Subject};
use box_core::transbox::TransBox;
use box_core::typed::{
    ApprovalLevel, AssetLimit, BoxFlow, Domain, FlowAuthorization, Genesis, GenesisAsset, GenesisNode, NodeVote,
    ReportStatus, Signed, SignerReport, TransferRequest,
};
use box_core::{Address, B256, U256};

pub const CHAIN_ID: u64 = 31337;
pub const ETH: Address = Address::ZERO;
pub const T0: Timestamp = Timestamp(1_800_000_000);

pub fn eth(units: u64) -> U256 {
    U256::from(units) * U256::from(10u64).pow(U256::from(18u64))
}

pub struct Fixture {
    pub domain: Domain,
    pub genesis: Genesis,
    pub key_holders: Vec<SecretKey>,
    pub nodes: Vec<SecretKey>,
    pub signer: SecretKey,
    pub employees: Vec<SecretKey>,
    /// approvers[level][i]
    pub approvers: Vec<Vec<SecretKey>>,
    pub flow: BoxFlow,
    pub token: Address,
}

impl Fixture {
    /// `levels` levels of `threshold`-of-`per_level` approvers, `nodes` node accounts,
    /// 3 key holders, 2 employees; ETH limited to 10 per transfer and 25 per day.
    pub fn new(levels: usize, per_level: usize, threshold: u32, nodes: usize) -> Self {
        let deployment = DeploymentId(B256::repeat_byte(0xB0));
        let domain = Domain { chain_id: ChainId(CHAIN_ID), deployment };
        let key_holders: Vec<_> = (0..3).map(|i| SecretKey::from_label_unchecked(&format!("key-holder-{i}"))).collect();
        let node_keys: Vec<_> = (0..nodes).map(|i| SecretKey::from_label_unchecked(&format!("node-{i}"))).collect();
        let signer = SecretKey::from_label_unchecked("signer");
        let employees: Vec<_> = (0..2).map(|i| SecretKey::from_label_unchecked(&format!("employee-{i}"))).collect();
        let approvers: Vec<Vec<_>> = (0..levels)
            .map(|l| (0..per_level).map(|i| SecretKey::from_label_unchecked(&format!("approver-{l}-{i}"))).collect())
            .collect();
        let token = Address::repeat_byte(0x70);
        let flow = BoxFlow {
            name: "Payments".into(),
            employees: employees.iter().map(SecretKey::address).collect(),
            levels: approvers
                .iter()
                .enumerate()
                .map(|(l, keys)| ApprovalLevel {
                    name: ["Team lead", "Finance", "CFO", "Board"].get(l).unwrap_or(&"Extra").to_string(),
                    approvers: keys.iter().map(SecretKey::address).collect(),
                    threshold,
                })
                .collect(),
            limits: vec![
                AssetLimit {
                    asset: ETH,
                    perTransfer: eth(10),
                    perPeriod: eth(25),
                    periodSeconds: 86_400,
                    maxFee: eth(1),
                },
                AssetLimit {
                    asset: token,
                    perTransfer: U256::from(1_000_000_000u64),
                    perPeriod: U256::from(5_000_000_000u64),
                    periodSeconds: 86_400,
                    maxFee: eth(1),
                },
            ],
            nonce: 1,
            addressBookOnly: false,
        };
        let genesis = Genesis {
            deploymentId: deployment.0,
            chainId: CHAIN_ID,
            keyHolders: key_holders.iter().map(SecretKey::address).collect(),
            nodes: node_keys
                .iter()
                .enumerate()
                .map(|(i, k)| GenesisNode {
                    nodeId: i as u64 + 1,
                    endpoint: format!("127.0.0.1:{}", 7000 + i),
                    account: k.address(),
                })
                .collect(),
            signer: signer.address(),
            assets: vec![GenesisAsset { token, symbol: "TKN".into(), decimals: 6 }],
            time: T0.0,
        };
        Self { domain, genesis, key_holders, nodes: node_keys, signer, employees, approvers, flow, token }
    }

    pub fn state(&self) -> NotaryState {
        NotaryState::new(self.genesis.clone()).unwrap()
    }

    pub fn request(&self, amount: U256, id: u8) -> TransferRequest {
        TransferRequest {
            requestId: B256::repeat_byte(id),
            flowHash: self.domain.flow_hash(&self.flow).0,
            applicant: self.employees[0].address(),
            asset: ETH,
            to: Address::repeat_byte(0xD5),
            amount,
            maxFee: U256::from(10u64).pow(U256::from(16u64)),
            chainId: CHAIN_ID,
            timestamp: T0.0,
        }
    }

    /// The request signed by employee 0 and approved by the first `threshold` approvers of each level.
    pub fn transbox(&self, request: TransferRequest) -> TransBox {
        let mut tb = TransBox::apply(&self.domain, request, &self.employees[0]);
        for (l, level) in self.flow.levels.iter().enumerate() {
            for key in self.approvers[l].iter().take(level.threshold as usize) {
                tb.approve(&self.domain, l + 1, key);
            }
        }
        tb
    }

    pub fn vote(&self, node: usize, subject: SubjectId, content: ContentHash, accept: bool, reason: &str) -> Entry {
        let v = NodeVote { subject: subject.0, contentHash: content.0, accept, reason: reason.into() };
        Entry::Vote(Signed::new(&self.domain, &self.nodes[node], v))
    }

    /// Submits `subject` and has each node vote its own verdict until it is decided; returns all events.
    pub fn decide(&self, state: &mut NotaryState, subject: Subject, at: Timestamp) -> Vec<Event> {
        let id = subject.id(&self.domain).unwrap();
        let mut events = state.apply(&Entry::Submit(subject), at);
        for n in 0..self.nodes.len() {
            // Companions vote only while the subject is pending.
            if state.subject(&id).is_none_or(|r| r.status != box_core::notary::SubjectStatus::Pending) {
                break;
            }
            let entry = match state.verdict(&id, at) {
                Ok(content) => self.vote(n, id, content, true, ""),
                Err(refusal) => {
                    let content = state.subject(&id).unwrap().content;
                    self.vote(n, id, content, false, &refusal.to_string())
                }
            };
            events.extend(state.apply(&entry, at));
            // The state root kept entry by entry is the one defined over every row.
            assert_eq!(state.state_root(), state.recomputed_state_root(), "incremental state root drifted");
        }
        assert_eq!(state.state_root(), state.recomputed_state_root(), "incremental state root drifted");
        events
    }

    pub fn report(&self, subject: B256, status: ReportStatus, tx: B256, nonce: u64) -> Subject {
        let r = SignerReport { subject, status: status as u8, txHash: tx, nonce, detail: String::new() };
        Subject::SignerReport(Signed::new(&self.domain, &self.signer, r))
    }

    pub fn authorization(&self, holder: usize, enable: bool) -> Subject {
        let a = FlowAuthorization { flowHash: self.domain.flow_hash(&self.flow).0, enable };
        Subject::FlowAuthorization(Signed::new(&self.domain, &self.key_holders[holder], a))
    }

    pub fn action(&self, action: GovernanceAction, signers: &[&SecretKey]) -> Subject {
        let h = action.signing_hash(&self.domain);
        let signatures = signers.iter().map(|k| k.sign_hash(&h)).collect();
        Subject::Governance(SignedAction { action, signatures })
    }

    /// Flow submitted, notarized, enabled by every key holder and anchored: active.
    pub fn activate_flow(&self, state: &mut NotaryState) {
        self.decide(state, Subject::Flow(self.flow.clone()), T0);
        for i in 0..self.key_holders.len() {
            self.decide(state, self.authorization(i, true), T0);
        }
        let anchor =
            self.report(self.domain.flow_hash(&self.flow).0, ReportStatus::Anchored, B256::repeat_byte(0xA1), 0);
        self.decide(state, anchor, T0);
    }
}

pub fn notarized(events: &[Event]) -> bool {
    events.iter().any(|e| matches!(e, Event::Notarized { .. }))
}

pub fn rejection(events: &[Event]) -> Option<String> {
    events.iter().find_map(|e| match e {
        Event::Rejected { reasons, .. } => Some(reasons.join("; ")),
        _ => None,
    })
}
