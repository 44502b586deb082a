//! The asset registry as the verified chain holds it: ETH and every
//! registered ERC-20 with its symbol and decimals, so a client turns the
//! whole units a person types into the base units it signs (and back) with
//! the chain's decimals, not its own guess. Read from the gateway's verified
//! replica; the signed amount itself is always in base units.

use super::extract::path_address;
use super::{Caller, Shared};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::roles::Role;
use axum::Json;
use axum::extract::{Path, State};
use box_api::{AddressBookOut, AssetOut, TokenOut};

/// ETH and every registered ERC-20 (anyone registered).
#[utoipa::path(get, path = "/v1/assets", tag = "status",
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 200, body = Vec<AssetOut>, description = "OK"), (status = 403, body = ErrorBody, description = "The caller's role does not allow this")))]
pub(super) async fn assets(State(st): State<Shared>, caller: Caller) -> ApiResult<Json<Vec<AssetOut>>> {
    if caller.roles.is_empty() {
        return Err(ApiError::forbidden("role_required", format!("{} is not registered", caller.address)));
    }
    let r = st.replica.read();
    let all = r.state().assets().all();
    Ok(Json(
        all.into_iter()
            .map(|a| AssetOut { asset: a.address(), symbol: a.symbol().to_owned(), decimals: a.decimals() })
            .collect(),
    ))
}

/// The governed address book (anyone registered): the destinations a flow
/// with `addressBookOnly` may pay, each with its label and the one flow it
/// is listed for (`null`: every flow). Read from the verified replica.
#[utoipa::path(get, path = "/v1/address-book", tag = "status",
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 200, body = Vec<AddressBookOut>, description = "OK"), (status = 403, body = ErrorBody, description = "The caller's role does not allow this")))]
pub(super) async fn address_book(State(st): State<Shared>, caller: Caller) -> ApiResult<Json<Vec<AddressBookOut>>> {
    if caller.roles.is_empty() {
        return Err(ApiError::forbidden("role_required", format!("{} is not registered", caller.address)));
    }
    Ok(Json(address_book_of(st.replica.read().state())))
}

/// Every entry of `state`'s address book, by address.
pub(super) fn address_book_of(state: &box_core::notary::NotaryState) -> Vec<AddressBookOut> {
    state
        .address_book()
        .iter()
        .map(|(a, e)| AddressBookOut { address: *a, label: e.label.clone(), flow: e.flow })
        .collect()
}

/// An ERC-20 contract's `symbol()` and `decimals()`, read now from the
/// public chain by the gateway's Ethereum node (key holders, admins): what a
/// key holder checks before signing the token's registration. 422 when the
/// contract does not answer them (not an ERC-20 with metadata), 503 when the
/// node cannot be reached.
#[utoipa::path(get, path = "/v1/tokens/{address}", tag = "status",
    params(("address" = String, Path, description = "The token contract")),
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 200, body = TokenOut, description = "OK"),
        (status = 403, body = ErrorBody, description = "The caller's role does not allow this"),
        (status = 422, body = ErrorBody, description = "The contract does not answer symbol() and decimals()"),
        (status = 503, body = ErrorBody, description = "The Ethereum JSON-RPC endpoint is not configured or does not answer")))]
pub(super) async fn token(
    State(st): State<Shared>,
    caller: Caller,
    Path(address): Path<String>,
) -> ApiResult<Json<TokenOut>> {
    caller.require(&[Role::KeyHolder, Role::Admin], "reading a token contract")?;
    let token = path_address("address", &address)?;
    let eth = st.eth.clone().ok_or_else(|| {
        ApiError::unavailable("eth_rpc_not_configured", "set `eth_rpc` in the gateway config to read token contracts")
    })?;
    let read = |what: &'static str, e: box_eth::EthError| {
        if e.is_transient() {
            ApiError::unavailable("eth_rpc_unavailable", format!("reading {what} of {token}: {e}"))
        } else {
            ApiError::unprocessable(
                "not_a_token",
                format!("{token} does not answer {what}, so it cannot be registered as an ERC-20 ({e})"),
            )
        }
    };
    let decimals = eth.token_decimals(token).await.map_err(|e| read("decimals()", e))?;
    let symbol = eth.token_symbol(token).await.map_err(|e| read("symbol()", e))?;
    let registered = st.replica.read().state().assets().get(&token).is_some();
    Ok(Json(TokenOut { token, symbol, decimals, registered }))
}
