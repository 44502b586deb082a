//! The key ceremony on the signer's side: enrolment, genesis, unseal,
//! re-enrolment, lock and restore (DESIGN.md §3, §7).
//!
//! ```text
//!  Enrolling ──N devices──▶ Genesis ──N phrases──▶ Unsealed ◀──N phrases── Sealed (after a restart)
//!                                                    │  ▲
//!          K wrong phrases, a panic, a bad registry ─┘  └── N phrases ── Locked
//! ```
//!
//! Slot `i` is key holder `i` of the genesis (its device key must be that
//! holder's key to enrol), so the phrase order, and with it the wallet, is
//! the same on a signer restored from paper on a new machine. Each arriving
//! phrase is checked on its own against a stored commitment,
//! `Argon2id(phrase, salt = SHA256("BOX/commitment" ‖ d) ‖ i)`, a different
//! salt from the key's `H(m_i)`, so the commitments do not help rebuild the
//! key; a wrong phrase is counted at once. The key is derived only when all
//! N are in, into locked memory; the phrases are dropped (zeroized) right
//! after.
//!
//! Only failures that prove an identity count toward the lock (DESIGN.md
//! §2): a wrong phrase from a slot's enrolled device, a wrong code from a
//! genesis key holder's key. Every message first passes
//! [`box_core::ceremony::admit`]; a re-enrolment needs an enrolled device's
//! endorsement before its phrase is checked, and a failed one is throttled
//! per slot instead of counted (`vault/reenrol.rs`).

use crate::locked::{LockError, LockedKey};
use crate::store::{Device, Store, StoreError};
use box_core::ceremony::{CeremonyKey, CeremonyMessage, Purpose, SignerState, admit};
use box_core::keys::{Phrase, check_phrase_strength, derive_root_key, phrase_hash, wallet_key};
use box_core::typed::Domain;
use box_core::{Address, B256};
use rand_core::{OsRng, RngCore, TryRngCore, UnwrapErr};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use zeroize::{Zeroize, Zeroizing};

mod reenrol;

/// Characters of the enrolment code: no 0/O, 1/I/L.
const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// What the vault is doing.
enum Phase {
    /// Waiting for devices; `code` is the one-time enrolment code (None once refused K times).
    Enrolling { code: Option<Zeroizing<String>> },
    /// Devices enrolled, no wallet yet.
    Genesis,
    /// Wallet exists, key not in memory.
    Sealed,
    /// Key in memory.
    Unsealed(LockedKey),
    /// Locked; needs a full unseal.
    Locked(String),
}

/// What one ceremony message did, for the log (never containing a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Whether the announced state changed.
    pub changed: bool,
    /// What happened, in words.
    pub note: String,
}

impl Outcome {
    fn changed(note: impl Into<String>) -> Self {
        Self { changed: true, note: note.into() }
    }
    fn ignored(note: impl Into<String>) -> Self {
        Self { changed: false, note: note.into() }
    }
}

/// Errors that stop the signer (not refusals of a message).
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Locked memory is unavailable.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The store is inconsistent.
    #[error("signer store is inconsistent: {0}")]
    Corrupt(String),
}

/// The ceremony state and the key.
pub struct Vault {
    store: std::sync::Arc<Store>,
    domain: Domain,
    key_holders: Vec<Address>,
    lock_after: u32,
    boot: B256,
    ceremony: CeremonyKey,
    phase: Phase,
    devices: Vec<Option<Device>>,
    phrases: BTreeMap<u8, Phrase>,
    /// `d` from a paper backup, for a restore on an empty data dir.
    restore_d: Option<Zeroizing<[u8; 32]>>,
    /// The wallet a restore must reproduce.
    expect_wallet: Option<Address>,
    /// Last refusal or event worth showing in the announcement.
    detail: String,
    /// Argon2id commitment checks run in this boot (shown in the log).
    argon2_runs: u64,
    /// The hot wallet, as stored (kept here: read on every round, never
    /// from disk on the async executor).
    wallet: Option<Address>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Vault({}, wallet {:?})", self.state().as_str(), self.wallet())
    }
}

