//! The asset registry as the verified chain holds it: ETH and every
//! registered ERC-20 with its symbol and decimals, so a client turns the
//! whole units a person types into the base units it signs (and back) with
//! the chain's decimals, not its own guess. Read from the gateway's verified
//! replica; the signed amount itself is always in base units.

use super::{Caller, Shared};
use crate::error::{ApiError, ApiResult, ErrorBody};
use axum::Json;
use axum::extract::State;
use box_api::AssetOut;

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
