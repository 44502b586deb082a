//! Who may send which ceremony message ([`admit`]), the re-enrolment
//! endorsement, and the per-slot re-enrolment backoff (see the parent
//! module's table). Cheap by construction: comparisons and at most one
//! signature recovery, never the seal or Argon2id.

use super::{CeremonyMessage, Purpose, ReenrolEndorsement};
use crate::crypto::{SecretKey, SignatureError, signature_from_bytes};
use crate::typed::Domain;
use alloy::primitives::{Address, B256, Signature};

/// An enrolled device (`endorser`) vouches that `device` may try to
/// re-enrol for `slot` (0-based) during signer boot `boot`. The signature
/// is not secret: only `device`'s key can use it, and only in that boot.
pub fn endorse(domain: &Domain, endorser: &SecretKey, boot: B256, slot: u8, device: Address) -> Signature {
    domain.sign(endorser, &ReenrolEndorsement { boot, holder: slot, device })
}

/// Who signed `endorsement` for `device` re-enrolling `slot` in `boot`
/// (whether that address is an enrolled device is for the caller to check;
/// [`admit`] does).
pub fn endorser(
    domain: &Domain,
    boot: B256,
    slot: u8,
    device: Address,
    endorsement: &[u8],
) -> Result<Address, SignatureError> {
    let sig = signature_from_bytes(endorsement)?;
    domain.recover(&ReenrolEndorsement { boot, holder: slot, device }, &sig)
}

/// Why a ceremony message is not even considered: the sender cannot be
/// entitled to it. Checked with at most one signature recovery, before the
/// seal is opened or Argon2id runs; such a message proves no identity and
/// must never count toward a lock.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Inadmissible {
    /// The purpose byte is not one of [`Purpose`].
    #[error("unknown ceremony purpose {0}")]
    UnknownPurpose(u8),
    /// The slot is past the last key holder.
    #[error("key holder {} does not exist (there are {holders})", u16::from(*slot) + 1)]
    NoSuchSlot {
        /// 0-based slot asked for.
        slot: u8,
        /// Key holders of the genesis.
        holders: usize,
    },
    /// An enrolment not signed with that slot's genesis key-holder key.
    #[error("{device} is not key holder {} of the genesis; a device enrols with its holder's genesis key", u16::from(*slot) + 1)]
    NotTheKeyHolder {
        /// The sender.
        device: Address,
        /// 0-based slot.
        slot: u8,
    },
    /// A phrase or panic not from the slot's enrolled device.
    #[error("{device} is not the enrolled device of key holder {}", u16::from(*slot) + 1)]
    NotTheDevice {
        /// The sender.
        device: Address,
        /// 0-based slot.
        slot: u8,
    },
    /// A re-enrolment from a device that already holds a slot.
    #[error("re-enrolling slot {}: {device} is already the enrolled device of key holder {}", u16::from(*slot) + 1, u16::from(*enrolled) + 1)]
    AlreadyEnrolled {
        /// The sender.
        device: Address,
        /// 0-based slot asked for.
        slot: u8,
        /// 0-based slot it holds.
        enrolled: u8,
    },
    /// A re-enrolment without an endorsement.
    #[error(
        "re-enrolling slot {}: no endorsement; another key holder vouches for the new device {device} first (`boxctl keyholder endorse --slot {} --device {device}`)",
        u16::from(*slot) + 1, u16::from(*slot) + 1
    )]
    NotEndorsed {
        /// The sender.
        device: Address,
        /// 0-based slot.
        slot: u8,
    },
    /// The endorsement is malformed or signs something else.
    #[error("re-enrolling slot {}: the endorsement is not a valid signature ({reason})", u16::from(*slot) + 1)]
    BadEndorsement {
        /// 0-based slot.
        slot: u8,
        /// Why.
        reason: String,
    },
    /// The endorsement is signed by a key that is not an enrolled device
    /// (or for another boot, slot or device, which recovers another key).
    #[error(
        "re-enrolling slot {}: the endorsement recovers to {endorser}, which is not an enrolled key-holder device (an endorsement holds for one signer boot, slot and new device)",
        u16::from(*slot) + 1
    )]
    EndorserNotEnrolled {
        /// 0-based slot.
        slot: u8,
        /// Who the signature recovers to.
        endorser: Address,
    },
    /// Only a re-enrolment carries an endorsement.
    #[error("only a re-enrolment carries an endorsement")]
    UnexpectedEndorsement,
}

