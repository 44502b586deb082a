//! secp256k1 signing and recovery over 32-byte digests.
//!
//! Signatures are 65 bytes `r ‖ s ‖ v` as Ethereum wallets produce them. Only
//! low-`s` signatures are accepted, so a signature cannot be re-shaped into a
//! second valid one (ECDSA malleability), which would otherwise let anyone mint
//! a "different" vote or approval from an existing one.

use alloy::primitives::{Address, B256, Signature, U256, keccak256};
use k256::ecdsa::SigningKey;
use std::fmt;
use zeroize::Zeroizing;

/// Half the secp256k1 group order: the largest `s` a canonical signature may have.
const HALF_ORDER: U256 = U256::from_be_bytes([
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x5d, 0x57, 0x6e,
    0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
]);

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Not 65 bytes or not a curve point.
    #[error("signature is malformed: {0}")]
    Malformed(String),
    /// High-`s` form.
    #[error("signature is not in canonical low-s form")]
    NonCanonical,
    /// Recovery failed.
    #[error("signature does not recover to any public key")]
    Unrecoverable,
}

/// Why bytes are not a secret key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("secret key bytes are not a valid secp256k1 scalar (zero or not below the curve order)")]
pub struct InvalidSecretKey;

/// A secp256k1 secret key. Its bytes are zeroized on drop and never printed:
/// `Debug` shows the address only.
#[derive(Clone)]
pub struct SecretKey {
    bytes: Zeroizing<[u8; 32]>,
    /// The same scalar with its public key, made once: deriving the public key
    /// is a scalar multiplication, about as costly as the signature. k256
    /// zeroizes its scalar on drop.
    signing: SigningKey,
    address: Address,
}

impl SecretKey {
    /// Validates 32 bytes as a scalar in `[1, n)`.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, InvalidSecretKey> {
        let sk = SigningKey::from_bytes(bytes.into()).map_err(|_| InvalidSecretKey)?;
        let address = Address::from_public_key(sk.verifying_key());
        Ok(Self { bytes: Zeroizing::new(*bytes), signing: sk, address })
    }

    /// Derives a key deterministically from a label, by hashing until the
    /// result is a valid scalar. For tests, fixtures and benchmarks only: such
    /// a key is as secret as its label.
    pub fn from_label_unchecked(label: &str) -> Self {
        let mut h = keccak256(label.as_bytes());
        loop {
            if let Ok(k) = Self::from_bytes(&h.0) {
                return k;
            }
            h = keccak256(h);
        }
    }

    /// The Ethereum address of the public key.
    pub const fn address(&self) -> Address {
        self.address
    }

    /// The raw scalar. Handle with care: callers must not log, store or send it.
    pub fn expose_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// Signs a 32-byte digest (an EIP-712 signing hash), returning a canonical
    /// (low-`s`) recoverable signature. Inside [`with_memo`] the signature is
    /// recorded in the memo with this key's address, which is what recovering
    /// it computes: a node does not recover its own companion's votes.
    pub fn sign_hash(&self, digest: &B256) -> Signature {
        // RFC 6979 signing over a 32-byte prehash only fails for an invalid
        // digest length, which B256 rules out.
        #[allow(clippy::expect_used)]
        let (sig, recid) = self.signing.sign_prehash_recoverable(digest.as_slice()).expect("32-byte prehash");
        let signature = Signature::from_signature_and_parity(sig, recid.is_y_odd()).normalized_s();
        // An x-reduced recovery id (probability about 2^-128) is not carried by
        // the 65-byte form, so recovery would not give this key: never recorded.
        if !recid.is_x_reduced() {
            MEMO.with(|memo| {
                if let Some(memo) = memo.borrow().as_ref() {
                    memo.put(memo_key(digest, &signature), self.address);
                }
            });
        }
        signature
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({})", self.address)
    }
}

/// The secp256k1 group order.
const ORDER: U256 = U256::from_be_bytes([
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xba, 0xae, 0xdc,
    0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
]);

