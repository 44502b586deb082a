//! The executor without a runtime (scripted observations) and with its
//! shell over the in-memory boundaries (a chain, an Ethereum node, a store),
//! crashes included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::driver::{Log, Shell};
use super::*;
use crate::ports::EthereumRpc;
use crate::ports::ExecutionStore;
use crate::ports::memory::{MemoryEthereum, MemoryLink, MemoryStore};
use crate::store::ExecutionState;
use crate::tx::TxSigner;
use box_core::crypto::SecretKey;
use box_core::ids::{FlowHash, Timestamp, TransferId};
use box_core::notary::{FlowStatus, Subject, TransferStatus};
use box_core::transbox::TransBox;
use box_core::typed::{
    ApprovalLevel, AssetLimit, BoxFlow, Domain, FlowAuthorization, Genesis, GenesisAsset, GenesisNode, Signed,
    TransferRequest,
};
use box_core::{Signature, U256};
use box_eth::EthError;

const T0: u64 = 1_800_000_000;
const CHAIN: u64 = 31337;

fn key(label: &str) -> SecretKey {
    SecretKey::from_label_unchecked(label)
}

fn ether(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18u64))
}

struct Wallet(SecretKey);

impl TxSigner for Wallet {
    fn sign_hash(&self, hash: &B256) -> Result<Signature, String> {
        Ok(self.0.sign_hash(hash))
    }
}

/// A deployment in memory: a chain whose flow is authorized (not yet
/// anchored), an Ethereum node with a token, the wallet funded.
struct Scene {
    link: MemoryLink,
    eth: MemoryEthereum,
    store: MemoryStore,
    domain: Domain,
    signer: SecretKey,
    wallet: Wallet,
    flow: B256,
    token: Address,
    log: Log,
    time: u64,
}

impl Scene {
    fn new() -> Self {
        let eth = MemoryEthereum::new(CHAIN);
        let wallet = Wallet(key("wallet"));
        let token = eth.deploy_token(wallet.0.address(), U256::from(1_000_000u64));
        eth.fund(wallet.0.address(), ether(20));
        let holders: Vec<SecretKey> = (0..3).map(|i| key(&format!("holder-{i}"))).collect();
        let nodes: Vec<SecretKey> = (0..3).map(|i| key(&format!("node-{i}"))).collect();
        let signer = key("signer");
        let genesis = Genesis {
            deploymentId: B256::repeat_byte(0xE0),
            chainId: CHAIN,
            keyHolders: holders.iter().map(SecretKey::address).collect(),
            nodes: nodes
                .iter()
                .zip(1u64..)
                .map(|(k, id)| GenesisNode { nodeId: id, endpoint: format!("127.0.0.1:{id}"), account: k.address() })
                .collect(),
            signer: signer.address(),
            assets: vec![GenesisAsset { token, symbol: "TKN".into(), decimals: 0 }],
            time: T0,
        };
        let domain = genesis.domain();
        let link = MemoryLink::new(box_core::notary::NotaryState::new(genesis).unwrap(), nodes, Timestamp(T0));
        let limit = |asset, per: U256, period: U256| AssetLimit {
            asset,
            perTransfer: per,
            perPeriod: period,
            periodSeconds: 86_400,
            maxFee: ether(1) / U256::from(10u64),
        };
        let flow = BoxFlow {
            name: "Payments".into(),
            employees: vec![key("employee").address()],
            levels: vec![ApprovalLevel {
                name: "Finance".into(),
                approvers: vec![key("approver").address()],
                threshold: 1,
            }],
            limits: vec![
                limit(Address::ZERO, ether(5), ether(8)),
                limit(token, U256::from(500u64), U256::from(800u64)),
            ],
            nonce: 1,
            addressBookOnly: false,
        };
        let fh = domain.flow_hash(&flow).0;
        link.decide(Subject::Flow(flow));
        for h in &holders {
            link.decide(Subject::FlowAuthorization(Signed::new(
                &domain,
                h,
                FlowAuthorization { flowHash: fh, enable: true },
            )));
        }
        assert_eq!(link.state().flow(&FlowHash(fh)).unwrap().status, FlowStatus::Authorized);
        Self {
            link,
            eth,
            store: MemoryStore::default(),
            domain,
            signer,
            wallet,
            flow: fh,
            token,
            log: Log::default(),
            time: T0,
        }
    }

