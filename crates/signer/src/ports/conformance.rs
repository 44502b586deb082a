//! One conformance suite per boundary trait: what the executor relies on,
//! checked against any implementation. The in-memory ones run them in unit
//! tests; the real ones in `tests/ports.rs` (redb in a temp dir, box-eth on
//! anvil, the link on a box-node cluster). A broken guarantee is a panic
//! naming it.

use super::{EthereumRpc, ExecutionStore, LinkError, NotaryLink};
use crate::store::{Execution, ExecutionKind, ExecutionState};
use box_core::crypto::SecretKey;
use box_core::notary::NotaryState;
use box_core::typed::{Domain, ReportStatus, Signed, SignerReport};
use box_eth::{Address, B256, Bytes, Call, EthError, Fees, U256, Unsigned, erc20};
use std::future::Future;
use std::time::{Duration, Instant};

fn ok<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// A record with `nonce` in state `state`.
pub fn execution(nonce: Option<u64>, state: ExecutionState) -> Execution {
    Execution {
        kind: ExecutionKind::Anchor,
        nonce,
        raw: vec![],
        hashes: vec![],
        max_fee_per_gas: 0,
        priority_fee_per_gas: 0,
        gas: 0,
        fee_cap: U256::ZERO,
        time: 0,
        sent_at: 0,
        note: String::new(),
        note_reported: false,
        delivered: None,
        state,
        recovery: Default::default(),
    }
}

/// [`ExecutionStore`]: exactly once by subject and by nonce, atomically;
/// updates and inserts survive `reopen` (which closes the store and opens
/// the same storage again).
pub async fn execution_store<S: ExecutionStore + 'static>(store: S, reopen: impl Fn(S) -> S) {
    assert!(ok(store.executions().await, "executions").is_empty(), "a new store is empty");
    let (a, b, c, d) = (B256::repeat_byte(1), B256::repeat_byte(2), B256::repeat_byte(3), B256::repeat_byte(4));
    let signed = ExecutionState::Signed;
    assert!(ok(store.insert(a, execution(Some(0), signed.clone())).await, "insert"), "a new subject and nonce");
    assert!(!ok(store.insert(a, execution(Some(1), signed.clone())).await, "insert"), "the same subject twice");
    assert!(!ok(store.insert(b, execution(Some(0), signed.clone())).await, "insert"), "the same nonce twice");
    assert!(ok(store.insert(b, execution(Some(1), signed.clone())).await, "insert"));
    let refused = ExecutionState::Refused { reason: "r".into() };
    assert!(ok(store.insert(c, execution(None, refused.clone())).await, "insert"), "refusals own no nonce");
    assert!(ok(store.insert(d, execution(None, refused)).await, "insert"), "refusals own no nonce");
    ok(store.update(a, execution(Some(0), ExecutionState::Broadcast)).await, "update");

    let store = reopen(store);
    let mut all = ok(store.executions().await, "executions after reopening");
    all.sort_by_key(|(s, _)| *s);
    let subjects: Vec<B256> = all.iter().map(|(s, _)| *s).collect();
    assert_eq!(subjects, vec![a, b, c, d], "every record survives reopening");
    assert_eq!(all[0].1.state, ExecutionState::Broadcast, "the update survives reopening");
    assert!(!ok(store.insert(b, execution(Some(7), signed.clone())).await, "insert"), "still once after reopening");
    assert!(!ok(store.insert(B256::repeat_byte(5), execution(Some(1), signed.clone())).await, "insert"));

    // Racing inserts of one subject: exactly one wins.
    let e = B256::repeat_byte(6);
    let (x, y) = tokio::join!(
        store.insert(e, execution(Some(10), signed.clone())),
        store.insert(e, execution(Some(11), signed.clone()))
    );
    assert_eq!(usize::from(ok(x, "insert")) + usize::from(ok(y, "insert")), 1, "one of two racing inserts");
}

