//! The rules on a transbox, in one fixed order: what the request says
//! (chain, flow, pause, asset, destination, amount, applicant, date), then
//! each level's nested approvals, then the limits.

use super::limits::{check_period_limits, check_request_limits};
use super::{TransBox, VerifiedTransBox, below_digest};
use crate::DestinationRule;
use crate::Refusal;
use crate::address_book::AddressBook;
use crate::amount::Amount;
use crate::asset::{Asset, AssetRegistry};
use crate::crypto::recover;
use crate::flow::{ActiveFlow, VerifiedFlow};
use crate::ids::Timestamp;
use crate::typed::{Approval, Domain, TransferRequest};
use alloy::primitives::{Address, Signature};
use std::collections::BTreeSet;

/// How far in the future a request's timestamp may be (clock skew).
pub const MAX_FUTURE_SKEW_SECONDS: u64 = 300;

/// The deployment-wide rules a transfer must also satisfy, as of now.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    /// Registered assets.
    pub assets: &'a AssetRegistry,
    /// Frozen employees.
    pub frozen: &'a BTreeSet<Address>,
    /// Blocked destinations.
    pub blocked: &'a BTreeSet<Address>,
    /// The governed address book, read only for a flow with
    /// `addressBookOnly` ([`DestinationRule::NotInAddressBook`]).
    pub address_book: &'a AddressBook,
    /// `Some(reason)` while transfers are paused.
    pub paused: Option<&'a str>,
    /// The hot wallet, once the signer announced it (no transfer may pay
    /// it: [`DestinationRule::HotWallet`]). `None` before the first unseal,
    /// when nothing can execute.
    pub hot_wallet: Option<Address>,
}

/// Everything [`verify_transbox`] checks a transbox against.
#[derive(Debug, Clone, Copy)]
pub struct TransferContext<'a> {
    /// The deployment's domain (its chain id is the expected one).
    pub domain: &'a Domain,
    /// The flow the request names, verified and shown active by the notary
    /// state the decision is taken against (a proof, not an assertion).
    pub flow: &'a ActiveFlow,
    /// Deployment-wide rules.
    pub policy: Policy<'a>,
    /// Now.
    pub now: Timestamp,
    /// Earlier transfers under the same flow that count towards this asset's
    /// period limit: (when, how much). Entries outside the window are
    /// ignored. For ETH this is [`eth_history`](Self::eth_history).
    pub history: &'a [(Timestamp, Amount)],
    /// Earlier transfers under the same flow as they count towards its ETH
    /// period limit: each ETH amount plus each transfer's signed fee cap,
    /// whatever its asset (fees are paid in ETH from the hot wallet; a fee
    /// counts at its cap, the most it can cost). See [`super::eth_spend`].
    pub eth_history: &'a [(Timestamp, Amount)],
}

/// The rule on a request's date that holds whenever it is checked: it may
/// not be dated more than [`MAX_FUTURE_SKEW_SECONDS`] after `now`. It sets no
/// lower bound: a request stays valid while its approvals are collected,
/// however long that takes (an edge that sees an application being made may
/// also refuse an old date; see the gateway).
pub fn check_not_future(request: &TransferRequest, now: Timestamp) -> Result<(), Refusal> {
    if request.timestamp > now.0.saturating_add(MAX_FUTURE_SKEW_SECONDS) {
        return Err(Refusal::FutureRequest { request: request.timestamp, now: now.0, skew: MAX_FUTURE_SKEW_SECONDS });
    }
    Ok(())
}

/// The checks of a transbox that depend on nothing but the transbox, its
/// flow and the deployment's domain: chain id, flow, a non-zero destination
/// and amount, the applicant's signature and membership of the employee
/// group, each level's threshold of distinct, correctly nested approvals (nobody
/// approving their own request or counting twice), and the per-transfer limit.
/// Returns who approved, per level.
///
/// A transbox that fails them can never become valid, whatever governance or
/// time does next; a node refuses it before it enters the log. One that passes
/// may still be refused by [`verify_transbox`], which also checks what can
/// change: the pause, the asset registry, frozen employees, blocked
/// destinations, the request time and the period limit. This is part of
/// [`verify_transbox`], not a second copy of its rules. It takes a flow that
/// need not be active: whether it is can change.
///
/// `asset` is the registered asset the request names, if known: only to
/// state a limit refusal in its units.
pub fn check_transbox(
    tb: &TransBox,
    domain: &Domain,
    flow: &VerifiedFlow,
    asset: Option<&Asset>,
) -> Result<Vec<Vec<Address>>, Refusal> {
    let r = &tb.request;
    check_target(r, domain, flow)?;
    check_nonzero(r)?;
    check_applicant(r, &tb.applicant_signature, domain, flow)?;
    let approvers = check_levels(tb, domain, flow)?;
    check_request_limits(r, flow, asset)?;
    Ok(approvers)
}

