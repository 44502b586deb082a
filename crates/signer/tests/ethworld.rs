//! The signer against the real Ethereum world (issue 14): a 3-node chain
//! (separate `box-node` processes), a real `anvil`, the `box-signer`
//! process, and what real desks meet: a node that stops answering while a
//! transfer is executed, tokens that do not follow ERC-20, contract
//! recipients, reorgs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_core::encoding::Canonical;
use box_core::governance::GovernanceAction;
use box_core::ids::{FlowHash, TransferId};
use box_core::notary::Entry;
use box_core::notary::{FlowStatus, NotaryState, Subject, TransferStatus};
use box_core::typed::{ApprovalLevel, AssetLimit, BoxFlow, RegisterAsset, ReportStatus, SignerReport};
use box_core::{Address, B256, U256};
use box_testkit::anvil::{Anvil, Odd};
use box_testkit::{Cluster, eventually};
use common::*;
use std::time::Duration;

/// A running deployment: chain, anvil, signer (unsealed, wallet funded) and
/// the people of one flow.
struct Desk {
    anvil: Anvil,
    c: Cluster,
    s: SignerProc,
    holders: Holders,
    people: People,
    wallet: Address,
    /// Assets registered so far (the registration nonce).
    assets: u64,
    /// Whether waits mine a block per poll (a signer that needs depth > 1).
    mine: bool,
}

impl Desk {
    /// Everything up to an unsealed signer with 10 ETH; `config` is appended
    /// to the signer's `[ethereum]` section.
    async fn start(config: &str) -> Self {
        let anvil = Anvil::start().await;
        let c = Cluster::start(&box_node_bin(), 3, 0).await;
        let nodes = cluster_nodes(&c);
        let mut s = SignerProc::for_cluster(&c, "signer", &anvil.endpoint(), anvil.chain_id());
        let mut toml = std::fs::read_to_string(&s.config).unwrap();
        for key in ["confirmations", "replace_after_secs"] {
            if let Some(line) = toml.lines().find(|l| l.starts_with(key)).filter(|_| config.contains(key)) {
                toml = toml.replace(&format!("{line}\n"), "");
            }
        }
        toml.push_str(config);
        std::fs::write(&s.config, toml).unwrap();
        s.spawn(&[], &[]);
        let holders = Holders::new(c.domain, c.key_holders.clone(), &c.client_tls, &nodes[0]);
        let code = s.enrolment_code().await;
        let wallet = holders.genesis(&code).await;
        anvil.fund(wallet, ether(10)).await;
        Self { anvil, c, s, holders, people: People::new(), wallet, assets: 0, mine: false }
    }

    async fn state(&self) -> NotaryState {
        box_core::audit::verify_history(&self.c.genesis, &self.c.blocks(self.c.wait_leader().await).await)
            .unwrap()
            .state
    }

    /// Registers `token` (every key holder signs) and waits until the chain has it.
    async fn register(&mut self, token: Address, symbol: &str, decimals: u8) {
        self.assets += 1;
        let register = RegisterAsset { token, symbol: symbol.into(), decimals, registered: true, nonce: self.assets };
        let action = governance(&self.c.domain, GovernanceAction::RegisterAsset(register), &self.c.key_holders);
        self.c.submit(&action.encode()).await;
        eventually("the asset registered", Duration::from_secs(60), || async {
            self.state().await.assets().get(&token).map(|_| ())
        })
        .await;
    }

    /// Every report the signer made on `id`, as the chain's log holds them.
    async fn reports(&self, id: &TransferId) -> Vec<SignerReport> {
        let blocks = self.c.blocks(self.c.wait_leader().await).await;
        blocks
            .iter()
            .flat_map(|b| b.entries.iter())
            .filter_map(|e| match &e.entry {
                Entry::Submit(Subject::SignerReport(r)) if r.value.subject == id.0 => Some(r.value.clone()),
                _ => None,
            })
            .collect()
    }

