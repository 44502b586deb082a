//! Ethereum keystore v3 files (the "Web3 Secret Storage" format every wallet reads).
//!
//! ```text
//! derived = scrypt(password, salt, n, r, p, 32)   (or PBKDF2-HMAC-SHA256, c rounds: read only)
//! ciphertext = AES-128-CTR(key = derived[0..16], iv, secret)
//! mac = keccak256(derived[16..32] ‖ ciphertext)
//! ```
//!
//! Written here rather than taken from the `eth-keystore` crate: that crate
//! only reads and writes files by path (boxctl also parks keystores at the
//! gateway and downloads them as JSON), refuses files other wallets write
//! (see below), and brings older copies of `rand`, `uuid`, `sha3` and
//! `thiserror`; the primitives (`scrypt`, `salsa20`, `pbkdf2`, `aes`, `ctr`)
//! are RustCrypto's. The format is small and has published test vectors,
//! which the tests check (`testdata/keystores`).
//!
//! Every boxctl command that reads a keystore reads it through [`decrypt`],
//! which accepts what geth, ethers, web3.py and MyEtherWallet write: the
//! ethereum/tests `KeyStoreTests` vectors (scrypt N = 2^18, r = 1, p = 8
//! included), IVs, ciphertexts and MACs written as numbers without their
//! leading zero bytes, upper-case hex, `Crypto` capitalised, and passwords
//! as typed or in their NFKC form (ethers normalises, geth does not). It
//! refuses parameters that would make reading the file a denial of service
//! (scrypt over 256 MiB or over twice geth's standard work, PBKDF2 over 10^7
//! rounds, files over 64 KiB) before allocating anything, with the reason.
//!
//! What this does not do: judge a password. A keystore is exactly as strong
//! as its password; boxctl makes random ones when it issues keys.

mod kdf;
#[cfg(test)]
mod tests;

pub use kdf::{Kdf, MAX_PBKDF2_ROUNDS, MAX_SCRYPT_MEMORY, MAX_SCRYPT_WORK};

use aes::cipher::{KeyIvInit, StreamCipher};
use alloy::primitives::{B256, Keccak256, keccak256};
use box_core::Address;
use box_core::crypto::SecretKey;
use rand_core::{OsRng, TryRngCore};
use serde_json::{Value, json};
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

/// The largest keystore file boxctl reads (a keystore is about 500 bytes).
pub const MAX_FILE_BYTES: u64 = 64 << 10;

/// scrypt cost parameters for new keystores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScryptCost {
    /// log2 of N.
    pub log_n: u8,
    /// Block size.
    pub r: u32,
    /// Parallelism.
    pub p: u32,
}

impl ScryptCost {
    /// geth's standard parameters (N = 2^18, r = 8, p = 1: 256 MiB), for
    /// passwords people choose.
    pub const STANDARD: Self = Self { log_n: 18, r: 8, p: 1 };
    /// geth's light parameters (N = 2^12, r = 8, p = 6), for random
    /// passwords of 125 bits or more, which need no stretching.
    pub const LIGHT: Self = Self { log_n: 12, r: 8, p: 6 };

    fn kdf(self) -> Kdf {
        Kdf::Scrypt { n: 1u64 << self.log_n, r: self.r, p: self.p }
    }
}

/// Why a keystore cannot be read or made. Never contains the password or key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeystoreError {
    /// Not a keystore v3 JSON document.
    #[error("not an Ethereum keystore v3 file: {0}")]
    Malformed(String),
    /// A KDF, cipher or parameter this implementation does not read (or refuses as hostile).
    #[error("unsupported keystore: {0}")]
    Unsupported(String),
    /// The MAC does not match: the password is wrong (or the file was altered).
    #[error("wrong password for this keystore (or the file was altered)")]
    WrongPassword,
    /// The decrypted secret is not a valid key, or not the key of the stated address.
    #[error("the keystore decrypts to {0}")]
    BadKey(String),
    /// No randomness from the operating system.
    #[error("no randomness from the operating system: {0}")]
    Random(String),
}

fn random<const N: usize>() -> Result<[u8; N], KeystoreError> {
    let mut b = [0u8; N];
    OsRng.try_fill_bytes(&mut b).map_err(|e| KeystoreError::Random(e.to_string()))?;
    Ok(b)
}

