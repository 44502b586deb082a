//! Where things stand, as enums: each serialises as the snake_case word the
//! API documents (`"active"`, `"rejected_by_approver"`), and is compared as a
//! value, never as a string.

use box_core::governance::Authority;
use box_core::notary::FlowStatus;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

macro_rules! words {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $word:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),*];

            /// The word the API and the store use.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $word,)*
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| {
                    let all: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                    format!("{s:?} is not one of {}", all.join(", "))
                })
            }
        }
    };
}

words!(
    /// Where a flow stands: the gateway's own steps (`draft`, `queued`,
    /// `refused`), then the chain's as the gateway's verified replica holds them.
    FlowState {
        /// Drafted at the gateway, not submitted.
        Draft => "draft",
        /// Accepted for the chain; no node has recorded it yet.
        Queued => "queued",
        /// On the chain, awaiting votes.
        Submitted => "submitted",
        /// A majority of nodes found it well-formed.
        Notarized => "notarized",
        /// Every key holder enabled it.
        Authorized => "authorized",
        /// Anchored on the public chain: transfers may use it.
        Active => "active",
        /// Disabled by a key holder; final.
        Disabled => "disabled",
        /// A majority of nodes refused it.
        Rejected => "rejected",
        /// A node refused it at submission.
        Refused => "refused",
    }
);

impl From<&FlowStatus> for FlowState {
    fn from(s: &FlowStatus) -> Self {
        match s {
            FlowStatus::Submitted => Self::Submitted,
            FlowStatus::Notarized => Self::Notarized,
            FlowStatus::Authorized => Self::Authorized,
            FlowStatus::Active => Self::Active,
            FlowStatus::Disabled => Self::Disabled,
            FlowStatus::Rejected => Self::Rejected,
        }
    }
}

words!(
    /// Where a transfer stands: the gateway's steps while it collects
    /// approvals, then the chain's.
    TransferState {
        /// Collecting approvals level by level.
        Collecting => "collecting",
        /// An approver rejected it (with a reason).
        RejectedByApprover => "rejected_by_approver",
        /// Complete and accepted for the chain; no node has taken it yet.
        Queued => "queued",
        /// A node refused it at submission.
        RefusedByChain => "refused_by_chain",
        /// On the chain, awaiting votes.
        Submitted => "submitted",
        /// Notarized by a majority of nodes.
        Notarized => "notarized",
        /// The signer broadcast the public transaction.
        Broadcast => "broadcast",
        /// The public transaction is confirmed.
        Confirmed => "confirmed",
        /// A majority of nodes rejected it.
        Rejected => "rejected",
        /// The signer refused it.
        Refused => "refused",
        /// The public transaction failed.
        Failed => "failed",
    }
);

impl TransferState {
    /// Whether nothing more will happen to it.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::RejectedByApprover
                | Self::RefusedByChain
                | Self::Confirmed
                | Self::Rejected
                | Self::Refused
                | Self::Failed
        )
    }
}

words!(
    /// A transfer's state at the gateway (what `GET /v1/transfers?state=`
    /// filters on): before the chain knows it.
    CollectionState {
        /// Collecting approvals.
        Collecting => "collecting",
        /// Every level approved; queued for or relayed to the chain.
        Submitting => "submitting",
        /// Rejected by an approver.
        Rejected => "rejected",
    }
);

words!(
    /// Whose signatures a governance action needs.
    Needs {
        /// Any one key holder (protective actions: pause, freeze, block).
        AnyKeyHolder => "any_key_holder",
        /// Every key holder (relaxing actions).
        AllKeyHolders => "all_key_holders",
        /// Every node account.
        AllNodes => "all_nodes",
        /// A strict majority of node accounts.
        NodeMajority => "node_majority",
    }
);

words!(
    /// Where a governance action stands: collecting key-holder signatures at
    /// the gateway, then the chain's word as the gateway's verified replica
    /// holds it.
    GovernanceState {
        /// Signatures are still missing (`waitingFor` names whose).
        Collecting => "collecting",
        /// The signatures suffice; accepted for the chain, no node has recorded it yet.
        Queued => "queued",
        /// On the chain, awaiting the nodes' votes.
        Submitted => "submitted",
        /// Notarized: in effect.
        Notarized => "notarized",
        /// Refused by a majority of nodes (`rejection` says why).
        Rejected => "rejected",
    }
);

impl From<Authority> for Needs {
    fn from(a: Authority) -> Self {
        match a {
            Authority::AnyKeyHolder => Self::AnyKeyHolder,
            Authority::AllKeyHolders => Self::AllKeyHolders,
            Authority::AllNodes => Self::AllNodes,
            Authority::NodeMajority => Self::NodeMajority,
        }
    }
}

/// What a node said when the gateway relayed a subject or entry. Written as
/// the API documents it: `"submitted"`, `"duplicate"` or `"refused: <reason>"`.
/// The gateway builds it from the node's typed reply (box-proto); it is
/// never parsed from a node's text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RelayOutcome {
    /// A node took it into the log.
    Submitted,
    /// The chain had it already (a resubmission after a crash, say).
    Duplicate,
    /// A node refused it, with the reason.
    Refused(String),
}

impl RelayOutcome {
    /// Whether a node took it (submitted or already there).
    pub fn is_taken(&self) -> bool {
        !matches!(self, Self::Refused(_))
    }
}

impl fmt::Display for RelayOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Submitted => f.write_str("submitted"),
            Self::Duplicate => f.write_str("duplicate"),
            Self::Refused(r) => write!(f, "refused: {r}"),
        }
    }
}

impl FromStr for RelayOutcome {
    type Err = String;
    /// The exact written forms only.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "submitted" => Ok(Self::Submitted),
            "duplicate" => Ok(Self::Duplicate),
            _ => s
                .strip_prefix("refused: ")
                .map(|r| Self::Refused(r.to_owned()))
                .ok_or_else(|| format!("{s:?} is not submitted, duplicate or refused: <reason>")),
        }
    }
}

impl Serialize for RelayOutcome {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RelayOutcome {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for RelayOutcome {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^(submitted|duplicate|refused: .*)$"))
            .description(Some("`submitted`, `duplicate` or `refused: <reason>`"))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for RelayOutcome {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn statuses_are_the_documented_words_both_ways() {
        for s in TransferState::ALL {
            let json = serde_json::to_value(s).unwrap();
            assert_eq!(json, s.as_str());
            assert_eq!(serde_json::from_value::<TransferState>(json).unwrap(), *s);
            assert_eq!(s.as_str().parse::<TransferState>().unwrap(), *s);
        }
        assert_eq!(serde_json::to_value(TransferState::RejectedByApprover).unwrap(), "rejected_by_approver");
        assert_eq!(serde_json::to_value(FlowState::Active).unwrap(), "active");
        assert_eq!(serde_json::to_value(Needs::AllKeyHolders).unwrap(), "all_key_holders");
        assert!("Active".parse::<FlowState>().unwrap_err().contains("draft, queued"));
    }

    #[test]
    fn relay_outcomes_keep_their_written_form() {
        for (o, text) in [
            (RelayOutcome::Submitted, "submitted"),
            (RelayOutcome::Duplicate, "duplicate"),
            (RelayOutcome::Refused("flow unknown".into()), "refused: flow unknown"),
        ] {
            assert_eq!(serde_json::to_value(&o).unwrap(), text);
            assert_eq!(text.parse::<RelayOutcome>().unwrap(), o);
        }
        assert!("refused".parse::<RelayOutcome>().is_err());
        assert!(!RelayOutcome::Refused(String::new()).is_taken());
    }
}
