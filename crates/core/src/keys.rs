//! Wallet key derivation (DESIGN.md §3) and phrase strength.
//!
//! ```text
//! H(m_i) = Argon2id(NFKD(m_i), salt = d ‖ be32(i))   i = 1..N in enrolment order
//!          parameters: m = 65536 KiB, t = 3, p = 1, 32-byte output, version 0x13
//! k      = SHA256(d ‖ H(m_1) ‖ … ‖ H(m_N))
//!          if k = 0 or k ≥ n:  k = SHA256(d ‖ H(m_1) ‖ … ‖ H(m_N) ‖ be32(c)), c = 1, 2, …
//! wallet = BIP-32 master key from seed k, path m/44'/60'/0'/0/0
//! ```
//!
//! Argon2id makes each guess at a low-entropy phrase cost 64 MiB and three
//! passes, so a stolen `d` plus a fast dictionary is not enough. The salt
//! includes the holder's index so equal phrases of two holders hash apart.
//! Phrases are Unicode-normalised (NFKD, as BIP-39 does) before hashing, so the
//! same phrase typed on systems that compose accents differently (macOS
//! produces NFD, most others NFC) yields the same key.
//! The path is the usual Ethereum account path, so any wallet can show the
//! same address from the same seed; later per-purpose keys use other indices.
//!
//! Everything secret here is `Zeroizing` and never printed.

use crate::crypto::SecretKey;
use argon2::{Algorithm, Argon2, Params, Version};
use hmac::{Hmac, Mac};
use k256::elliptic_curve::PrimeField;
use k256::elliptic_curve::sec1::ToEncodedPoint;
use sha2::{Digest, Sha256, Sha512};
use std::fmt;
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

/// Argon2id memory cost in KiB (64 MiB).
pub const ARGON2_M_KIB: u32 = 65_536;
/// Argon2id passes.
pub const ARGON2_T: u32 = 3;
/// Argon2id lanes.
pub const ARGON2_P: u32 = 1;
/// BIP-32 path of the hot wallet.
pub const WALLET_PATH: &str = "m/44'/60'/0'/0/0";
const WALLET_PATH_INDICES: [u32; 5] = [HARDENED | 44, HARDENED | 60, HARDENED, 0, 0];
const HARDENED: u32 = 0x8000_0000;

/// Minimum phrase length in characters.
pub const MIN_PHRASE_CHARS: usize = 16;
/// Minimum distinct characters in a phrase.
pub const MIN_DISTINCT_CHARS: usize = 8;

/// A key holder's phrase. Zeroized on drop; `Debug` prints nothing of it.
#[derive(Clone)]
pub struct Phrase(Zeroizing<String>);

impl Phrase {
    /// Wraps a phrase (no strength check: see [`check_phrase_strength`]).
    pub fn new(p: impl Into<String>) -> Self {
        Self(Zeroizing::new(p.into()))
    }
    /// The phrase bytes.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Phrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Phrase(<redacted>)")
    }
}

/// Why a phrase is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeakPhrase {
    /// Too short.
    #[error("the phrase has {0} characters; use at least {MIN_PHRASE_CHARS} (several unrelated words work well)")]
    TooShort(usize),
    /// Too few distinct characters.
    #[error("the phrase uses only {0} distinct characters; use at least {MIN_DISTINCT_CHARS}")]
    TooRepetitive(usize),
    /// Leading or trailing whitespace would be lost when typed.
    #[error("the phrase starts or ends with whitespace, which is easy to lose when typing it again")]
    EdgeWhitespace,
    /// A run or sequence dominates the phrase.
    #[error("the phrase is mostly a keyboard or alphabet sequence; choose unrelated words")]
    Sequence,
}