fn rng() -> UnwrapErr<OsRng> {
    UnwrapErr(OsRng)
}

fn commitment_salt(d: &[u8; 32]) -> [u8; 32] {
    Sha256::new().chain_update(b"BOX/commitment").chain_update(d).finalize().into()
}

impl Vault {
    /// Opens the vault from the store. `domain` is the deployment's (for
    /// re-enrolment endorsements); `restore` is `d` from a paper backup
    /// (only for a store without a wallet) and the address it must yield.
    pub fn open(
        store: std::sync::Arc<Store>,
        domain: Domain,
        key_holders: Vec<Address>,
        lock_after: u32,
        restore: Option<(Zeroizing<[u8; 32]>, Option<Address>)>,
    ) -> Result<Self, VaultError> {
        let n = key_holders.len();
        let mut devices: Vec<Option<Device>> = store.get("devices")?.unwrap_or_else(|| vec![None; n]);
        if devices.len() != n {
            return Err(VaultError::Corrupt(format!(
                "{} device slots stored, the genesis has {n} key holders",
                devices.len()
            )));
        }
        devices.truncate(n);
        let wallet: Option<Address> = store.get("wallet")?;
        let locked: Option<String> = store.get("locked")?;
        let (restore_d, expect_wallet) = match restore {
            Some(_) if wallet.is_some() => {
                return Err(VaultError::Corrupt(
                    "a restore needs an empty data directory; this one already holds a wallet".into(),
                ));
            }
            Some((d, expect)) => (Some(d), expect),
            None => (None, None),
        };
        let mut boot = B256::ZERO;
        rng().fill_bytes(boot.as_mut_slice());
        let phase = match (wallet, locked) {
            (Some(_), Some(reason)) => Phase::Locked(reason),
            (Some(_), None) => Phase::Sealed,
            (None, _) if devices.iter().all(Option::is_some) => Phase::Genesis,
            (None, _) => Phase::Enrolling { code: Some(new_code()) },
        };
        Ok(Self {
            store,
            domain,
            key_holders,
            lock_after,
            boot,
            ceremony: CeremonyKey::generate(&mut rng()),
            phase,
            devices,
            phrases: BTreeMap::new(),
            restore_d,
            expect_wallet,
            detail: String::new(),
            argon2_runs: 0,
            wallet,
        })
    }

    /// This boot's id (the challenge messages must answer).
    pub fn boot(&self) -> B256 {
        self.boot
    }

    /// The per-boot HPKE public key.
    pub fn ceremony_key(&self) -> Vec<u8> {
        self.ceremony.public_bytes()
    }

    /// The one-time enrolment code, while devices may enrol. Shown on the
    /// signer's own console only.
    pub fn enrolment_code(&self) -> Option<&str> {
        match &self.phase {
            Phase::Enrolling { code } => code.as_deref().map(String::as_str),
            _ => None,
        }
    }

    /// The announced state.
    pub fn state(&self) -> SignerState {
        match self.phase {
            Phase::Enrolling { .. } => SignerState::AwaitingEnrolment,
            Phase::Genesis => SignerState::AwaitingGenesis,
            Phase::Sealed => SignerState::Sealed,
            Phase::Unsealed(_) => SignerState::Unsealed,
            Phase::Locked(_) => SignerState::Locked,
        }
    }

    /// The key, when unsealed.
    pub fn key(&self) -> Option<&LockedKey> {
        match &self.phase {
            Phase::Unsealed(k) => Some(k),
            _ => None,
        }
    }

    /// The hot-wallet address once the genesis ceremony is done.
    pub fn wallet(&self) -> Option<Address> {
        self.wallet
    }

    /// `d`, once the genesis ceremony is done: not secret on its own, needed
    /// with every phrase to rebuild the key; goes on each holder's paper backup.
    pub fn d(&self) -> Result<Option<[u8; 32]>, StoreError> {
        Ok(self.store.get::<String>("d")?.and_then(|h| hex::decode(h).ok()).and_then(|b| b.try_into().ok()))
    }