    /// A flow with limits for ETH and each of `tokens`, notarized, enabled
    /// by every key holder and anchored by the signer.
    async fn flow(&self, tokens: &[Address]) -> B256 {
        let limit = |asset| AssetLimit {
            asset,
            perTransfer: ether(1000),
            perPeriod: ether(2000),
            periodSeconds: 86_400,
            maxFee: ether(1) / U256::from(10u64),
        };
        let p = &self.people;
        let flow = BoxFlow {
            name: "world".into(),
            employees: vec![p.employee.address()],
            levels: vec![
                ApprovalLevel {
                    name: "Manager".into(),
                    approvers: p.managers.iter().map(|k| k.address()).collect(),
                    threshold: 1,
                },
                ApprovalLevel {
                    name: "Finance".into(),
                    approvers: p.finance.iter().map(|k| k.address()).collect(),
                    threshold: 2,
                },
            ],
            limits: std::iter::once(Address::ZERO).chain(tokens.iter().copied()).map(limit).collect(),
            nonce: 1,
            addressBookOnly: false,
        };
        let h = self.c.domain.flow_hash(&flow);
        self.c.submit(&Subject::Flow(flow).encode()).await;
        eventually("the flow notarized", Duration::from_secs(60), || async {
            self.state().await.flow(&h).filter(|f| f.status == FlowStatus::Notarized).map(|_| ())
        })
        .await;
        for a in authorizations(&self.c.domain, &self.c.key_holders, h.0) {
            self.c.submit(&a.encode()).await;
        }
        eventually("the flow anchored and active", Duration::from_secs(90), || async {
            self.tick().await;
            self.state().await.flow(&FlowHash(h.0)).filter(|f| f.status == FlowStatus::Active).map(|_| ())
        })
        .await;
        h.0
    }

    /// Submits an approved transfer; its id.
    async fn send(&self, flow: B256, asset: Address, to: Address, amount: U256) -> TransferId {
        let tb = self.people.transfer(&self.c.domain, flow, asset, to, amount, 2);
        let id = tb.transfer_id(&self.c.domain);
        self.c.submit(&Subject::Transfer(tb).encode()).await;
        id
    }

    async fn status(&self, id: &TransferId, what: &str, want: fn(&TransferStatus) -> bool) -> TransferStatus {
        eventually(what, Duration::from_secs(120), || async {
            self.tick().await;
            self.state().await.transfer(id).map(|t| t.status.clone()).filter(want)
        })
        .await
    }

    /// A block, when this desk's signer needs depth.
    async fn tick(&self) {
        if self.mine {
            self.anvil.mine(1).await;
        }
    }

    async fn nonce(&self) -> u64 {
        self.anvil.eth().pending_nonce(self.wallet).await.unwrap()
    }
}

/// Item 1: anvil stops answering (SIGSTOP) while a notarized transfer is
/// being executed. The signer holds it (`waiting: …` in its announced
/// status, an alert after `alert_after_secs`), never refuses it, and
/// executes it once anvil is back, on one nonce.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_waits_while_the_ethereum_node_is_stopped_and_confirms_once_it_is_back() {
    let desk = Desk::start("retry_max_secs = 2\nalert_after_secs = 5\n").await;
    let flow = desk.flow(&[]).await;
    let before = desk.nonce().await;

    desk.anvil.pause();
    let alice = Address::repeat_byte(0xA1);
    let id = desk.send(flow, Address::ZERO, alice, ether(1)).await;
    desk.status(&id, "the transfer notarized", |t| matches!(t, TransferStatus::Notarized)).await;
    let held = desk.holders.wait("the signer waiting", |a| a.detail.starts_with("waiting: ")).await;
    assert!(held.detail.contains("unreachable"), "the reason is in the status: {}", held.detail);
    eventually("the alert", Duration::from_secs(90), || async { desk.s.output().contains("ALERT: ").then_some(()) })
        .await;
    assert!(
        matches!(desk.state().await.transfer(&id).unwrap().status, TransferStatus::Notarized),
        "a transient failure is never a refusal"
    );
    desk.anvil.resume();

    desk.status(&id, "the transfer confirmed", |t| matches!(t, TransferStatus::Confirmed { .. })).await;
    assert_eq!(desk.anvil.balance(alice).await, ether(1));
    assert_eq!(desk.nonce().await, before + 1, "one nonce used");
    desk.holders.wait("the wait over", |a| !a.detail.starts_with("waiting: ")).await;
}

