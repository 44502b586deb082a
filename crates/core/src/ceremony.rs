//! The key ceremony's messages, which travel through the chain (DESIGN.md §3).
//!
//! The signer opens no inbound port. It publishes a signed
//! [`SignerAnnounce`] on the chain whenever its state changes: its state, the
//! per-boot HPKE ceremony key, the boot id that key holders must answer (the
//! challenge), the enrolled devices and the hot-wallet address. A key
//! holder's device answers with a [`CeremonyMessage`] signed by the device key
//! whose payload is HPKE-sealed to that ceremony key, with the boot, the
//! purpose, the device address and the holder slot bound in as associated
//! data. A relay can drop or delay a message; it cannot read it, move it to
//! another device, or replay it into a later boot (the ceremony key is
//! generated per boot and never stored).
//!
//! ```text
//!  boxctl keyholder ──seal(phrase) + sign(device key)──▶ gateway ──Propose──▶ chain log ──blocks──▶ box-signer
//!  box-signer ──sign(signer identity)── SignerAnnounce ──Propose──▶ chain log ──SignerStatus──▶ apps
//! ```
//!
//! This module defines, seals and opens, and decides which messages are
//! admissible at all ([`admit`]); what the signer then does with them is
//! decided in the signer. Nothing here holds a phrase longer than the call
//! that uses it.
//!
//! ## Who may send what (DESIGN.md §2: no failure that does not prove an identity may lock)
//!
//! Anyone can put a ceremony message on the chain (the gateway relays for
//! devices that have no role yet), so [`admit`] first checks, with one
//! signature recovery and a few comparisons, that the sender *could* be
//! entitled to it, before the signer opens the seal or runs Argon2id:
//!
//! | purpose | admissible from |
//! |---|---|
//! | `Enrol` | the genesis key holder of that slot (their genesis key) |
//! | `Phrase`, `Panic` | the device enrolled for that slot |
//! | `Reenrol` | a device not enrolled for any slot, carrying an **endorsement**: an enrolled device's signature over [`ReenrolEndorsement`] (this boot, the slot, the new device) |
//!
//! A re-enrolment proves the holder with their original phrase, checked
//! against an Argon2id commitment (64 MiB). Without the endorsement gate any
//! freshly generated key could make the signer run Argon2id at will; with it,
//! only a device that another enrolled key holder vouched for (or the slot's
//! own current device, when a holder moves to a new phone) can, and only for
//! the slot and boot named. A lost device is replaced with the holder's
//! original phrase and a co-holder's endorsement (`boxctl keyholder endorse`
//! then `boxctl keyholder reenrol`). If every device is lost, the paper
//! restore (`d` and every phrase on an empty signer data directory) is the
//! way back; the wallet does not change.
//!
//! A failed re-enrolment never counts toward the signer's key-zeroizing lock
//! (it proves no enrolled identity); the signer holds that slot's next
//! attempt back instead, for [`reenrol_backoff`] seconds, before any Argon2id
//! run. Wrong phrases from enrolled devices and wrong enrolment codes from
//! genesis key holders do count toward the lock: those senders proved who
//! they are.

#![allow(missing_docs)] // sol! generates the fields; each struct's doc is below.

use crate::crypto::SecretKey;
use crate::encoding::{Canonical, DecodeError, Kind, header};
use crate::typed::{Domain, Signed};
use alloy::primitives::{Address, B256, Signature};
use alloy::sol;
use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

mod admit;
pub use admit::{
    Admitted, FREE_REENROL_FAILURES, Inadmissible, REENROL_BACKOFF_BASE_SECS, REENROL_BACKOFF_MAX_SECS, admit, endorse,
    endorser, reenrol_backoff,
};

/// Largest sealed payload a ceremony message may carry (a phrase is far smaller).
pub const MAX_SEALED_LEN: usize = 2048;
/// Longest device id.
pub const MAX_DEVICE_ID_LEN: usize = 64;
/// Length of a re-enrolment endorsement (a 65-byte `r ‖ s ‖ v` signature).
pub const ENDORSEMENT_LEN: usize = 65;
/// HPKE `info` for every ceremony seal: binds the suite and the protocol version.
const INFO: &[u8] = b"BOX key ceremony v1 (X25519, HKDF-SHA256, ChaCha20-Poly1305)";
/// Length of an X25519 public key and of an encapsulated key.
const KEY_LEN: usize = 32;