    /// Enrolled devices by slot (address(0) for an empty slot).
    pub fn devices(&self) -> Vec<Address> {
        self.devices.iter().map(|d| d.as_ref().map_or(Address::ZERO, |d| d.address)).collect()
    }

    /// Phrases received in the current round.
    pub fn received(&self) -> usize {
        self.phrases.len()
    }

    /// The latest refusal or event, in words, for the announcement.
    pub fn detail(&self) -> &str {
        match &self.phase {
            Phase::Locked(reason) if self.detail.is_empty() => reason,
            _ => &self.detail,
        }
    }

    /// Zeroizes the key and refuses all work until a full unseal.
    pub fn lock(&mut self, reason: &str) -> Result<Outcome, VaultError> {
        if self.wallet().is_none() {
            // Nothing to protect yet; stop enrolment until a restart shows a new code.
            self.phase = Phase::Enrolling { code: None };
            self.phrases.clear();
            self.detail = format!("enrolment stopped: {reason}; restart the signer for a new code");
            return Ok(Outcome::changed(self.detail.clone()));
        }
        self.store.put("locked", &reason)?;
        self.phrases.clear();
        self.phase = Phase::Locked(reason.to_owned()); // drops the LockedKey: zeroized
        self.detail = format!("locked: {reason}");
        Ok(Outcome::changed(self.detail.clone()))
    }

    fn fail(&mut self, what: String) -> Result<Outcome, VaultError> {
        let failures: u32 = self.store.get("failures")?.unwrap_or(0) + 1;
        self.store.put("failures", &failures)?;
        if failures >= self.lock_after {
            self.store.put("failures", &0u32)?;
            return self.lock(&format!("{failures} failed attempts (last: {what})"));
        }
        self.detail = format!("{what} ({failures} of {} failed attempts before lock)", self.lock_after);
        Ok(Outcome::changed(self.detail.clone()))
    }

    /// Handles one ceremony message signed by `device`, at `now` (Unix
    /// seconds by the signer's own clock, for the re-enrolment backoff).
    /// Refusals are outcomes; errors are failures of the signer itself.
    ///
    /// Every message first passes [`admit`] against the signer's own record
    /// (the genesis key holders and the enrolled devices): a message its
    /// sender cannot be entitled to is dropped before the seal is opened or
    /// Argon2id runs, and counts toward nothing.
    pub fn handle(&mut self, device: Address, m: &CeremonyMessage, now: u64) -> Result<Outcome, VaultError> {
        if m.boot != self.boot {
            return Ok(Outcome::ignored("answers another boot's challenge"));
        }
        let admitted = match admit(&self.domain, m, device, &self.key_holders, &self.devices()) {
            Ok(a) => a,
            Err(refused) => return Ok(Outcome::ignored(refused.to_string())),
        };
        let slot = admitted.slot();
        match admitted.purpose() {
            Purpose::Enrol => self.enrol(device, slot, m),
            Purpose::Panic => self.lock(&format!("panic command from key holder {} ({})", slot + 1, m.deviceId)),
            Purpose::Phrase => {
                if matches!(self.phase, Phase::Enrolling { .. } | Phase::Unsealed(_)) {
                    return Ok(Outcome::ignored(format!("no phrase is expected while {}", self.state().as_str())));
                }
                let phrase = match self.ceremony.open(&self.boot, Purpose::Phrase, &device, slot, &m.sealed) {
                    Ok(p) => p,
                    Err(e) => return Ok(Outcome::ignored(e.to_string())),
                };
                let Ok(text) = std::str::from_utf8(&phrase) else {
                    return Ok(Outcome::ignored("the phrase is not UTF-8"));
                };
                let phrase = Phrase::new(text);
                self.phrase(slot, phrase)
            }
            Purpose::Reenrol => self.reenrol(device, admitted, m, now),
        }
    }

