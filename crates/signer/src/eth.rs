//! The public chain, over Ethereum JSON-RPC with alloy, and the one place
//! transactions are built. A transaction is made only from a
//! [`VerifiedTransBox`] (or an authorized flow hash) and fee parameters; the
//! signature comes from the locked wallet key for the duration of one call.

use crate::locked::LockedKey;
use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::BlockNumberOrTag;
use alloy::eips::eip2718::Encodable2718;
use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, Bytes, TxKind, U256};
use alloy::providers::{Provider, ProviderBuilder, RootProvider};
use alloy::rpc::types::TransactionRequest;
use alloy::sol;
use alloy::sol_types::SolCall;
use box_core::asset::Asset;
use box_core::crypto::SecretKey;
use box_core::transbox::VerifiedTransBox;

sol! {
    /// The two ERC-20 functions the signer uses.
    interface IERC20 {
        function transfer(address to, uint256 amount) external returns (bool);
        function balanceOf(address who) external view returns (uint256);
    }
}

/// A JSON-RPC failure, with the node's words.
#[derive(Debug, Clone, thiserror::Error)]
#[error("Ethereum RPC: {0}")]
pub struct RpcError(pub String);

fn rpc<E: std::fmt::Display>(e: E) -> RpcError {
    RpcError(e.to_string())
}

/// A receipt, reduced to what the signer decides on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// Block number.
    pub block: u64,
    /// Whether execution succeeded.
    pub success: bool,
}

/// Fee parameters for one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fees {
    /// maxFeePerGas.
    pub max_fee_per_gas: u128,
    /// maxPriorityFeePerGas.
    pub priority_fee_per_gas: u128,
}

/// The Ethereum node.
#[derive(Debug, Clone)]
pub struct Eth {
    provider: RootProvider,
}

impl Eth {
    /// Connects to an HTTP JSON-RPC endpoint (nothing is sent yet).
    pub fn connect(url: &str) -> Result<Self, RpcError> {
        // alloy's HTTP transport is reqwest, which the workspace builds with rustls and
        // no default provider (box-api's client): install ring process-wide first
        // (DESIGN.md §9), or reqwest panics building the client. Idempotent.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let url = url.parse().map_err(|e| RpcError(format!("the RPC URL {url:?} is invalid: {e}")))?;
        Ok(Self { provider: ProviderBuilder::new().disable_recommended_fillers().connect_http(url).root().clone() })
    }

    /// eth_chainId.
    pub async fn chain_id(&self) -> Result<u64, RpcError> {
        self.provider.get_chain_id().await.map_err(rpc)
    }

    /// The next nonce, counting transactions in the node's pool.
    pub async fn pending_nonce(&self, who: Address) -> Result<u64, RpcError> {
        self.provider.get_transaction_count(who).pending().await.map_err(rpc)
    }

    /// The nonce after the latest mined block.
    pub async fn mined_nonce(&self, who: Address) -> Result<u64, RpcError> {
        self.provider.get_transaction_count(who).latest().await.map_err(rpc)
    }

    /// Current fee suggestion from `eth_feeHistory`: twice the next block's
    /// base fee plus the median priority fee of the last blocks (at least 1 gwei).
    pub async fn fees(&self) -> Result<Fees, RpcError> {
        let h = self.provider.get_fee_history(5, BlockNumberOrTag::Latest, &[50.0]).await.map_err(rpc)?;
        let base = h.base_fee_per_gas.last().copied().unwrap_or(1_000_000_000);
        let mut tips: Vec<u128> =
            h.reward.unwrap_or_default().iter().filter_map(|r| r.first().copied()).filter(|t| *t > 0).collect();
        tips.sort_unstable();
        let tip = tips.get(tips.len() / 2).copied().unwrap_or(0).max(1_000_000_000);
        Ok(Fees { max_fee_per_gas: base.saturating_mul(2).saturating_add(tip), priority_fee_per_gas: tip })
    }

    /// The next block's base fee.
    pub async fn base_fee(&self) -> Result<u128, RpcError> {
        let h = self.provider.get_fee_history(1, BlockNumberOrTag::Latest, &[]).await.map_err(rpc)?;
        Ok(h.base_fee_per_gas.last().copied().unwrap_or(0))
    }

