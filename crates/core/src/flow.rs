//! Approval flows: well-formedness.

use crate::Refusal;
use crate::ids::FlowHash;
use crate::typed::{AssetLimit, BoxFlow, Domain};
use alloy::primitives::Address;
use std::collections::BTreeSet;

/// Most levels a flow may have.
pub const MAX_LEVELS: usize = 16;
/// Most approvers in one level.
pub const MAX_APPROVERS_PER_LEVEL: usize = 64;
/// Most employees in one flow.
pub const MAX_EMPLOYEES: usize = 10_000;
/// Most bytes in a flow or level name.
pub const MAX_NAME_LEN: usize = 128;
/// Shortest rolling period a limit may use.
pub const MIN_PERIOD_SECONDS: u64 = 60;
/// Longest rolling period a limit may use (366 days).
pub const MAX_PERIOD_SECONDS: u64 = 366 * 24 * 3600;

/// A flow that passed [`verify_flow`]. Only that function (and, for a flow
/// recorded under its hash, the notary's `verify_recorded_flow`) makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedFlow {
    flow: BoxFlow,
    hash: FlowHash,
}

impl VerifiedFlow {
    /// The flow.
    pub fn flow(&self) -> &BoxFlow {
        &self.flow
    }

    /// Its identity.
    pub fn hash(&self) -> FlowHash {
        self.hash
    }

    /// The limit for `asset`, if the flow sets one.
    pub fn limit(&self, asset: &Address) -> Option<&AssetLimit> {
        self.flow.limits.iter().find(|l| l.asset == *asset)
    }
}

/// A verified flow that is **active**: notarized, enabled by every key
/// holder and anchored on the public chain, as the notary state it was read
/// from shows. Only [`NotaryState::active_flow`](crate::notary::NotaryState::active_flow)
/// makes one (and [`ActiveFlow::assume_active_unchecked`], for benches and
/// tests that need no notary). It says nothing about later states: a flow
/// disabled after this value was made is still "active" in it, so make one
/// per decision, from the state the decision is taken against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveFlow(VerifiedFlow);

impl ActiveFlow {
    /// Made by the notary from a flow record whose status is active.
    pub(crate) fn new(flow: VerifiedFlow) -> Self {
        Self(flow)
    }

    /// Treats `flow` as active without asking any notary state whether it
    /// is. A bypass of the active-flow rule, for benches and tests of the
    /// other rules; no process decides anything on one of these.
    pub fn assume_active_unchecked(flow: VerifiedFlow) -> Self {
        Self(flow)
    }

    /// The verified flow.
    pub fn verified(&self) -> &VerifiedFlow {
        &self.0
    }
}

impl std::ops::Deref for ActiveFlow {
    type Target = VerifiedFlow;
    fn deref(&self) -> &VerifiedFlow {
        &self.0
    }
}

fn malformed(msg: impl Into<String>) -> Refusal {
    Refusal::MalformedFlow(msg.into())
}

fn check_name(what: &str, name: &str) -> Result<(), Refusal> {
    if name.trim().is_empty() {
        return Err(malformed(format!("{what} name is empty")));
    }
    if name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(malformed(format!("{what} name must be at most {MAX_NAME_LEN} bytes without control characters")));
    }
    Ok(())
}

/// Checks a flow's shape: a non-empty employee group and levels, thresholds in
/// `1..=approvers`, nobody twice in one level, sane limits. It does not check
/// that the flow is authorized or anchored; the notary tracks that.
pub fn verify_flow(domain: &Domain, flow: &BoxFlow) -> Result<VerifiedFlow, Refusal> {
    check_shape(flow)?;
    Ok(VerifiedFlow { flow: flow.clone(), hash: domain.flow_hash(flow) })
}

/// [`verify_flow`] of a flow whose hash is known: the notary's flow records are
/// filed under their flow's hash (`NotaryState::checked` holds every restored
/// state to it), so checking a recorded flow before each transfer does not
/// hash the whole flow (its EIP-712 struct hash, every employee and approver)
/// again.
pub(crate) fn verify_recorded_flow(flow: &BoxFlow, hash: FlowHash) -> Result<VerifiedFlow, Refusal> {
    check_shape(flow)?;
    Ok(VerifiedFlow { flow: flow.clone(), hash })
}

/// [`verify_flow`]'s checks without the hash: what deciding on a flow
/// needs once it is filed (the notary's companions' verdict).
pub(crate) fn check_shape(flow: &BoxFlow) -> Result<(), Refusal> {
    check_name("flow", &flow.name)?;
    if flow.employees.is_empty() {
        return Err(malformed("the employee group is empty; nobody could apply"));
    }
    if flow.employees.len() > MAX_EMPLOYEES {
        return Err(malformed(format!("more than {MAX_EMPLOYEES} employees")));
    }
    let mut seen = BTreeSet::new();
    for e in &flow.employees {
        if e.is_zero() {
            return Err(malformed("address(0) cannot be an employee"));
        }
        if !seen.insert(*e) {
            return Err(malformed(format!("employee {e} is listed twice")));
        }
    }
    if flow.levels.is_empty() {
        return Err(malformed("the flow has no approval levels"));
    }
    if flow.levels.len() > MAX_LEVELS {
        return Err(malformed(format!("more than {MAX_LEVELS} approval levels")));
    }
    for (i, level) in flow.levels.iter().enumerate() {
        let n = i + 1;
        check_name(&format!("level {n}"), &level.name)?;
        if level.approvers.is_empty() {
            return Err(malformed(format!("level {n} ({}) has no approvers", level.name)));
        }
        if level.approvers.len() > MAX_APPROVERS_PER_LEVEL {
            return Err(malformed(format!(
                "level {n} ({}) has more than {MAX_APPROVERS_PER_LEVEL} approvers",
                level.name
            )));
        }
        let mut in_level = BTreeSet::new();
        for a in &level.approvers {
            if a.is_zero() {
                return Err(malformed(format!("level {n} ({}) lists address(0)", level.name)));
            }
            if !in_level.insert(*a) {
                return Err(malformed(format!("{a} appears twice in level {n} ({})", level.name)));
            }
        }
        if level.threshold == 0 || level.threshold as usize > level.approvers.len() {
            return Err(malformed(format!(
                "level {n} ({}) requires {} approvals but must require between 1 and its {} approvers",
                level.name,
                level.threshold,
                level.approvers.len()
            )));
        }
    }
    if flow.limits.is_empty() {
        return Err(malformed("the flow sets no asset limits, so it could move nothing"));
    }
    let mut assets = BTreeSet::new();
    for l in &flow.limits {
        if !assets.insert(l.asset) {
            return Err(malformed(format!("asset {} has two limits", l.asset)));
        }
        if l.perTransfer.is_zero() {
            return Err(malformed(format!("asset {}: the per-transfer limit is zero", l.asset)));
        }
        if l.perTransfer > l.perPeriod {
            return Err(malformed(format!(
                "asset {}: the per-transfer limit {} exceeds the period limit {}",
                l.asset, l.perTransfer, l.perPeriod
            )));
        }
        if l.maxFee.is_zero() {
            return Err(malformed(format!(
                "asset {}: the fee cap (maxFee) is zero, so no transfer could pay for its transaction",
                l.asset
            )));
        }
        if !(MIN_PERIOD_SECONDS..=MAX_PERIOD_SECONDS).contains(&l.periodSeconds) {
            return Err(malformed(format!(
                "asset {}: the period must be between {MIN_PERIOD_SECONDS}s and {MAX_PERIOD_SECONDS}s, not {}s",
                l.asset, l.periodSeconds
            )));
        }
    }
    Ok(())
}