/// Item 5: a token transfer is confirmed only with receipt status 1 and the
/// token's `Transfer(wallet, to, amount)` event. A USDT-style token (no
/// return value) confirms; a token whose `transfer` returns `false` without
/// reverting ends `failed` with the reason; a fee-on-transfer token (1 %,
/// 250 sent) records 247.5 delivered and the shortfall goes to the chain's
/// record in the confirmed report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_transfer_counts_only_what_the_token_says_it_moved() {
    let mut desk = Desk::start("").await;
    let supply = ether(1_000_000);
    let no_return = desk.anvil.deploy_odd(Odd::NoReturnToken, desk.wallet, supply).await;
    let falsy = desk.anvil.deploy_odd(Odd::FalseToken, desk.wallet, supply).await;
    let fee = desk.anvil.deploy_odd(Odd::FeeToken, desk.wallet, supply).await;
    desk.register(no_return, "NORET", 18).await;
    desk.register(falsy, "FALSE", 18).await;
    desk.register(fee, "FEE", 18).await;
    let flow = desk.flow(&[no_return, falsy, fee]).await;
    let bob = Address::repeat_byte(0xB0);
    // FalseToken.freeze(bob): its transfers to bob return false.
    let mut freeze = alloy::primitives::keccak256("freeze(address)")[..4].to_vec();
    freeze.extend_from_slice(&alloy::sol_types::SolValue::abi_encode(&bob));
    desk.anvil.call_from_dev(falsy, freeze.into()).await;

    let usdt = desk.send(flow, no_return, bob, ether(100)).await;
    desk.status(&usdt, "the USDT-style transfer confirmed", |t| matches!(t, TransferStatus::Confirmed { .. })).await;
    assert_eq!(desk.anvil.erc20_balance(no_return, bob).await, ether(100));

    let refused_by_token = desk.send(flow, falsy, bob, ether(100)).await;
    let failed = desk
        .status(&refused_by_token, "the false-returning transfer failed", |t| {
            matches!(t, TransferStatus::Failed { .. } | TransferStatus::Confirmed { .. })
        })
        .await;
    match failed {
        TransferStatus::Failed { reason } => {
            assert!(reason.contains("moved nothing") && reason.contains("returned false"), "{reason}")
        }
        other => panic!("a transfer that returned false is not confirmed: {other:?}"),
    }
    assert_eq!(desk.anvil.erc20_balance(falsy, bob).await, U256::ZERO);

    let taxed = desk.send(flow, fee, bob, ether(250)).await;
    desk.status(&taxed, "the fee-on-transfer transfer confirmed", |t| matches!(t, TransferStatus::Confirmed { .. }))
        .await;
    let delivered = ether(2475) / U256::from(10u64);
    assert_eq!(desk.anvil.erc20_balance(fee, bob).await, delivered);
    let reports = desk.reports(&taxed).await;
    let confirmed = reports.iter().find(|r| r.status == ReportStatus::Confirmed as u8).unwrap();
    assert_eq!(
        confirmed.detail,
        "shortfall: delivered 247.5 of 250 FEE; 2.5 FEE did not arrive (the token takes a fee on transfer)",
        "the shortfall is in the chain's record"
    );
    assert_eq!(desk.nonce().await, 4, "the anchor and three transfers");
}

