#![doc = include_str!("../README.md")]

pub mod erc20;
pub mod tx;

pub use alloy::primitives::{Address, B256, Bytes, U256};
pub use tx::{Call, Fees, SignedTx, Unsigned};

use alloy::eips::BlockNumberOrTag;
use alloy::network::TransactionBuilder;
use alloy::providers::{Provider, RootProvider};
use alloy::rpc::client::RpcClient;
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolCall;
use alloy::transports::http::Http;
use alloy::transports::{RpcError, TransportErrorKind};
use rustls::pki_types::CertificateDer;
use std::sync::Arc;
use std::time::Duration;

/// Why a call to the Ethereum node did not give an answer, grouped by what
/// the caller should do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EthError {
    /// The node could not be reached or its answer could not be read
    /// (connection, TLS, timeout, HTTP error status, malformed JSON).
    /// Transient: try again later.
    #[error("the Ethereum node is unreachable: {0}")]
    Unreachable(String),
    /// The node answered with a JSON-RPC error (a call that reverts, a
    /// transaction it refuses). Its words, for the caller to judge.
    #[error("the Ethereum node refused: {0}")]
    Node(String),
    /// The node answered, but not what the call expects (e.g. a
    /// `balanceOf` that returns no 32-byte word: not an ERC-20 contract).
    #[error("unexpected answer from the Ethereum node: {0}")]
    Unexpected(String),
    /// The endpoint is not a usable `http://` or `https://` URL, or its TLS
    /// configuration cannot be built. Fix the configuration.
    #[error("{0}")]
    Config(String),
}

impl EthError {
    /// Whether waiting and trying again may give an answer.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unreachable(_))
    }
}

fn classify(e: RpcError<TransportErrorKind>) -> EthError {
    match e {
        RpcError::ErrorResp(p) => EthError::Node(p.to_string()),
        RpcError::NullResp => EthError::Unexpected("a null result".into()),
        RpcError::UnsupportedFeature(f) => EthError::Unexpected(format!("unsupported: {f}")),
        other => EthError::Unreachable(other.to_string()),
    }
}

/// How [`Eth`] connects.
#[derive(Debug, Clone)]
pub struct EthOptions {
    /// The deadline of every call.
    pub timeout: Duration,
    /// Root certificates trusted for `https://` besides the platform's (a
    /// node behind the deployment's own CA), DER.
    pub extra_roots: Vec<CertificateDer<'static>>,
}

impl Default for EthOptions {
    fn default() -> Self {
        Self { timeout: Duration::from_secs(10), extra_roots: Vec::new() }
    }
}

/// A receipt, reduced to what BOX decides on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The block it is in.
    pub block: u64,
    /// The hash of that block: a receipt counts only while this is the
    /// canonical block at `block` (see [`Eth::block_hash`]).
    pub block_hash: B256,
    /// Whether execution succeeded (status 1). For a token call this says
    /// only that nothing reverted: what moved is in `logs`
    /// ([`erc20::transfers`]).
    pub success: bool,
    /// The contract a creation made, if any.
    pub contract: Option<Address>,
    /// The sender.
    pub from: Address,
    /// The recipient (`None` for a creation).
    pub to: Option<Address>,
    /// The logs the transaction emitted, in order.
    pub logs: Vec<Log>,
}

/// One log of a receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    /// The contract that emitted it.
    pub address: Address,
    /// Its topics (the event signature first, for events with one).
    pub topics: Vec<B256>,
    /// Its data.
    pub data: Bytes,
}

/// An Ethereum node's JSON-RPC. Cheap to clone (one pooled connection set).
/// Holds no state of its own and never retries: a failed call is returned
/// to the caller, classified ([`EthError`]).
#[derive(Clone)]
pub struct Eth {
    provider: RootProvider,
    endpoint: String,
}

impl std::fmt::Debug for Eth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The host only: a provider URL may carry an API key in its path.
        write!(f, "Eth({})", self.endpoint)
    }
}