/// Encrypts `key` under `password` as a keystore v3 JSON object.
pub fn encrypt(key: &SecretKey, password: &str, cost: ScryptCost) -> Result<Value, KeystoreError> {
    let salt: [u8; 32] = random()?;
    let iv: [u8; 16] = random()?;
    let mut uuid: [u8; 16] = random()?;
    uuid[6] = (uuid[6] & 0x0f) | 0x40; // version 4
    uuid[8] = (uuid[8] & 0x3f) | 0x80; // RFC 4122 variant
    encrypt_with(key, password, cost, &salt, &iv, &uuid)
}

/// [`encrypt`] with given salt, IV and id: for test vectors.
pub fn encrypt_with(
    key: &SecretKey,
    password: &str,
    cost: ScryptCost,
    salt: &[u8; 32],
    iv: &[u8; 16],
    uuid: &[u8; 16],
) -> Result<Value, KeystoreError> {
    let derived = cost.kdf().derive(password.as_bytes(), salt)?;
    let mut ciphertext = key.expose_bytes().to_vec();
    let mut cipher = Aes128Ctr::new(derived[..16].into(), iv.into());
    cipher.apply_keystream(&mut ciphertext);
    let mac = keccak256([&derived[16..32], &ciphertext[..]].concat());
    let u = hex::encode(uuid);
    let id = format!("{}-{}-{}-{}-{}", &u[0..8], &u[8..12], &u[12..16], &u[16..20], &u[20..32]);
    Ok(json!({
        "address": hex::encode(key.address().as_slice()),
        "crypto": {
            "cipher": "aes-128-ctr",
            "cipherparams": { "iv": hex::encode(iv) },
            "ciphertext": hex::encode(&ciphertext),
            "kdf": "scrypt",
            "kdfparams": { "dklen": 32, "n": 1u64 << cost.log_n, "r": cost.r, "p": cost.p, "salt": hex::encode(salt) },
            "mac": hex::encode(mac),
        },
        "id": id,
        "version": 3,
    }))
}

fn field<'a>(v: &'a Value, name: &str) -> Result<&'a Value, KeystoreError> {
    v.get(name).ok_or_else(|| KeystoreError::Malformed(format!("\"{name}\" is missing")))
}

fn str_field<'a>(v: &'a Value, name: &str) -> Result<&'a str, KeystoreError> {
    field(v, name)?.as_str().ok_or_else(|| KeystoreError::Malformed(format!("\"{name}\" is not a string")))
}

/// Hex as other tools write it: with or without `0x`, any case, and (for
/// values written as numbers) possibly of odd length; left-padded with zero
/// bytes to `pad_to` when shorter, refused when longer than `max`.
fn hex_field(v: &Value, name: &str, pad_to: usize, max: usize) -> Result<Vec<u8>, KeystoreError> {
    let s = str_field(v, name)?;
    let s = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s);
    if s.len() > 2 * max {
        return Err(KeystoreError::Malformed(format!("\"{name}\" is longer than {max} bytes")));
    }
    let even = if s.len() % 2 == 1 { format!("0{s}") } else { s.to_owned() };
    let bytes = hex::decode(&even).map_err(|_| KeystoreError::Malformed(format!("\"{name}\" is not hex")))?;
    if bytes.len() >= pad_to {
        return Ok(bytes);
    }
    let mut padded = vec![0u8; pad_to - bytes.len()];
    padded.extend_from_slice(&bytes);
    Ok(padded)
}

fn u64_field(v: &Value, name: &str) -> Result<u64, KeystoreError> {
    field(v, name)?.as_u64().ok_or_else(|| KeystoreError::Malformed(format!("\"{name}\" is not a whole number")))
}

fn u32_field(v: &Value, name: &str) -> Result<u32, KeystoreError> {
    let n = u64_field(v, name)?;
    u32::try_from(n).map_err(|_| KeystoreError::Unsupported(format!("\"{name}\" = {n} is too large")))
}

/// A keystore's fields, read and checked; nothing derived or decrypted yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The key-derivation function and its parameters (within the limits).
    pub kdf: Kdf,
    /// The address the file states, if it states one (checked on decryption).
    pub address: Option<Address>,
    salt: Vec<u8>,
    iv: [u8; 16],
    ciphertext: Vec<u8>,
    mac: [u8; 32],
}

