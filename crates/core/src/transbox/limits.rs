//! A flow's limits on one transfer and on a rolling period, fees included.

use super::units;
use crate::Refusal;
use crate::Units;
use crate::amount::Amount;
use crate::asset::Asset;
use crate::flow::VerifiedFlow;
use crate::ids::Timestamp;
use crate::typed::{AssetLimit, TransferRequest};
use alloy::primitives::Address;

/// What a transfer counts towards its flow's ETH period limit: its amount
/// when it moves ETH, plus its signed fee cap (`maxFee`, wei) whatever it
/// moves; `None` on overflow.
pub fn eth_spend(asset: &Address, amount: Amount, max_fee: Amount) -> Option<Amount> {
    if asset.is_zero() { amount.checked_add(max_fee) } else { Some(max_fee) }
}

/// What one transfer (moving `amount` of `asset`, with the signed fee cap
/// `max_fee`) counts towards its flow's period limit for `window`: for the
/// ETH window (`address(0)`) its [`eth_spend`] (the largest amount on
/// overflow, so it is over any limit); for a token's window its amount if it
/// moves that token; `None` if it does not count there. The one rule every
/// history is counted by: the chain's ([`crate::notary::NotaryState::history`])
/// and the signer's record ([`crate::decision::SignerRecord::counted`]).
///
/// It does not say whether the transfer counts at all (a refused or failed
/// one does not): the caller leaves those out.
pub fn counts_towards(window: &Address, asset: &Address, amount: Amount, max_fee: Amount) -> Option<Amount> {
    if window.is_zero() {
        Some(eth_spend(asset, amount, max_fee).unwrap_or(Amount(alloy::primitives::U256::MAX)))
    } else if asset == window {
        Some(amount)
    } else {
        None
    }
}

/// Sum of `history` amounts strictly inside `(now - period, now]`.
pub fn used_in_window(history: &[(Timestamp, Amount)], now: Timestamp, period: u64) -> Option<Amount> {
    let start = now.saturating_sub(period);
    history.iter().filter(|(t, _)| *t > start && *t <= now).try_fold(Amount::ZERO, |acc, (_, a)| acc.checked_add(*a))
}

/// The rules a request meets on its own against its flow's limits for its
/// asset: the flow limits the asset, the amount is within one transfer's
/// limit, and the signed fee cap (`maxFee`) is within the flow's fee cap
/// for the asset. `asset` (the registered asset, if known) only states the
/// amounts in its units. Returns the asset's limit.
///
/// Part of [`check_transbox`](super::check_transbox),
/// [`verify_transbox`](super::verify_transbox) and
/// [`check_application`](super::check_application).
pub fn check_request_limits<'f>(
    r: &TransferRequest,
    flow: &'f VerifiedFlow,
    asset: Option<&Asset>,
) -> Result<&'f AssetLimit, Refusal> {
    let limit = flow.limit(&r.asset).ok_or(Refusal::NoLimitForAsset(r.asset))?;
    if r.amount > limit.perTransfer {
        return Err(Refusal::OverPerTransferLimit {
            amount: units(r, asset, r.amount),
            limit: units(r, asset, limit.perTransfer),
        });
    }
    if r.maxFee > limit.maxFee {
        let name = asset.map_or_else(|| r.asset.to_string(), |a| a.symbol().to_owned());
        return Err(Refusal::OverFeeCap {
            fee: Units::of(&Asset::Eth, r.maxFee),
            cap: Units::of(&Asset::Eth, limit.maxFee),
            asset: name,
        });
    }
    Ok(limit)
}

/// The period limits, with `history` and `eth_history` as in
/// [`TransferContext`](super::TransferContext): the request's asset window
/// (its amount; for ETH its amount plus its fee cap) and, for a token, the
/// flow's ETH window (its fee cap), when the flow limits ETH.
pub fn check_period_limits(
    r: &TransferRequest,
    flow: &VerifiedFlow,
    asset: &Asset,
    history: &[(Timestamp, Amount)],
    eth_history: &[(Timestamp, Amount)],
    now: Timestamp,
) -> Result<(), Refusal> {
    let limit = flow.limit(&r.asset).ok_or(Refusal::NoLimitForAsset(r.asset))?;
    let eth_spent = eth_spend(&r.asset, Amount(r.amount), Amount(r.maxFee));
    // This asset's window; for ETH it also holds every fee cap.
    let own = if r.asset.is_zero() { eth_spent } else { Some(Amount(r.amount)) };
    check_window(limit, history, now, own, asset)?;
    // A token transfer's fee comes out of ETH: it counts in the ETH window.
    if !r.asset.is_zero()
        && let Some(eth) = flow.limit(&Address::ZERO)
    {
        check_window(eth, eth_history, now, eth_spent, &Asset::Eth)?;
    }
    Ok(())
}

/// `spend` plus what `history` holds inside `limit`'s window stays within
/// its period limit (stated in `asset`'s units); `None` is an overflow.
fn check_window(
    limit: &AssetLimit,
    history: &[(Timestamp, Amount)],
    now: Timestamp,
    spend: Option<Amount>,
    asset: &Asset,
) -> Result<(), Refusal> {
    let used = used_in_window(history, now, limit.periodSeconds)
        .ok_or_else(|| Refusal::MalformedTransfer("history total overflows".into()))?;
    let spend = spend.ok_or_else(|| Refusal::MalformedTransfer("amount plus fee cap overflows".into()))?;
    if used.checked_add(spend).is_none_or(|t| t.0 > limit.perPeriod) {
        return Err(Refusal::OverPeriodLimit {
            amount: Units::of(asset, spend.0),
            used: Units::of(asset, used.0),
            limit: Units::of(asset, limit.perPeriod),
            period_seconds: limit.periodSeconds,
        });
    }
    Ok(())
}
