//! The public-chain harness against a real anvil process on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::eip2718::Encodable2718;
use alloy::network::TxSignerSync;
use alloy::primitives::{Address, TxKind, U256, keccak256};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use box_testkit::anvil::{
    Anvil, AnvilOptions, DEV_ADDRESS, ERC20_INITIAL_SUPPLY, IERC20, erc20_fixture, workspace_root,
};
use std::process::Command;

const ETH: u128 = 1_000_000_000_000_000_000;

fn signer(label: &str) -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&keccak256(label)).unwrap()
}

/// An EIP-1559 transaction calling `to` with `input`, signed by `from`, as the
/// bytes `eth_sendRawTransaction` takes: what BOX's signer will hand the harness.
fn signed_call(from: &PrivateKeySigner, chain_id: u64, nonce: u64, to: Address, input: Vec<u8>) -> Vec<u8> {
    let mut tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit: 100_000,
        max_fee_per_gas: 20_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(to),
        value: U256::ZERO,
        access_list: Default::default(),
        input: input.into(),
    };
    let signature = from.sign_transaction_sync(&mut tx).unwrap();
    TxEnvelope::from(tx.into_signed(signature)).encoded_2718()
}

#[tokio::test]
async fn funding_an_address_shows_in_its_balance() {
    let anvil = Anvil::start().await;
    assert_eq!(anvil.chain_id(), 31337);
    assert!(anvil.endpoint().starts_with("http://127.0.0.1:"), "{}", anvil.endpoint());
    let who = signer("fund me").address();
    assert_eq!(anvil.balance(who).await, U256::ZERO);
    let dev_before = anvil.balance(DEV_ADDRESS).await;

    anvil.fund(who, U256::from(3 * ETH / 2)).await;

    assert_eq!(anvil.balance(who).await, U256::from(3 * ETH / 2));
    assert!(anvil.balance(DEV_ADDRESS).await < dev_before - U256::from(3 * ETH / 2), "dev account paid value and gas");
}

#[tokio::test]
async fn erc20_transfer_signed_offline_moves_tokens() {
    let anvil = Anvil::start().await;
    let holder = signer("erc20 holder");
    let recipient = signer("erc20 recipient").address();
    let token = anvil.deploy_erc20(holder.address()).await;
    assert_eq!(anvil.erc20_balance(token, holder.address()).await, ERC20_INITIAL_SUPPLY);
    assert_eq!(anvil.erc20_balance(token, recipient).await, U256::ZERO);
    anvil.fund(holder.address(), U256::from(ETH)).await;

    let amount = U256::from(250u64) * U256::from(ETH);
    let input = IERC20::transferCall { to: recipient, amount }.abi_encode();
    let raw = signed_call(&holder, anvil.chain_id(), 0, token, input);
    let hash = anvil.send_raw(&raw).await;
    let receipt = anvil.wait_receipt(hash).await;

    assert!(receipt.success, "transfer reverted");
    assert_eq!(receipt.from, holder.address());
    assert_eq!(anvil.erc20_balance(token, recipient).await, amount);
    assert_eq!(anvil.erc20_balance(token, holder.address()).await, ERC20_INITIAL_SUPPLY - amount);
}

#[tokio::test]
async fn without_automine_a_transaction_waits_for_mine() {
    let anvil = Anvil::start().await;
    let sender = signer("manual mining");
    anvil.fund(sender.address(), U256::from(ETH)).await;
    let token = anvil.deploy_erc20(sender.address()).await;
    anvil.set_automine(false).await;
    let height = anvil.eth().block_number().await.unwrap();

    let input = IERC20::transferCall { to: DEV_ADDRESS, amount: U256::from(1u64) }.abi_encode();
    let hash = anvil.send_raw(&signed_call(&sender, anvil.chain_id(), 0, token, input)).await;
    assert!(anvil.eth().receipt(hash).await.unwrap().is_none(), "mined without automine");
    assert_eq!(anvil.eth().block_number().await.unwrap(), height);

    anvil.mine(3).await;

    assert_eq!(anvil.eth().block_number().await.unwrap(), height + 3);
    assert_eq!(anvil.wait_receipt(hash).await.block, height + 1);
    assert_eq!(anvil.erc20_balance(token, DEV_ADDRESS).await, U256::from(1u64));
}