/// Checks `r` and `s` are scalars in `[1, n)` and `s` is in the low half.
fn check_scalars(sig: &Signature) -> Result<(), SignatureError> {
    let in_range = |v: U256| !v.is_zero() && v < ORDER;
    if !in_range(sig.r()) || !in_range(sig.s()) {
        return Err(SignatureError::Malformed("r and s must be between 1 and the curve order".into()));
    }
    if sig.s() > HALF_ORDER {
        return Err(SignatureError::NonCanonical);
    }
    Ok(())
}

/// Parses the one canonical form of a signature: 65 bytes `r ‖ s ‖ v` with
/// `v` 27 or 28, `r` and `s` in range and `s` in the low half.
pub fn signature_from_bytes(bytes: &[u8]) -> Result<Signature, SignatureError> {
    if bytes.len() != 65 {
        return Err(SignatureError::Malformed(format!("expected 65 bytes, got {}", bytes.len())));
    }
    if bytes[64] != 27 && bytes[64] != 28 {
        return Err(SignatureError::Malformed(format!("v must be 27 or 28, got {}", bytes[64])));
    }
    let sig = Signature::from_raw(bytes).map_err(|e| SignatureError::Malformed(e.to_string()))?;
    check_scalars(&sig)?;
    Ok(sig)
}

/// Recovers the signer of `digest`, refusing out-of-range and high-`s` signatures.
///
/// Inside [`with_memo`], a signer already recovered for the same digest and
/// signature is taken from the memo instead of recovered again.
pub fn recover(digest: &B256, sig: &Signature) -> Result<Address, SignatureError> {
    recover_with(digest, sig, &mut None)
}

/// Recovers the signer of `digest` as [`recover`] does, with the same result
/// for every input, checking first whether `known` (the signer of the
/// signature recovered before, if any) signed it: a verification against a
/// known public key is one multi-scalar multiplication, where recovery
/// (k256's, through alloy) decompresses `R`, computes the key and then
/// verifies against it, about twice the work. After a full recovery `known`
/// is that signer. For a run of signatures by one signer, such as a
/// companion's batch of votes.
pub fn recover_with(
    digest: &B256,
    sig: &Signature,
    known: &mut Option<KnownSigner>,
) -> Result<Address, SignatureError> {
    check_scalars(sig)?;
    MEMO.with(|memo| {
        let memo = memo.borrow();
        let key = memo_key(digest, sig);
        if let Some(signer) = memo.as_ref().and_then(|m| m.get(&key)) {
            return Ok(signer);
        }
        let signer = match known {
            Some(k) if k.signed(digest, sig) => k.address,
            _ => {
                let vk = sig.recover_from_prehash(digest).map_err(|_| SignatureError::Unrecoverable)?;
                let k = KnownSigner { address: Address::from_public_key(&vk), point: *vk.as_affine() };
                *known = Some(k);
                k.address
            }
        };
        if let Some(memo) = memo.as_ref() {
            memo.put(key, signer);
        }
        Ok(signer)
    })
}

/// A signer's address with its public key, as a recovery found it: what
/// [`recover_with`] checks the next signature against before recovering.
#[derive(Clone, Copy)]
pub struct KnownSigner {
    address: Address,
    point: k256::AffinePoint,
}

impl KnownSigner {
    /// Whether the key signed `digest` with `sig` so that recovery (with
    /// `sig`'s y-parity, `R`'s x not reduced, as alloy recovers) gives this
    /// key: with `z` the digest as a scalar, `R' = z/s·G + r/s·Q` is the `R`
    /// recovery decompresses from `r` and the parity exactly when recovery's
    /// `(s·R − z·G)/r` is `Q`. So this accepts exactly the signatures that
    /// [`recover`] gives this signer for; `sig`'s scalars are checked in
    /// range by the caller.
    fn signed(&self, digest: &B256, sig: &Signature) -> bool {
        use k256::elliptic_curve::group::prime::PrimeCurveAffine;
        use k256::elliptic_curve::ops::{Invert, LinearCombination, Reduce};
        use k256::elliptic_curve::point::AffineCoordinates;
        use k256::elliptic_curve::{Curve, PrimeField};
        use k256::{FieldBytes, ProjectivePoint, Scalar};
        let scalar = |v: U256| Option::<Scalar>::from(Scalar::from_repr(FieldBytes::from(v.to_be_bytes::<32>())));
        let (Some(r), Some(s)) = (scalar(sig.r()), scalar(sig.s())) else { return false };
        // Variable time: a signature is public (k256's own verification does the same).
        let Some(s_inv) = Option::<Scalar>::from(Invert::invert_vartime(&s)) else { return false };
        let z = <Scalar as Reduce<<k256::Secp256k1 as Curve>::Uint>>::reduce_bytes(&FieldBytes::from(digest.0));
        let q = ProjectivePoint::from(self.point);
        let point = ProjectivePoint::lincomb(&ProjectivePoint::GENERATOR, &(z * s_inv), &q, &(r * s_inv)).to_affine();
        !bool::from(point.is_identity())
            && point.x() == FieldBytes::from(sig.r().to_be_bytes::<32>())
            && bool::from(point.y_is_odd()) == sig.v()
    }
}

