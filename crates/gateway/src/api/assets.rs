//! The asset registry as the verified chain holds it: ETH and every
//! registered ERC-20 with its symbol and decimals, so a client turns the
//! whole units a person types into the base units it signs (and back) with
//! the chain's decimals, not its own guess. Read from the gateway's verified
//! replica; the signed amount itself is always in base units.

use super::{Caller, Shared};
use crate::error::{ApiError, ApiResult, ErrorBody};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One registered asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssetOut {
    /// `0x0000000000000000000000000000000000000000` for ETH, else the token contract (EIP-55).
    pub asset: String,
    /// Symbol, e.g. `ETH`, `USDC`.
    pub symbol: String,
    /// Decimals: one whole unit is 10^decimals base units.
    pub decimals: u8,
}

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
            .map(|a| AssetOut {
                asset: a.address().to_checksum(None),
                symbol: a.symbol().to_owned(),
                decimals: a.decimals(),
            })
            .collect(),
    ))
}
