//! The development public chain: `anvil` (from the npm package pinned in
//! `tools/package.json`, installed on first use), its funded development
//! account, and the OpenZeppelin test ERC-20 (compiled with the npm `solc`
//! package; its build is committed with the source in
//! `crates/testkit/fixtures/BoxTestToken.json`).

use super::DevError;
use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::eip2718::Encodable2718;
use alloy::primitives::{Address, B256, Bytes, TxKind, U256};
use alloy::providers::{Provider, ProviderBuilder, RootProvider};
use alloy::sol;
use alloy::sol_types::{SolCall, SolValue};
use box_core::crypto::SecretKey;
use std::time::Duration;

/// anvil's first development account (a published, well-known key: development only).
pub const DEV_KEY: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

const TOKEN_BUILD: &str = include_str!("../../../testkit/fixtures/BoxTestToken.json");

sol! {
    interface IERC20 {
        function transfer(address to, uint256 amount) external returns (bool);
        function balanceOf(address who) external view returns (uint256);
    }
}

/// The public chain's JSON-RPC, acting as anvil's development account.
#[derive(Debug, Clone)]
pub struct DevChain {
    provider: RootProvider,
    dev: SecretKeyHolder,
    chain_id: u64,
}

/// Keeps the development key out of `Debug`.
#[derive(Clone)]
struct SecretKeyHolder(SecretKey);

impl std::fmt::Debug for SecretKeyHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

fn rpc<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> DevError + '_ {
    move |e| DevError::new(format!("{what}: {e}"))
}

impl DevChain {
    /// Connects to `url` and waits until it answers.
    pub async fn connect(url: &str) -> Result<Self, DevError> {
        // alloy's HTTP transport is reqwest, which the workspace builds with rustls and
        // no default provider (box-api's client): install ring process-wide first
        // (DESIGN.md §9), or reqwest panics building the client. Idempotent.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let parsed = url.parse().map_err(rpc("the anvil URL"))?;
        let provider = ProviderBuilder::new().disable_recommended_fillers().connect_http(parsed).root().clone();
        let mut chain_id = None;
        for _ in 0..200 {
            if let Ok(id) = provider.get_chain_id().await {
                chain_id = Some(id);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let chain_id = chain_id.ok_or_else(|| DevError::new(format!("anvil at {url} does not answer")))?;
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(DEV_KEY, &mut bytes).map_err(rpc("the development key"))?;
        let dev = SecretKey::from_bytes(&bytes).map_err(rpc("the development key"))?;
        Ok(Self { provider, dev: SecretKeyHolder(dev), chain_id })
    }

    /// Sends a transaction from the development account and waits for its receipt.
    async fn send(&self, to: TxKind, value: U256, input: Bytes) -> Result<(B256, Option<Address>), DevError> {
        let from = self.dev.0.address();
        let nonce = self.provider.get_transaction_count(from).pending().await.map_err(rpc("nonce"))?;
        let tx = TxEip1559 {
            chain_id: self.chain_id,
            nonce,
            gas_limit: 3_000_000,
            max_fee_per_gas: 20_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            to,
            value,
            access_list: Default::default(),
            input,
        };
        let sig = self.dev.0.sign_hash(&tx.signature_hash());
        let env: TxEnvelope = tx.into_signed(sig).into();
        let hash = *env.tx_hash();
        let _pending = self.provider.send_raw_transaction(&env.encoded_2718()).await.map_err(rpc("send"))?;
        for _ in 0..600 {
            if let Some(r) = self.provider.get_transaction_receipt(hash).await.map_err(rpc("receipt"))? {
                if !r.status() {
                    return Err(DevError::new(format!("transaction {hash} reverted")));
                }
                return Ok((hash, r.contract_address));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(DevError::new(format!("transaction {hash} was not mined")))
    }

    /// Sends `wei` to `to`.
    pub async fn fund(&self, to: Address, wei: U256) -> Result<B256, DevError> {
        Ok(self.send(TxKind::Call(to), wei, Bytes::new()).await?.0)
    }

    /// Deploys the test ERC-20 minting `supply` to the development account.
    pub async fn deploy_token(&self, supply: U256) -> Result<Address, DevError> {
        let build: serde_json::Value = serde_json::from_str(TOKEN_BUILD).map_err(rpc("the token build"))?;
        let code = build["bytecode"].as_str().ok_or_else(|| DevError::new("the token build has no bytecode"))?;
        let mut data = hex::decode(code.trim_start_matches("0x")).map_err(rpc("the token bytecode"))?;
        data.extend_from_slice(&(self.dev.0.address(), supply).abi_encode_params());
        let (_, created) = self.send(TxKind::Create, U256::ZERO, data.into()).await?;
        created.ok_or_else(|| DevError::new("the token deployment created no contract"))
    }

    /// Sends `amount` of `token` from the development account to `to`.
    pub async fn send_token(&self, token: Address, to: Address, amount: U256) -> Result<B256, DevError> {
        let data = IERC20::transferCall { to, amount }.abi_encode();
        Ok(self.send(TxKind::Call(token), U256::ZERO, data.into()).await?.0)
    }

    /// ETH balance.
    pub async fn balance(&self, who: Address) -> Result<U256, DevError> {
        self.provider.get_balance(who).await.map_err(rpc("balance"))
    }

    /// Token balance.
    pub async fn token_balance(&self, token: Address, who: Address) -> Result<U256, DevError> {
        let req = alloy::rpc::types::TransactionRequest::default()
            .to(token)
            .input(IERC20::balanceOfCall { who }.abi_encode().into());
        let out = self.provider.call(req).await.map_err(rpc("balanceOf"))?;
        IERC20::balanceOfCall::abi_decode_returns(&out).map_err(rpc("balanceOf"))
    }
}
