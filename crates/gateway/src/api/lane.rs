//! The emergency lane: a key holder's pause and panic pass every limit.
//!
//! DESIGN.md §2: emergency actions can never be blocked by a third party. Any
//! limit keyed by something a third party can exhaust would block them: the
//! per-IP bucket (everyone behind one address shares it), the source throttle
//! (a forger from that address trips it), a global cap. So these requests skip
//! the limits before their signature is checked, and are then checked like
//! every other request (signature, nonce, role, and the handler's rules). A
//! key holder's own per-key bucket is skipped too: it cannot be exhausted by
//! anyone else, but a key holder who polled too eagerly must still be able to
//! pause.
//!
//! What it costs: a forged emergency request is read (within the body limit),
//! parsed and has one signature recovered, unthrottled. The lane is narrow so
//! that this is all it buys: the claimed signer must be a genesis key holder,
//! and the body must decode as a pause (`PauseTransfers` with `paused = true`)
//! or a panic ceremony message; anything else takes the ordinary path.

use axum::http::Method;
use box_api::action::decode_action;
use box_api::{CeremonyIn, GovernanceIn};
use box_core::Address;
use box_core::ceremony::{Ceremony, Purpose};
use box_core::encoding::Canonical;
use box_core::governance::GovernanceAction;
use box_core::notary::Entry;
use std::collections::BTreeSet;

const GOVERNANCE: &str = "/v1/governance";
const CEREMONY: &str = "/v1/ceremony/messages";

/// Whether a request may be an emergency action, from its method, path and
/// claimed signer alone (before the body is read).
pub(super) fn may_be_emergency(method: &Method, path: &str, signer: &Address, key_holders: &BTreeSet<Address>) -> bool {
    method == Method::POST && (path == GOVERNANCE || path == CEREMONY) && key_holders.contains(signer)
}

/// Whether the body of a [`may_be_emergency`] request is a pause or a panic.
/// Decodes only; proves nothing about who sent it.
pub(super) fn is_emergency(path: &str, body: &[u8]) -> bool {
    match path {
        GOVERNANCE => serde_json::from_slice::<GovernanceIn>(body)
            .ok()
            .and_then(|g| decode_action(&g.action.0).ok())
            .is_some_and(|a| matches!(a, GovernanceAction::PauseTransfers(p) if p.paused)),
        CEREMONY => serde_json::from_slice::<CeremonyIn>(body)
            .ok()
            .and_then(|c| Entry::decode(&c.entry.0).ok())
            .is_some_and(|e| {
                matches!(e, Entry::Ceremony(Ceremony::Message(m)) if Purpose::from_u8(m.value.purpose) == Some(Purpose::Panic))
            }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use box_core::B256;
    use box_core::ceremony::CeremonyMessage;
    use box_core::crypto::SecretKey;
    use box_core::ids::{ChainId, DeploymentId};
    use box_core::typed::{Domain, FreezeEmployee, PauseTransfers, Signed};

    fn governance(a: &GovernanceAction) -> Vec<u8> {
        // A well-formed signature (the lane never checks whose it is).
        let signature = SecretKey::from_label_unchecked("kh").sign_hash(&B256::repeat_byte(3)).into();
        serde_json::to_vec(&GovernanceIn { action: box_api::HexBytes(box_api::action::encode_action(a)), signature })
            .unwrap_or_default()
    }

    #[test]
    fn only_a_pause_or_a_panic_from_a_claimed_key_holder_takes_the_lane() {
        let kh = Address::repeat_byte(1);
        let holders: BTreeSet<Address> = [kh].into();
        assert!(may_be_emergency(&Method::POST, GOVERNANCE, &kh, &holders));
        assert!(!may_be_emergency(&Method::POST, GOVERNANCE, &Address::repeat_byte(2), &holders));
        assert!(!may_be_emergency(&Method::GET, GOVERNANCE, &kh, &holders));
        assert!(!may_be_emergency(&Method::POST, "/v1/transfers", &kh, &holders));

        let pause = GovernanceAction::PauseTransfers(PauseTransfers { paused: true, reason: "x".into(), nonce: 1 });
        let resume =
            GovernanceAction::PauseTransfers(PauseTransfers { paused: false, reason: String::new(), nonce: 2 });
        let freeze = GovernanceAction::FreezeEmployee(FreezeEmployee {
            employee: kh,
            frozen: true,
            reason: "drill".into(),
            nonce: 3,
        });
        assert!(is_emergency(GOVERNANCE, &governance(&pause)));
        assert!(!is_emergency(GOVERNANCE, &governance(&resume)), "resuming needs every key holder: no hurry");
        assert!(!is_emergency(GOVERNANCE, &governance(&freeze)));
        assert!(!is_emergency(GOVERNANCE, b"not json"));
        assert!(!is_emergency(CEREMONY, &governance(&pause)));

        let ceremony = |purpose: Purpose| {
            let m = CeremonyMessage {
                boot: B256::ZERO,
                purpose: purpose as u8,
                holder: 0,
                deviceId: "d".into(),
                sealed: vec![1u8; 8].into(),
                time: 1,
                endorsement: Default::default(),
            };
            let domain = Domain { chain_id: ChainId(1), deployment: DeploymentId(B256::ZERO) };
            let key = SecretKey::from_label_unchecked("kh");
            let entry = Entry::Ceremony(Ceremony::Message(Signed::new(&domain, &key, m))).encode();
            serde_json::to_vec(&CeremonyIn { entry: box_api::HexBytes(entry) }).unwrap_or_default()
        };
        assert!(is_emergency(CEREMONY, &ceremony(Purpose::Panic)));
        assert!(!is_emergency(CEREMONY, &ceremony(Purpose::Phrase)));
        assert!(!is_emergency(GOVERNANCE, &ceremony(Purpose::Panic)));
    }
}