sol! {
    /// The signer's signed account of its own state, published on the chain at
    /// every change. `boot` is random per process start and is the challenge
    /// ceremony messages must answer; `sequence` only grows, across boots.
    #[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SignerAnnounce {
        bytes32 boot;
        uint64 sequence;
        uint8 state;
        bytes ceremonyKey;
        address wallet;
        address[] devices;
        uint8 holders;
        uint8 received;
        bool paused;
        string detail;
        uint64 time;
    }

    /// A key holder device's message to the signer, signed by the device key.
    /// `sealed` is HPKE-sealed to the announced ceremony key (see [`seal`]).
    /// `holder` is the 0-based key-holder slot (enrolment order).
    /// `endorsement` is empty except for a re-enrolment, where it is an
    /// enrolled device's 65-byte signature over [`ReenrolEndorsement`].
    #[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct CeremonyMessage {
        bytes32 boot;
        uint8 purpose;
        uint8 holder;
        string deviceId;
        bytes sealed;
        uint64 time;
        bytes endorsement;
    }

    /// An enrolled key-holder device vouches that `device` may try to
    /// re-enrol for slot `holder` (0-based) during signer boot `boot`. It
    /// proves nothing about the phrase; it only lets the signer spend an
    /// Argon2id run on that device's attempt.
    #[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ReenrolEndorsement {
        bytes32 boot;
        uint8 holder;
        address device;
    }
}

/// Where the signer stands, as announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum SignerState {
    /// No wallet yet: waiting for key-holder devices to enrol with the one-time code.
    AwaitingEnrolment = 1,
    /// Every device is enrolled: waiting for the genesis phrases.
    AwaitingGenesis = 2,
    /// The wallet exists but the key is not in memory: waiting for all phrases.
    Sealed = 3,
    /// The key is in memory; transfers are verified and signed.
    Unsealed = 4,
    /// Locked after an attack signal; signs nothing until a full unseal.
    Locked = 5,
}

impl SignerState {
    /// Parses the announced byte.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::AwaitingEnrolment,
            2 => Self::AwaitingGenesis,
            3 => Self::Sealed,
            4 => Self::Unsealed,
            5 => Self::Locked,
            _ => return None,
        })
    }

    /// A word for people.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingEnrolment => "awaiting enrolment",
            Self::AwaitingGenesis => "awaiting genesis phrases",
            Self::Sealed => "sealed",
            Self::Unsealed => "unsealed",
            Self::Locked => "locked",
        }
    }
}

/// What a ceremony message asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Purpose {
    /// Enrol this device; sealed payload: the one-time enrolment code.
    Enrol = 1,
    /// The holder's phrase, for genesis or unseal; sealed payload: the phrase.
    Phrase = 2,
    /// Replace the device of slot `holder`; sealed payload: that holder's original phrase.
    Reenrol = 3,
    /// Zeroize the key now; sealed payload: empty.
    Panic = 4,
}

impl Purpose {
    /// Parses the message byte.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::Enrol,
            2 => Self::Phrase,
            3 => Self::Reenrol,
            4 => Self::Panic,
            _ => return None,
        })
    }
}

/// A ceremony log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ceremony", content = "body", rename_all = "snake_case", deny_unknown_fields)]
pub enum Ceremony {
    /// The signer's status.
    Announce(Signed<SignerAnnounce>),
    /// A key holder device's message.
    Message(Signed<CeremonyMessage>),
}

impl Canonical for Ceremony {
    fn encode(&self) -> Vec<u8> {
        match self {
            Self::Announce(a) => a.encode(),
            Self::Message(m) => m.encode(),
        }
    }

    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (kind, _) = header(bytes)?;
        Ok(match kind {
            Kind::SignerAnnounce => Self::Announce(Canonical::decode(bytes)?),
            Kind::CeremonyMessage => Self::Message(Canonical::decode(bytes)?),
            other => return Err(DecodeError::Invalid(format!("a {other:?} is not a ceremony message"))),
        })
    }
}

/// Why a ceremony payload cannot be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CeremonyError {
    /// The announced ceremony key is not an X25519 public key.
    #[error("the signer's ceremony key is not a 32-byte X25519 public key")]
    BadKey,
    /// The sealed payload is malformed or too large.
    #[error("the sealed payload is {0} bytes; it must be 48 to {MAX_SEALED_LEN}")]
    BadLength(usize),
    /// Decryption failed: wrong key (another boot), tampered, or moved to
    /// another device, purpose or slot.
    #[error(
        "the sealed payload does not open with this boot's ceremony key (sealed for another boot, device or purpose, or altered)"
    )]
    Open,
    /// Encryption failed.
    #[error("sealing failed")]
    Seal,
}

