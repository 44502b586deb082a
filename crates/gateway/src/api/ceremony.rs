//! The key ceremony relay and the signer and wallet status.
//!
//! The signer opens no inbound port (DESIGN.md §3): a key holder's device
//! seals its message to the signer's per-boot ceremony key, signs it, and the
//! gateway relays the canonical entry to the chain's log, where the signer
//! reads it. The gateway checks only what it can without the plaintext: the
//! bytes decode as a ceremony message, the caller's device signed it, it
//! answers the boot the signer announced, and the sender may send it at all
//! ([`box_core::ceremony::admit`] against the announced devices: an
//! enrolment from the slot's genesis key holder, a phrase or panic from the
//! slot's enrolled device, a re-enrolment only with an enrolled device's
//! endorsement). It cannot open, alter or replay a message. The signer makes
//! the same checks itself and never relies on these: they only keep
//! strangers' messages off the chain early.

use super::{Caller, JsonBody, Shared};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::roles::Role;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use box_api::{BalanceOut, CeremonyIn, CeremonyOut, RelayOutcome, SignerOut, WalletOut};
use box_core::amount::Amount;
use box_core::asset::Asset;
use box_core::ceremony::{Ceremony, Inadmissible, Purpose, SignerAnnounce, SignerState, admit};
use box_core::encoding::Canonical;
use box_core::notary::Entry;
use box_core::typed::Signed;

fn announcement(st: &Shared) -> ApiResult<(Signed<SignerAnnounce>, u64)> {
    let r = st.replica.read();
    let a = r.state().signer_status().cloned().ok_or_else(|| {
        ApiError::conflict(
            "signer_not_announced",
            "the signer has not announced itself on the chain yet; is box-signer running?",
        )
    })?;
    Ok((a, r.height()))
}

/// Relay a key holder device's sealed, signed ceremony message to the chain
/// (synchronously: 503 when no node takes it).
#[utoipa::path(post, path = "/v1/ceremony/messages", tag = "ceremony", request_body = CeremonyIn,
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 202, body = CeremonyOut, description = "In the chain's log"),
        (status = 400, body = ErrorBody, description = "Malformed request (JSON, field or query)"),
        (status = 403, body = ErrorBody, description = "The sender may not send this message: `role_required` (not the slot's genesis key holder or enrolled device) or `reenrolment_not_endorsed` (a re-enrolment without an enrolled device's endorsement)"),
        (status = 409, body = ErrorBody, description = "A stale boot, a device already enrolled, or a reused nonce"),
        (status = 422, body = ErrorBody, description = "Breaks a rule (signature, policy, separation of duties)"),
        (status = 503, body = ErrorBody, description = "No chain node answers")))]
pub(super) async fn relay_message(
    State(st): State<Shared>,
    caller: Caller,
    JsonBody(body): JsonBody<CeremonyIn>,
) -> ApiResult<(StatusCode, Json<CeremonyOut>)> {
    let bytes = body.entry.0;
    let msg = match Entry::decode(&bytes) {
        Ok(Entry::Ceremony(Ceremony::Message(m))) => m,
        Ok(_) => {
            return Err(ApiError::unprocessable(
                "not_a_ceremony_message",
                "the entry is not a key-holder ceremony message",
            ));
        }
        Err(e) => {
            return Err(ApiError::unprocessable("not_a_ceremony_message", format!("the entry does not decode: {e}")));
        }
    };
    let purpose = Purpose::from_u8(msg.value.purpose).ok_or_else(|| {
        ApiError::unprocessable("invalid_ceremony_message", format!("unknown purpose {}", msg.value.purpose))
    })?;
    let device = msg
        .signer(&st.domain)
        .map_err(|e| ApiError::unprocessable("bad_ceremony_signature", format!("the message's signature: {e}")))?;
    if device != caller.address {
        return Err(ApiError::unprocessable(
            "bad_ceremony_signature",
            format!("the message is signed by {device}, not by the caller {}", caller.address),
        ));
    }
    let (announce, _) = announcement(&st)?;
    if msg.value.boot != announce.value.boot {
        return Err(ApiError::conflict(
            "stale_boot",
            format!(
                "the message answers boot {} but the signer's current boot is {}; seal it again to the announced ceremony key",
                msg.value.boot, announce.value.boot
            ),
        ));
    }
    admit(&st.domain, &msg.value, device, &st.genesis.keyHolders, &announce.value.devices).map_err(|e| {
        let text = format!("{e}");
        match e {
            Inadmissible::NotTheKeyHolder { .. } | Inadmissible::NotTheDevice { .. } => {
                ApiError::forbidden("role_required", format!("relaying a {} message: {text}", purpose_word(purpose)))
            }
            Inadmissible::NotEndorsed { .. }
            | Inadmissible::BadEndorsement { .. }
            | Inadmissible::EndorserNotEnrolled { .. } => ApiError::forbidden("reenrolment_not_endorsed", text),
            Inadmissible::AlreadyEnrolled { .. } => ApiError::conflict("already_enrolled", text),
            Inadmissible::UnknownPurpose(_) | Inadmissible::NoSuchSlot { .. } | Inadmissible::UnexpectedEndorsement => {
                ApiError::unprocessable("invalid_ceremony_message", text)
            }
        }
    })?;
    // Recorded in the nonce table even though nothing else is stored: a replay
    // of this request is refused here, not only by the signer.
    st.store.enqueue_nothing(&caller.nonce).await?;
    let reply = st.chain.propose(bytes).await.map_err(|e| match e {
        box_proto::NodeError::Refused(m) => ApiError::unprocessable("refused", m),
        other => ApiError::unavailable("chain_unavailable", other.to_string()),
    })?;
    let outcome = crate::relay::relayed(&reply.outcome);
    if let RelayOutcome::Refused(reason) = &outcome {
        return Err(ApiError::unprocessable("refused", format!("the chain refused the message: {reason}")));
    }
    Ok((StatusCode::ACCEPTED, Json(CeremonyOut { outcome })))
}