    fn config() -> ExecConfig {
        ExecConfig {
            chain_id: box_core::ids::ChainId(CHAIN),
            confirmations: 2,
            replace_after_secs: 60,
            anchor_max_fee: ether(1) / U256::from(100u64),
            retry_max_secs: 60,
            alert_after_secs: 300,
            // Refused at once unless a test waits for funds.
            funds_wait_secs: 0,
        }
    }

    async fn executor(&self) -> Executor {
        Executor::new(Self::config(), self.store.executions().await.unwrap(), &self.link.state())
    }

    fn transbox(&self, id: u8, asset: Address, amount: U256) -> TransBox {
        let r = TransferRequest {
            requestId: B256::repeat_byte(id),
            flowHash: self.flow,
            applicant: key("employee").address(),
            asset,
            to: Address::repeat_byte(0xD0),
            amount,
            maxFee: ether(1) / U256::from(100u64),
            chainId: CHAIN,
            timestamp: T0,
        };
        let mut tb = TransBox::apply(&self.domain, r, &key("employee"));
        tb.approve(&self.domain, 1, &key("approver"));
        tb
    }

    /// One observation through the shell over the in-memory boundaries.
    async fn round(&mut self, exec: &mut Executor, observation: Observation, rpc: &impl EthereumRpc) {
        let state = self.link.state();
        let ctx = Context {
            state: &state,
            key: Some(&self.wallet),
            wallet: Some(self.wallet.0.address()),
            may_execute: true,
            log_time: T0,
            now: self.time,
            now_ms: self.time * 1000,
        };
        let mut shell = Shell {
            rpc,
            store: &self.store,
            link: &self.link,
            domain: &self.domain,
            identity: &self.signer,
            fault: None,
            log: &mut self.log,
        };
        shell.run(exec, &ctx, observation).await.unwrap();
    }

    /// Anchored by report (for the scripted tests, which skip the anchoring): active.
    fn activate(&self) {
        let r = box_core::typed::SignerReport {
            subject: self.flow,
            status: box_core::typed::ReportStatus::Anchored as u8,
            txHash: B256::repeat_byte(0xA0),
            nonce: 0,
            detail: String::new(),
        };
        self.link.decide(Subject::SignerReport(Signed::new(&self.domain, &self.signer, r)));
        assert_eq!(self.link.state().flow(&FlowHash(self.flow)).unwrap().status, FlowStatus::Active);
    }

    /// A whole tick, 4 s after the last: execute, track, report.
    async fn tick(&mut self, exec: &mut Executor) {
        self.time += 4;
        let eth = self.eth.clone();
        for o in [Observation::Execute, Observation::Track, Observation::Report] {
            self.round(exec, o, &eth).await;
        }
    }

    fn transfer_status(&self, tb: &TransBox) -> TransferStatus {
        self.link.state().transfer(&tb.transfer_id(&self.domain)).unwrap().status.clone()
    }
}

/// An Ethereum node that takes nothing: every broadcast fails.
struct Refusing(MemoryEthereum);

impl EthereumRpc for Refusing {
    async fn chain_id(&self) -> Result<u64, EthError> {
        self.0.chain_id().await
    }
    async fn block_number(&self) -> Result<u64, EthError> {
        self.0.block_number().await
    }
    async fn pending_nonce(&self, who: Address) -> Result<u64, EthError> {
        self.0.pending_nonce(who).await
    }
    async fn balance(&self, who: Address) -> Result<U256, EthError> {
        self.0.balance(who).await
    }
    async fn token_balance(&self, token: Address, who: Address) -> Result<U256, EthError> {
        self.0.token_balance(token, who).await
    }
    async fn fees(&self) -> Result<Fees, EthError> {
        self.0.fees().await
    }
    async fn base_fee(&self) -> Result<u128, EthError> {
        self.0.base_fee().await
    }
    async fn has_code(&self, who: Address) -> Result<bool, EthError> {
        self.0.has_code(who).await
    }
    async fn token_decimals(&self, token: Address) -> Result<u8, EthError> {
        self.0.token_decimals(token).await
    }
    async fn token_symbol(&self, token: Address) -> Result<String, EthError> {
        self.0.token_symbol(token).await
    }
    async fn estimate_gas(&self, from: Address, call: &Call) -> Result<u64, EthError> {
        self.0.estimate_gas(from, call).await
    }
    async fn send_raw(&self, _: &[u8]) -> Result<(), EthError> {
        Err(EthError::Unreachable("the process died before sending (simulated)".into()))
    }
    async fn block_hash(&self, number: u64) -> Result<Option<B256>, EthError> {
        self.0.block_hash(number).await
    }
    async fn receipt(&self, tx: B256) -> Result<Option<Receipt>, EthError> {
        self.0.receipt(tx).await
    }
}