    fn enrol(&mut self, device: Address, slot: u8, m: &CeremonyMessage) -> Result<Outcome, VaultError> {
        let Phase::Enrolling { code } = &self.phase else {
            return Ok(Outcome::ignored("every device is enrolled; further enrolments are refused"));
        };
        let Some(code) = code.clone() else {
            return Ok(Outcome::ignored("enrolment is stopped; restart the signer for a new code"));
        };
        if self.devices[usize::from(slot)].is_some() {
            return Ok(Outcome::ignored(format!("slot {} is already enrolled", slot + 1)));
        }
        let typed = match self.ceremony.open(&self.boot, Purpose::Enrol, &device, slot, &m.sealed) {
            Ok(t) => t,
            Err(e) => return Ok(Outcome::ignored(e.to_string())),
        };
        if !code_matches(&code, &typed) {
            return self.fail(format!("wrong enrolment code from key holder {}", slot + 1));
        }
        self.devices[usize::from(slot)] = Some(Device { address: device, device_id: m.deviceId.clone() });
        self.store.put("devices", &self.devices)?;
        let done = self.devices.iter().filter(|d| d.is_some()).count();
        self.detail =
            format!("key holder {} enrolled device {} ({done} of {})", slot + 1, m.deviceId, self.devices.len());
        if done == self.devices.len() {
            self.phase = Phase::Genesis;
        }
        Ok(Outcome::changed(self.detail.clone()))
    }

    /// Checks `phrase` against slot `slot`'s commitment: one Argon2id run
    /// (64 MiB), counted and logged so that who can cause one is observable.
    fn check_commitment(&mut self, slot: u8, phrase: &Phrase) -> Result<bool, VaultError> {
        let d = self.d()?.ok_or_else(|| VaultError::Corrupt("a wallet without d".into()))?;
        let stored: Vec<String> = self.store.get("commitments")?.unwrap_or_default();
        let want = stored.get(usize::from(slot)).ok_or_else(|| VaultError::Corrupt("missing commitment".into()))?;
        self.argon2_runs += 1;
        tracing::info!(
            "ceremony: Argon2id run {} of this boot: a phrase for key holder {}",
            self.argon2_runs,
            slot + 1
        );
        let got = phrase_hash(phrase, &commitment_salt(&d), u32::from(slot) + 1)
            .map_err(|e| VaultError::Corrupt(e.to_string()))?;
        Ok(hex::encode(got.as_slice()) == *want)
    }

    fn phrase(&mut self, slot: u8, phrase: Phrase) -> Result<Outcome, VaultError> {
        if self.phrases.contains_key(&slot) {
            return Ok(Outcome::ignored(format!("key holder {}'s phrase is already in", slot + 1)));
        }
        if matches!(self.phase, Phase::Genesis) {
            if let Err(weak) = check_phrase_strength(phrase.expose()) {
                self.detail = format!("key holder {}'s phrase is refused: {weak}", slot + 1);
                return Ok(Outcome::changed(self.detail.clone()));
            }
        } else if !self.check_commitment(slot, &phrase)? {
            return self.fail(format!("wrong phrase from key holder {}", slot + 1));
        }
        self.phrases.insert(slot, phrase);
        self.detail = format!("{} of {} phrases received", self.phrases.len(), self.key_holders.len());
        if self.phrases.len() < self.key_holders.len() {
            return Ok(Outcome::changed(self.detail.clone()));
        }
        let phrases: Vec<Phrase> = std::mem::take(&mut self.phrases).into_values().collect();
        match self.phase {
            Phase::Genesis => self.genesis(&phrases),
            _ => self.unseal(&phrases),
        }
    }