/// Refuses phrases that are short, repetitive or sequential. The rules are
/// deliberately simple and explainable; Argon2 does the rest.
pub fn check_phrase_strength(phrase: &str) -> Result<(), WeakPhrase> {
    if phrase.trim() != phrase {
        return Err(WeakPhrase::EdgeWhitespace);
    }
    let chars: Vec<char> = phrase.chars().collect();
    if chars.len() < MIN_PHRASE_CHARS {
        return Err(WeakPhrase::TooShort(chars.len()));
    }
    let distinct: std::collections::BTreeSet<char> = chars.iter().flat_map(|c| c.to_lowercase()).collect();
    if distinct.len() < MIN_DISTINCT_CHARS {
        return Err(WeakPhrase::TooRepetitive(distinct.len()));
    }
    // Count steps that continue an ascending/descending/equal run ("abcd", "4321", "aaaa").
    let lower: Vec<u32> = chars.iter().map(|c| c.to_ascii_lowercase() as u32).collect();
    let sequential = lower
        .windows(2)
        .filter(|w| w[1] == w[0] || w[1] == w[0].wrapping_add(1) || w[0] == w[1].wrapping_add(1))
        .count();
    if sequential * 2 > lower.len() {
        return Err(WeakPhrase::Sequence);
    }
    Ok(())
}

/// Why derivation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DerivationError {
    /// Too few phrases.
    #[error("key derivation needs at least 3 phrases, got {0}")]
    TooFewPhrases(usize),
    /// Argon2 refused its input.
    #[error("argon2 failed: {0}")]
    Argon2(String),
    /// Astronomically unlikely BIP-32 failure.
    #[error("BIP-32 derivation produced an invalid key at depth {0}")]
    InvalidChild(usize),
}

/// `H(m_i)`: Argon2id of one phrase, salted with `d ‖ be32(index)`;
/// `index` is 1-based enrolment order.
pub fn phrase_hash(phrase: &Phrase, d: &[u8; 32], index: u32) -> Result<Zeroizing<[u8; 32]>, DerivationError> {
    let params =
        Params::new(ARGON2_M_KIB, ARGON2_T, ARGON2_P, Some(32)).map_err(|e| DerivationError::Argon2(e.to_string()))?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let mut salt = [0u8; 36];
    salt[..32].copy_from_slice(d);
    salt[32..].copy_from_slice(&index.to_be_bytes());
    let mut out = Zeroizing::new([0u8; 32]);
    let normalized = Zeroizing::new(phrase.expose().nfkd().collect::<String>());
    argon
        .hash_password_into(normalized.as_bytes(), &salt, out.as_mut())
        .map_err(|e| DerivationError::Argon2(e.to_string()))?;
    Ok(out)
}

/// The wallet root key `k` from `d` and the phrase hashes in enrolment order.
pub fn root_key(d: &[u8; 32], phrase_hashes: &[Zeroizing<[u8; 32]>]) -> Result<Zeroizing<[u8; 32]>, DerivationError> {
    if phrase_hashes.len() < 3 {
        return Err(DerivationError::TooFewPhrases(phrase_hashes.len()));
    }
    let mut counter: u32 = 0;
    loop {
        let mut h = Sha256::new();
        h.update(d);
        for ph in phrase_hashes {
            h.update(ph.as_slice());
        }
        if counter > 0 {
            h.update(counter.to_be_bytes());
        }
        let k = Zeroizing::new(<[u8; 32]>::from(h.finalize()));
        if SecretKey::from_bytes(&k).is_ok() {
            return Ok(k);
        }
        counter += 1;
    }
}

/// Derives `k` from `d` and the phrases (in enrolment order).
pub fn derive_root_key(d: &[u8; 32], phrases: &[Phrase]) -> Result<Zeroizing<[u8; 32]>, DerivationError> {
    if phrases.len() < 3 {
        return Err(DerivationError::TooFewPhrases(phrases.len()));
    }
    let hashes = phrases.iter().zip(1u32..).map(|(p, i)| phrase_hash(p, d, i)).collect::<Result<Vec<_>, _>>()?;
    root_key(d, &hashes)
}

type HmacSha512 = Hmac<Sha512>;

fn hmac512(key: &[u8], parts: &[&[u8]]) -> Zeroizing<[u8; 64]> {
    // HMAC accepts keys of any length.
    #[allow(clippy::expect_used)]
    let mut mac = HmacSha512::new_from_slice(key).expect("hmac takes any key length");
    for p in parts {
        mac.update(p);
    }
    Zeroizing::new(mac.finalize().into_bytes().into())
}