/// Item 2: an ETH transfer to a contract gets an estimated gas limit (with
/// a margin, within the signed fee cap): 0.1 ETH to a contract whose
/// `receive()` emits an event (as a Safe proxy does work) arrives. A
/// contract that cannot receive ETH is refused before a nonce is used,
/// with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eth_to_a_contract_gets_its_gas_and_a_contract_that_cannot_receive_is_refused_before_a_nonce() {
    let desk = Desk::start("").await;
    let safe = desk.anvil.deploy_odd(Odd::LoggingRecipient, Address::ZERO, U256::ZERO).await;
    let wall = desk.anvil.deploy_odd(Odd::NoReceive, Address::ZERO, U256::ZERO).await;
    let flow = desk.flow(&[]).await;
    let tenth = ether(1) / U256::from(10u64);

    let before = desk.nonce().await;
    let refused = desk.send(flow, Address::ZERO, wall, tenth).await;
    let status = desk
        .status(&refused, "the transfer to a contract that cannot receive decided", |t| {
            !matches!(t, TransferStatus::Submitted | TransferStatus::Notarized)
        })
        .await;
    match status {
        TransferStatus::Refused { reason } => {
            assert!(reason.contains(&wall.to_string()) && reason.contains("does not accept"), "{reason}")
        }
        other => panic!("a contract that cannot receive ETH is refused before signing: {other:?}"),
    }
    assert_eq!(desk.nonce().await, before, "no nonce used for a refusal");

    let paid = desk.send(flow, Address::ZERO, safe, tenth).await;
    let TransferStatus::Confirmed { tx_hash } = desk
        .status(&paid, "the transfer to the contract confirmed", |t| matches!(t, TransferStatus::Confirmed { .. }))
        .await
    else {
        unreachable!()
    };
    assert_eq!(desk.anvil.balance(safe).await, tenth);
    let receipt = desk.anvil.wait_receipt(tx_hash).await;
    assert!(receipt.success);
    assert!(receipt.logs.iter().any(|l| l.address == safe), "receive() ran: its event is in the receipt");
    assert_eq!(desk.nonce().await, before + 1);
}

/// Item 6: depth counts only on the canonical chain. A transfer mined in a
/// block that `anvil_reorg` (depth 2) replaces goes back to broadcast: the
/// same signed bytes are sent again, mined in the new chain, and confirmed
/// at depth, once, on one nonce. (A receipt whose block hash is stale is
/// `exec::tests::a_receipt_from_a_block_no_longer_canonical_sends_the_transfer_back_to_broadcast`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_reorganised_away_is_broadcast_again_and_confirmed_once_on_the_canonical_chain() {
    let mut desk = Desk::start("confirmations = 3\n").await;
    desk.mine = true;
    let flow = desk.flow(&[]).await;
    let before = desk.nonce().await;
    desk.mine = false;

    let alice = Address::repeat_byte(0xA1);
    let id = desk.send(flow, Address::ZERO, alice, ether(1)).await;
    let TransferStatus::Broadcast { tx_hash, .. } =
        desk.status(&id, "the transfer broadcast", |t| matches!(t, TransferStatus::Broadcast { .. })).await
    else {
        unreachable!()
    };
    let first = desk.anvil.wait_receipt(tx_hash).await;
    let tx = tx_hash.to_string();
    eventually("the signer saw it mined", Duration::from_secs(60), || async {
        let out = desk.s.output();
        out.lines().any(|l| l.contains("mined, not yet deep enough") && l.contains(&tx)).then_some(())
    })
    .await;

    desk.anvil.reorg(2).await;
    assert_eq!(desk.anvil.eth().receipt(tx_hash).await.unwrap(), None, "the test's premise: reorganised away");
    assert_eq!(desk.anvil.balance(alice).await, U256::ZERO);
    eventually("the signer saw the reorg", Duration::from_secs(60), || async {
        desk.s.output().contains("vanished in a reorg").then_some(())
    })
    .await;

    desk.mine = true;
    let done = desk.status(&id, "the transfer confirmed", |t| matches!(t, TransferStatus::Confirmed { .. })).await;
    assert_eq!(done, TransferStatus::Confirmed { tx_hash }, "the same signed transaction, mined again");
    let again = desk.anvil.wait_receipt(tx_hash).await;
    assert_ne!(again.block_hash, first.block_hash, "in a block of the new chain");
    assert_eq!(desk.anvil.eth().block_hash(again.block).await.unwrap(), Some(again.block_hash));
    assert_eq!(desk.anvil.balance(alice).await, ether(1), "moved once");
    assert_eq!(desk.nonce().await, before + 1, "one nonce");
}