/// Reads a keystore v3 JSON object's fields and checks them against the
/// limits, without deriving anything: a hostile file is refused here, before
/// any allocation it asks for.
pub fn parse(v: &Value) -> Result<Parsed, KeystoreError> {
    if !v.is_object() {
        return Err(KeystoreError::Malformed("expected a JSON object".into()));
    }
    if v.get("version").and_then(Value::as_u64) != Some(3) {
        return Err(KeystoreError::Malformed(
            "\"version\" must be 3 (a plain key file, such as box-node keygen writes, is not a keystore; \
             make a person's key with `boxctl key new`)"
                .into(),
        ));
    }
    let c = v
        .get("crypto")
        .or_else(|| v.get("Crypto"))
        .ok_or_else(|| KeystoreError::Malformed("\"crypto\" is missing".into()))?;
    let cipher = str_field(c, "cipher")?;
    if !cipher.eq_ignore_ascii_case("aes-128-ctr") {
        return Err(KeystoreError::Unsupported(format!("cipher \"{cipher}\" (only aes-128-ctr)")));
    }
    let kp = field(c, "kdfparams")?;
    let dklen = u64_field(kp, "dklen")?;
    if dklen != 32 {
        return Err(KeystoreError::Unsupported(format!("dklen {dklen} (only 32)")));
    }
    let kdf_name = str_field(c, "kdf")?;
    let kdf = if kdf_name.eq_ignore_ascii_case("scrypt") {
        Kdf::Scrypt { n: u64_field(kp, "n")?, r: u32_field(kp, "r")?, p: u32_field(kp, "p")? }
    } else if kdf_name.eq_ignore_ascii_case("pbkdf2") {
        let prf = str_field(kp, "prf")?;
        if !prf.eq_ignore_ascii_case("hmac-sha256") {
            return Err(KeystoreError::Unsupported(format!("pbkdf2 prf \"{prf}\" (only hmac-sha256)")));
        }
        Kdf::Pbkdf2 { c: u32_field(kp, "c")? }
    } else {
        return Err(KeystoreError::Unsupported(format!("kdf \"{kdf_name}\" (scrypt or pbkdf2)")));
    };
    kdf.check()?;
    let salt = hex_field(kp, "salt", 0, 1024)?;
    let iv = hex_field(field(c, "cipherparams")?, "iv", 16, 16)?;
    let ciphertext = hex_field(c, "ciphertext", 0, 32)?;
    if ciphertext.is_empty() {
        return Err(KeystoreError::Malformed("\"ciphertext\" is empty".into()));
    }
    let mac = hex_field(c, "mac", 32, 32)?;
    let address = match v.get("address") {
        None | Some(Value::Null) => None,
        Some(a) => Some(parse_stated_address(a)?),
    };
    Ok(Parsed {
        kdf,
        address,
        salt,
        // Lengths fixed by hex_field's padding and maximum.
        iv: iv.try_into().map_err(|_| KeystoreError::Malformed("\"iv\" is not 16 bytes".into()))?,
        ciphertext,
        mac: mac.try_into().map_err(|_| KeystoreError::Malformed("\"mac\" is not 32 bytes".into()))?,
    })
}

fn parse_stated_address(a: &Value) -> Result<Address, KeystoreError> {
    let bad = || KeystoreError::Malformed("\"address\" is not 20 bytes of hex".into());
    let s = a.as_str().ok_or_else(bad)?;
    let s = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s);
    let bytes: [u8; 20] = hex::decode(s).map_err(|_| bad())?.try_into().map_err(|_| bad())?;
    Ok(Address::from(bytes))
}

/// The address a keystore states, if it states one (it is checked on decryption).
pub fn stated_address(v: &Value) -> Option<Address> {
    v.get("address").and_then(|a| parse_stated_address(a).ok())
}

/// Which form of the password opened a keystore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PasswordForm {
    /// The bytes as typed (geth, web3.py).
    Typed,
    /// The NFKC normalisation of what was typed (ethers).
    Nfkc,
}

/// A decrypted keystore.
pub struct Opened {
    /// The key.
    pub key: SecretKey,
    /// The key-derivation function the file used.
    pub kdf: Kdf,
    /// Which form of the password opened it.
    pub password_form: PasswordForm,
}

