//! The development public chain: `anvil` (from the npm package pinned in
//! `tools/package.json`, installed on first use), its funded development
//! account, and the OpenZeppelin test ERC-20 (compiled with the npm `solc`
//! package; its build is committed with the source in
//! `crates/testkit/fixtures/BoxTestToken.json`).

use super::DevError;
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::sol_types::SolValue;
use box_core::crypto::SecretKey;
use box_eth::{Call, Eth, Fees, Unsigned, erc20};
use std::time::Duration;

/// anvil's first development account (a published, well-known key: development only).
pub const DEV_KEY: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

const TOKEN_BUILD: &str = include_str!("../../../testkit/fixtures/BoxTestToken.json");

/// The public chain's JSON-RPC, acting as anvil's development account.
#[derive(Debug, Clone)]
pub struct DevChain {
    eth: Eth,
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
        let eth = Eth::connect(url).map_err(rpc("the anvil URL"))?;
        let mut chain_id = None;
        for _ in 0..200 {
            if let Ok(id) = eth.chain_id().await {
                chain_id = Some(id);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let chain_id = chain_id.ok_or_else(|| DevError::new(format!("anvil at {url} does not answer")))?;
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(DEV_KEY, &mut bytes).map_err(rpc("the development key"))?;
        let dev = SecretKey::from_bytes(&bytes).map_err(rpc("the development key"))?;
        Ok(Self { eth, dev: SecretKeyHolder(dev), chain_id })
    }

    /// Sends a transaction from the development account and waits for its
    /// receipt; returns its hash and the contract it created, if any.
    async fn send(&self, tx: impl FnOnce(u64) -> Unsigned) -> Result<(B256, Option<Address>), DevError> {
        let from = self.dev.0.address();
        let nonce = self.eth.pending_nonce(from).await.map_err(rpc("nonce"))?;
        let tx = tx(nonce);
        let signed = tx.clone().into_signed(self.dev.0.sign_hash(&tx.signing_hash()));
        self.eth.send_raw(&signed.raw).await.map_err(rpc("send"))?;
        for _ in 0..600 {
            if let Some(r) = self.eth.receipt(signed.hash).await.map_err(rpc("receipt"))? {
                if !r.success {
                    return Err(DevError::new(format!("transaction {} reverted", signed.hash)));
                }
                return Ok((signed.hash, r.contract));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(DevError::new(format!("transaction {} was not mined", signed.hash)))
    }

    /// What the development account pays per gas (anvil's defaults leave room).
    const FEES: Fees = Fees { max_fee_per_gas: 20_000_000_000, priority_fee_per_gas: 1_000_000_000 };

    async fn call(&self, call: Call) -> Result<B256, DevError> {
        let chain = self.chain_id;
        Ok(self.send(|nonce| Unsigned::call(chain, nonce, 3_000_000, Self::FEES, &call)).await?.0)
    }

    /// Sends `wei` to `to`.
    pub async fn fund(&self, to: Address, wei: U256) -> Result<B256, DevError> {
        self.call(Call { to, value: wei, data: Bytes::new() }).await
    }

    /// Deploys the test ERC-20 minting `supply` to the development account.
    pub async fn deploy_token(&self, supply: U256) -> Result<Address, DevError> {
        let build: serde_json::Value = serde_json::from_str(TOKEN_BUILD).map_err(rpc("the token build"))?;
        let code = build["bytecode"].as_str().ok_or_else(|| DevError::new("the token build has no bytecode"))?;
        let mut data = hex::decode(code.trim_start_matches("0x")).map_err(rpc("the token bytecode"))?;
        data.extend_from_slice(&(self.dev.0.address(), supply).abi_encode_params());
        let chain = self.chain_id;
        let (_, created) =
            self.send(|nonce| Unsigned::create(chain, nonce, 3_000_000, Self::FEES, data.into())).await?;
        created.ok_or_else(|| DevError::new("the token deployment created no contract"))
    }

    /// Sends `amount` of `token` from the development account to `to`.
    pub async fn send_token(&self, token: Address, to: Address, amount: U256) -> Result<B256, DevError> {
        self.call(erc20::transfer(token, to, amount)).await
    }

    /// ETH balance.
    pub async fn balance(&self, who: Address) -> Result<U256, DevError> {
        self.eth.balance(who).await.map_err(rpc("balance"))
    }

    /// Token balance.
    pub async fn token_balance(&self, token: Address, who: Address) -> Result<U256, DevError> {
        self.eth.token_balance(token, who).await.map_err(rpc("balanceOf"))
    }
}