/// A message [`admit`] let through: proof that its sender may ask for its
/// purpose in its slot. Only [`admit`] makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    purpose: Purpose,
    slot: u8,
    endorser: Option<Address>,
}

impl Admitted {
    /// What the message asks for.
    pub fn purpose(&self) -> Purpose {
        self.purpose
    }

    /// The 0-based key-holder slot.
    pub fn slot(&self) -> u8 {
        self.slot
    }

    /// For a re-enrolment: the enrolled device that endorsed it.
    pub fn endorser(&self) -> Option<Address> {
        self.endorser
    }
}

/// Whether `device` (the recovered signer of `m`) may send `m` at all,
/// given the genesis `key_holders` and the enrolled `devices` by slot
/// (`Address::ZERO` for an empty slot). Cheap: comparisons and, for a
/// re-enrolment, one signature recovery; it never opens the seal.
///
/// The gateway calls it against the signer's latest announcement to refuse
/// early; the signer calls it against its own record, and does not rely on
/// the gateway. It does not check the boot, the signer's state, the
/// re-enrolment backoff or the sealed content: the signer does.
pub fn admit(
    domain: &Domain,
    m: &CeremonyMessage,
    device: Address,
    key_holders: &[Address],
    devices: &[Address],
) -> Result<Admitted, Inadmissible> {
    let purpose = Purpose::from_u8(m.purpose).ok_or(Inadmissible::UnknownPurpose(m.purpose))?;
    let slot = m.holder;
    let i = usize::from(slot);
    if i >= key_holders.len() {
        return Err(Inadmissible::NoSuchSlot { slot, holders: key_holders.len() });
    }
    let enrolled = |a: &Address| !a.is_zero() && devices.contains(a);
    if purpose != Purpose::Reenrol && !m.endorsement.is_empty() {
        return Err(Inadmissible::UnexpectedEndorsement);
    }
    let endorser = match purpose {
        Purpose::Enrol if key_holders[i] != device => return Err(Inadmissible::NotTheKeyHolder { device, slot }),
        Purpose::Phrase | Purpose::Panic if devices.get(i) != Some(&device) || device.is_zero() => {
            return Err(Inadmissible::NotTheDevice { device, slot });
        }
        Purpose::Enrol | Purpose::Phrase | Purpose::Panic => None,
        Purpose::Reenrol => {
            if let Some(held) = devices.iter().position(|d| *d == device && !d.is_zero()) {
                let enrolled = u8::try_from(held).unwrap_or(u8::MAX);
                return Err(Inadmissible::AlreadyEnrolled { device, slot, enrolled });
            }
            if m.endorsement.is_empty() {
                return Err(Inadmissible::NotEndorsed { device, slot });
            }
            let by = endorser(domain, m.boot, slot, device, &m.endorsement)
                .map_err(|e| Inadmissible::BadEndorsement { slot, reason: e.to_string() })?;
            if !enrolled(&by) {
                return Err(Inadmissible::EndorserNotEnrolled { slot, endorser: by });
            }
            Some(by)
        }
    };
    Ok(Admitted { purpose, slot, endorser })
}

/// Failed re-enrolments of one slot that cost no waiting (a typo).
pub const FREE_REENROL_FAILURES: u32 = 1;
/// The first wait after the free failures, in seconds; it doubles with each further failure.
pub const REENROL_BACKOFF_BASE_SECS: u64 = 60;
/// The longest wait between two re-enrolment attempts of one slot, in seconds.
pub const REENROL_BACKOFF_MAX_SECS: u64 = 86_400;