/// Every rule of [`verify_transbox`] that needs no approval, in the same
/// order: what an application (a request and its applicant's signature) must
/// meet before anyone is asked to approve it. A request that fails one would
/// fail [`verify_transbox`] with the same refusal whatever approvals it
/// collects (unless an approval rule also fails: those come between the
/// request's rules and its limits). Does not check approvals, nor anything
/// this context does not know (a replay: see [`crate::decision`]).
pub fn check_application(
    request: &TransferRequest,
    applicant_signature: &Signature,
    ctx: &TransferContext<'_>,
) -> Result<(), Refusal> {
    let asset = before_approvals(request, applicant_signature, ctx)?;
    after_approvals(request, &asset, ctx)
}

/// Verifies a transbox against its flow and the deployment's rules: chain id,
/// flow, pause, asset, destination, applicant signature and membership, each
/// level's threshold of distinct nested approvals with nobody approving their
/// own request or counting twice, and both limits. The checks that cannot
/// change with time or governance are [`check_transbox`]'s, run here in the
/// same order as always, between the ones that can.
///
/// It does not look up anything: whether the transfer was notarized or
/// executed before, and the history the limits count, are the caller's (see
/// [`crate::decision`] for the stages that supply them).
pub fn verify_transbox(tb: &TransBox, ctx: &TransferContext<'_>) -> Result<VerifiedTransBox, Refusal> {
    let r = &tb.request;
    let asset = before_approvals(r, &tb.applicant_signature, ctx)?;
    let approvers = check_levels(tb, ctx.domain, ctx.flow)?;
    after_approvals(r, &asset, ctx)?;
    Ok(VerifiedTransBox { transbox: tb.clone(), id: tb.transfer_id(ctx.domain), hash: tb.hash(), asset, approvers })
}

/// The request's own rules, in order; the registered asset it names.
fn before_approvals(r: &TransferRequest, applicant: &Signature, ctx: &TransferContext<'_>) -> Result<Asset, Refusal> {
    check_target(r, ctx.domain, ctx.flow)?;
    if let Some(reason) = ctx.policy.paused {
        return Err(Refusal::Paused(reason.to_owned()));
    }
    let asset = ctx.policy.assets.get(&r.asset).ok_or(Refusal::UnknownAsset(r.asset))?;
    check_nonzero(r)?;
    if ctx.policy.blocked.contains(&r.to) {
        return Err(Refusal::BlockedDestination(r.to));
    }
    check_not_hot_wallet(r, ctx.policy.hot_wallet)?;
    check_address_book(r, ctx.flow, ctx.policy.address_book)?;
    check_applicant(r, applicant, ctx.domain, ctx.flow)?;
    if ctx.policy.frozen.contains(&r.applicant) {
        return Err(Refusal::FrozenEmployee(r.applicant));
    }
    check_not_future(r, ctx.now)?;
    Ok(asset)
}

/// Both limits.
fn after_approvals(r: &TransferRequest, asset: &Asset, ctx: &TransferContext<'_>) -> Result<(), Refusal> {
    check_request_limits(r, ctx.flow, Some(asset))?;
    check_period_limits(r, ctx.flow, asset, ctx.history, ctx.eth_history, ctx.now)
}

/// Chain id and flow.
fn check_target(r: &TransferRequest, domain: &Domain, flow: &VerifiedFlow) -> Result<(), Refusal> {
    if r.chainId != domain.chain_id.0 {
        return Err(Refusal::WrongChain { request: r.chainId, expected: domain.chain_id.0 });
    }
    if r.flowHash != flow.hash().0 {
        return Err(Refusal::WrongFlow { request: r.flowHash.to_string(), flow: flow.hash().to_string() });
    }
    Ok(())
}

