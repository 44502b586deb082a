//! TransBox (request + nested signatures) and its verification.
//!
//! Nesting: level 1 approvers sign an [`Approval`] whose `below` is
//! [`below_digest`] of the applicant's signature; level k+1 approvers sign one
//! whose `below` also covers every level-k signature. Nobody can add, drop or
//! swap a lower signature without invalidating every signature above it.

use crate::amount::Amount;
use crate::asset::{Asset, AssetRegistry};
use crate::crypto::{SecretKey, recover};
use crate::flow::VerifiedFlow;
use crate::ids::{Timestamp, TransBoxHash, TransferId};
use crate::typed::{Approval, Domain, TransferRequest};
use crate::{Refusal, Units};
use alloy::primitives::{Address, B256, Signature, keccak256};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// How far in the future a request's timestamp may be (clock skew).
pub const MAX_FUTURE_SKEW_SECONDS: u64 = 300;

/// A transfer request with the applicant's signature and every level's
/// approvals (`levels[0]` is level 1), each level ordered by approver address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransBox {
    /// The request.
    pub request: TransferRequest,
    /// The applicant's signature over the request.
    pub applicant_signature: Signature,
    /// Approver signatures per level, ascending by approver address.
    pub levels: Vec<Vec<Signature>>,
}

/// The `below` digest that level `level` (1-based) approvers sign, given the
/// applicant's signature and the signatures of all levels below `level`.
pub fn below_digest(applicant: &Signature, lower_levels: &[Vec<Signature>]) -> B256 {
    let mut d = keccak256([b"BOX/below/v1".as_slice(), &applicant.as_bytes()].concat());
    for level in lower_levels {
        let mut buf = Vec::with_capacity(32 + 65 * level.len());
        buf.extend_from_slice(d.as_slice());
        for s in level {
            buf.extend_from_slice(&s.as_bytes());
        }
        d = keccak256(&buf);
    }
    d
}

impl TransBox {
    /// Starts a transbox: the applicant signs the request.
    pub fn apply(domain: &Domain, request: TransferRequest, applicant: &SecretKey) -> Self {
        let applicant_signature = domain.sign(applicant, &request);
        Self { request, applicant_signature, levels: Vec::new() }
    }

    /// The transfer id (hash of the request).
    pub fn transfer_id(&self, domain: &Domain) -> TransferId {
        domain.transfer_id(&self.request)
    }

    /// The content hash the nodes vote on.
    pub fn hash(&self) -> TransBoxHash {
        TransBoxHash(keccak256(crate::encoding::Canonical::encode(self)))
    }

    /// The approval that approvers of `level` (1-based) must sign, given the
    /// levels already present below it.
    pub fn approval_for(&self, level: usize) -> Approval {
        let below_levels = &self.levels[..level.saturating_sub(1).min(self.levels.len())];
        Approval {
            request: self.request.clone(),
            level: u32::try_from(level).unwrap_or(u32::MAX),
            below: below_digest(&self.applicant_signature, below_levels),
        }
    }

    /// Adds `approver`'s signature at `level` (1-based), keeping the level
    /// ordered. Levels must be filled bottom-up; adding to a level invalidates
    /// any signatures above it, which this removes. Does not check authority:
    /// that is [`verify_transbox`]'s job.
    pub fn approve(&mut self, domain: &Domain, level: usize, approver: &SecretKey) {
        let level = level.max(1);
        while self.levels.len() < level {
            self.levels.push(Vec::new());
        }
        self.levels.truncate(level);
        let sig = domain.sign(approver, &self.approval_for(level));
        let approval = self.approval_for(level);
        let hash = domain.signing_hash(&approval);
        let me = approver.address();
        let sigs = &mut self.levels[level - 1];
        let pos = sigs.iter().position(|s| recover(&hash, s).is_ok_and(|a| a > me)).unwrap_or(sigs.len());
        if !sigs.iter().any(|s| recover(&hash, s).is_ok_and(|a| a == me)) {
            sigs.insert(pos, sig);
        }
    }
}