    fn genesis(&mut self, phrases: &[Phrase]) -> Result<Outcome, VaultError> {
        let d: Zeroizing<[u8; 32]> = match &self.restore_d {
            Some(d) => d.clone(),
            None => {
                let mut d = Zeroizing::new([0u8; 32]);
                OsRng.try_fill_bytes(d.as_mut()).map_err(|e| VaultError::Corrupt(format!("no randomness: {e}")))?;
                d
            }
        };
        let (key, wallet) = derive(&d, phrases)?;
        if let Some(expect) = self.expect_wallet
            && expect != wallet
        {
            self.detail = format!(
                "restore refused: d and these phrases give {wallet}, not the expected {expect}; check d and that each holder typed their own phrase"
            );
            return Ok(Outcome::changed(self.detail.clone()));
        }
        let salt = commitment_salt(&d);
        let commitments = phrases
            .iter()
            .zip(1u32..)
            .map(|(p, i)| phrase_hash(p, &salt, i).map(|h| hex::encode(h.as_slice())))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| VaultError::Corrupt(e.to_string()))?;
        self.store.put_all(&[
            ("d", serde_json::json!(hex::encode(d.as_slice()))),
            ("wallet", serde_json::json!(wallet)),
            ("commitments", serde_json::json!(commitments)),
            ("failures", serde_json::json!(0)),
        ])?;
        self.restore_d = None;
        self.wallet = Some(wallet);
        self.phase = Phase::Unsealed(key);
        self.detail = format!("genesis done: hot wallet {wallet}");
        Ok(Outcome::changed(self.detail.clone()))
    }

    fn unseal(&mut self, phrases: &[Phrase]) -> Result<Outcome, VaultError> {
        let d = self.d()?.ok_or_else(|| VaultError::Corrupt("a wallet without d".into()))?;
        let (key, wallet) = derive(&Zeroizing::new(d), phrases)?;
        if Some(wallet) != self.wallet() {
            // Every phrase matched its commitment, so this is not a typo: refuse to run.
            return self.lock("the phrases match their commitments but derive another wallet");
        }
        self.store.put("failures", &0u32)?;
        self.store.remove_all(&["locked"])?;
        self.phase = Phase::Unsealed(key);
        self.detail = "unsealed".into();
        Ok(Outcome::changed("unsealed"))
    }
}

/// Derives the root key and wallet into locked memory.
fn derive(d: &Zeroizing<[u8; 32]>, phrases: &[Phrase]) -> Result<(LockedKey, Address), VaultError> {
    let root = derive_root_key(d, phrases).map_err(|e| VaultError::Corrupt(e.to_string()))?;
    let wallet = wallet_key(&root).map_err(|e| VaultError::Corrupt(e.to_string()))?;
    let address = wallet.address();
    let mut root_bytes = *root;
    let mut wallet_bytes = *wallet.expose_bytes();
    let key = LockedKey::new(&mut root_bytes, &mut wallet_bytes);
    root_bytes.zeroize();
    wallet_bytes.zeroize();
    Ok((key?, address))
}

fn new_code() -> Zeroizing<String> {
    let mut code = Zeroizing::new(String::with_capacity(14));
    let mut r = rng();
    for i in 0..12 {
        if i > 0 && i % 4 == 0 {
            code.push('-');
        }
        // 31 symbols: rejection-sample a byte below 248 (8 * 31) for uniformity.
        let b = loop {
            let b = (r.next_u32() & 0xff) as u8;
            if b < 248 {
                break b;
            }
        };
        code.push(char::from(CODE_ALPHABET[usize::from(b % 31)]));
    }
    code
}

/// Compares a typed code with the shown one, ignoring case, spaces and dashes,
/// in time independent of where they differ.
fn code_matches(code: &str, typed: &[u8]) -> bool {
    let norm = |s: &[u8]| -> Zeroizing<Vec<u8>> {
        Zeroizing::new(s.iter().filter(|c| c.is_ascii_alphanumeric()).map(u8::to_ascii_uppercase).collect())
    };
    let (a, b) = (norm(code.as_bytes()), norm(typed));
    a.len() == b.len() && a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_fresh_and_compare_loosely() {
        let (a, b) = (new_code(), new_code());
        assert_ne!(*a, *b);
        assert_eq!(a.len(), 14);
        assert!(code_matches(&a, a.to_lowercase().replace('-', " ").as_bytes()));
        assert!(!code_matches(&a, b.as_bytes()));
        assert!(!code_matches(&a, &a.as_bytes()[..10]));
    }
}