/// Item 3: money in flight counts. With mining paused, two transfers of
/// 4 ETH from a 10 ETH wallet are signed and wait in the pool; a third of
/// 4 ETH does not fit (it would, by the latest balance alone): it waits
/// visibly (`waiting: insufficient funds`, an alert) without a nonce, and
/// executes once the wallet is topped up. The wallet's nonce is the start
/// plus the transactions sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_beyond_the_wallet_wait_for_funds_without_a_nonce_and_execute_after_a_top_up() {
    let desk = Desk::start("alert_after_secs = 5\nfunds_wait_secs = 3600\n").await;
    let flow = desk.flow(&[]).await;
    let before = desk.nonce().await;
    let alice = Address::repeat_byte(0xA1);

    let funded = desk.anvil.balance(desk.wallet).await;
    desk.anvil.set_automine(false).await;
    let a = desk.send(flow, Address::ZERO, alice, ether(4)).await;
    let b = desk.send(flow, Address::ZERO, alice, ether(4)).await;
    for id in [&a, &b] {
        desk.status(id, "signed and broadcast", |t| matches!(t, TransferStatus::Broadcast { .. })).await;
    }
    assert_eq!(desk.anvil.balance(desk.wallet).await, funded, "nothing mined yet");
    let c = desk.send(flow, Address::ZERO, alice, ether(4)).await;
    desk.status(&c, "the third notarized", |t| matches!(t, TransferStatus::Notarized)).await;
    let held = desk.holders.wait("waiting for funds", |a| a.detail.starts_with("waiting: insufficient funds")).await;
    assert!(held.detail.contains("not yet mined"), "{}", held.detail);
    eventually("the alert", Duration::from_secs(60), || async {
        let out = desk.s.output();
        out.lines().any(|l| l.contains("ALERT: ") && l.contains("insufficient funds")).then_some(())
    })
    .await;
    assert_eq!(desk.nonce().await, before + 2, "no nonce for the transfer that waits");

    // The two are mined; the third still does not fit (about 2 ETH left).
    desk.anvil.mine(1).await;
    for id in [&a, &b] {
        desk.status(id, "confirmed", |t| matches!(t, TransferStatus::Confirmed { .. })).await;
    }
    assert!(matches!(desk.state().await.transfer(&c).unwrap().status, TransferStatus::Notarized));

    // Topped up: it executes.
    desk.anvil.set_automine(true).await;
    desk.anvil.fund(desk.wallet, ether(5)).await;
    desk.status(&c, "the third confirmed after the top-up", |t| matches!(t, TransferStatus::Confirmed { .. })).await;
    assert_eq!(desk.anvil.balance(alice).await, ether(12));
    assert_eq!(desk.nonce().await, before + 3, "start + transactions actually sent");
}

