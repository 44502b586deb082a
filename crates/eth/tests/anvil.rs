//! box-eth against a real anvil on 127.0.0.1: nonces, balances, fees, gas,
//! send raw (idempotent), receipts and the typed ERC-20.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use box_core::crypto::SecretKey;
use box_eth::{Call, Eth, EthError, U256, Unsigned, erc20};
use box_testkit::anvil::Anvil;

#[tokio::test]
async fn the_one_client_reads_sends_and_speaks_erc20() {
    let anvil = Anvil::start().await;
    let eth = Eth::connect(&anvil.endpoint()).unwrap();
    assert_eq!(eth.chain_id().await.unwrap(), anvil.chain_id());

    let holder = SecretKey::from_label_unchecked("box-eth holder");
    let to = SecretKey::from_label_unchecked("box-eth recipient").address();
    anvil.fund(holder.address(), U256::from(10u64).pow(U256::from(18u64))).await;
    let token = anvil.deploy_erc20(holder.address()).await;
    assert_eq!(eth.token_decimals(token).await.unwrap(), 18);
    assert_eq!(eth.token_symbol(token).await.unwrap(), "BOXT");
    assert_eq!(eth.token_balance(token, to).await.unwrap(), U256::ZERO);
    // An address with no code is not a token: refused with a reason, not a zero.
    match eth.token_balance(to, to).await {
        Err(EthError::Unexpected(m)) => assert!(m.contains("ERC-20"), "{m}"),
        other => panic!("a non-contract answered as a token: {other:?}"),
    }

    // A transfer built from the typed call, signed offline, sent twice while
    // it waits in the pool.
    let call = erc20::transfer(token, to, U256::from(250u64));
    let gas = eth.estimate_gas(holder.address(), &call).await.unwrap();
    let fees = eth.fees().await.unwrap();
    assert!(fees.max_fee_per_gas >= fees.priority_fee_per_gas && fees.priority_fee_per_gas >= 1_000_000_000);
    assert!(eth.base_fee().await.unwrap() > 0);
    let nonce = eth.pending_nonce(holder.address()).await.unwrap();
    assert_eq!(nonce, 0);
    let tx = Unsigned::call(anvil.chain_id(), nonce, gas, fees, &call);
    let signed = tx.clone().into_signed(holder.sign_hash(&tx.signing_hash()));
    anvil.set_automine(false).await;
    eth.send_raw(&signed.raw).await.unwrap();
    eth.send_raw(&signed.raw).await.expect("the same bytes again are not an error");
    assert_eq!(eth.receipt(signed.hash).await.unwrap(), None, "not mined yet");
    anvil.mine(1).await;
    let receipt = anvil.wait_receipt(signed.hash).await;
    assert_eq!(eth.receipt(signed.hash).await.unwrap(), Some(receipt.clone()));
    // What moved is in the logs: the token's Transfer(holder, to, 250).
    let moved = erc20::transfers(&receipt.logs);
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!((moved[0].token, moved[0].from, moved[0].to), (token, holder.address(), to));
    assert_eq!(erc20::delivered(&receipt.logs, token, holder.address(), to), U256::from(250u64));
    assert_eq!(erc20::delivered(&receipt.logs, to, holder.address(), to), U256::ZERO, "another contract's events");
    // The receipt's block is canonical: its hash is the chain's at that height.
    assert_eq!(eth.block_hash(receipt.block).await.unwrap(), Some(receipt.block_hash));
    assert_eq!(eth.block_hash(receipt.block + 1_000).await.unwrap(), None, "above the head");
    assert!(receipt.success && receipt.from == holder.address() && receipt.to == Some(token));
    assert_eq!(eth.token_balance(token, to).await.unwrap(), U256::from(250u64));
    assert_eq!(eth.mined_nonce(holder.address()).await.unwrap(), 1);
    assert!(eth.block_number().await.unwrap() >= receipt.block);

    // A call that would revert is the node's refusal, not an unreachable node.
    let too_much = erc20::transfer(token, to, U256::MAX);
    match eth.estimate_gas(to, &too_much).await {
        Err(e @ EthError::Node(_)) => assert!(!e.is_transient()),
        other => panic!("a reverting call must be the node's refusal: {other:?}"),
    }
    // A transaction the node refuses (nonce already used, different bytes).
    let stale =
        Unsigned::call(anvil.chain_id(), 0, 21_000, fees, &Call { to, value: U256::from(1), data: Default::default() });
    let stale = stale.clone().into_signed(holder.sign_hash(&stale.signing_hash()));
    assert!(matches!(eth.send_raw(&stale.raw).await, Err(EthError::Node(_))));

    // Nothing listens here: unreachable, and transient.
    let gone = Eth::connect("http://127.0.0.1:9").unwrap();
    assert!(gone.chain_id().await.unwrap_err().is_transient());
}