/// The deployment-wide rules a transfer must also satisfy, as of now.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    /// Registered assets.
    pub assets: &'a AssetRegistry,
    /// Frozen employees.
    pub frozen: &'a BTreeSet<Address>,
    /// Blocked destinations.
    pub blocked: &'a BTreeSet<Address>,
    /// `Some(reason)` while transfers are paused.
    pub paused: Option<&'a str>,
}

/// Everything [`verify_transbox`] checks a transbox against.
#[derive(Debug, Clone, Copy)]
pub struct TransferContext<'a> {
    /// The deployment's domain (its chain id is the expected one).
    pub domain: &'a Domain,
    /// The flow the request names, verified and (the caller asserts) active.
    pub flow: &'a VerifiedFlow,
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
    /// counts at its cap, the most it can cost). See [`eth_spend`].
    pub eth_history: &'a [(Timestamp, Amount)],
}

/// What a transfer counts towards its flow's ETH period limit: its amount
/// when it moves ETH, plus its signed fee cap (`maxFee`, wei) whatever it
/// moves; `None` on overflow.
pub fn eth_spend(asset: &Address, amount: Amount, max_fee: Amount) -> Option<Amount> {
    if asset.is_zero() { amount.checked_add(max_fee) } else { Some(max_fee) }
}

/// A transbox that passed every rule of [`verify_transbox`]. Only that
/// function makes one; the signer's signing function takes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTransBox {
    transbox: TransBox,
    id: TransferId,
    hash: TransBoxHash,
    asset: Asset,
    approvers: Vec<Vec<Address>>,
}