/// Seconds a slot's next re-enrolment attempt must wait after `failures`
/// consecutive failed ones: none for the first [`FREE_REENROL_FAILURES`],
/// then 60 s, doubling up to a day. The signer counts its own failures and
/// keeps them across restarts; this only says how long.
pub fn reenrol_backoff(failures: u32) -> u64 {
    let Some(extra) = failures.checked_sub(FREE_REENROL_FAILURES + 1) else {
        return 0;
    };
    // 60 s << 11 already exceeds a day; a larger shift would overflow.
    if extra > 11 {
        return REENROL_BACKOFF_MAX_SECS;
    }
    (REENROL_BACKOFF_BASE_SECS << extra).min(REENROL_BACKOFF_MAX_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ceremony::{Ceremony, CeremonyKey, SignerAnnounce, SignerState, answer, answer_reenrol};
    use crate::ids::{ChainId, DeploymentId};
    use crate::typed::Signed;
    use rand_core::{OsRng, UnwrapErr};

    fn rng() -> UnwrapErr<OsRng> {
        UnwrapErr(OsRng)
    }

    fn parts() -> (CeremonyKey, B256, Address) {
        (CeremonyKey::generate(&mut rng()), B256::repeat_byte(7), Address::repeat_byte(9))
    }

    fn announce(key: &CeremonyKey, boot: B256, devices: Vec<Address>) -> SignerAnnounce {
        SignerAnnounce {
            boot,
            sequence: 1,
            state: SignerState::Unsealed as u8,
            ceremonyKey: key.public_bytes().into(),
            wallet: Address::repeat_byte(5),
            devices,
            holders: 3,
            received: 0,
            paused: false,
            detail: String::new(),
            time: 1,
        }
    }

    fn message_of(c: &Ceremony) -> (&CeremonyMessage, Address, Domain) {
        let domain = Domain { chain_id: ChainId(1), deployment: DeploymentId(B256::repeat_byte(3)) };
        let Ceremony::Message(m) = c else { panic!("not a message") };
        (&m.value, m.signer(&domain).unwrap(), domain)
    }

    #[test]
    fn admit_lets_only_entitled_senders_through() {
        let domain = Domain { chain_id: ChainId(1), deployment: DeploymentId(B256::repeat_byte(3)) };
        let holders: Vec<SecretKey> = (0..3).map(|i| SecretKey::from_label_unchecked(&format!("kh-{i}"))).collect();
        let keys: Vec<Address> = holders.iter().map(SecretKey::address).collect();
        let (key, boot, _) = parts();
        let enrolled = vec![keys[0], Address::ZERO, keys[2]];
        let a = announce(&key, boot, enrolled.clone());
        let stranger = SecretKey::from_label_unchecked("stranger");
        let check = |c: &Ceremony| {
            let (m, device, domain) = message_of(c);
            admit(&domain, m, device, &keys, &enrolled)
        };
        let send =
            |k: &SecretKey, purpose, slot| answer(&domain, k, &a, purpose, slot, "d", b"x", 1, &mut rng()).unwrap();

        // Enrol: the slot's genesis key only.
        assert_eq!(check(&send(&holders[1], Purpose::Enrol, 1)).unwrap().slot(), 1);
        assert!(matches!(check(&send(&holders[1], Purpose::Enrol, 0)), Err(Inadmissible::NotTheKeyHolder { .. })));
        assert!(matches!(check(&send(&stranger, Purpose::Enrol, 0)), Err(Inadmissible::NotTheKeyHolder { .. })));
        // Phrase and panic: the slot's enrolled device only.
        assert_eq!(check(&send(&holders[2], Purpose::Phrase, 2)).unwrap().purpose(), Purpose::Phrase);
        assert!(matches!(check(&send(&holders[1], Purpose::Phrase, 1)), Err(Inadmissible::NotTheDevice { .. })));
        assert!(matches!(check(&send(&stranger, Purpose::Panic, 0)), Err(Inadmissible::NotTheDevice { .. })));
        assert!(matches!(check(&send(&holders[0], Purpose::Phrase, 3)), Err(Inadmissible::NoSuchSlot { .. })));

        // Re-enrol: nothing without an endorsement by an enrolled device, for this boot, slot and device.
        let unendorsed = check(&send(&stranger, Purpose::Reenrol, 1)).unwrap_err();
        assert!(matches!(unendorsed, Inadmissible::NotEndorsed { .. }));
        assert!(unendorsed.to_string().contains("boxctl keyholder endorse --slot 2"), "{unendorsed}");
        let reenrol = |endorsement: &Signature, slot| {
            answer_reenrol(&domain, &stranger, &a, slot, "new", b"phrase", endorsement, 1, &mut rng()).unwrap()
        };
        let good = endorse(&domain, &holders[0], boot, 1, stranger.address());
        let ok = check(&reenrol(&good, 1)).unwrap();
        assert_eq!((ok.purpose(), ok.slot(), ok.endorser()), (Purpose::Reenrol, 1, Some(keys[0])));
        // The slot's own current device may endorse its replacement.
        assert!(check(&reenrol(&endorse(&domain, &holders[2], boot, 2, stranger.address()), 2)).is_ok());
        for bad in [
            endorse(&domain, &stranger, boot, 1, stranger.address()), // not enrolled
            endorse(&domain, &holders[1], boot, 1, stranger.address()), // genesis key, not enrolled
            endorse(&domain, &holders[0], B256::repeat_byte(1), 1, stranger.address()), // another boot
            endorse(&domain, &holders[0], boot, 2, stranger.address()), // another slot
            endorse(&domain, &holders[0], boot, 1, keys[1]),          // another device
        ] {
            assert!(matches!(check(&reenrol(&bad, 1)), Err(Inadmissible::EndorserNotEnrolled { .. })), "{bad:?}");
        }
        // An enrolled device cannot take a second slot.
        let twice = answer_reenrol(&domain, &holders[0], &a, 1, "d", b"p", &good, 1, &mut rng()).unwrap();
        assert!(matches!(check(&twice), Err(Inadmissible::AlreadyEnrolled { enrolled: 0, .. })));
        // A malformed endorsement, and one on a message that is not a re-enrolment.
        let Ceremony::Message(mut m) = reenrol(&good, 1) else { unreachable!() };
        m.value.endorsement = vec![1u8; 10].into();
        let m = Signed::new(&domain, &stranger, m.value);
        assert!(matches!(
            admit(&domain, &m.value, stranger.address(), &keys, &enrolled),
            Err(Inadmissible::BadEndorsement { .. })
        ));
        let Ceremony::Message(mut p) = send(&holders[0], Purpose::Phrase, 0) else { unreachable!() };
        p.value.endorsement = good.as_bytes().to_vec().into();
        assert_eq!(admit(&domain, &p.value, keys[0], &keys, &enrolled), Err(Inadmissible::UnexpectedEndorsement));
        let Ceremony::Message(mut u) = send(&holders[0], Purpose::Phrase, 0) else { unreachable!() };
        u.value.purpose = 9;
        assert_eq!(admit(&domain, &u.value, keys[0], &keys, &enrolled), Err(Inadmissible::UnknownPurpose(9)));
    }

    #[test]
    fn the_reenrolment_backoff_spares_one_typo_then_doubles_up_to_a_day() {
        let waits: Vec<u64> = (0..6).map(reenrol_backoff).collect();
        assert_eq!(waits, [0, 0, 60, 120, 240, 480]);
        assert_eq!(reenrol_backoff(12), 61_440);
        assert_eq!(reenrol_backoff(13), REENROL_BACKOFF_MAX_SECS);
        assert_eq!(reenrol_backoff(u32::MAX), REENROL_BACKOFF_MAX_SECS);
    }
}
