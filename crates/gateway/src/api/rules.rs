//! What the gateway may accept, decided by box-core (`box_core::decision`):
//! an application by [`check_request`], a transbox whose last level signed
//! by [`verify_transfer`], both against the gateway's verified replica.
//! This module only maps a core refusal to its HTTP status and code, and
//! adds the one rule that is the edge's own (an application is dated when
//! it is signed).

use super::Shared;
use crate::error::{ApiError, ApiResult};
use crate::store::now;
use box_core::Refusal;
use box_core::decision::{check_request, verify_transfer};
use box_core::ids::{Timestamp, TransferId};
use box_core::transbox::TransBox;
use box_core::typed::TransferRequest;

/// The HTTP answer for a refusal by box-core: 403 when the applicant may not
/// apply under the flow, 409 when the transfer is already on the chain, 422
/// with the rule's code otherwise.
pub(super) fn refused(r: Refusal) -> ApiError {
    let code = match &r {
        Refusal::NotAnEmployee(_) => return ApiError::forbidden("not_in_employee_group", r.to_string()),
        Refusal::Replay(_) => return ApiError::conflict("already_applied", r.to_string()),
        Refusal::WrongChain { .. } => "wrong_chain",
        Refusal::UnknownFlow(_) | Refusal::FlowNotActive { .. } => "flow_not_active",
        Refusal::Paused(_) => "paused",
        Refusal::UnknownAsset(_) => "unknown_asset",
        Refusal::MalformedTransfer(_) => "malformed_transfer",
        Refusal::BlockedDestination(_) => "blocked_destination",
        Refusal::ForbiddenDestination { rule, .. } => rule.name(),
        Refusal::FrozenEmployee(_) => "frozen_employee",
        Refusal::NoLimitForAsset(_) => "no_limit",
        Refusal::OverFeeCap { .. } => "over_fee_cap",
        Refusal::OverPerTransferLimit { .. } | Refusal::OverPeriodLimit { .. } => "over_limit",
        Refusal::FutureRequest { .. } => "future_request",
        Refusal::BadSignature { .. } | Refusal::ApplicantMismatch { .. } => "bad_applicant_signature",
        _ => "refused",
    };
    ApiError::unprocessable(code, r.to_string())
}

fn clock() -> Timestamp {
    Timestamp(u64::try_from(now()).unwrap_or(0))
}

/// An application (the request and its applicant's signature) passes
/// box-core's first stage against the replica, now: what the companions and
/// the signer would refuse without any approval is refused before anyone
/// is asked to approve.
pub(super) async fn check_application(
    st: &Shared,
    req: &TransferRequest,
    signature: &box_core::Signature,
) -> ApiResult<()> {
    not_retired_before(st, &st.domain.transfer_id(req)).await?;
    let r = st.replica.read();
    check_request(r.state(), req, signature, clock()).map_err(refused)
}

/// The complete TransBox passes box-core's second stage (what every
/// companion votes on) against the replica, now; the nodes check again.
pub(super) async fn verify_complete(st: &Shared, tb: &TransBox) -> ApiResult<()> {
    not_retired_before(st, &tb.transfer_id(&st.domain)).await?;
    let r = st.replica.read();
    verify_transfer(r.state(), tb, clock()).map(|_| ()).map_err(refused)
}

/// Refuses transfer `id` as a replay if it retired before the state the
/// replica resumed from: those ids are in the store's index, not in the
/// replica (box-core `decision::check_request`).
async fn not_retired_before(st: &Shared, id: &TransferId) -> ApiResult<()> {
    if st.replica.read().state().retired_indexed() == 0 {
        return Ok(());
    }
    let found = st.store.retired_among(&[id.0]).await?;
    match found.contains(&id.0) {
        true => Err(refused(Refusal::retired_transfer(id))),
        false => Ok(()),
    }
}

/// An application is signed just before it is sent, so it may not be older
/// than the request-signing window. This lower bound is the edge's own:
/// later stages cannot have one, since approvals may take days (box-core
/// refuses a date too far ahead everywhere, in [`check_application`]).
pub(super) fn check_application_date(req: &TransferRequest, window: u64) -> ApiResult<()> {
    let now = clock().0;
    if req.timestamp.saturating_add(window) < now {
        return Err(ApiError::unprocessable(
            "stale_request",
            format!(
                "the request is dated {} s after the epoch, {} s before the gateway's clock ({now}); an application is dated when it is signed: sign it again with the current time (at most {window} s old)",
                req.timestamp,
                now.saturating_sub(req.timestamp)
            ),
        ));
    }
    Ok(())
}
