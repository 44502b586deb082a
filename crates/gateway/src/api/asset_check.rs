//! Assets are what the chain says they are: a key holder's signature on
//! registering an ERC-20 is taken only when the token's own `decimals()`
//! and `symbol()`, read from the public chain now, are what the action
//! says. Amounts are approved in the registered decimals, so a wrong entry
//! would make every approval mean another amount than people saw. (The
//! signer checks the decimals again before it signs each token transfer.)

use super::Shared;
use crate::error::{ApiError, ApiResult};
use box_core::governance::GovernanceAction;

/// Refuses registering an ERC-20 whose chain answers differ from the
/// action's, that has no `decimals()`, or that cannot be read (no Ethereum
/// endpoint configured, or it does not answer). Anything else passes.
pub(super) async fn registration(st: &Shared, action: &GovernanceAction) -> ApiResult<()> {
    let GovernanceAction::RegisterAsset(a) = action else { return Ok(()) };
    if !a.registered {
        return Ok(());
    }
    let eth = st.eth.clone().ok_or_else(|| {
        ApiError::unavailable(
            "eth_rpc_not_configured",
            "registering an ERC-20 reads its decimals() and symbol() from the chain: set `eth_rpc` in the gateway config",
        )
    })?;
    let read = |e: box_eth::EthError, what: &str| {
        if e.is_transient() {
            ApiError::unavailable("eth_rpc_unavailable", e.to_string())
        } else {
            ApiError::unprocessable(
                "not_an_erc20",
                format!(
                    "token {} does not answer {what} ({e}): BOX cannot tell what its amounts mean; it cannot be registered",
                    a.token
                ),
            )
        }
    };
    let decimals = eth.token_decimals(a.token).await.map_err(|e| read(e, "decimals()"))?;
    let symbol = eth.token_symbol(a.token).await.map_err(|e| read(e, "symbol()"))?;
    if decimals != a.decimals || symbol != a.symbol {
        return Err(ApiError::unprocessable(
            "asset_mismatch",
            format!(
                "token {} says symbol {symbol} and {decimals} decimals on chain, but the action registers symbol {} \
                 with {} decimals: sign the chain's values",
                a.token, a.symbol, a.decimals
            ),
        ));
    }
    Ok(())
}
