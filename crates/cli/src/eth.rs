//! Read-only questions to the public chain (the profile's `ethereum_rpc`):
//! the hot wallet's balances and a token's decimals. boxctl never sends a
//! transaction; only the signer does.

use crate::error::{CliError, CliResult};
use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, U256};
use alloy::providers::{Provider, ProviderBuilder, RootProvider};
use alloy::rpc::types::TransactionRequest;
use alloy::sol;
use alloy::sol_types::SolCall;

sol! {
    /// The ERC-20 views boxctl reads.
    interface IERC20View {
        function balanceOf(address who) external view returns (uint256);
        function decimals() external view returns (uint8);
    }
}

/// A JSON-RPC endpoint.
#[derive(Debug, Clone)]
pub struct Rpc {
    url: String,
    provider: RootProvider,
}

fn unavailable(url: &str, e: impl std::fmt::Display) -> CliError {
    CliError::Unavailable(format!("Ethereum RPC {url}: {e}"))
}

impl Rpc {
    /// Connects lazily (nothing is sent until a question is asked).
    pub fn new(url: &str) -> CliResult<Self> {
        let parsed = url.parse().map_err(|e| CliError::usage(format!("ethereum_rpc {url:?} is not a URL: {e}")))?;
        let provider = ProviderBuilder::new().disable_recommended_fillers().connect_http(parsed).root().clone();
        Ok(Self { url: url.to_owned(), provider })
    }

    /// The balance of `who` in `asset` (`address(0)` = ETH), in base units.
    pub async fn balance(&self, who: Address, asset: Address) -> CliResult<U256> {
        if asset.is_zero() {
            return self.provider.get_balance(who).await.map_err(|e| unavailable(&self.url, e));
        }
        let req =
            TransactionRequest::default().with_to(asset).with_input(IERC20View::balanceOfCall { who }.abi_encode());
        let out = self.provider.call(req).await.map_err(|e| unavailable(&self.url, e))?;
        IERC20View::balanceOfCall::abi_decode_returns(&out)
            .map_err(|e| unavailable(&self.url, format!("balanceOf of {asset}: {e}")))
    }

    /// A token's `decimals()`.
    pub async fn decimals(&self, token: Address) -> CliResult<u8> {
        let req = TransactionRequest::default().with_to(token).with_input(IERC20View::decimalsCall {}.abi_encode());
        let out = self.provider.call(req).await.map_err(|e| unavailable(&self.url, e))?;
        IERC20View::decimalsCall::abi_decode_returns(&out)
            .map_err(|e| unavailable(&self.url, format!("decimals of {token}: {e}")))
    }
}
