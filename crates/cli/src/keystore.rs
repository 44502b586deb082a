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
//! gateway and downloads them as JSON), and brings older copies of `rand`,
//! `uuid`, `sha3` and `thiserror`; the primitives below (`scrypt`, `pbkdf2`,
//! `aes`, `ctr`) are RustCrypto's, and AES-CTR was already in the tree
//! through HPKE. The format is small and has published test vectors, which
//! the tests check.
//!
//! What this does not do: judge a password. A keystore is exactly as strong
//! as its password; boxctl makes random ones when it issues keys.

use aes::cipher::{KeyIvInit, StreamCipher};
use alloy::primitives::{B256, Keccak256, keccak256};
use box_core::Address;
use box_core::crypto::SecretKey;
use rand_core::{OsRng, TryRngCore};
use serde_json::{Value, json};
use zeroize::Zeroizing;

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

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
}

/// Why a keystore cannot be read or made. Never contains the password or key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeystoreError {
    /// Not a keystore v3 JSON document.
    #[error("not an Ethereum keystore v3 file: {0}")]
    Malformed(String),
    /// A KDF or cipher this implementation does not read.
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

fn scrypt_key(
    password: &[u8],
    salt: &[u8],
    cost: ScryptCost,
    dklen: usize,
) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
    let params = scrypt::Params::new(cost.log_n, cost.r, cost.p, dklen).map_err(|_| {
        KeystoreError::Unsupported(format!(
            "scrypt parameters N = 2^{}, r = {}, p = {} are outside RFC 7914 (N < 2^(16 r)); re-encrypt the key with standard parameters",
            cost.log_n, cost.r, cost.p
        ))
    })?;
    let mut out = Zeroizing::new(vec![0u8; dklen]);
    scrypt::scrypt(password, salt, &params, &mut out)
        .map_err(|e| KeystoreError::Unsupported(format!("scrypt: {e}")))?;
    Ok(out)
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
    let derived = scrypt_key(password.as_bytes(), salt, cost, 32)?;
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

fn hex_field(v: &Value, name: &str) -> Result<Vec<u8>, KeystoreError> {
    let s = field(v, name)?.as_str().ok_or_else(|| KeystoreError::Malformed(format!("\"{name}\" is not a string")))?;
    hex::decode(s.trim_start_matches("0x")).map_err(|_| KeystoreError::Malformed(format!("\"{name}\" is not hex")))
}

fn u64_field(v: &Value, name: &str) -> Result<u64, KeystoreError> {
    field(v, name)?.as_u64().ok_or_else(|| KeystoreError::Malformed(format!("\"{name}\" is not a number")))
}

fn u32_field(v: &Value, name: &str) -> Result<u32, KeystoreError> {
    u32::try_from(u64_field(v, name)?).map_err(|_| KeystoreError::Unsupported(format!("\"{name}\" is too large")))
}

/// The address a keystore states, if it states one (it is checked on decryption).
pub fn stated_address(v: &Value) -> Option<Address> {
    let a = v.get("address")?.as_str()?;
    let a = a.strip_prefix("0x").unwrap_or(a);
    format!("0x{a}").parse().ok()
}