/// The associated data a seal binds: which boot, purpose, device and slot.
fn aad(boot: &B256, purpose: Purpose, device: &Address, holder: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + 1 + 20 + 1);
    out.extend_from_slice(boot.as_slice());
    out.push(purpose as u8);
    out.extend_from_slice(device.as_slice());
    out.push(holder);
    out
}

/// Seals `plaintext` to the announced `ceremony_key`, bound to
/// (boot, purpose, device, holder). Output: encapsulated key ‖ ciphertext.
pub fn seal<R: CryptoRng>(
    ceremony_key: &[u8],
    boot: &B256,
    purpose: Purpose,
    device: &Address,
    holder: u8,
    plaintext: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, CeremonyError> {
    let pk = <X25519HkdfSha256 as hpke::Kem>::PublicKey::from_bytes(ceremony_key).map_err(|_| CeremonyError::BadKey)?;
    let (enc, ct) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256, _>(
        &OpModeS::Base,
        &pk,
        INFO,
        plaintext,
        &aad(boot, purpose, device, holder),
        rng,
    )
    .map_err(|_| CeremonyError::Seal)?;
    let mut out = enc.to_bytes().to_vec();
    out.extend_from_slice(&ct);
    if out.len() > MAX_SEALED_LEN {
        return Err(CeremonyError::BadLength(out.len()));
    }
    Ok(out)
}

/// A key holder device's signed answer to the signer's `announce`: `payload`
/// (the enrolment code, a phrase, or nothing for a panic) sealed to the
/// announced ceremony key for this boot, purpose, device and `slot`. It
/// carries no endorsement: a re-enrolment is made with [`answer_reenrol`]
/// (one made here is refused by [`admit`]).
#[allow(clippy::too_many_arguments)]
pub fn answer<R: CryptoRng>(
    domain: &Domain,
    device: &SecretKey,
    announce: &SignerAnnounce,
    purpose: Purpose,
    slot: u8,
    device_id: &str,
    payload: &[u8],
    time: u64,
    rng: &mut R,
) -> Result<Ceremony, CeremonyError> {
    message(domain, device, announce, purpose, slot, device_id, payload, Vec::new(), time, rng)
}

/// A replacement device's re-enrolment for `slot`: the holder's original
/// `phrase` sealed as in [`answer`], with `endorsement` (from [`endorse`],
/// by an enrolled device, for this boot, slot and device) attached in the
/// clear so the gateway and the signer can check it before anything else.
#[allow(clippy::too_many_arguments)]
pub fn answer_reenrol<R: CryptoRng>(
    domain: &Domain,
    device: &SecretKey,
    announce: &SignerAnnounce,
    slot: u8,
    device_id: &str,
    phrase: &[u8],
    endorsement: &Signature,
    time: u64,
    rng: &mut R,
) -> Result<Ceremony, CeremonyError> {
    let endorsement = endorsement.as_bytes().to_vec();
    message(domain, device, announce, Purpose::Reenrol, slot, device_id, phrase, endorsement, time, rng)
}

#[allow(clippy::too_many_arguments)]
fn message<R: CryptoRng>(
    domain: &Domain,
    device: &SecretKey,
    announce: &SignerAnnounce,
    purpose: Purpose,
    slot: u8,
    device_id: &str,
    payload: &[u8],
    endorsement: Vec<u8>,
    time: u64,
    rng: &mut R,
) -> Result<Ceremony, CeremonyError> {
    let sealed = seal(&announce.ceremonyKey, &announce.boot, purpose, &device.address(), slot, payload, rng)?;
    let m = CeremonyMessage {
        boot: announce.boot,
        purpose: purpose as u8,
        holder: slot,
        deviceId: device_id.to_owned(),
        sealed: sealed.into(),
        time,
        endorsement: endorsement.into(),
    };
    Ok(Ceremony::Message(Signed::new(domain, device, m)))
}

/// The signer's per-boot ceremony key pair. Never stored; dropped with the process.
pub struct CeremonyKey {
    secret: <X25519HkdfSha256 as hpke::Kem>::PrivateKey,
    public: <X25519HkdfSha256 as hpke::Kem>::PublicKey,
}

impl std::fmt::Debug for CeremonyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CeremonyKey({})", alloy::hex::encode(self.public_bytes()))
    }
}

impl CeremonyKey {
    /// A fresh key pair.
    pub fn generate<R: CryptoRng>(rng: &mut R) -> Self {
        let (secret, public) = X25519HkdfSha256::gen_keypair(rng);
        Self { secret, public }
    }