fn purpose_word(p: Purpose) -> &'static str {
    match p {
        Purpose::Enrol => "enrolment",
        Purpose::Phrase => "phrase",
        Purpose::Reenrol => "re-enrolment",
        Purpose::Panic => "panic",
    }
}

/// The signer's latest announcement as the verified chain holds it. Any
/// signed caller may read it: it is public on the chain, and a key holder's
/// replacement device, which has no role yet, needs its ceremony key to re-enrol.
#[utoipa::path(get, path = "/v1/ceremony/signer", tag = "ceremony",
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 200, body = SignerOut, description = "OK"),
        (status = 409, body = ErrorBody, description = "Conflicts with the current state, or a reused nonce")))]
pub(super) async fn signer(State(st): State<Shared>, _caller: Caller) -> ApiResult<Json<SignerOut>> {
    let (a, height) = announcement(&st)?;
    let v = &a.value;
    Ok(Json(SignerOut {
        boot: v.boot,
        sequence: v.sequence,
        state: SignerState::from_u8(v.state),
        ceremony_key: v.ceremonyKey.to_vec().into(),
        wallet: v.wallet,
        devices: v.devices.clone(),
        holders: v.holders,
        received: v.received,
        paused: v.paused,
        detail: v.detail.clone(),
        time: v.time,
        signature: a.signature.into(),
        verified_height: height,
    }))
}

/// The hot wallet's balances of ETH and every registered ERC-20, read now
/// from the public chain.
#[utoipa::path(get, path = "/v1/wallet", tag = "ceremony",
    security(("box_signer" = [], "box_timestamp" = [], "box_nonce" = [], "box_signature" = [])),
    responses((status = 200, body = WalletOut, description = "OK"),
        (status = 403, body = ErrorBody, description = "The caller's role does not allow this"),
        (status = 409, body = ErrorBody, description = "Conflicts with the current state, or a reused nonce"),
        (status = 503, body = ErrorBody, description = "The Ethereum JSON-RPC endpoint is not configured or does not answer")))]
pub(super) async fn wallet(State(st): State<Shared>, caller: Caller) -> ApiResult<Json<WalletOut>> {
    caller.require(&[Role::KeyHolder, Role::Admin, Role::Auditor], "reading the wallet")?;
    let eth = st.eth.clone().ok_or_else(|| {
        ApiError::unavailable("eth_rpc_not_configured", "set `eth_rpc` in the gateway config to read balances")
    })?;
    let (a, _) = announcement(&st)?;
    let wallet = a.value.wallet;
    if wallet.is_zero() {
        return Err(ApiError::conflict("no_wallet", "the signer has not derived the wallet yet (it is sealed)"));
    }
    let assets = st.replica.read().state().assets().all();
    let mut balances = Vec::new();
    for asset in std::iter::once(Asset::Eth).chain(assets.into_iter().filter(|a| *a != Asset::Eth)) {
        let balance = match &asset {
            Asset::Eth => eth.balance(wallet).await,
            Asset::Erc20 { contract, .. } => eth.token_balance(*contract, wallet).await,
        }
        .map_err(|e| ApiError::unavailable("eth_rpc_unavailable", e.to_string()))?;
        balances.push(BalanceOut {
            asset: asset.address(),
            symbol: asset.symbol().to_owned(),
            decimals: asset.decimals(),
            balance: balance.into(),
            display: format!("{} {}", Amount(balance).format(asset.decimals()), asset.symbol()),
        });
    }
    Ok(Json(WalletOut { wallet, signer_state: SignerState::from_u8(a.value.state), balances }))
}
