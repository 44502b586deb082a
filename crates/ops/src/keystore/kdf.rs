//! The two key-derivation functions of keystore v3, with the limits checked
//! before anything is allocated.
//!
//! scrypt goes through the `scrypt` crate when its parameters satisfy RFC
//! 7914's `N < 2^(16 r)`; the specification's own example (ethereum/tests
//! `test2`: N = 2^18, r = 1, p = 8) does not, and geth, ethers and web3.py
//! read it anyway, so such parameters (still within the memory and work
//! limits) run through [`romix`] below, the same ROMix over the crate's
//! Salsa20/8 core (tested against the crate on parameters both accept).

use super::KeystoreError;
use salsa20::cipher::{StreamCipherCore, typenum::U4};
use zeroize::Zeroizing;

/// The most memory scrypt may use (128 · r · N bytes): 256 MiB, geth's
/// standard parameters (N = 2^18, r = 8). A file asking for more is refused
/// before anything is allocated.
pub const MAX_SCRYPT_MEMORY: u128 = 256 << 20;
/// The most scrypt work (N · r · p) a file may ask for: twice geth's standard
/// (2^18 · 8 · 1); the specification's example (2^18 · 1 · 8) is within it.
pub const MAX_SCRYPT_WORK: u128 = 1 << 22;
/// The most PBKDF2 rounds a file may ask for.
pub const MAX_PBKDF2_ROUNDS: u32 = 10_000_000;

/// A keystore's key-derivation function and its parameters, as the file states them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kdf", rename_all = "lowercase")]
pub enum Kdf {
    /// scrypt with cost N, block size r and parallelism p.
    Scrypt {
        /// N (a power of two).
        n: u64,
        /// Block size.
        r: u32,
        /// Parallelism.
        p: u32,
    },
    /// PBKDF2-HMAC-SHA256 with c rounds.
    Pbkdf2 {
        /// Rounds.
        c: u32,
    },
}

impl std::fmt::Display for Kdf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Scrypt { n, r, p } => write!(f, "scrypt (N = 2^{}, r = {r}, p = {p})", n.trailing_zeros()),
            Self::Pbkdf2 { c } => write!(f, "PBKDF2-HMAC-SHA256 ({c} rounds)"),
        }
    }
}

impl Kdf {
    /// Checks the parameters against the limits (and their own rules),
    /// without allocating anything.
    pub fn check(&self) -> Result<(), KeystoreError> {
        let refuse = |m: String| Err(KeystoreError::Unsupported(m));
        match *self {
            Self::Scrypt { n, r, p } => {
                if n < 2 || !n.is_power_of_two() {
                    return refuse(format!("scrypt n = {n} is not a power of two above 1"));
                }
                if r == 0 || p == 0 {
                    return refuse(format!("scrypt r = {r}, p = {p}: both must be at least 1"));
                }
                let memory = 128 * u128::from(r) * u128::from(n);
                if memory > MAX_SCRYPT_MEMORY {
                    return refuse(format!(
                        "scrypt n = {n}, r = {r} needs {} MiB of memory, over the limit of {} MiB; \
                         re-encrypt the key with standard parameters (N = 2^18, r = 8, p = 1)",
                        memory >> 20,
                        MAX_SCRYPT_MEMORY >> 20
                    ));
                }
                let work = u128::from(n) * u128::from(r) * u128::from(p);
                if work > MAX_SCRYPT_WORK {
                    return refuse(format!(
                        "scrypt n = {n}, r = {r}, p = {p} asks for n·r·p = {work}, over the limit of 2^22 \
                         (twice geth's standard); re-encrypt the key with standard parameters"
                    ));
                }
                Ok(())
            }
            Self::Pbkdf2 { c } => {
                if c == 0 || c > MAX_PBKDF2_ROUNDS {
                    return refuse(format!("pbkdf2 c = {c} rounds: must be from 1 to {MAX_PBKDF2_ROUNDS}"));
                }
                Ok(())
            }
        }
    }

    /// Derives 32 bytes from `password` and `salt`. Checks the limits first.
    pub fn derive(&self, password: &[u8], salt: &[u8]) -> Result<Zeroizing<[u8; 32]>, KeystoreError> {
        self.check()?;
        let mut out = Zeroizing::new([0u8; 32]);
        match *self {
            Self::Scrypt { n, r, p } => {
                // In range: check() bounds n by 2^21 and r, p by 2^22 / n.
                let log_n = n.trailing_zeros() as u8;
                match scrypt::Params::new(log_n, r, p, 32) {
                    Ok(params) => scrypt::scrypt(password, salt, &params, out.as_mut())
                        .map_err(|e| KeystoreError::Unsupported(format!("scrypt: {e}")))?,
                    Err(_) => scrypt_any_r(password, salt, n as usize, r as usize, p as usize, out.as_mut()),
                }
            }
            Self::Pbkdf2 { c } => pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, c, out.as_mut()),
        }
        Ok(out)
    }
}

/// scrypt (RFC 7914 §6) for parameters the `scrypt` crate refuses by RFC
/// 7914's `N < 2^(16 r)` alone. The caller has checked the limits.
pub(super) fn scrypt_any_r(password: &[u8], salt: &[u8], n: usize, r: usize, p: usize, out: &mut [u8]) {
    let len = 128 * r;
    let mut b = Zeroizing::new(vec![0u8; len * p]);
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, 1, &mut b);
    let mut v = Zeroizing::new(vec![0u8; len * n]);
    let mut t = Zeroizing::new(vec![0u8; len]);
    for chunk in b.chunks_mut(len) {
        romix(chunk, &mut v, &mut t, n);
    }
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, &b, 1, out);
}

/// ROMix (RFC 7914 §5) in place on `b` (128 · r bytes), with `v` (N · 128 · r
/// bytes) and `t` (128 · r bytes) as scratch.
fn romix(b: &mut [u8], v: &mut [u8], t: &mut [u8], n: usize) {
    let len = b.len();
    for chunk in v.chunks_mut(len) {
        chunk.copy_from_slice(b);
        block_mix(chunk, b);
    }
    for _ in 0..n {
        // Integerify: the first little-endian word of the last 64-byte block, mod N.
        let mut word = [0u8; 4];
        word.copy_from_slice(&b[len - 64..len - 60]);
        let j = u32::from_le_bytes(word) as usize & (n - 1);
        for ((o, x), y) in t.iter_mut().zip(b.iter()).zip(&v[j * len..(j + 1) * len]) {
            *o = x ^ y;
        }
        block_mix(t, b);
    }
}

/// BlockMix with Salsa20/8 (RFC 7914 §4): `input` to `output`, both 128 · r bytes.
fn block_mix(input: &[u8], output: &mut [u8]) {
    let half = input.len() / 2;
    let mut x = [0u8; 64];
    x.copy_from_slice(&input[input.len() - 64..]);
    for (i, chunk) in input.chunks(64).enumerate() {
        let mut state = [0u32; 16];
        for ((s, a), b) in state.iter_mut().zip(x.chunks_exact(4)).zip(chunk.chunks_exact(4)) {
            *s = u32::from_le_bytes([a[0] ^ b[0], a[1] ^ b[1], a[2] ^ b[2], a[3] ^ b[3]]);
        }
        salsa20::SalsaCore::<U4>::from_raw_state(state).write_keystream_block((&mut x).into());
        let at = if i % 2 == 0 { (i / 2) * 64 } else { (i / 2) * 64 + half };
        output[at..at + 64].copy_from_slice(&x);
    }
}