/// Item 4: a transaction whose fee sits at its signed cap is dropped from
/// the pool while the base fee is above it. It cannot be re-priced (the
/// cap allows no 12.5 % bump), so the same bytes keep going out; the
/// transfer is shown waiting and raises an alert. A later transfer waits
/// for fees rather than being refused; when the base fee falls, the dropped
/// bytes go back, the nonce gap closes and both confirm, one nonce each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_transaction_at_its_cap_is_sent_again_with_the_same_bytes_and_the_nonce_gap_closes() {
    let mut desk = Desk::start("replace_after_secs = 2\nalert_after_secs = 5\n").await;
    let flow = desk.flow(&[]).await;
    let before = desk.nonce().await;
    let gwei = 1_000_000_000u128;

    desk.anvil.set_automine(false).await;
    desk.anvil.set_next_base_fee(300 * gwei).await;
    desk.anvil.mine(1).await;
    let alice = Address::repeat_byte(0xA1);
    let first = desk.send(flow, Address::ZERO, alice, ether(1)).await;
    let TransferStatus::Broadcast { tx_hash, .. } =
        desk.status(&first, "the first broadcast", |t| matches!(t, TransferStatus::Broadcast { .. })).await
    else {
        unreachable!()
    };
    let tx = desk.anvil.eth().raw_request("eth_getTransactionByHash", serde_json::json!([tx_hash])).await.unwrap();
    let max_fee = u128::from_str_radix(tx["maxFeePerGas"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    let cap = 10_000_000_000_000_000u128; // People::request's maxFee
    assert_eq!(max_fee, cap / 21_000, "the fee sits at the signed cap");

    // The base fee jumps above it and the pool drops it.
    desk.anvil.set_next_base_fee(600 * gwei).await;
    desk.anvil.mine(1).await;
    desk.anvil.drop_transaction(tx_hash).await;
    assert_eq!(desk.nonce().await, before, "dropped: the pool no longer counts it");
    let id = first.0.to_string();
    eventually("the stuck transfer's alert", Duration::from_secs(90), || async {
        let out = desk.s.output();
        let stuck = out.lines().any(|l| l.contains("stuck: ") && l.contains(&id));
        (stuck && out.lines().any(|l| l.contains("ALERT: "))).then_some(())
    })
    .await;
    desk.holders.wait("shown waiting", |a| a.detail.starts_with("waiting: ")).await;

    // A later transfer while fees are above its cap waits, not refused.
    let bob = Address::repeat_byte(0xB0);
    let second = desk.send(flow, Address::ZERO, bob, ether(1)).await;
    desk.status(&second, "the second notarized", |t| matches!(t, TransferStatus::Notarized)).await;
    eventually("the second waiting for fees", Duration::from_secs(60), || async {
        desk.s.output().contains("fees too high").then_some(())
    })
    .await;
    assert!(matches!(desk.state().await.transfer(&second).unwrap().status, TransferStatus::Notarized));

    // Fees fall: the same bytes go back, the gap closes, both confirm.
    desk.anvil.set_next_base_fee(gwei).await;
    desk.mine = true;
    let done = desk.status(&first, "the first confirmed", |t| matches!(t, TransferStatus::Confirmed { .. })).await;
    assert_eq!(done, TransferStatus::Confirmed { tx_hash }, "the same signed bytes");
    desk.status(&second, "the second confirmed", |t| matches!(t, TransferStatus::Confirmed { .. })).await;
    assert_eq!(desk.anvil.balance(alice).await, ether(1));
    assert_eq!(desk.anvil.balance(bob).await, ether(1));
    assert_eq!(desk.nonce().await, before + 2, "one nonce each");
}

/// Item 8 (the signer's side): amounts are approved in the registry's
/// decimals, so the signer reads `decimals()` from the chain before it
/// signs a token transfer. A 6-decimal token registered as 18, and a token
/// without `decimals()`, are refused with the reason before a nonce is
/// used; the same 6-decimal token registered as 6 executes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_transfer_is_refused_when_the_chain_contradicts_the_registered_decimals() {
    let mut desk = Desk::start("").await;
    let supply = U256::from(1_000_000_000_000u64);
    let misregistered = desk.anvil.deploy_odd(Odd::SixDecimalsToken, desk.wallet, supply).await;
    let six = desk.anvil.deploy_odd(Odd::SixDecimalsToken, desk.wallet, supply).await;
    let no_decimals = desk.anvil.deploy_odd(Odd::NoDecimalsToken, desk.wallet, supply).await;
    desk.register(misregistered, "SIX", 18).await;
    desk.register(six, "SIX", 6).await;
    desk.register(no_decimals, "NODEC", 18).await;
    let flow = desk.flow(&[misregistered, six, no_decimals]).await;
    let before = desk.nonce().await;
    let bob = Address::repeat_byte(0xB0);
    let amount = U256::from(250_000_000u64);

    let refused = |t: &TransferStatus| !matches!(t, TransferStatus::Submitted | TransferStatus::Notarized);
    let wrong = desk.send(flow, misregistered, bob, amount).await;
    match desk.status(&wrong, "the misregistered token decided", refused).await {
        TransferStatus::Refused { reason } => {
            assert!(reason.contains("has 6 decimals on chain") && reason.contains("registered 18"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    let none = desk.send(flow, no_decimals, bob, amount).await;
    match desk.status(&none, "the token without decimals() decided", refused).await {
        TransferStatus::Refused { reason } => assert!(reason.contains("does not answer decimals()"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(desk.nonce().await, before, "refused before a nonce");

    let right = desk.send(flow, six, bob, amount).await;
    desk.status(&right, "the 6-decimal token confirmed", |t| matches!(t, TransferStatus::Confirmed { .. })).await;
    assert_eq!(desk.anvil.erc20_balance(six, bob).await, amount);
    assert_eq!(desk.nonce().await, before + 1);
}
