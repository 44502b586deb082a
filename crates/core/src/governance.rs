//! Governance actions and who must sign each.
//!
//! | action | protective direction (one key holder) | relaxing direction (all key holders) |
//! |---|---|---|
//! | freeze employee | freeze | unfreeze |
//! | block destination | block | unblock |
//! | asset | remove | register |
//! | pause | pause | resume |
//! | address book | remove an entry | list an entry |
//!
//! Node changes are signed by node accounts: adding needs every current
//! account, removing a strict majority (see [`crate::quorum::NodeRegistry`]).
//! A key holder's governance signature never stands in for an approval: the
//! structs are different EIP-712 types.

use crate::Refusal;
use crate::asset::AssetRegistry;
use crate::quorum::NodeRegistry;
use crate::typed::{
    AddressBookEntry, BlockDestination, Domain, FreezeEmployee, NodeChange, PauseTransfers, RegisterAsset,
};
use alloy::primitives::{Address, B256, Signature};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// One governance action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "action", deny_unknown_fields)]
pub enum GovernanceAction {
    /// Freeze or unfreeze an employee.
    FreezeEmployee(FreezeEmployee),
    /// Block or unblock a destination.
    BlockDestination(BlockDestination),
    /// Register or remove an ERC-20 asset.
    RegisterAsset(RegisterAsset),
    /// Add or remove a node account.
    NodeChange(NodeChange),
    /// Pause or resume transfers.
    PauseTransfers(PauseTransfers),
    /// List or remove a destination in the address book.
    AddressBookEntry(AddressBookEntry),
}

/// Longest address-book label, in characters.
pub const MAX_LABEL_CHARS: usize = 100;

/// Who must sign an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authority {
    /// Any one key holder.
    AnyKeyHolder,
    /// Every key holder.
    AllKeyHolders,
    /// Every current node account.
    AllNodes,
    /// A strict majority of node accounts.
    NodeMajority,
}

impl GovernanceAction {
    /// The EIP-712 signing hash: the action's identity.
    pub fn signing_hash(&self, domain: &Domain) -> B256 {
        match self {
            Self::FreezeEmployee(a) => domain.signing_hash(a),
            Self::BlockDestination(a) => domain.signing_hash(a),
            Self::RegisterAsset(a) => domain.signing_hash(a),
            Self::NodeChange(a) => domain.signing_hash(a),
            Self::PauseTransfers(a) => domain.signing_hash(a),
            Self::AddressBookEntry(a) => domain.signing_hash(a),
        }
    }

    /// Who must sign.
    pub fn authority(&self) -> Authority {
        match self {
            Self::FreezeEmployee(a) if a.frozen => Authority::AnyKeyHolder,
            Self::BlockDestination(a) if a.blocked => Authority::AnyKeyHolder,
            Self::RegisterAsset(a) if !a.registered => Authority::AnyKeyHolder,
            Self::PauseTransfers(a) if a.paused => Authority::AnyKeyHolder,
            Self::AddressBookEntry(a) if !a.listed => Authority::AnyKeyHolder,
            Self::NodeChange(a) if a.add => Authority::AllNodes,
            Self::NodeChange(_) => Authority::NodeMajority,
            _ => Authority::AllKeyHolders,
        }
    }

    /// A one-line description for people.
    pub fn describe(&self) -> String {
        match self {
            Self::FreezeEmployee(a) => {
                let what = format!("{} employee {}", if a.frozen { "freeze" } else { "unfreeze" }, a.employee);
                with_reason(what, &a.reason)
            }
            Self::BlockDestination(a) => {
                let what = format!("{} destination {}", if a.blocked { "block" } else { "unblock" }, a.destination);
                with_reason(what, &a.reason)
            }
            Self::RegisterAsset(a) => format!(
                "{} asset {} ({}, {} decimals)",
                if a.registered { "register" } else { "remove" },
                a.token,
                a.symbol,
                a.decimals
            ),
            Self::NodeChange(a) => {
                format!("{} node {} (account {})", if a.add { "add" } else { "remove" }, a.nodeId, a.account)
            }
            Self::PauseTransfers(a) => {
                if a.paused {
                    format!("pause transfers: {}", a.reason)
                } else {
                    "resume transfers".to_owned()
                }
            }
            Self::AddressBookEntry(a) if a.listed => {
                let scope = if a.flowHash.is_zero() { "every flow".to_owned() } else { format!("flow {}", a.flowHash) };
                format!("list {} \"{}\" in the address book for {scope}", a.destination, a.label)
            }
            Self::AddressBookEntry(a) => format!("remove {} from the address book", a.destination),
        }
    }
}

