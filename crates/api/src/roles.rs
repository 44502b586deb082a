//! The roles a caller can hold (DESIGN.md §8).
//!
//! A role says what the registry grants, nothing more: key holders come
//! from the genesis, admins from the gateway's config, employees, approvers
//! and auditors from an admin's registration. The gateway decides who holds
//! which role; a client never asserts its own.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Governance committee member (from the genesis).
    KeyHolder,
    /// Registers people and drafts flows (from the gateway config).
    Admin,
    /// Approves transfers at the levels of the flows that name them.
    Approver,
    /// Applies for transfers under the flows whose employee group names them.
    Employee,
    /// Reads everything, changes nothing.
    Auditor,
}

impl Role {
    /// Every role.
    pub const ALL: [Self; 5] = [Self::KeyHolder, Self::Admin, Self::Approver, Self::Employee, Self::Auditor];

    /// The word the API and the store use (`key_holder`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KeyHolder => "key_holder",
            Self::Admin => "admin",
            Self::Approver => "approver",
            Self::Employee => "employee",
            Self::Auditor => "auditor",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    /// The exact word ([`Role::as_str`]).
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not a role (key_holder, admin, approver, employee, auditor)"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn roles_are_their_words() {
        for r in Role::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!("boss".parse::<Role>().is_err());
    }
}