#[tokio::test]
async fn anchors_then_executes_each_transfer_exactly_once_across_a_crash_and_reports_every_outcome() {
    let mut s = Scene::new();
    let mut exec = s.executor().await;
    // The flow is anchored, confirmed at depth 2 and reported: active.
    s.tick(&mut exec).await;
    s.eth.mine(1);
    s.tick(&mut exec).await;
    assert_eq!(s.link.state().flow(&FlowHash(s.flow)).unwrap().status, FlowStatus::Active);

    // An ETH transfer is signed and recorded, and the process "dies" before
    // the broadcast reaches the node.
    let eth_tb = s.transbox(1, Address::ZERO, ether(4));
    exec.verified(&s.link.decide(Subject::Transfer(eth_tb.clone())));
    let refusing = Refusing(s.eth.clone());
    s.round(&mut exec, Observation::Execute, &refusing).await;
    let id = eth_tb.transfer_id(&s.domain).0;
    let signed = s.store.executions().await.unwrap().into_iter().find(|(k, _)| *k == id).unwrap().1;
    assert_eq!(
        (signed.state.clone(), signed.nonce),
        (ExecutionState::Signed, Some(1)),
        "recorded before any broadcast"
    );
    assert_eq!(s.eth.pending_nonce(s.wallet.0.address()).await.unwrap(), 1, "nothing reached the node");

    // Restart: a new executor from the store sends the same bytes; nothing is signed again.
    let mut exec = s.executor().await;
    s.tick(&mut exec).await;
    s.eth.mine(1);
    s.tick(&mut exec).await;
    s.tick(&mut exec).await;
    let done = s.store.executions().await.unwrap().into_iter().find(|(k, _)| *k == id).unwrap().1;
    assert_eq!(done.raw, signed.raw, "the same bytes, never a second transaction");
    assert!(matches!(done.state, ExecutionState::Confirmed { .. }), "{:?}", done.state);
    assert!(matches!(s.transfer_status(&eth_tb), TransferStatus::Confirmed { .. }));
    assert_eq!(s.eth.balance(Address::repeat_byte(0xD0)).await.unwrap(), ether(4));

    // A token transfer; and one over the period limit of the signer's own
    // record (4 ETH and three fee caps of 0.01 ETH, plus 4 ETH > 8 ETH),
    // notarized by a majority that checked nothing.
    let token_tb = s.transbox(2, s.token, U256::from(300u64));
    exec.verified(&s.link.decide(Subject::Transfer(token_tb.clone())));
    let over = s.transbox(3, Address::ZERO, ether(4));
    exec.verified(&s.link.notarize_anyway(Subject::Transfer(over.clone())));
    s.tick(&mut exec).await;
    s.eth.mine(2);
    s.tick(&mut exec).await;
    s.tick(&mut exec).await;
    assert!(matches!(s.transfer_status(&token_tb), TransferStatus::Confirmed { .. }));
    match s.transfer_status(&over) {
        TransferStatus::Refused { reason } => assert!(reason.contains("period"), "{reason}"),
        other => panic!("over the period limit: {other:?}"),
    }
    assert_eq!(s.eth.token_balance(s.token, Address::repeat_byte(0xD0)).await.unwrap(), U256::from(300u64));

    // Every round again, after a restart too: nothing more is signed.
    let nonce = s.eth.pending_nonce(s.wallet.0.address()).await.unwrap();
    assert_eq!(nonce, 3, "the anchor and two transfers");
    let mut exec = s.executor().await;
    for _ in 0..3 {
        s.tick(&mut exec).await;
    }
    assert_eq!(s.eth.pending_nonce(s.wallet.0.address()).await.unwrap(), nonce);
}