impl fmt::Debug for KnownSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KnownSigner({})", self.address)
    }
}

/// The signers a process already recovered, by digest and signature, at most
/// `capacity` of them (the least recently used leave first): recovering a
/// signer is the costliest step of verifying (about 100 µs), and a node
/// verifies the same signatures again when it replays its own blocks to build
/// a snapshot, and recovers the votes its own companion signed. A signer is
/// recorded only once recovered here or when [`SecretKey::sign_hash`] made the
/// signature under the memo (its key's address is what recovery computes), so
/// the memo changes no result: it returns what [`recover`] would compute. Used
/// through [`with_memo`].
pub struct RecoveryMemo {
    signers: std::sync::Mutex<lru::LruCache<[u8; 97], Address>>,
}

impl RecoveryMemo {
    /// A memo of at most `capacity` signers (at least one); about 150 bytes each.
    pub fn new(capacity: usize) -> Self {
        let capacity = std::num::NonZeroUsize::new(capacity).unwrap_or(std::num::NonZeroUsize::MIN);
        Self { signers: std::sync::Mutex::new(lru::LruCache::new(capacity)) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, lru::LruCache<[u8; 97], Address>> {
        self.signers.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, key: &[u8; 97]) -> Option<Address> {
        self.lock().get(key).copied()
    }

    fn put(&self, key: [u8; 97], signer: Address) {
        self.lock().put(key, signer);
    }

    /// How many signers it holds.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for RecoveryMemo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecoveryMemo").field("signers", &self.len()).finish()
    }
}

thread_local! {
    /// The memo [`recover`] uses on this thread, set by [`with_memo`].
    static MEMO: std::cell::RefCell<Option<std::sync::Arc<RecoveryMemo>>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` with `memo` as the memo of every [`recover`] `f` makes on this
/// thread (nested: the innermost memo; the one before is back when `f`
/// returns or unwinds). A memo per process that verifies (one node's state
/// machine), so that what one node recovered never stands for another's work.
pub fn with_memo<R>(memo: &std::sync::Arc<RecoveryMemo>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<std::sync::Arc<RecoveryMemo>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let before = self.0.take();
            MEMO.with(|m| *m.borrow_mut() = before);
        }
    }
    let _restore = Restore(MEMO.with(|m| m.replace(Some(memo.clone()))));
    f()
}

/// Runs `f` with `memo` as the memo of every [`recover`] it makes on this
/// thread, unless a memo is set already (by an enclosing [`with_memo`]),
/// which then stays: a verifier that brings its own memo keeps what the
/// process around it already recovered.
pub fn with_memo_unless_set<R>(memo: &std::sync::Arc<RecoveryMemo>, f: impl FnOnce() -> R) -> R {
    if MEMO.with(|m| m.borrow().is_some()) { f() } else { with_memo(memo, f) }
}

fn memo_key(digest: &B256, sig: &Signature) -> [u8; 97] {
    let mut key = [0u8; 97];
    key[..32].copy_from_slice(digest.as_slice());
    key[32..].copy_from_slice(&sig.as_bytes());
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_recover_round_trip_and_reject_malleated() {
        let k = SecretKey::from_label_unchecked("alice");
        let d = keccak256(b"message");
        let sig = k.sign_hash(&d);
        assert_eq!(recover(&d, &sig).unwrap(), k.address());
        assert_eq!(signature_from_bytes(&sig.as_bytes()).unwrap(), sig);
        // The high-s twin recovers to the same key but must be refused.
        let n = ORDER;
        let twin = Signature::new(sig.r(), n - sig.s(), !sig.v());
        assert_eq!(recover(&d, &twin), Err(SignatureError::NonCanonical));
        assert_eq!(signature_from_bytes(&twin.as_bytes()), Err(SignatureError::NonCanonical));
        assert!(signature_from_bytes(&[0u8; 64]).is_err());
    }

    #[test]
    fn a_memo_returns_what_recovery_computes_and_only_inside_with_memo() {
        let k = SecretKey::from_label_unchecked("carol");
        let (d, other) = (keccak256(b"vote"), keccak256(b"another vote"));
        let sig = k.sign_hash(&d);
        let plain = |digest: &B256| recover(digest, &sig);
        let memo = std::sync::Arc::new(RecoveryMemo::new(2));
        let (first, again, moved) = with_memo(&memo, || (plain(&d), plain(&d), plain(&other)));
        assert_eq!(first, Ok(k.address()));
        assert_eq!(again, first, "the remembered signer");
        // The same signature over another digest is recovered, not looked up: another key, or none.
        assert_eq!(moved, plain(&other));
        assert_ne!(moved, Ok(k.address()));
        assert_eq!(memo.len(), 1 + usize::from(moved.is_ok()));
        // A refused signature is refused inside the memo too, and never recorded.
        let twin = Signature::new(sig.r(), ORDER - sig.s(), !sig.v());
        assert_eq!(with_memo(&memo, || recover(&d, &twin)), Err(SignatureError::NonCanonical));
        // Outside with_memo (and after it unwound), nothing is recorded.
        let before = memo.len();
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| with_memo(&memo, || panic!("unwinds"))));
        assert!(recover(&keccak256(b"third"), &sig).is_ok());
        assert_eq!(memo.len(), before);
        // Nested: the inner memo records; the outer one is back afterwards.
        let inner = std::sync::Arc::new(RecoveryMemo::new(4));
        let fresh = keccak256(b"fourth");
        with_memo(&memo, || {
            with_memo(&inner, || plain(&fresh).unwrap());
            assert_eq!(inner.len(), 1);
            assert_eq!(memo.len(), before, "the outer memo did not see the inner recovery");
            plain(&d).unwrap();
        });
        // At most `capacity` signers.
        with_memo(&memo, || {
            for i in 0u8..5 {
                let _ = plain(&keccak256([i]));
            }
        });
        assert!(memo.len() <= 2);
    }

    #[test]
    fn a_memo_brought_by_a_verifier_is_used_only_where_none_is_set() {
        let k = SecretKey::from_label_unchecked("dave");
        let sig_of = |d: &B256| k.sign_hash(d);
        let (d, e) = (keccak256(b"alone"), keccak256(b"inside a node"));
        let (own, node) = (std::sync::Arc::new(RecoveryMemo::new(8)), std::sync::Arc::new(RecoveryMemo::new(8)));
        // Alone: the verifier's own memo records what it recovers.
        assert_eq!(with_memo_unless_set(&own, || recover(&d, &sig_of(&d))), Ok(k.address()));
        assert_eq!(own.len(), 1);
        // Inside a node's memo: the node's keeps recording, the verifier's is not used.
        with_memo(&node, || {
            assert_eq!(with_memo_unless_set(&own, || recover(&e, &sig_of(&e))), Ok(k.address()));
        });
        assert_eq!((own.len(), node.len()), (1, 1));
        // And outside both, nothing is set afterwards.
        assert_eq!(recover(&keccak256(b"after"), &sig_of(&keccak256(b"after"))), Ok(k.address()));
        assert_eq!((own.len(), node.len()), (1, 1));
    }

    #[test]
    fn a_signature_made_under_a_memo_is_remembered_as_what_recovery_computes() {
        let memo = std::sync::Arc::new(RecoveryMemo::new(64));
        let keys: Vec<SecretKey> = (0..4).map(|i| SecretKey::from_label_unchecked(&format!("node {i}"))).collect();
        let made: Vec<(B256, Signature)> = with_memo(&memo, || {
            (0u8..32)
                .map(|i| {
                    let d = keccak256([i]);
                    (d, keys[usize::from(i) % keys.len()].sign_hash(&d))
                })
                .collect()
        });
        assert_eq!(memo.len(), made.len(), "every signature made under the memo is recorded");
        for (d, sig) in &made {
            // Recovery outside the memo (the k256 computation) against the recorded signer.
            let recovered = recover(d, sig).unwrap();
            assert_eq!(memo.get(&memo_key(d, sig)), Some(recovered));
        }
        // Outside a memo, signing records nothing anywhere.
        let other = std::sync::Arc::new(RecoveryMemo::new(4));
        keys[0].sign_hash(&keccak256(b"outside"));
        assert!(other.is_empty());
        assert_eq!(memo.len(), made.len());
    }

    /// A signature checked against a known signer gives what recovery
    /// gives, whoever signed it and whatever was changed in it: the
    /// signer's own (taken on the known key), another's (recovered, and
    /// then the known one), its y-parity flipped, `r` or `s` moved, another
    /// digest. Recovery here is alloy's through k256; the Ethereum vectors
    /// and the Python generator's check that recovery independently.
    #[test]
    fn a_known_signer_gives_what_recovery_gives() {
        use proptest::prelude::*;
        let keys: Vec<SecretKey> = (0..3).map(|i| SecretKey::from_label_unchecked(&format!("companion {i}"))).collect();
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(256));
        let cases = (any::<[u8; 32]>(), 0..keys.len(), 0..keys.len(), 0u8..5, any::<[u8; 32]>());
        runner
            .run(&cases, |(digest, signer, known, change, other)| {
                let d = B256::from(digest);
                let sig = keys[signer].sign_hash(&d);
                let mut hint = None;
                // Recovering any signature of `known` makes it the known signer.
                let seed = keccak256(other);
                prop_assert_eq!(
                    recover_with(&seed, &keys[known].sign_hash(&seed), &mut hint),
                    Ok(keys[known].address())
                );
                prop_assert_eq!(hint.map(|k| k.address), Some(keys[known].address()));
                let (d, sig) = match change {
                    0 => (d, sig),
                    1 => (d, Signature::new(sig.r(), sig.s(), !sig.v())),
                    2 => (keccak256(other), sig),
                    3 => (d, Signature::new(sig.r() ^ U256::from(1), sig.s(), sig.v())),
                    _ => (d, Signature::new(sig.r(), sig.s() ^ U256::from(1), sig.v())),
                };
                let expected = recover(&d, &sig);
                let taken = hint.is_some_and(|k| check_scalars(&sig).is_ok() && k.signed(&d, &sig));
                prop_assert_eq!(recover_with(&d, &sig, &mut hint), expected.clone());
                // The known key signed it exactly when recovery gives that key.
                prop_assert_eq!(taken, expected == Ok(keys[known].address()));
                if let Ok(a) = expected {
                    prop_assert_eq!(hint.map(|k| k.address), Some(a), "the signer last recovered or taken");
                }
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn a_known_signer_is_taken_for_its_own_signatures_only() {
        let (a, b) = (SecretKey::from_label_unchecked("erin"), SecretKey::from_label_unchecked("frank"));
        let d = keccak256(b"a batch of votes");
        let mut hint = None;
        assert_eq!(recover_with(&d, &a.sign_hash(&d), &mut hint), Ok(a.address()));
        let known = hint.unwrap();
        for i in 0u8..16 {
            let e = keccak256([i]);
            let own = a.sign_hash(&e);
            assert!(known.signed(&e, &own), "its own signature of digest {i}");
            let flipped = Signature::new(own.r(), own.s(), !own.v());
            assert!(!known.signed(&e, &flipped), "its signature with the other y-parity recovers another key");
            assert!(!known.signed(&e, &b.sign_hash(&e)), "another signer's");
            assert!(!known.signed(&keccak256(e), &own), "its signature over another digest");
        }
        assert!(!format!("{known:?}").contains(&alloy::hex::encode(a.expose_bytes())));
    }

    #[test]
    fn debug_never_shows_the_key() {
        let k = SecretKey::from_label_unchecked("bob");
        let shown = format!("{k:?}");
        let hex = alloy::hex::encode(k.expose_bytes());
        assert!(!shown.contains(&hex));
        assert!(shown.contains(&k.address().to_string()));
    }
}