/// Decrypts a keystore v3 JSON object with `password`.
pub fn decrypt(v: &Value, password: &str) -> Result<SecretKey, KeystoreError> {
    if v.get("version").and_then(Value::as_u64) != Some(3) {
        return Err(KeystoreError::Malformed("\"version\" must be 3".into()));
    }
    let c = v
        .get("crypto")
        .or_else(|| v.get("Crypto"))
        .ok_or_else(|| KeystoreError::Malformed("\"crypto\" is missing".into()))?;
    let cipher = field(c, "cipher")?.as_str().unwrap_or_default();
    if cipher != "aes-128-ctr" {
        return Err(KeystoreError::Unsupported(format!("cipher {cipher:?} (only aes-128-ctr)")));
    }
    let iv = hex_field(field(c, "cipherparams")?, "iv")?;
    let ciphertext = hex_field(c, "ciphertext")?;
    let mac = hex_field(c, "mac")?;
    if iv.len() != 16 || ciphertext.len() != 32 || mac.len() != 32 {
        return Err(KeystoreError::Malformed("iv, ciphertext or mac has the wrong length".into()));
    }
    let kp = field(c, "kdfparams")?;
    let salt = hex_field(kp, "salt")?;
    let dklen = usize::try_from(u64_field(kp, "dklen")?).unwrap_or(0);
    if dklen != 32 {
        return Err(KeystoreError::Unsupported(format!("dklen {dklen} (only 32)")));
    }
    let derived = match field(c, "kdf")?.as_str().unwrap_or_default() {
        "scrypt" => {
            let n = u64_field(kp, "n")?;
            if !n.is_power_of_two() || !(2..=1 << 24).contains(&n) {
                return Err(KeystoreError::Unsupported(format!("scrypt n = {n} (a power of two up to 2^24)")));
            }
            let cost = ScryptCost { log_n: n.trailing_zeros() as u8, r: u32_field(kp, "r")?, p: u32_field(kp, "p")? };
            scrypt_key(password.as_bytes(), &salt, cost, dklen)?
        }
        "pbkdf2" => {
            let prf = field(kp, "prf")?.as_str().unwrap_or_default();
            if prf != "hmac-sha256" {
                return Err(KeystoreError::Unsupported(format!("pbkdf2 prf {prf:?} (only hmac-sha256)")));
            }
            let rounds = u32_field(kp, "c")?;
            if rounds == 0 || rounds > 10_000_000 {
                return Err(KeystoreError::Unsupported(format!("pbkdf2 c = {rounds}")));
            }
            let mut out = Zeroizing::new(vec![0u8; dklen]);
            pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), &salt, rounds, &mut out);
            out
        }
        other => return Err(KeystoreError::Unsupported(format!("kdf {other:?} (scrypt or pbkdf2)"))),
    };
    let expected = keccak256([&derived[16..32], &ciphertext[..]].concat());
    if expected.as_slice().iter().zip(&mac).fold(0u8, |acc, (a, b)| acc | (a ^ b)) != 0 {
        return Err(KeystoreError::WrongPassword);
    }
    let mut secret = Zeroizing::new([0u8; 32]);
    secret.copy_from_slice(&ciphertext);
    let mut cipher = Aes128Ctr::new(derived[..16].into(), iv.as_slice().into());
    cipher.apply_keystream(secret.as_mut());
    let key = SecretKey::from_bytes(&secret)
        .map_err(|_| KeystoreError::BadKey("bytes that are not a secp256k1 key".into()))?;
    if let Some(a) = stated_address(v)
        && a != key.address()
    {
        return Err(KeystoreError::BadKey(format!("the key of {}, but the file says {a}", key.address())));
    }
    Ok(key)
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_download_token_depends_on_every_byte_of_the_password() {
        let t = super::download_token("7KQ2M-ABCDE");
        assert_eq!(t, super::download_token("7KQ2M-ABCDE"));
        for other in ["7KQ2M-ABCDF", "7kq2m-abcde", " 7KQ2M-ABCDE", ""] {
            assert_ne!(t, super::download_token(other), "{other}");
        }
    }

    use super::*;

    const VECTOR_KEY: &str = "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d";
    const SCRYPT_KEY: &str = "80d3a6ed7b24dcd652949bc2f3827d2f883b3722e3120b15a93a2e0790f03829";

    // The PBKDF2 test vector of the Web3 Secret Storage Definition (password "testpassword").
    fn pbkdf2_vector() -> Value {
        json!({"crypto": {"cipher": "aes-128-ctr", "cipherparams": {"iv": "6087dab2f9fdbbfaddc31a909735c1e6"},
            "ciphertext": "5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46", "kdf": "pbkdf2",
            "kdfparams": {"c": 262144, "dklen": 32, "prf": "hmac-sha256",
                "salt": "ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd"},
            "mac": "517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2"},
            "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6", "version": 3})
    }

    // A scrypt keystore (n = 8192, r = 8, p = 1) from the eth-keystore crate's
    // test data: password "grOQ8QDnGHvpYJf", key 80d3a6ed….
    fn scrypt_vector() -> Value {
        json!({"version": 3, "id": "23fb6c51-79c8-4ce5-a02a-0f4f169a4168", "crypto": {
            "ciphertext": "eb7302cc8669683e49fc40f3445464020568a1d82e71c977264f286a3099be58",
            "cipherparams": {"iv": "2a9fc5d709ab79e7f015111b93872f6c"}, "cipher": "aes-128-ctr", "kdf": "scrypt",
            "kdfparams": {"dklen": 32, "salt": "19a1b0af7a3f4f04a4e8d1cf722550e905da18b369029b0460b12765f19d8a99",
                "n": 8192, "r": 8, "p": 1},
            "mac": "b2987a6adb597af26705042977c55ea132ca1391220455769eba2bc0b239089b"}})
    }

    #[test]
    fn known_vectors_decrypt_to_their_keys() {
        let k = decrypt(&pbkdf2_vector(), "testpassword").unwrap();
        assert_eq!(hex::encode(k.expose_bytes()), VECTOR_KEY);
        assert_eq!(decrypt(&pbkdf2_vector(), "testpassword!").err(), Some(KeystoreError::WrongPassword));
        let k = decrypt(&scrypt_vector(), "grOQ8QDnGHvpYJf").unwrap();
        assert_eq!(hex::encode(k.expose_bytes()), SCRYPT_KEY);
        assert_eq!(decrypt(&scrypt_vector(), "thisisnotrandom").err(), Some(KeystoreError::WrongPassword));
    }

    #[test]
    fn encrypting_the_vector_key_with_its_parameters_gives_its_ciphertext_and_mac() {
        let key = SecretKey::from_bytes(&hex::decode(SCRYPT_KEY).unwrap().try_into().unwrap()).unwrap();
        let v = scrypt_vector();
        let salt: [u8; 32] =
            hex::decode(v["crypto"]["kdfparams"]["salt"].as_str().unwrap()).unwrap().try_into().unwrap();
        let iv: [u8; 16] =
            hex::decode(v["crypto"]["cipherparams"]["iv"].as_str().unwrap()).unwrap().try_into().unwrap();
        let out =
            encrypt_with(&key, "grOQ8QDnGHvpYJf", ScryptCost { log_n: 13, r: 8, p: 1 }, &salt, &iv, &[0; 16]).unwrap();
        assert_eq!(out["crypto"]["ciphertext"], v["crypto"]["ciphertext"]);
        assert_eq!(out["crypto"]["mac"], v["crypto"]["mac"]);
    }

    #[test]
    fn scrypt_parameters_outside_rfc_7914_are_refused_by_name() {
        // The specification's own scrypt example uses r = 1 with N = 2^18, which
        // RFC 7914 (N < 2^(16 r)) forbids; it is refused with the reason, not misread.
        let mut v = scrypt_vector();
        v["crypto"]["kdfparams"]["n"] = json!(262_144);
        v["crypto"]["kdfparams"]["r"] = json!(1);
        v["crypto"]["kdfparams"]["p"] = json!(8);
        let e = decrypt(&v, "x").unwrap_err();
        assert!(matches!(&e, KeystoreError::Unsupported(m) if m.contains("r = 1")), "{e}");
    }

    #[test]
    fn round_trip_and_refusals() {
        let key = random_key().unwrap();
        let pw = random_password().unwrap();
        let v = encrypt(&key, &pw, ScryptCost::LIGHT).unwrap();
        assert_eq!(stated_address(&v), Some(key.address()));
        assert_eq!(decrypt(&v, &pw).unwrap().address(), key.address());
        assert_eq!(decrypt(&v, "wrong").err(), Some(KeystoreError::WrongPassword));
        // Neither the password nor the key appears in the file.
        let text = v.to_string();
        assert!(!text.contains(pw.as_str()));
        assert!(!text.contains(&hex::encode(key.expose_bytes())));
        // A file naming another address is refused even with the right password.
        let mut other = v.clone();
        other["address"] = json!(hex::encode(Address::repeat_byte(7).as_slice()));
        assert!(matches!(decrypt(&other, &pw), Err(KeystoreError::BadKey(_))));
        let mut tampered = v.clone();
        tampered["crypto"]["ciphertext"] = json!(hex::encode([1u8; 32]));
        assert_eq!(decrypt(&tampered, &pw).err(), Some(KeystoreError::WrongPassword));
        assert!(matches!(decrypt(&json!({"version": 2}), &pw), Err(KeystoreError::Malformed(_))));
        let mut aes256 = v;
        aes256["crypto"]["cipher"] = json!("aes-256-gcm");
        assert!(matches!(decrypt(&aes256, &pw), Err(KeystoreError::Unsupported(_))));
    }

    #[test]
    fn random_passwords_are_grouped_and_distinct() {
        let (a, b) = (random_password().unwrap(), random_password().unwrap());
        assert_ne!(*a, *b);
        assert_eq!(a.len(), 29);
        assert_eq!(a.split('-').count(), 5);
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_digit() || c.is_ascii_uppercase()));
    }
}