/// `what: reason`, or `what` when no reason was given.
fn with_reason(what: String, reason: &str) -> String {
    if reason.is_empty() { what } else { format!("{what}: {reason}") }
}

/// An action with its signatures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedAction {
    /// The action.
    pub action: GovernanceAction,
    /// One signature per signer, over the action's signing hash.
    pub signatures: Vec<Signature>,
}

/// An action whose signatures meet its authority. Only [`verify_action`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAction {
    action: GovernanceAction,
    signers: BTreeSet<Address>,
}

impl VerifiedAction {
    /// The action.
    pub fn action(&self) -> &GovernanceAction {
        &self.action
    }
    /// Who signed.
    pub fn signers(&self) -> &BTreeSet<Address> {
        &self.signers
    }
}

/// Checks an action's signatures against its [`Authority`] and its content
/// against basic sanity (e.g. a registered asset's symbol). Node changes are
/// also checked as a registry transition.
pub fn verify_action(
    domain: &Domain,
    signed: &SignedAction,
    key_holders: &BTreeSet<Address>,
    registry: &NodeRegistry,
) -> Result<VerifiedAction, Refusal> {
    let hash = signed.action.signing_hash(domain);
    let mut signers = BTreeSet::new();
    for (i, sig) in signed.signatures.iter().enumerate() {
        let a = crate::crypto::recover(&hash, sig)
            .map_err(|err| Refusal::BadSignature { who: format!("governance signature {}", i + 1), err })?;
        if !signers.insert(a) {
            return Err(Refusal::Governance(format!("{a} signed twice")));
        }
    }
    let what = signed.action.describe();
    match signed.action.authority() {
        Authority::AnyKeyHolder | Authority::AllKeyHolders => {
            if let Some(outsider) = signers.iter().find(|s| !key_holders.contains(*s)) {
                return Err(Refusal::Unauthorized(format!("{outsider} signed \"{what}\" but is not a key holder")));
            }
            if signers.is_empty() {
                return Err(Refusal::Unauthorized(format!("\"{what}\" carries no key-holder signature")));
            }
            if signed.action.authority() == Authority::AllKeyHolders && signers.len() != key_holders.len() {
                return Err(Refusal::Unauthorized(format!(
                    "\"{what}\" needs all {} key holders; {} signed",
                    key_holders.len(),
                    signers.len()
                )));
            }
        }
        Authority::AllNodes | Authority::NodeMajority => {
            if let Some(outsider) = signers.iter().find(|s| !registry.contains(s)) {
                return Err(Refusal::Unauthorized(format!("{outsider} signed \"{what}\" but is not a node account")));
            }
        }
    }
    match &signed.action {
        GovernanceAction::NodeChange(c) => {
            registry.apply_change(c, &signers)?;
        }
        GovernanceAction::RegisterAsset(a) if a.registered => {
            AssetRegistry::erc20(a.token, &a.symbol, a.decimals).map_err(|e| Refusal::Governance(e.to_string()))?;
        }
        GovernanceAction::FreezeEmployee(a) if a.employee.is_zero() => {
            return Err(Refusal::Governance("cannot freeze address(0)".into()));
        }
        GovernanceAction::BlockDestination(a) if a.destination.is_zero() => {
            return Err(Refusal::Governance("cannot block address(0)".into()));
        }
        GovernanceAction::AddressBookEntry(a) if a.listed => check_entry(a)?,
        _ => {}
    }
    Ok(VerifiedAction { action: signed.action.clone(), signers })
}

/// What an address-book entry must be to be listed: a destination that is
/// not address(0) and a label people can read (1 to [`MAX_LABEL_CHARS`]
/// characters, no control characters).
fn check_entry(a: &AddressBookEntry) -> Result<(), Refusal> {
    if a.destination.is_zero() {
        return Err(Refusal::Governance("cannot list address(0) in the address book".into()));
    }
    let chars = a.label.chars().count();
    if chars == 0 || chars > MAX_LABEL_CHARS || a.label.chars().any(char::is_control) {
        return Err(Refusal::Governance(format!(
            "an address-book label needs 1 to {MAX_LABEL_CHARS} characters and no control characters; \"{}\" has {chars}",
            a.label.escape_default()
        )));
    }
    Ok(())
}