    /// ETH balance.
    pub async fn balance(&self, who: Address) -> Result<U256, RpcError> {
        self.provider.get_balance(who).await.map_err(rpc)
    }

    /// ERC-20 balance.
    pub async fn token_balance(&self, token: Address, who: Address) -> Result<U256, RpcError> {
        let req = TransactionRequest::default().with_to(token).with_input(IERC20::balanceOfCall { who }.abi_encode());
        let out = self.provider.call(req).await.map_err(rpc)?;
        IERC20::balanceOfCall::abi_decode_returns(&out).map_err(rpc)
    }

    /// eth_estimateGas for a call from `from`.
    pub async fn estimate_gas(&self, from: Address, call: &Call) -> Result<u64, RpcError> {
        let req = TransactionRequest::default()
            .with_from(from)
            .with_to(call.to)
            .with_value(call.value)
            .with_input(call.data.clone());
        self.provider.estimate_gas(req).await.map_err(rpc)
    }

    /// eth_sendRawTransaction. A node that already has the transaction
    /// counts as success: re-broadcasting the same bytes is how the signer
    /// recovers from a crash.
    pub async fn send_raw(&self, raw: &[u8]) -> Result<(), RpcError> {
        match self.provider.send_raw_transaction(raw).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let m = e.to_string();
                let lower = m.to_lowercase();
                if lower.contains("already known") || lower.contains("already imported") {
                    Ok(())
                } else {
                    Err(RpcError(m))
                }
            }
        }
    }

    /// The receipt of `tx`, if mined.
    pub async fn receipt(&self, tx: B256) -> Result<Option<Receipt>, RpcError> {
        let r = self.provider.get_transaction_receipt(tx).await.map_err(rpc)?;
        Ok(r.and_then(|r| Some(Receipt { block: r.block_number?, success: r.status() })))
    }

    /// The latest block number.
    pub async fn block_number(&self) -> Result<u64, RpcError> {
        self.provider.get_block_number().await.map_err(rpc)
    }
}

/// What a transaction calls: built only from verified fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// Recipient (the token contract for ERC-20).
    pub to: Address,
    /// Wei sent.
    pub value: U256,
    /// Calldata.
    pub data: Bytes,
}

impl Call {
    /// The call that executes a verified transfer: a plain ETH transfer, or
    /// the token's `transfer(to, amount)`.
    pub fn transfer(v: &VerifiedTransBox) -> Self {
        let r = v.request();
        match v.asset() {
            Asset::Eth => Self { to: r.to, value: r.amount, data: Bytes::new() },
            Asset::Erc20 { contract, .. } => Self {
                to: *contract,
                value: U256::ZERO,
                data: IERC20::transferCall { to: r.to, amount: r.amount }.abi_encode().into(),
            },
        }
    }

    /// The anchoring of a flow: zero value to the wallet itself, the flow hash as data.
    pub fn anchor(wallet: Address, flow: B256) -> Self {
        Self { to: wallet, value: U256::ZERO, data: Bytes::copy_from_slice(flow.as_slice()) }
    }
}

/// A signed transaction ready to broadcast.
#[derive(Debug, Clone)]
pub struct SignedTx {
    /// EIP-2718 bytes.
    pub raw: Bytes,
    /// Transaction hash.
    pub hash: B256,
}

/// Signs an EIP-1559 transaction for `call` with the wallet key.
pub fn sign_tx(
    key: &LockedKey,
    chain_id: u64,
    nonce: u64,
    gas: u64,
    fees: Fees,
    call: &Call,
) -> Result<SignedTx, String> {
    let tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: fees.max_fee_per_gas,
        max_priority_fee_per_gas: fees.priority_fee_per_gas,
        to: TxKind::Call(call.to),
        value: call.value,
        access_list: Default::default(),
        input: call.data.clone(),
    };
    let digest = tx.signature_hash();
    let signature =
        key.with_wallet(|w| SecretKey::from_bytes(w).map(|k| k.sign_hash(&digest)).map_err(|e| e.to_string()))?;
    let envelope: TxEnvelope = tx.into_signed(signature).into();
    Ok(SignedTx { hash: *envelope.tx_hash(), raw: envelope.encoded_2718().into() })
}