#[tokio::test]
async fn a_vanished_receipt_is_broadcast_again_and_a_stuck_transaction_is_repriced_within_the_cap() {
    let mut s = Scene::new();
    let mut exec = s.executor().await;
    s.tick(&mut exec).await;
    s.eth.mine(1);
    s.tick(&mut exec).await;
    let tb = s.transbox(1, Address::ZERO, ether(1));
    let id = tb.transfer_id(&s.domain).0;
    exec.verified(&s.link.decide(Subject::Transfer(tb.clone())));
    s.tick(&mut exec).await; // mined in its own block (depth 1 < 2)
    let mined = exec.record().get(&id).unwrap().clone();
    assert!(matches!(mined.state, ExecutionState::Mined { .. }), "{:?}", mined.state);

    // The block is reorganised away: the same bytes go back to the node.
    s.eth.set_automine(false);
    s.eth.reorg(1);
    assert_eq!(s.eth.pool_len(), 1);
    s.tick(&mut exec).await;
    assert_eq!(exec.record().get(&id).unwrap().state, ExecutionState::Broadcast);
    assert_eq!(exec.record().get(&id).unwrap().raw, mined.raw, "no new signature for a reorg");

    // Nothing is mined for a while: re-priced on the same nonce, both fees up.
    s.time += 61;
    s.tick(&mut exec).await;
    let bumped = exec.record().get(&id).unwrap().clone();
    assert_eq!((bumped.raw.len(), bumped.nonce), (2, mined.nonce), "a replacement on the same nonce");
    assert!(bumped.max_fee_per_gas > mined.max_fee_per_gas && bumped.priority_fee_per_gas > mined.priority_fee_per_gas);
    let cap = U256::from(bumped.max_fee_per_gas) * U256::from(bumped.gas);
    assert!(cap <= tb.request.maxFee, "within the signed fee cap");
    s.eth.mine(2);
    s.tick(&mut exec).await;
    s.tick(&mut exec).await;
    // Final and reported: it has left the executor's mirror; the store keeps it.
    let done = s.store.executions().await.unwrap().into_iter().find(|(k, _)| *k == id).unwrap().1;
    assert!(matches!(done.state, ExecutionState::Confirmed { tx_hash, .. } if tx_hash == bumped.hashes[1]));
    assert_eq!(s.eth.balance(Address::repeat_byte(0xD0)).await.unwrap(), ether(1), "moved once");
}

/// A context over `state` for the scripted tests.
fn ctx<'a>(state: &'a box_core::notary::NotaryState, key: &'a Wallet, now: u64) -> Context<'a> {
    Context {
        state,
        key: Some(key),
        wallet: Some(key.0.address()),
        may_execute: true,
        log_time: T0,
        now,
        now_ms: now * 1000,
    }
}

fn market(balance: U256, nonce: u64) -> Quote {
    Quote {
        gas: None,
        market: Ok(Market {
            fees: Fees { max_fee_per_gas: 3_000_000_000, priority_fee_per_gas: 1_000_000_000 },
            base_fee: 1_000_000_000,
            balance,
            token_balance: None,
            pending_nonce: nonce,
        }),
        token: None,
    }
}

#[test]
fn nothing_is_broadcast_before_the_store_took_the_record() {
    let s = Scene::new();
    s.activate();
    let tb = s.transbox(1, Address::ZERO, ether(1));
    s.link.decide(Subject::Transfer(tb.clone()));
    let state = s.link.state();
    let tid = tb.transfer_id(&s.domain).0;
    let mut exec = Executor::new(Scene::config(), vec![], &state);
    let c = ctx(&state, &s.wallet, T0);
    let a = exec.step(&c, Observation::Execute);
    assert!(matches!(a.as_slice(), [Action::Quote { subject, .. }] if *subject == tid), "{a:?}");
    let a = exec.step(&c, Observation::Quoted { subject: tid, quote: market(ether(10), 4) });
    let [Action::Insert { execution, .. }] = a.as_slice() else { panic!("only a record, no broadcast yet: {a:?}") };
    assert_eq!((execution.nonce, execution.state.clone()), (Some(4), ExecutionState::Signed));
    let raw = execution.raw[0].clone();
    // The store refuses (another record owns the subject or nonce): nothing is sent.
    let a = exec.step(&c, Observation::Recorded { subject: tid, inserted: false });
    assert!(!a.iter().any(|a| matches!(a, Action::Broadcast { .. })), "{a:?}");
    // The store takes it: then, and only then, the same bytes go out.
    let mut exec = Executor::new(Scene::config(), vec![], &state);
    exec.step(&c, Observation::Execute);
    // A quote that fails for a transient reason leaves it for the next round.
    let down = || EthError::Unreachable("down".into());
    let a = exec
        .step(&c, Observation::Quoted { subject: tid, quote: Quote { gas: None, market: Err(down()), token: None } });
    assert!(matches!(a.as_slice(), [Action::Note { note: Note::Waiting(_), .. }]), "{a:?}");
    exec.step(&c, Observation::Execute);
    exec.step(&c, Observation::Quoted { subject: tid, quote: market(ether(10), 4) });
    let a = exec.step(&c, Observation::Recorded { subject: tid, inserted: true });
    assert!(
        matches!(a.as_slice(), [Action::Note { .. }, Action::Crashpoint(Fault::AfterSign), Action::Broadcast { raw: r, .. }] if *r == raw),
        "{a:?}"
    );
}