impl Parsed {
    /// The key, if `password` derives this file's MAC.
    fn open_with(&self, password: &str) -> Result<Zeroizing<[u8; 32]>, KeystoreError> {
        let derived = self.kdf.derive(password.as_bytes(), &self.salt)?;
        let expected = keccak256([&derived[16..32], &self.ciphertext[..]].concat());
        if expected.as_slice().iter().zip(&self.mac).fold(0u8, |acc, (a, b)| acc | (a ^ b)) != 0 {
            return Err(KeystoreError::WrongPassword);
        }
        // A key written without its leading zero bytes (geth's 31- and 30-byte
        // vectors) is decrypted as written and left-padded.
        let mut plain = Zeroizing::new(self.ciphertext.clone());
        let mut cipher = Aes128Ctr::new(derived[..16].into(), (&self.iv).into());
        cipher.apply_keystream(&mut plain);
        let mut secret = Zeroizing::new([0u8; 32]);
        secret[32 - plain.len()..].copy_from_slice(&plain);
        Ok(secret)
    }
}

/// Decrypts a keystore v3 JSON object with `password` (as typed, else its
/// NFKC form), reporting which KDF and password form opened it.
pub fn open(v: &Value, password: &str) -> Result<Opened, KeystoreError> {
    let parsed = parse(v)?;
    let (secret, password_form) = match parsed.open_with(password) {
        Ok(s) => (s, PasswordForm::Typed),
        Err(KeystoreError::WrongPassword) => {
            let nfkc: Zeroizing<String> = Zeroizing::new(password.nfkc().collect());
            if *nfkc == password {
                return Err(KeystoreError::WrongPassword);
            }
            (parsed.open_with(&nfkc)?, PasswordForm::Nfkc)
        }
        Err(e) => return Err(e),
    };
    let key = SecretKey::from_bytes(&secret)
        .map_err(|_| KeystoreError::BadKey("bytes that are not a secp256k1 key".into()))?;
    if let Some(a) = parsed.address
        && a != key.address()
    {
        return Err(KeystoreError::BadKey(format!("the key of {}, but the file says {a}", key.address())));
    }
    Ok(Opened { key, kdf: parsed.kdf, password_form })
}

/// Decrypts a keystore v3 JSON object with `password` (see [`open`]).
pub fn decrypt(v: &Value, password: &str) -> Result<SecretKey, KeystoreError> {
    open(v, password).map(|o| o.key)
}

/// Reads a keystore file: at most [`MAX_FILE_BYTES`], JSON.
pub fn read_file(path: &std::path::Path) -> Result<Value, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut text = String::new();
    f.take(MAX_FILE_BYTES + 1).read_to_string(&mut text).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("{} is over {} KiB: not a keystore file", path.display(), MAX_FILE_BYTES >> 10));
    }
    serde_json::from_str(&text).map_err(|e| format!("{} is not a keystore JSON file: {e}", path.display()))
}

/// A fresh random password: 25 symbols of Crockford's base32 (125 bits) in
/// groups of five, e.g. `7KQ2M-…`. Easy to read aloud, no 0/O or 1/I/L confusion.
pub fn random_password() -> Result<Zeroizing<String>, KeystoreError> {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let bytes: Zeroizing<[u8; 25]> = Zeroizing::new(random()?);
    let mut out = Zeroizing::new(String::with_capacity(29));
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 && i % 5 == 0 {
            out.push('-');
        }
        out.push(char::from(ALPHABET[usize::from(b & 31)]));
    }
    Ok(out)
}

/// The download token of an issued keystore, derived from its password, so
/// the admin hands over one secret (whitepaper step C) and the gateway, which
/// keeps only keccak256 of the token, can serve the file unsigned once to
/// whoever holds the password, and never learns the password.
///
/// A fast hash, so only for [`random_password`]'s 125-bit passwords: for a
/// password a person chose, the token's hash would be a cheap way to test
/// guesses. A wrong password gives a token the gateway does not know, so it
/// is refused before anything is downloaded or spent.
pub fn download_token(password: &str) -> B256 {
    // Hashed in pieces: no copy of the password is left in a buffer.
    let mut h = Keccak256::new();
    h.update(b"BOX/keystore-download/v1\0");
    h.update(password.as_bytes());
    h.finalize()
}

/// A fresh random secp256k1 key from the operating system.
pub fn random_key() -> Result<SecretKey, KeystoreError> {
    loop {
        let b: Zeroizing<[u8; 32]> = Zeroizing::new(random()?);
        if let Ok(k) = SecretKey::from_bytes(&b) {
            return Ok(k);
        }
    }
}