    /// The public key to announce.
    pub fn public_bytes(&self) -> Vec<u8> {
        self.public.to_bytes().to_vec()
    }

    /// Opens what [`seal`] produced for this key and the same binding.
    pub fn open(
        &self,
        boot: &B256,
        purpose: Purpose,
        device: &Address,
        holder: u8,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CeremonyError> {
        if sealed.len() < KEY_LEN + 16 || sealed.len() > MAX_SEALED_LEN {
            return Err(CeremonyError::BadLength(sealed.len()));
        }
        let (enc, ct) = sealed.split_at(KEY_LEN);
        let enc = <X25519HkdfSha256 as hpke::Kem>::EncappedKey::from_bytes(enc).map_err(|_| CeremonyError::Open)?;
        hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
            &OpModeR::Base,
            &self.secret,
            &enc,
            INFO,
            ct,
            &aad(boot, purpose, device, holder),
        )
        .map(Zeroizing::new)
        .map_err(|_| CeremonyError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretKey;
    use crate::ids::{ChainId, DeploymentId};
    use crate::typed::Domain;
    use rand_core::{OsRng, UnwrapErr};

    fn rng() -> UnwrapErr<OsRng> {
        UnwrapErr(OsRng)
    }

    fn parts() -> (CeremonyKey, B256, Address) {
        (CeremonyKey::generate(&mut rng()), B256::repeat_byte(7), Address::repeat_byte(9))
    }

    #[test]
    fn seal_opens_only_with_the_same_binding_and_key() {
        let (key, boot, device) = parts();
        let pk = key.public_bytes();
        let sealed = seal(&pk, &boot, Purpose::Phrase, &device, 1, b"correct horse", &mut rng()).unwrap();
        assert_eq!(key.open(&boot, Purpose::Phrase, &device, 1, &sealed).unwrap().as_slice(), b"correct horse");
        let err = Err(CeremonyError::Open);
        assert_eq!(key.open(&B256::repeat_byte(8), Purpose::Phrase, &device, 1, &sealed).map(|_| ()), err);
        assert_eq!(key.open(&boot, Purpose::Reenrol, &device, 1, &sealed).map(|_| ()), err);
        assert_eq!(key.open(&boot, Purpose::Phrase, &Address::repeat_byte(1), 1, &sealed).map(|_| ()), err);
        assert_eq!(key.open(&boot, Purpose::Phrase, &device, 2, &sealed).map(|_| ()), err);
        let other = CeremonyKey::generate(&mut rng());
        assert_eq!(other.open(&boot, Purpose::Phrase, &device, 1, &sealed).map(|_| ()), err);
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(key.open(&boot, Purpose::Phrase, &device, 1, &flipped).map(|_| ()), err);
        assert!(matches!(
            key.open(&boot, Purpose::Phrase, &device, 1, &sealed[..20]),
            Err(CeremonyError::BadLength(20))
        ));
    }

    #[test]
    fn a_bad_ceremony_key_is_refused() {
        let (_, boot, device) = parts();
        assert_eq!(seal(&[1; 5], &boot, Purpose::Enrol, &device, 0, b"x", &mut rng()), Err(CeremonyError::BadKey));
    }

    #[test]
    fn ceremony_entries_round_trip_and_debug_hides_the_secret() {
        let domain = Domain { chain_id: ChainId(1), deployment: DeploymentId(B256::repeat_byte(3)) };
        let device = SecretKey::from_label_unchecked("device");
        let (key, boot, _) = parts();
        let msg = CeremonyMessage {
            boot,
            purpose: Purpose::Enrol as u8,
            holder: 0,
            deviceId: "phone-1".into(),
            sealed: seal(&key.public_bytes(), &boot, Purpose::Enrol, &device.address(), 0, b"123456", &mut rng())
                .unwrap()
                .into(),
            time: 5,
            endorsement: Default::default(),
        };
        let c = Ceremony::Message(Signed::new(&domain, &device, msg));
        assert_eq!(Ceremony::decode(&c.encode()).unwrap(), c);
        assert!(!format!("{key:?}").is_empty());
        let announce = SignerAnnounce {
            boot,
            sequence: 1,
            state: SignerState::Sealed as u8,
            ceremonyKey: key.public_bytes().into(),
            wallet: Address::ZERO,
            devices: vec![device.address()],
            holders: 3,
            received: 0,
            paused: false,
            detail: String::new(),
            time: 1,
        };
        let a = Ceremony::Announce(Signed::new(&domain, &device, announce));
        assert_eq!(Ceremony::decode(&a.encode()).unwrap(), a);
    }
}