/// A destination and an amount: the destination rules that no state can
/// lift ([`DestinationRule::ZeroAddress`], [`DestinationRule::TokenContract`]),
/// and a non-zero amount.
fn check_nonzero(r: &TransferRequest) -> Result<(), Refusal> {
    let forbidden = |rule| Err(Refusal::ForbiddenDestination { rule, to: r.to });
    if r.to.is_zero() {
        return forbidden(DestinationRule::ZeroAddress);
    }
    if !r.asset.is_zero() && r.to == r.asset {
        return forbidden(DestinationRule::TokenContract);
    }
    if r.amount.is_zero() {
        return Err(Refusal::MalformedTransfer("the amount is zero".into()));
    }
    Ok(())
}

/// [`DestinationRule::HotWallet`]: not to the hot wallet the signer announced.
fn check_not_hot_wallet(r: &TransferRequest, hot_wallet: Option<Address>) -> Result<(), Refusal> {
    if hot_wallet == Some(r.to) {
        return Err(Refusal::ForbiddenDestination { rule: DestinationRule::HotWallet, to: r.to });
    }
    Ok(())
}

/// [`DestinationRule::NotInAddressBook`]: a flow with `addressBookOnly` pays
/// only a destination the address book lists for it (or for every flow).
/// The one copy of the rule: the gateway (an application), each companion
/// (its vote) and the signer (its signature) all reach it through
/// [`verify_transbox`] or [`check_application`].
pub fn check_address_book(r: &TransferRequest, flow: &VerifiedFlow, book: &AddressBook) -> Result<(), Refusal> {
    if flow.flow().addressBookOnly && !book.permits(&r.to, &flow.hash()) {
        return Err(Refusal::ForbiddenDestination { rule: DestinationRule::NotInAddressBook, to: r.to });
    }
    Ok(())
}

/// The applicant signed the request and may apply under the flow.
fn check_applicant(
    r: &TransferRequest,
    applicant: &Signature,
    domain: &Domain,
    flow: &VerifiedFlow,
) -> Result<(), Refusal> {
    let signer =
        domain.recover(r, applicant).map_err(|err| Refusal::BadSignature { who: "the applicant".into(), err })?;
    if signer != r.applicant {
        return Err(Refusal::ApplicantMismatch { named: r.applicant, signer });
    }
    if !flow.flow().employees.contains(&r.applicant) {
        return Err(Refusal::NotAnEmployee(r.applicant));
    }
    Ok(())
}

/// Every level's nested approvals, in order; who approved, per level.
fn check_levels(tb: &TransBox, domain: &Domain, flow: &VerifiedFlow) -> Result<Vec<Vec<Address>>, Refusal> {
    let r = &tb.request;
    let levels = &flow.flow().levels;
    if tb.levels.len() != levels.len() {
        // Report the first missing level precisely when there are too few.
        if tb.levels.len() < levels.len() {
            let missing = &levels[tb.levels.len()];
            return Err(Refusal::BelowThreshold {
                level: tb.levels.len() + 1,
                name: missing.name.clone(),
                have: 0,
                need: missing.threshold,
            });
        }
        return Err(Refusal::LevelCount { have: tb.levels.len(), need: levels.len() });
    }
    let mut counted: BTreeSet<Address> = BTreeSet::new();
    let mut approvers = Vec::with_capacity(levels.len());
    for (i, (level, sigs)) in levels.iter().zip(&tb.levels).enumerate() {
        let n = i + 1;
        let approval = Approval {
            request: r.clone(),
            level: u32::try_from(n).unwrap_or(u32::MAX),
            below: below_digest(&tb.applicant_signature, &tb.levels[..i]),
        };
        let hash = domain.signing_hash(&approval);
        let mut signers: Vec<Address> = Vec::with_capacity(sigs.len());
        for (j, sig) in sigs.iter().enumerate() {
            let a = recover(&hash, sig).map_err(|err| Refusal::BadSignature {
                who: format!("approval {} of level {n} ({})", j + 1, level.name),
                err,
            })?;
            if a == r.applicant {
                return Err(Refusal::SelfApproval(a));
            }
            if !level.approvers.contains(&a) {
                return Err(Refusal::NotAnApprover { signer: a, level: n, name: level.name.clone() });
            }
            if !counted.insert(a) {
                return Err(Refusal::DuplicateApprover { signer: a, level: n, name: level.name.clone() });
            }
            if signers.last().is_some_and(|prev| *prev > a) {
                return Err(Refusal::UnorderedApprovals { level: n });
            }
            signers.push(a);
        }
        if signers.len() < level.threshold as usize {
            return Err(Refusal::BelowThreshold {
                level: n,
                name: level.name.clone(),
                have: signers.len(),
                need: level.threshold,
            });
        }
        approvers.push(signers);
    }
    Ok(approvers)
}
