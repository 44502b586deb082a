//! Roles and separation of duties (DESIGN.md §8).
//!
//! Key holders come from the genesis, admins from the gateway config; admins
//! register employees, approvers and auditors. The caller's roles always come
//! from this registry, never from the request.

use crate::error::ApiError;
pub use box_api::Role;
use box_core::Address;
use std::collections::BTreeSet;

/// The fixed part of the registry: key holders and admins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    /// From the genesis.
    pub key_holders: BTreeSet<Address>,
    /// From the config.
    pub admins: BTreeSet<Address>,
}

impl Registry {
    /// All roles of `who`, given the roles registered for them.
    pub fn roles(&self, who: &Address, registered: BTreeSet<Role>) -> BTreeSet<Role> {
        let mut r = registered;
        if self.key_holders.contains(who) {
            r.insert(Role::KeyHolder);
        }
        if self.admins.contains(who) {
            r.insert(Role::Admin);
        }
        r
    }

    /// Checks that an admin may give `who` exactly `roles`:
    /// only employee, approver and auditor are registered; an admin or key
    /// holder is never an approver; an auditor holds no other role.
    pub fn check_registration(&self, who: &Address, roles: &BTreeSet<Role>) -> Result<(), ApiError> {
        if who.is_zero() {
            return Err(ApiError::unprocessable("invalid_person", "address(0) cannot be registered"));
        }
        if let Some(r) = roles.iter().find(|r| matches!(r, Role::KeyHolder | Role::Admin)) {
            return Err(ApiError::unprocessable(
                "role_not_registrable",
                format!(
                    "{} is not given by registration: key holders come from the genesis, admins from the gateway config",
                    r.as_str()
                ),
            ));
        }
        if roles.contains(&Role::Approver) && self.admins.contains(who) {
            return Err(ApiError::unprocessable(
                "separation_of_duties",
                format!("{who} is an admin; an admin cannot approve transfers"),
            ));
        }
        if roles.contains(&Role::Approver) && self.key_holders.contains(who) {
            return Err(ApiError::unprocessable(
                "separation_of_duties",
                format!("{who} is a key holder; a key holder's governance key does not approve transfers"),
            ));
        }
        if roles.contains(&Role::Auditor)
            && (roles.len() > 1 || self.admins.contains(who) || self.key_holders.contains(who))
        {
            return Err(ApiError::unprocessable(
                "separation_of_duties",
                "an auditor only reads: the auditor role cannot be combined with any other",
            ));
        }
        Ok(())
    }
}

/// Fails unless `roles` holds one of `allowed`.
pub fn require(roles: &BTreeSet<Role>, allowed: &[Role], what: &str) -> Result<(), ApiError> {
    if allowed.iter().any(|r| roles.contains(r)) {
        return Ok(());
    }
    let need: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
    let have: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    Err(ApiError::forbidden(
        "role_required",
        format!(
            "{what} needs the role {}; the caller has {}",
            need.join(" or "),
            if have.is_empty() { "no role (not registered)".to_owned() } else { have.join(", ") }
        ),
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn reg() -> Registry {
        Registry {
            key_holders: [Address::repeat_byte(1)].into_iter().collect(),
            admins: [Address::repeat_byte(2)].into_iter().collect(),
        }
    }

    fn set(r: &[Role]) -> BTreeSet<Role> {
        r.iter().copied().collect()
    }

    #[test]
    fn separation_of_duties_at_registration() {
        let r = reg();
        let someone = Address::repeat_byte(3);
        r.check_registration(&someone, &set(&[Role::Employee, Role::Approver])).unwrap();
        let code = |a: &Address, roles: &[Role]| r.check_registration(a, &set(roles)).unwrap_err().code;
        assert_eq!(code(&Address::repeat_byte(2), &[Role::Approver]), "separation_of_duties");
        assert_eq!(code(&Address::repeat_byte(1), &[Role::Approver]), "separation_of_duties");
        assert_eq!(code(&someone, &[Role::Auditor, Role::Employee]), "separation_of_duties");
        assert_eq!(code(&someone, &[Role::Admin]), "role_not_registrable");
        assert_eq!(code(&Address::ZERO, &[Role::Employee]), "invalid_person");
    }

    #[test]
    fn roles_merge_the_fixed_registry_and_round_trip() {
        let r = reg();
        let kh = r.roles(&Address::repeat_byte(1), BTreeSet::new());
        assert_eq!(kh, set(&[Role::KeyHolder]));
        let s = set(&[Role::Employee, Role::Approver]);
        assert_eq!(require(&s, &[Role::Auditor], "reading").unwrap_err().code, "role_required");
    }
}