impl VerifiedTransBox {
    /// The transbox.
    pub fn transbox(&self) -> &TransBox {
        &self.transbox
    }
    /// The request.
    pub fn request(&self) -> &TransferRequest {
        &self.transbox.request
    }
    /// Transfer id.
    pub fn transfer_id(&self) -> TransferId {
        self.id
    }
    /// Content hash.
    pub fn hash(&self) -> TransBoxHash {
        self.hash
    }
    /// The asset, resolved from the registry.
    pub fn asset(&self) -> &Asset {
        &self.asset
    }
    /// The amount.
    pub fn amount(&self) -> Amount {
        Amount(self.transbox.request.amount)
    }
    /// Who approved, per level.
    pub fn approvers(&self) -> &[Vec<Address>] {
        &self.approvers
    }
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

/// Sum of `history` amounts strictly inside `(now - period, now]`.
pub fn used_in_window(history: &[(Timestamp, Amount)], now: Timestamp, period: u64) -> Option<Amount> {
    let start = now.saturating_sub(period);
    history.iter().filter(|(t, _)| *t > start && *t <= now).try_fold(Amount::ZERO, |acc, (_, a)| acc.checked_add(*a))
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
/// [`verify_transbox`], not a second copy of its rules.
///
/// `asset` is the registered asset the request names, if known: only to
/// state a limit refusal in its units.
pub fn check_transbox(
    tb: &TransBox,
    domain: &Domain,
    flow: &VerifiedFlow,
    asset: Option<&Asset>,
) -> Result<Vec<Vec<Address>>, Refusal> {
    check_target(tb, domain, flow)?;
    check_request(tb)?;
    check_applicant(tb, domain, flow)?;
    let approvers = check_levels(tb, domain, flow)?;
    check_per_transfer(tb, flow, asset)?;
    Ok(approvers)
}

/// Chain id and flow.
fn check_target(tb: &TransBox, domain: &Domain, flow: &VerifiedFlow) -> Result<(), Refusal> {
    let r = &tb.request;
    if r.chainId != domain.chain_id.0 {
        return Err(Refusal::WrongChain { request: r.chainId, expected: domain.chain_id.0 });
    }
    if r.flowHash != flow.hash().0 {
        return Err(Refusal::WrongFlow { request: r.flowHash.to_string(), flow: flow.hash().to_string() });
    }
    Ok(())
}

/// A destination and an amount.
fn check_request(tb: &TransBox) -> Result<(), Refusal> {
    if tb.request.to.is_zero() {
        return Err(Refusal::MalformedTransfer("the destination is address(0)".into()));
    }
    if tb.request.amount.is_zero() {
        return Err(Refusal::MalformedTransfer("the amount is zero".into()));
    }
    Ok(())
}

/// The applicant signed the request and may apply under the flow.
fn check_applicant(tb: &TransBox, domain: &Domain, flow: &VerifiedFlow) -> Result<(), Refusal> {
    let r = &tb.request;
    let signer = domain
        .recover(r, &tb.applicant_signature)
        .map_err(|err| Refusal::BadSignature { who: "the applicant".into(), err })?;
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

/// The flow limits the asset, the amount is within one transfer's limit
/// (stated in `asset`'s units when it is known), and the signed fee cap is
/// within the flow's fee cap for the asset.
fn check_per_transfer<'f>(
    tb: &TransBox,
    flow: &'f VerifiedFlow,
    asset: Option<&Asset>,
) -> Result<&'f crate::typed::AssetLimit, Refusal> {
    check_request_limits(&tb.request, flow, asset)
}

/// The rules a request meets on its own against its flow's limits for its
/// asset: the flow limits the asset, the amount is within one transfer's
/// limit, and the signed fee cap (`maxFee`) is within the flow's fee cap
/// for the asset. `asset` (the registered asset, if known) only states the
/// amounts in its units. Returns the asset's limit.
///
/// Part of [`check_transbox`] and [`verify_transbox`]; an edge that sees an
/// application before any approval (the gateway) calls it to refuse early.
pub fn check_request_limits<'f>(
    r: &TransferRequest,
    flow: &'f VerifiedFlow,
    asset: Option<&Asset>,
) -> Result<&'f crate::typed::AssetLimit, Refusal> {
    let limit = flow.limit(&r.asset).ok_or(Refusal::NoLimitForAsset(r.asset))?;
    if r.amount > limit.perTransfer {
        let units = |base| match asset {
            Some(a) => Units::of(a, base),
            None => Units::unregistered(r.asset, base),
        };
        return Err(Refusal::OverPerTransferLimit { amount: units(r.amount), limit: units(limit.perTransfer) });
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
/// [`TransferContext`]: the request's asset window (its amount; for ETH its
/// amount plus its fee cap) and, for a token, the flow's ETH window (its fee
/// cap), when the flow limits ETH.
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
    limit: &crate::typed::AssetLimit,
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

/// Verifies a transbox against its flow and the deployment's rules: chain id,
/// flow, pause, asset, destination, applicant signature and membership, each
/// level's threshold of distinct nested approvals with nobody approving their
/// own request or counting twice, and both limits. The checks that cannot
/// change with time or governance are [`check_transbox`]'s, run here in the
/// same order as always, between the ones that can.
pub fn verify_transbox(tb: &TransBox, ctx: &TransferContext<'_>) -> Result<VerifiedTransBox, Refusal> {
    let r = &tb.request;
    let domain = ctx.domain;
    let flow = ctx.flow;
    check_target(tb, domain, flow)?;
    if let Some(reason) = ctx.policy.paused {
        return Err(Refusal::Paused(reason.to_owned()));
    }
    let asset = ctx.policy.assets.get(&r.asset).ok_or(Refusal::UnknownAsset(r.asset))?;
    check_request(tb)?;
    if ctx.policy.blocked.contains(&r.to) {
        return Err(Refusal::BlockedDestination(r.to));
    }
    check_applicant(tb, domain, flow)?;
    if ctx.policy.frozen.contains(&r.applicant) {
        return Err(Refusal::FrozenEmployee(r.applicant));
    }
    check_not_future(r, ctx.now)?;
    let approvers = check_levels(tb, domain, flow)?;
    check_per_transfer(tb, flow, Some(&asset))?;
    check_period_limits(r, flow, &asset, ctx.history, ctx.eth_history, ctx.now)?;
    Ok(VerifiedTransBox { transbox: tb.clone(), id: tb.transfer_id(domain), hash: tb.hash(), asset, approvers })
}