/// The one transport: alloy's reqwest HTTP transport over a reqwest client
/// whose TLS is rustls with the ring provider. For callers that need alloy's
/// own provider layers on top (the test harness's wallet-filling provider);
/// everything else uses [`Eth`].
pub fn rpc_client(url: &str, options: &EthOptions) -> Result<RpcClient, EthError> {
    let parsed: reqwest::Url =
        url.parse().map_err(|e| EthError::Config(format!("the Ethereum RPC URL {url:?} is invalid: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(EthError::Config(format!("the Ethereum RPC URL {url:?} is neither http:// nor https://")));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(options.extra_roots.clone(), provider.clone())
            .map_err(|e| EthError::Config(format!("cannot load the platform's root certificates: {e}")))?;
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| EthError::Config(format!("TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(options.timeout)
        .build()
        .map_err(|e| EthError::Config(format!("cannot build the HTTP client: {e}")))?;
    let is_local = parsed.host_str().is_some_and(|h| h == "127.0.0.1" || h == "localhost" || h == "[::1]");
    Ok(RpcClient::new(Http::with_client(client, parsed), is_local))
}

impl Eth {
    /// A client of the node at `url` (`http://` or `https://`) with the
    /// default options. Nothing is sent yet.
    pub fn connect(url: &str) -> Result<Self, EthError> {
        Self::connect_with(url, &EthOptions::default())
    }

    /// A client of the node at `url` with `options`. Nothing is sent yet.
    pub fn connect_with(url: &str, options: &EthOptions) -> Result<Self, EthError> {
        let client = rpc_client(url, options)?;
        let endpoint = url
            .parse::<reqwest::Url>()
            .ok()
            .map_or_else(String::new, |u| format!("{}://{}", u.scheme(), u.authority()));
        Ok(Self { provider: RootProvider::new(client), endpoint })
    }

    /// `eth_chainId`.
    pub async fn chain_id(&self) -> Result<u64, EthError> {
        self.provider.get_chain_id().await.map_err(classify)
    }

    /// The latest block number.
    pub async fn block_number(&self) -> Result<u64, EthError> {
        self.provider.get_block_number().await.map_err(classify)
    }

    /// The next nonce of `who`, counting transactions in the node's pool.
    pub async fn pending_nonce(&self, who: Address) -> Result<u64, EthError> {
        self.provider.get_transaction_count(who).pending().await.map_err(classify)
    }

    /// The nonce of `who` after the latest mined block.
    pub async fn mined_nonce(&self, who: Address) -> Result<u64, EthError> {
        self.provider.get_transaction_count(who).latest().await.map_err(classify)
    }

    /// ETH balance of `who` at the latest block, in wei.
    pub async fn balance(&self, who: Address) -> Result<U256, EthError> {
        self.provider.get_balance(who).await.map_err(classify)
    }

    /// A fee suggestion from `eth_feeHistory`: twice the next block's base
    /// fee plus the median priority fee of the last five blocks (at least
    /// 1 gwei). A suggestion, not a promise of inclusion.
    pub async fn fees(&self) -> Result<Fees, EthError> {
        let h = self.provider.get_fee_history(5, BlockNumberOrTag::Latest, &[50.0]).await.map_err(classify)?;
        let base = h.base_fee_per_gas.last().copied().unwrap_or(1_000_000_000);
        let mut tips: Vec<u128> =
            h.reward.unwrap_or_default().iter().filter_map(|r| r.first().copied()).filter(|t| *t > 0).collect();
        tips.sort_unstable();
        let tip = tips.get(tips.len() / 2).copied().unwrap_or(0).max(1_000_000_000);
        Ok(Fees { max_fee_per_gas: base.saturating_mul(2).saturating_add(tip), priority_fee_per_gas: tip })
    }

    /// The next block's base fee per gas, in wei.
    pub async fn base_fee(&self) -> Result<u128, EthError> {
        let h = self.provider.get_fee_history(1, BlockNumberOrTag::Latest, &[]).await.map_err(classify)?;
        Ok(h.base_fee_per_gas.last().copied().unwrap_or(0))
    }

    fn request(from: Option<Address>, call: &Call) -> TransactionRequest {
        let req = TransactionRequest::default().with_to(call.to).with_value(call.value).with_input(call.data.clone());
        match from {
            Some(f) => req.with_from(f),
            None => req,
        }
    }

    /// Whether `who` has code at the latest block (`eth_getCode`): a
    /// contract, or an account delegated to one (EIP-7702).
    pub async fn has_code(&self, who: Address) -> Result<bool, EthError> {
        self.provider.get_code_at(who).await.map(|c| !c.is_empty()).map_err(classify)
    }

    /// `eth_estimateGas` for `call` sent from `from`. A call that would
    /// revert is [`EthError::Node`].
    pub async fn estimate_gas(&self, from: Address, call: &Call) -> Result<u64, EthError> {
        self.provider.estimate_gas(Self::request(Some(from), call)).await.map_err(classify)
    }

    /// `eth_call` of `call` at the latest block: its return data.
    pub async fn call(&self, call: &Call) -> Result<Bytes, EthError> {
        self.provider.call(Self::request(None, call)).await.map_err(classify)
    }

    /// `eth_sendRawTransaction`. Bytes the node already holds count as
    /// success: re-broadcasting the same bytes is how a signer recovers from
    /// a crash.
    pub async fn send_raw(&self, raw: &[u8]) -> Result<(), EthError> {
        match self.provider.send_raw_transaction(raw).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let lower = e.to_string().to_lowercase();
                if lower.contains("already known") || lower.contains("already imported") {
                    Ok(())
                } else {
                    Err(classify(e))
                }
            }
        }
    }

    /// The receipt of `tx`, once it is in a block. A receipt can disappear
    /// again in a reorganisation.
    pub async fn receipt(&self, tx: B256) -> Result<Option<Receipt>, EthError> {
        let r = self.provider.get_transaction_receipt(tx).await.map_err(classify)?;
        Ok(r.and_then(|r| {
            let logs = r
                .inner
                .logs()
                .iter()
                .map(|l| Log { address: l.address(), topics: l.topics().to_vec(), data: l.data().data.clone() })
                .collect();
            Some(Receipt {
                block: r.block_number?,
                block_hash: r.block_hash?,
                success: r.status(),
                contract: r.contract_address,
                from: r.from,
                to: r.to,
                logs,
            })
        }))
    }

    /// The hash of the canonical block at `number` now (`None` above the
    /// head). A receipt whose block hash differs was reorganised away.
    pub async fn block_hash(&self, number: u64) -> Result<Option<B256>, EthError> {
        let b = self.provider.get_block_by_number(BlockNumberOrTag::Number(number)).await.map_err(classify)?;
        Ok(b.map(|b| b.header.hash))
    }

    /// `token.balanceOf(who)` at the latest block, in base units.
    pub async fn token_balance(&self, token: Address, who: Address) -> Result<U256, EthError> {
        let out = self.call(&erc20::balance_of(token, who)).await?;
        erc20::IERC20::balanceOfCall::abi_decode_returns(&out).map_err(|e| not_erc20(token, e))
    }

    /// `token.decimals()`.
    pub async fn token_decimals(&self, token: Address) -> Result<u8, EthError> {
        let out = self.call(&erc20::decimals(token)).await?;
        erc20::IERC20::decimalsCall::abi_decode_returns(&out).map_err(|e| not_erc20(token, e))
    }

    /// `token.symbol()`.
    pub async fn token_symbol(&self, token: Address) -> Result<String, EthError> {
        let out = self.call(&erc20::symbol(token)).await?;
        erc20::IERC20::symbolCall::abi_decode_returns(&out).map_err(|e| not_erc20(token, e))
    }

    /// Any other JSON-RPC method (a development node's `anvil_mine`, say),
    /// with its JSON parameters and result. For tooling and tests; the
    /// typed methods above are the interface.
    pub async fn raw_request(&self, method: &str, params: serde_json::Value) -> Result<serde_json::Value, EthError> {
        self.provider.raw_request(method.to_owned().into(), params).await.map_err(classify)
    }
}

fn not_erc20(token: Address, e: impl std::fmt::Display) -> EthError {
    EthError::Unexpected(format!("{token} did not answer as an ERC-20 contract: {e}"))
}