#[tokio::test]
async fn block_time_and_chain_id_are_configurable() {
    let anvil = Anvil::start_with(AnvilOptions::default().chain_id(1337).block_time(1)).await;
    assert_eq!(anvil.chain_id(), 1337);
    assert_eq!(anvil.eth().chain_id().await.unwrap(), 1337);
    let start = anvil.eth().block_number().await.unwrap();
    // Interval mining makes blocks with no transactions sent at all.
    box_testkit::eventually("a block from interval mining", std::time::Duration::from_secs(10), || async {
        (anvil.eth().block_number().await.unwrap() > start).then_some(())
    })
    .await;
    // A transaction still lands, in the next interval block.
    let who = signer("interval").address();
    anvil.fund(who, U256::from(7u64)).await;
    assert_eq!(anvil.balance(who).await, U256::from(7u64));
}

/// The committed fixture is what `tools/compile-erc20.js` makes from the
/// committed source with the pinned solc. Needs node and `npm ci --prefix tools`
/// (tools/test runs it), and fails rather than skips without them.
#[test]
fn erc20_fixture_matches_a_fresh_compile() {
    let root = workspace_root();
    assert!(
        root.join("tools/node_modules/solc").is_dir(),
        "solc is not installed: run `npm ci --prefix tools` (tools/test does it)"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("BoxTestToken.json");
    let status = Command::new("node")
        .arg(root.join("tools/compile-erc20.js"))
        .arg("--out")
        .arg(&out)
        .status()
        .expect("node runs (it is needed to check the ERC-20 fixture)");
    assert!(status.success(), "tools/compile-erc20.js failed");
    let fresh: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let committed: serde_json::Value = serde_json::from_str(box_testkit::anvil::ERC20_FIXTURE_JSON).unwrap();
    assert_eq!(
        fresh["bytecode"], committed["bytecode"],
        "fixture bytecode is stale: run `node tools/compile-erc20.js`"
    );
    assert_eq!(fresh, committed, "fixture is stale: run `node tools/compile-erc20.js`");
    let fixture = erc20_fixture();
    assert!(fixture.compiler.starts_with("0.8.37+"), "{}", fixture.compiler);
    assert!(fixture.bytecode.len() > 1000);
}

/// The committed odd contracts are what `tools/compile-contracts.js` makes
/// from `tools/contracts/OddContracts.sol` with the pinned solc.
#[test]
fn odd_contracts_fixture_matches_a_fresh_compile() {
    let root = workspace_root();
    assert!(
        root.join("tools/node_modules/solc").is_dir(),
        "solc is not installed: run `npm ci --prefix tools` (tools/test does it)"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("OddContracts.json");
    let status = Command::new("node")
        .arg(root.join("tools/compile-contracts.js"))
        .arg("--out")
        .arg(&out)
        .status()
        .expect("node runs (it is needed to check the odd contracts' fixture)");
    assert!(status.success(), "tools/compile-contracts.js failed");
    let fresh: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let committed: serde_json::Value = serde_json::from_str(box_testkit::anvil::ODD_FIXTURE_JSON).unwrap();
    assert_eq!(fresh, committed, "fixture is stale: run `node tools/compile-contracts.js`");
    use box_testkit::anvil::Odd;
    for odd in [Odd::NoReturnToken, Odd::FalseToken, Odd::FeeToken, Odd::SixDecimalsToken, Odd::NoDecimalsToken] {
        assert!(odd.bytecode().len() > 500, "{}", odd.name());
    }
}
