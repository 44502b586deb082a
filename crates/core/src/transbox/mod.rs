//! TransBox (request + nested signatures) and its verification.
//!
//! Nesting: level 1 approvers sign an [`Approval`] whose `below` is
//! [`below_digest`] of the applicant's signature; level k+1 approvers sign one
//! whose `below` also covers every level-k signature. Nobody can add, drop or
//! swap a lower signature without invalidating every signature above it.
//!
//! The order of the signatures within a level is part of what the level
//! above signs, so it is this module's, not a caller's: ascending by the
//! approver's address, kept by [`TransBox::add_approval`].
//!
//! - [`rules`](self#functions): [`check_transbox`] (what never changes),
//!   [`verify_transbox`] (everything, against a [`TransferContext`]) and
//!   [`check_application`] (everything that needs no approval);
//! - limits: [`check_request_limits`], [`check_period_limits`], [`eth_spend`],
//!   [`counts_towards`].
//!
//! The stages that read these rules against a notary state (the gateway's,
//! a companion's and the signer's) are in [`crate::decision`].

mod limits;
mod rules;

pub use limits::{check_period_limits, check_request_limits, counts_towards, eth_spend, used_in_window};
pub use rules::{
    MAX_FUTURE_SKEW_SECONDS, Policy, TransferContext, check_address_book, check_application, check_not_future,
    check_transbox, verify_transbox,
};

use crate::amount::Amount;
use crate::asset::Asset;
use crate::crypto::{SecretKey, recover};
use crate::ids::{TransBoxHash, TransferId};
use crate::typed::{Approval, Domain, TransferRequest};
use crate::{Refusal, Units};
use alloy::primitives::{Address, B256, Signature, keccak256};
use serde::{Deserialize, Serialize};

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

    /// Adds an approver's `signature` over [`TransBox::approval_for`]`(level)`
    /// (1-based) to that level, in its place: each level is ordered by the
    /// approvers' addresses, ascending, which is what the level above signs.
    /// Returns who signed.
    ///
    /// Refuses a signature that does not recover, a second signature by the
    /// same approver in the level, a level more than one above the highest
    /// present (levels are filled bottom-up), and a level that has levels
    /// above it (they signed over it: changing it would void them).
    ///
    /// Does not check authority (is the signer an approver of the level, the
    /// applicant, in another level already, is the threshold met): that is
    /// [`verify_transbox`]'s job.
    pub fn add_approval(&mut self, domain: &Domain, level: usize, signature: Signature) -> Result<Address, Refusal> {
        if level == 0 || level > self.levels.len() + 1 {
            return Err(Refusal::MalformedTransfer(format!(
                "level {level} cannot be approved: the transfer has approvals up to level {}",
                self.levels.len()
            )));
        }
        if level < self.levels.len() {
            return Err(Refusal::MalformedTransfer(format!(
                "level {level} is closed: level {} approved over it",
                level + 1
            )));
        }
        let hash = domain.signing_hash(&self.approval_for(level));
        let who = recover(&hash, &signature)
            .map_err(|err| Refusal::BadSignature { who: format!("an approval of level {level}"), err })?;
        if self.levels.len() < level {
            self.levels.push(Vec::new());
        }
        let sigs = &mut self.levels[level - 1];
        let mut pos = sigs.len();
        for (i, s) in sigs.iter().enumerate() {
            // A stored signature that no longer recovers sorts last; the
            // verifier names it.
            match recover(&hash, s) {
                Ok(a) if a == who => {
                    return Err(Refusal::MalformedTransfer(format!(
                        "{who} has already approved level {level}; each person counts once"
                    )));
                }
                Ok(a) if a > who && pos == sigs.len() => pos = i,
                _ => {}
            }
        }
        sigs.insert(pos, signature);
        Ok(who)
    }

    /// Signs [`TransBox::approval_for`]`(level)` with `approver` and adds it
    /// (see [`TransBox::add_approval`]). Levels must be filled bottom-up;
    /// approving a lower level drops the levels above it (they signed over
    /// it). A second approval by the same key changes nothing. Does not
    /// check authority: that is [`verify_transbox`]'s job.
    pub fn approve(&mut self, domain: &Domain, level: usize, approver: &SecretKey) {
        let level = level.max(1);
        while self.levels.len() < level - 1 {
            self.levels.push(Vec::new());
        }
        self.levels.truncate(level);
        let sig = domain.sign(approver, &self.approval_for(level));
        // Only a duplicate can be refused here (the signature is fresh and the
        // level is the top one): keeping the first is what approving twice means.
        let _ = self.add_approval(domain, level, sig);
    }
}

/// A transbox that passed every rule of [`verify_transbox`]. Only that
/// function makes one.
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

/// `base` units of the request's asset as a person reads them: in the
/// registered asset's units when known, else in base units of the token.
fn units(r: &TransferRequest, asset: Option<&Asset>, base: alloy::primitives::U256) -> Box<Units> {
    match asset {
        Some(a) => Units::of(a, base),
        None => Units::unregistered(r.asset, base),
    }
}
