//! Why something was refused, in words an operator can act on.

use crate::amount::Amount;
use crate::asset::Asset;
use crate::crypto::SignatureError;
use alloy::primitives::{Address, U256};

/// An amount of one asset as a person reads it: in the asset's units with
/// its symbol (`7 ETH`, `0.5 USDC`). The base units stay in `base` for
/// machines (the API's `--json` views); [`Display`](std::fmt::Display) never
/// shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Units {
    /// The amount in base units.
    pub base: U256,
    /// The asset's decimals.
    pub decimals: u8,
    /// The asset's symbol (display only).
    pub symbol: String,
}

impl Units {
    /// `base` units of `asset` (boxed: refusals stay small to pass around).
    pub fn of(asset: &Asset, base: U256) -> Box<Self> {
        Box::new(Self { base, decimals: asset.decimals(), symbol: asset.symbol().to_owned() })
    }
}

impl Units {
    /// `base` units of a token that is not (or no longer) registered: its
    /// decimals are unknown, so the amount is stated in base units with the
    /// token's address.
    pub fn unregistered(token: Address, base: U256) -> Box<Self> {
        Box::new(Self { base, decimals: 0, symbol: format!("base units of token {token}") })
    }
}

impl std::fmt::Display for Units {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", Amount(self.base).format(self.decimals), self.symbol)
    }
}

/// A period length as a person says it: `24 h`, `7 days`, `90 s`.
fn period(seconds: u64) -> String {
    match seconds {
        s if s >= 86_400 && s % 86_400 == 0 => match s / 86_400 {
            1 => "24 h".to_owned(),
            d => format!("{d} days"),
        },
        s if s >= 3_600 && s % 3_600 == 0 => format!("{} h", s / 3_600),
        s if s >= 60 && s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// A destination rule that holds for every transfer in every deployment
/// ([`Refusal::ForbiddenDestination`]). Each has a stable name: the one
/// refusals, logs and the API's error code carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DestinationRule {
    /// Nothing is sent to address(0): whatever reaches it is burnt.
    ZeroAddress,
    /// A token is not sent to its own contract: most ERC-20s keep it there
    /// for good, out of everyone's reach.
    TokenContract,
    /// The hot wallet does not pay itself: the transfer would move nothing
    /// and spend fees (and a notarized self-payment is a way to burn nonces).
    HotWallet,
    /// A flow with `addressBookOnly` pays only destinations the governed
    /// address book lists for it ([`crate::address_book`]).
    NotInAddressBook,
}

impl DestinationRule {
    /// The rule's stable name (`snake_case`), as refusals and the API carry it.
    pub fn name(self) -> &'static str {
        match self {
            Self::ZeroAddress => "zero_destination",
            Self::TokenContract => "token_to_own_contract",
            Self::HotWallet => "destination_is_hot_wallet",
            Self::NotInAddressBook => "destination_not_in_address_book",
        }
    }

    /// Why `to` breaks the rule, in words.
    fn explain(self, to: &Address) -> String {
        match self {
            Self::ZeroAddress => "the destination is address(0), where anything sent is burnt".to_owned(),
            Self::TokenContract => {
                format!("the destination {to} is the token's own contract, where tokens sent are lost for good")
            }
            Self::HotWallet => {
                format!("the destination {to} is the hot wallet itself; the transfer would move nothing and spend fees")
            }
            Self::NotInAddressBook => format!(
                "the flow pays only destinations in the address book, and {to} is not listed for it; key holders list it with `boxctl keyholder addressbook add`"
            ),
        }
    }
}