/// The hot-wallet key: BIP-32 from seed `root` along [`WALLET_PATH`].
pub fn wallet_key(root: &[u8; 32]) -> Result<SecretKey, DerivationError> {
    bip32_derive(root, &WALLET_PATH_INDICES)
}

/// BIP-32 private derivation from `seed` along `path` (hardened indices have
/// the top bit set).
pub fn bip32_derive(seed: &[u8], path: &[u32]) -> Result<SecretKey, DerivationError> {
    let i = hmac512(b"Bitcoin seed", &[seed]);
    let mut key = Zeroizing::new([0u8; 32]);
    let mut chain = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&i[..32]);
    chain.copy_from_slice(&i[32..]);
    SecretKey::from_bytes(&key).map_err(|_| DerivationError::InvalidChild(0))?;
    for (depth, index) in path.iter().enumerate() {
        let parent = SecretKey::from_bytes(&key).map_err(|_| DerivationError::InvalidChild(depth))?;
        let i = if index & HARDENED != 0 {
            hmac512(chain.as_slice(), &[&[0u8], key.as_slice(), &index.to_be_bytes()])
        } else {
            let sk = k256::ecdsa::SigningKey::from_bytes(parent.expose_bytes().into())
                .map_err(|_| DerivationError::InvalidChild(depth))?;
            let point = sk.verifying_key().as_affine().to_encoded_point(true);
            hmac512(chain.as_slice(), &[point.as_bytes(), &index.to_be_bytes()])
        };
        let mut il = [0u8; 32];
        il.copy_from_slice(&i[..32]);
        let tweak = Option::<k256::Scalar>::from(k256::Scalar::from_repr(il.into()))
            .ok_or(DerivationError::InvalidChild(depth + 1))?;
        let parent_scalar = Option::<k256::Scalar>::from(k256::Scalar::from_repr((*key).into()))
            .ok_or(DerivationError::InvalidChild(depth))?;
        let child = Zeroizing::new(<[u8; 32]>::from((tweak + parent_scalar).to_repr()));
        il.fill(0);
        *key = *child;
        chain.copy_from_slice(&i[32..]);
    }
    SecretKey::from_bytes(&key).map_err(|_| DerivationError::InvalidChild(path.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bip32_matches_the_well_known_development_account() {
        // BIP-39 seed of "test test … junk" (computed independently with PBKDF2).
        let seed = alloy::hex::decode("9dfc3c64c2f8bede1533b6a79f8570e5943e0b8fd1cf77107adf7b72cef42185d564a3aee24cab43f80e3c4538087d70fc824eabbad596a23c97b6ee8322ccc0").unwrap();
        let k = bip32_derive(&seed, &WALLET_PATH_INDICES).unwrap();
        assert_eq!(k.address().to_checksum(None), "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
    }

    #[test]
    fn phrase_rules_explain_themselves() {
        assert_eq!(check_phrase_strength("short"), Err(WeakPhrase::TooShort(5)));
        assert_eq!(check_phrase_strength("aaaaaaaaaaaaaaaaaaaa"), Err(WeakPhrase::TooRepetitive(1)));
        assert_eq!(check_phrase_strength("abcdefghijklmnopqrst"), Err(WeakPhrase::Sequence));
        assert_eq!(check_phrase_strength(" correct horse battery"), Err(WeakPhrase::EdgeWhitespace));
        assert!(check_phrase_strength("correct horse battery staple").is_ok());
        assert!(WeakPhrase::TooShort(5).to_string().contains("at least 16"));
    }

    #[test]
    fn composed_and_decomposed_phrases_give_the_same_hash() {
        let d = [7u8; 32];
        let nfc = Phrase::new("caf\u{e9} cr\u{e8}me br\u{fb}l\u{e9}e");
        let nfd = Phrase::new("cafe\u{301} cre\u{300}me bru\u{302}le\u{301}e");
        assert_ne!(nfc.expose(), nfd.expose());
        assert_eq!(*phrase_hash(&nfc, &d, 1).unwrap(), *phrase_hash(&nfd, &d, 1).unwrap());
    }

    #[test]
    fn phrase_debug_is_redacted() {
        assert_eq!(format!("{:?}", Phrase::new("correct horse battery staple")), "Phrase(<redacted>)");
    }
}