#[test]
fn a_transfer_the_wallet_cannot_pay_is_refused_and_nothing_is_signed() {
    let s = Scene::new();
    s.activate();
    let tb = s.transbox(1, Address::ZERO, ether(1));
    s.link.decide(Subject::Transfer(tb.clone()));
    let state = s.link.state();
    let mut exec = Executor::new(Scene::config(), vec![], &state);
    let c = ctx(&state, &s.wallet, T0);
    let a = exec.step(&c, Observation::Execute);
    let tid = TransferId(tb.transfer_id(&s.domain).0);
    assert!(matches!(a.last(), Some(Action::Quote { subject, .. }) if *subject == tid.0));
    let a = exec.step(&c, Observation::Quoted { subject: tid.0, quote: market(ether(1), 0) });
    match a.as_slice() {
        [Action::Note { note: Note::Refused(reason), .. }, Action::Insert { execution, .. }] => {
            assert!(reason.contains("the hot wallet holds"), "{reason}");
            assert_eq!(execution.nonce, None);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_transfer_held_by_an_unreachable_node_is_retried_with_backoff_and_never_refused() {
    let mut s = Scene::new();
    let mut exec = s.executor().await;
    s.tick(&mut exec).await;
    s.eth.mine(1);
    s.tick(&mut exec).await;
    let tb = s.transbox(1, Address::ZERO, ether(1));
    let id = tb.transfer_id(&s.domain).0;
    exec.verified(&s.link.decide(Subject::Transfer(tb.clone())));
    let nonce = s.eth.pending_nonce(s.wallet.0.address()).await.unwrap();

    // The node goes away for ten minutes of ticks: the transfer waits, is
    // shown as waiting, raises its alert once, and is never refused.
    s.eth.set_down(true);
    let mut quotes = 0;
    for _ in 0..150 {
        s.time += 4;
        let state = s.link.state();
        let c = Context {
            state: &state,
            key: Some(&s.wallet),
            wallet: Some(s.wallet.0.address()),
            may_execute: true,
            log_time: T0,
            now: s.time,
            now_ms: s.time * 1000,
        };
        let actions = exec.step(&c, Observation::Execute);
        if let [Action::Quote { subject, .. }] = actions.as_slice() {
            quotes += 1;
            let down =
                Quote { gas: None, market: Err(EthError::Unreachable("connection refused".into())), token: None };
            let held = exec.step(&c, Observation::Quoted { subject: *subject, quote: down });
            assert!(!held.iter().any(|a| matches!(a, Action::Insert { .. })), "nothing recorded: {held:?}");
        }
    }
    // 600 s with the backoff capped at 60 s: about 1 + 1 + 2 + 4 + … + 60 s steps, far fewer than 150 rounds.
    assert!((8..=20).contains(&quotes), "retried with capped exponential backoff: {quotes} quotes");
    let waiting = exec.waiting().unwrap();
    assert!(waiting.starts_with("waiting: cannot price") && waiting.contains("unreachable"), "{waiting}");
    assert_eq!(s.transfer_status(&tb), TransferStatus::Notarized, "no refusal reached the chain");

    // Back: it executes once, on the next nonce.
    s.eth.set_down(false);
    for _ in 0..20 {
        s.tick(&mut exec).await;
        s.eth.mine(1);
    }
    assert!(matches!(s.transfer_status(&tb), TransferStatus::Confirmed { .. }), "{:?}", s.transfer_status(&tb));
    // Final and reported: it has left the executor's mirror; the store keeps it.
    let done = s.store.executions().await.unwrap().into_iter().find(|(k, _)| *k == id).unwrap().1;
    assert_eq!(done.nonce, Some(nonce));
    assert_eq!(s.eth.pending_nonce(s.wallet.0.address()).await.unwrap(), nonce + 1, "one nonce used");
    assert_eq!(exec.waiting(), None, "nothing waits any more");
}

#[test]
fn a_hold_raises_its_alert_once_after_the_configured_time() {
    let s = Scene::new();
    s.activate();
    let tb = s.transbox(1, Address::ZERO, ether(1));
    s.link.decide(Subject::Transfer(tb.clone()));
    let state = s.link.state();
    let tid = tb.transfer_id(&s.domain).0;
    let mut exec = Executor::new(Scene::config(), vec![], &state);
    let mut alerts = Vec::new();
    for t in 0..400u64 {
        let c = ctx(&state, &s.wallet, T0 + t);
        if exec.step(&c, Observation::Execute).is_empty() {
            continue;
        }
        let down = Quote { gas: None, market: Err(EthError::Unreachable("down".into())), token: None };
        for a in exec.step(&c, Observation::Quoted { subject: tid, quote: down }) {
            if let Action::Note { note: Note::Alert(what), .. } = a {
                alerts.push((t, what));
            }
        }
    }
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0].0 >= 300 && alerts[0].1.contains("waiting for"), "{alerts:?}");
}

#[tokio::test]
async fn a_receipt_from_a_block_no_longer_canonical_sends_the_transfer_back_to_broadcast() {
    let mut s = Scene::new();
    let mut exec = s.executor().await;
    s.tick(&mut exec).await;
    s.eth.mine(1);
    s.tick(&mut exec).await;
    let tb = s.transbox(1, Address::ZERO, ether(1));
    let id = tb.transfer_id(&s.domain).0;
    exec.verified(&s.link.decide(Subject::Transfer(tb.clone())));
    s.tick(&mut exec).await; // mined in its own block (depth 1 < 2)
    let mined = exec.record().get(&id).unwrap().clone();
    let ExecutionState::Mined { block, .. } = mined.state else { panic!("{:?}", mined.state) };

    // The block is reorganised away, but the node still serves the old
    // receipt (its block hash is not the canonical one at that height any more).
    s.eth.set_automine(false);
    s.eth.reorg_keeping_receipts(1);
    s.eth.mine(1); // another block at that height
    let stale = s.eth.receipt(mined.hashes[0]).await.unwrap().unwrap();
    assert_eq!(stale.block, block);
    assert_ne!(s.eth.block_hash(block).await.unwrap(), Some(stale.block_hash), "the test's premise");
    s.tick(&mut exec).await;
    let back = exec.record().get(&id).unwrap().clone();
    assert_eq!(back.state, ExecutionState::Broadcast, "a stale receipt does not count");
    assert_eq!(back.raw, mined.raw, "the same bytes: no new signature for a reorg");

    // Mined again (in a canonical block) and deep enough: confirmed once.
    s.eth.mine(2);
    s.tick(&mut exec).await;
    s.tick(&mut exec).await;
    // Final and reported: it has left the executor's mirror; the store keeps it.
    let done = s.store.executions().await.unwrap().into_iter().find(|(k, _)| *k == id).unwrap().1;
    assert!(matches!(done.state, ExecutionState::Confirmed { .. }), "{:?}", done.state);
    assert!(matches!(s.transfer_status(&tb), TransferStatus::Confirmed { .. }));
    assert_eq!(s.eth.balance(Address::repeat_byte(0xD0)).await.unwrap(), ether(1), "moved once");
}

#[tokio::test]
async fn money_in_flight_counts_and_a_transfer_that_does_not_fit_waits_for_funds_without_a_nonce() {
    let mut s = Scene::new();
    let mut exec = s.executor().await;
    s.tick(&mut exec).await;
    s.eth.mine(1);
    s.tick(&mut exec).await;
    exec.config.funds_wait_secs = 3_600;
    let start = s.eth.pending_nonce(s.wallet.0.address()).await.unwrap();

    // Two transfers of 3 ETH wait unmined in the pool.
    s.eth.set_automine(false);
    let a = s.transbox(1, Address::ZERO, ether(3));
    let b = s.transbox(2, Address::ZERO, ether(3));
    exec.verified(&s.link.decide(Subject::Transfer(a.clone())));
    exec.verified(&s.link.decide(Subject::Transfer(b.clone())));
    s.tick(&mut exec).await;
    let (wei, _) = exec.record().in_flight(None);
    assert!(wei > ether(6), "amounts and worst-case fees are in flight: {wei}");
    // The wallet holds 6.5 ETH at the latest block: with 6 ETH and fees in
    // flight, a third of 1 ETH does not fit (it would, counting the latest
    // balance alone).
    let c = s.transbox(3, Address::ZERO, ether(1));
    exec.verified(&s.link.decide(Subject::Transfer(c.clone())));
    let balance = s.eth.balance(s.wallet.0.address()).await.unwrap();
    s.eth.debit(s.wallet.0.address(), balance - ether(13) / U256::from(2u64));
    s.tick(&mut exec).await;
    let waiting = exec.waiting().unwrap();
    assert!(waiting.starts_with("waiting: insufficient funds"), "{waiting}");
    assert_eq!(s.eth.pending_nonce(s.wallet.0.address()).await.unwrap(), start + 2, "no nonce for the waiting one");
    assert_eq!(s.transfer_status(&c), TransferStatus::Notarized, "waiting is no refusal");

    // The two are mined; the wallet is topped up: the third executes.
    s.eth.mine(1);
    s.eth.fund(s.wallet.0.address(), ether(2));
    s.eth.set_automine(true);
    for _ in 0..6 {
        s.time += 60;
        s.tick(&mut exec).await;
        s.eth.mine(1);
    }
    for tb in [&a, &b, &c] {
        assert!(matches!(s.transfer_status(tb), TransferStatus::Confirmed { .. }), "{:?}", s.transfer_status(tb));
    }
    assert_eq!(s.eth.pending_nonce(s.wallet.0.address()).await.unwrap(), start + 3, "start + transactions sent");

    // One that never fits is refused by rule once the wait runs out.
    let d = s.transbox(4, Address::ZERO, ether(1) / U256::from(2u64));
    exec.verified(&s.link.decide(Subject::Transfer(d.clone())));
    let balance = s.eth.balance(s.wallet.0.address()).await.unwrap();
    s.eth.debit(s.wallet.0.address(), balance);
    s.tick(&mut exec).await;
    assert_eq!(s.transfer_status(&d), TransferStatus::Notarized);
    s.time += 3_601;
    for _ in 0..3 {
        s.tick(&mut exec).await;
    }
    match s.transfer_status(&d) {
        TransferStatus::Refused { reason } => {
            assert!(reason.starts_with("insufficient funds") && reason.contains("funds_wait_secs"), "{reason}")
        }
        other => panic!("refused after the configured wait: {other:?}"),
    }
    assert_eq!(s.eth.pending_nonce(s.wallet.0.address()).await.unwrap(), start + 3);
}

#[tokio::test]
async fn a_token_whose_decimals_differ_from_the_registry_or_has_none_is_refused_before_a_nonce() {
    let mut s = Scene::new();
    let mut exec = s.executor().await;
    s.tick(&mut exec).await;
    s.eth.mine(1);
    s.tick(&mut exec).await;
    let nonce = s.eth.pending_nonce(s.wallet.0.address()).await.unwrap();
    // Registered with 0 decimals; the contract says 6.
    s.eth.set_token_meta(s.token, Some(6), "TKN");
    let six = s.transbox(1, s.token, U256::from(100u64));
    exec.verified(&s.link.decide(Subject::Transfer(six.clone())));
    s.tick(&mut exec).await;
    s.tick(&mut exec).await;
    match s.transfer_status(&six) {
        TransferStatus::Refused { reason } => assert!(reason.contains("has 6 decimals on chain"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // No decimals() at all.
    s.eth.set_token_meta(s.token, None, "TKN");
    let none = s.transbox(2, s.token, U256::from(100u64));
    exec.verified(&s.link.decide(Subject::Transfer(none.clone())));
    s.tick(&mut exec).await;
    s.tick(&mut exec).await;
    match s.transfer_status(&none) {
        TransferStatus::Refused { reason } => assert!(reason.contains("does not answer decimals()"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.eth.pending_nonce(s.wallet.0.address()).await.unwrap(), nonce, "no nonce used");
    // The registry's decimals: it executes.
    s.eth.set_token_meta(s.token, Some(0), "TKN");
    let fine = s.transbox(3, s.token, U256::from(100u64));
    exec.verified(&s.link.decide(Subject::Transfer(fine.clone())));
    for _ in 0..3 {
        s.tick(&mut exec).await;
        s.eth.mine(1);
    }
    assert!(matches!(s.transfer_status(&fine), TransferStatus::Confirmed { .. }), "{:?}", s.transfer_status(&fine));
}