/// A verification refusal. Each variant names one rule; its message says
/// which rule failed and with what values, so it can be shown to a person as is.
///
/// Grouped by what the caller should do: `Malformed*` means the submitter must
/// fix the object; `Unauthorized*`/signature variants mean the wrong person
/// signed; `Policy*` means the object is fine but the rules of the deployment
/// (limits, freezes, pauses) forbid it now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A flow breaks a well-formedness rule.
    #[error("flow is malformed: {0}")]
    MalformedFlow(String),
    /// A transfer request or transbox breaks a structural rule.
    #[error("transfer is malformed: {0}")]
    MalformedTransfer(String),
    /// A signature does not verify.
    #[error("{who}'s signature is invalid: {err}")]
    BadSignature {
        /// Whose signature (role and position).
        who: String,
        /// What was wrong with it.
        err: SignatureError,
    },
    /// The applicant signature recovers to someone else.
    #[error("the request names applicant {named} but was signed by {signer}")]
    ApplicantMismatch {
        /// The applicant in the request.
        named: Address,
        /// Who actually signed.
        signer: Address,
    },
    /// The applicant may not apply under this flow.
    #[error("applicant {0} is not in the flow's employee group")]
    NotAnEmployee(Address),
    /// Someone signed a level they are not an approver of.
    #[error("{signer} signed level {level} ({name}) but is not one of its approvers")]
    NotAnApprover {
        /// The signer.
        signer: Address,
        /// 1-based level.
        level: usize,
        /// Level name.
        name: String,
    },
    /// The same person twice.
    #[error("{signer} approved more than once (level {level} ({name})); each person counts once")]
    DuplicateApprover {
        /// The signer.
        signer: Address,
        /// 1-based level.
        level: usize,
        /// Level name.
        name: String,
    },
    /// Approvals in a level are not in ascending signer order.
    #[error("approvals of level {level} are not ordered by approver address (ascending)")]
    UnorderedApprovals {
        /// 1-based level.
        level: usize,
    },
    /// The applicant tried to approve.
    #[error("{0} approved their own request; nobody approves their own request")]
    SelfApproval(Address),
    /// Too few approvals at a level.
    #[error("level {level} ({name}) has {have} of {need} required approvals")]
    BelowThreshold {
        /// 1-based level.
        level: usize,
        /// Level name.
        name: String,
        /// Valid distinct approvals present.
        have: usize,
        /// Threshold.
        need: u32,
    },
    /// The transbox has a different number of levels than the flow.
    #[error("the transfer carries approvals for {have} levels but the flow has {need}")]
    LevelCount {
        /// Levels in the transbox.
        have: usize,
        /// Levels in the flow.
        need: usize,
    },
    /// The request was made for another flow.
    #[error("the request is for flow {request} but was checked against flow {flow}")]
    WrongFlow {
        /// Flow named in the request.
        request: String,
        /// Flow checked against.
        flow: String,
    },
    /// Wrong public chain.
    #[error("the request is for chain id {request} but this deployment runs on chain id {expected}")]
    WrongChain {
        /// Chain in the request.
        request: u64,
        /// Expected chain.
        expected: u64,
    },
    /// The asset is not registered.
    #[error("asset {0} is not registered")]
    UnknownAsset(Address),
    /// The flow has no limit for this asset.
    #[error("the flow sets no limit for asset {0}, so it may not move it")]
    NoLimitForAsset(Address),
    /// Over the per-transfer limit.
    #[error("{amount} exceeds the per-transfer limit of {limit}")]
    OverPerTransferLimit {
        /// The requested amount.
        amount: Box<Units>,
        /// The flow's per-transfer limit.
        limit: Box<Units>,
    },
    /// The request's signed fee cap exceeds the flow's fee cap for the asset.
    #[error("the fee cap of {fee} exceeds the flow's fee cap of {cap} for transfers of {asset}")]
    OverFeeCap {
        /// The request's fee cap (ETH).
        fee: Box<Units>,
        /// The flow's fee cap for this asset (ETH).
        cap: Box<Units>,
        /// The asset's symbol, or its address when it is not registered.
        asset: String,
    },
    /// Over the rolling-period limit.
    #[error(
        "{amount} plus {used} already moved or committed to fees in the last {} exceeds the period limit of {limit}",
        period(*period_seconds)
    )]
    OverPeriodLimit {
        /// The requested amount.
        amount: Box<Units>,
        /// Already moved within the window.
        used: Box<Units>,
        /// The flow's limit for the window.
        limit: Box<Units>,
        /// Window length in seconds.
        period_seconds: u64,
    },
    /// The request's timestamp is in the future.
    #[error("the request is dated {request}s, more than {skew}s after now ({now}s)")]
    FutureRequest {
        /// Request time.
        request: u64,
        /// Now.
        now: u64,
        /// Allowed skew.
        skew: u64,
    },
    /// The applicant is frozen.
    #[error("applicant {0} is frozen by governance")]
    FrozenEmployee(Address),
    /// The destination is blocked.
    #[error("destination {0} is blocked by governance")]
    BlockedDestination(Address),
    /// The destination is one this transfer may not have (for every rule but
    /// [`DestinationRule::NotInAddressBook`], whatever governance says);
    /// `rule` names which.
    #[error("rule {}: {}", rule.name(), rule.explain(to))]
    ForbiddenDestination {
        /// The rule broken.
        rule: DestinationRule,
        /// The destination.
        to: Address,
    },
    /// Transfers are paused.
    #[error("transfers are paused: {0}")]
    Paused(String),
    /// The flow is not active.
    #[error("flow {flow} is not active (it is {status})")]
    FlowNotActive {
        /// Flow hash.
        flow: String,
        /// Its status.
        status: String,
    },
    /// Unknown flow.
    #[error("flow {0} is unknown to the notary")]
    UnknownFlow(String),
    /// The transfer id was executed or submitted before.
    #[error("transfer {0} was already submitted; a transfer executes at most once")]
    Replay(String),
    /// A certificate or vote problem.
    #[error("quorum certificate refused: {0}")]
    Certificate(String),
    /// Someone signed who may not.
    #[error("not authorized: {0}")]
    Unauthorized(String),
    /// A governance action breaks a rule.
    #[error("governance action refused: {0}")]
    Governance(String),
}