/// What the [`ethereum_rpc`] suite needs from the chain behind an
/// implementation: a development node's controls.
pub trait ChainControl: Sync {
    /// The chain's id.
    fn chain_id(&self) -> u64;
    /// Credits `wei` to `who` (mined).
    fn fund(&self, who: Address, wei: U256) -> impl Future<Output = ()> + Send;
    /// A token contract with at least 10⁶ base units held by `holder` (mined).
    fn deploy_token(&self, holder: Address) -> impl Future<Output = Address> + Send;
    /// Mining a block per transaction, or only on [`ChainControl::mine`].
    fn set_automine(&self, on: bool) -> impl Future<Output = ()> + Send;
    /// Mines `n` blocks now.
    fn mine(&self, n: u64) -> impl Future<Output = ()> + Send;
}

fn signed(key: &SecretKey, chain: u64, nonce: u64, gas: u64, fees: Fees, call: &Call) -> box_eth::SignedTx {
    let tx = Unsigned::call(chain, nonce, gas, fees, call);
    tx.clone().into_signed(key.sign_hash(&tx.signing_hash()))
}

/// [`EthereumRpc`]: the chain id, fee suggestions, nonces counting the
/// pool, idempotent re-broadcast while pending, a replacement on the same
/// nonce of which exactly one is mined, receipts only once mined, a call
/// that reverts as the node's refusal, a used nonce refused.
pub async fn ethereum_rpc<R: EthereumRpc, C: ChainControl>(rpc: &R, chain: &C) {
    assert_eq!(ok(rpc.chain_id().await, "chain id"), chain.chain_id());
    let fees = ok(rpc.fees().await, "fees");
    let base = ok(rpc.base_fee().await, "base fee");
    assert!(fees.priority_fee_per_gas >= 1_000_000_000 && fees.max_fee_per_gas >= fees.priority_fee_per_gas + base);

    let key = SecretKey::from_label_unchecked("conformance sender");
    let me = key.address();
    let to = Address::repeat_byte(0xC0);
    chain.fund(me, U256::from(10u64).pow(U256::from(18u64))).await;
    assert_eq!(ok(rpc.pending_nonce(me).await, "nonce"), 0);
    let pay = Call { to, value: U256::from(1_000u64), data: Bytes::new() };
    let gas = ok(rpc.estimate_gas(me, &pay).await, "estimate");
    assert!(gas >= 21_000, "{gas}");

    chain.set_automine(false).await;
    let first = signed(&key, chain.chain_id(), 0, 21_000, fees, &pay);
    ok(rpc.send_raw(&first.raw).await, "send");
    ok(rpc.send_raw(&first.raw).await, "the same bytes again, while pending");
    assert_eq!(ok(rpc.pending_nonce(me).await, "nonce"), 1, "the pending nonce counts the pool");
    assert_eq!(ok(rpc.receipt(first.hash).await, "receipt"), None, "no receipt before a block");
    let bumped = Fees {
        max_fee_per_gas: fees.max_fee_per_gas + fees.max_fee_per_gas / 8 + 1,
        priority_fee_per_gas: fees.priority_fee_per_gas + fees.priority_fee_per_gas / 8 + 1,
    };
    let second = signed(&key, chain.chain_id(), 0, 21_000, bumped, &pay);
    ok(rpc.send_raw(&second.raw).await, "a replacement with both fees 12.5 % higher");
    let head = ok(rpc.block_number().await, "head");
    chain.mine(1).await;
    assert!(ok(rpc.block_number().await, "head") > head);
    let mut mined = Vec::new();
    for h in [first.hash, second.hash] {
        mined.extend(ok(rpc.receipt(h).await, "receipt"));
    }
    assert_eq!(mined.len(), 1, "exactly one transaction of a nonce is mined");
    assert!(mined[0].success && mined[0].block > head);
    assert_eq!(
        ok(rpc.block_hash(mined[0].block).await, "block hash"),
        Some(mined[0].block_hash),
        "a receipt's block is the canonical one at its height"
    );
    assert_eq!(ok(rpc.block_hash(mined[0].block + 1_000).await, "block hash"), None, "no block above the head");
    assert_eq!(ok(rpc.balance(to).await, "balance"), U256::from(1_000u64));
    match rpc.send_raw(&first.raw).await {
        Err(e @ EthError::Node(_)) => assert!(!e.is_transient()),
        Ok(()) => {}
        Err(e) => panic!("a used nonce is the node's refusal, not {e}"),
    }
    let reused = signed(&key, chain.chain_id(), 0, 21_000, bumped, &Call { value: U256::from(7u64), ..pay });
    assert!(matches!(rpc.send_raw(&reused.raw).await, Err(EthError::Node(_))), "a used nonce is refused");
    chain.set_automine(true).await;

    let token = chain.deploy_token(me).await;
    assert!(ok(rpc.has_code(token).await, "code"), "a contract has code");
    assert!(!ok(rpc.has_code(to).await, "code"), "an account without code");
    assert!(ok(rpc.token_decimals(token).await, "decimals") <= 36);
    assert!(!ok(rpc.token_symbol(token).await, "symbol").is_empty());
    match rpc.token_decimals(to).await {
        Err(e) => assert!(!e.is_transient(), "no decimals() is an answer, not an outage: {e}"),
        Ok(d) => panic!("an account without code answered decimals() = {d}"),
    }
    let held = ok(rpc.token_balance(token, me).await, "token balance");
    assert!(held >= U256::from(1_000_000u64));
    let too_much = erc20::transfer(token, to, held + U256::from(1u64));
    assert!(matches!(rpc.estimate_gas(me, &too_much).await, Err(EthError::Node(_))), "a reverting call is refused");
    let move_some = erc20::transfer(token, to, U256::from(5u64));
    let gas = ok(rpc.estimate_gas(me, &move_some).await, "estimate");
    let nonce = ok(rpc.pending_nonce(me).await, "nonce");
    let t = signed(&key, chain.chain_id(), nonce, gas * 5 / 4, fees, &move_some);
    ok(rpc.send_raw(&t.raw).await, "send");
    let deadline = Instant::now() + Duration::from_secs(30);
    let receipt = loop {
        if let Some(r) = ok(rpc.receipt(t.hash).await, "receipt") {
            break r;
        }
        assert!(Instant::now() < deadline, "a token transfer was never mined");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(ok(rpc.token_balance(token, to).await, "token balance"), U256::from(5u64));
    assert_eq!(
        erc20::delivered(&receipt.logs, token, me, to),
        U256::from(5u64),
        "a token transfer's receipt carries the token's Transfer(from, to, amount) log"
    );
}

/// [`NotaryLink`]: a report signed by the signer is taken (and again: a
/// duplicate is not an error) and reaches the chain, which `chain` reads;
/// one signed by anyone else is refused by rule, not "unavailable".
pub async fn notary_link<L, F, Fut>(link: &L, domain: &Domain, signer: &SecretKey, stranger: &SecretKey, chain: F)
where
    L: NotaryLink,
    F: Fn() -> Fut,
    Fut: Future<Output = Option<NotaryState>>,
{
    let report = SignerReport {
        subject: B256::repeat_byte(0x5C),
        status: ReportStatus::Refused as u8,
        txHash: B256::ZERO,
        nonce: 0,
        detail: "conformance".into(),
    };
    let mine = Signed::new(domain, signer, report.clone());
    ok(link.submit_report(mine.clone()).await, "a report signed by the signer");
    ok(link.submit_report(mine.clone()).await, "the same report again");
    let id = box_core::notary::Subject::SignerReport(mine).id(domain).unwrap_or_else(|e| panic!("{e}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if chain().await.is_some_and(|s| s.subject(&id).is_some()) {
            break;
        }
        assert!(Instant::now() < deadline, "a report the link took never reached the chain");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let forged = Signed::new(domain, stranger, report);
    match link.submit_report(forged).await {
        Err(LinkError::Refused(reason)) => assert!(!reason.is_empty()),
        other => panic!("a report not signed by the signer must be refused by rule: {other:?}"),
    }
}