impl Refusal {
    /// The replay of a transfer that finished and retired from the live
    /// state (crate README, "Retirement"): what a follower that keeps the
    /// retired ids in its own index answers when its index holds `id`.
    pub fn retired_transfer(id: &crate::ids::TransferId) -> Self {
        Refusal::Replay(format!(
            "{id} (it finished and has retired from the live state; a node serves its final status with a proof by id)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_read_in_the_assets_units_with_its_symbol() {
        let eth = |n: u64| Units::of(&Asset::Eth, U256::from(n) * U256::from(10u64).pow(U256::from(17u64)));
        let r = Refusal::OverPerTransferLimit { amount: eth(70), limit: eth(50) };
        assert_eq!(r.to_string(), "7 ETH exceeds the per-transfer limit of 5 ETH");
        let usdc = Asset::Erc20 { contract: Address::repeat_byte(1), symbol: "USDC".into(), decimals: 6 };
        let r = Refusal::OverPeriodLimit {
            amount: Units::of(&usdc, U256::from(1_500_000u64)),
            used: Units::of(&usdc, U256::from(9_000_000u64)),
            limit: Units::of(&usdc, U256::from(10_000_000u64)),
            period_seconds: 86_400,
        };
        assert_eq!(
            r.to_string(),
            "1.5 USDC plus 9 USDC already moved or committed to fees in the last 24 h exceeds the period limit of 10 USDC"
        );
        assert_eq!(period(7 * 86_400), "7 days");
        assert_eq!(period(7_200), "2 h");
        assert_eq!(period(90), "90 s");
    }

    #[test]
    fn forbidden_destinations_name_their_rule() {
        let to = Address::repeat_byte(7);
        let r = |rule| Refusal::ForbiddenDestination { rule, to }.to_string();
        assert!(r(DestinationRule::ZeroAddress).starts_with("rule zero_destination: "));
        assert!(r(DestinationRule::TokenContract).starts_with("rule token_to_own_contract: "));
        assert!(r(DestinationRule::HotWallet).starts_with("rule destination_is_hot_wallet: "));
        assert!(r(DestinationRule::HotWallet).contains(&to.to_string()));
        let book = r(DestinationRule::NotInAddressBook);
        assert!(book.starts_with("rule destination_not_in_address_book: "), "{book}");
        assert!(book.contains(&to.to_checksum(None)), "{book}");
    }
}
