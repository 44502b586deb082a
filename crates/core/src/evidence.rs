//! Evidence of equivocation: one node account sealing two different block
//! headers at the same height.
//!
//! An honest node signs exactly one header per height: the one every replica
//! computed from the committed log. With 2n+1 nodes (no BFT agreement) a
//! Byzantine raft leader can still commit different entries at one index on
//! different followers and seal both versions; each fork then verifies on its
//! own. Two such headers side by side are a proof anyone holding the genesis
//! can check: [`Equivocation::verify`] says who signed both.
//!
//! This module only defines and checks the proof. Finding it (cross-checking
//! headers between nodes) is the processes' job; what follows from it (the
//! signer halting while the equivocator is registered) is the notary state's
//! and the signer's.

use crate::block::BlockHeader;
use crate::crypto::SignatureError;
use crate::encoding::{Body, DecodeError, Kind};
use crate::typed::Domain;
use alloy::primitives::{Address, B256, Bytes, Signature};
use alloy::sol;
use alloy::sol_types::SolValue;
use serde::{Deserialize, Serialize};

sol! {
    struct EquivocationWire { BlockHeader first; bytes firstSignature; BlockHeader second; bytes secondSignature; }
}

/// A block header with the seal (a node account's EIP-712 signature) over it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedHeader {
    /// The header.
    pub header: BlockHeader,
    /// The sealing node account's signature over it.
    pub signature: Signature,
}

impl SealedHeader {
    /// The account that sealed it (does not check that it is registered).
    pub fn sealer(&self, domain: &Domain) -> Result<Address, SignatureError> {
        domain.recover(&self.header, &self.signature)
    }

    /// The block hash this header gives (the EIP-712 signing hash).
    pub fn hash(&self, domain: &Domain) -> B256 {
        domain.signing_hash(&self.header)
    }
}

/// Two different sealed headers at one height. The canonical form holds them
/// ordered by their ABI bytes, so one pair of headers has one encoding.
///
/// Holding one means only that it decoded: [`Equivocation::verify`] checks
/// that it proves anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Equivocation {
    /// The header whose ABI encoding sorts first.
    pub first: SealedHeader,
    /// The other one.
    pub second: SealedHeader,
}

/// Why an [`Equivocation`] proves nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    /// The headers are for different heights (a chain has one block per height).
    #[error("the headers are for heights {0} and {1}, not one height")]
    Heights(u64, u64),
    /// The two headers are the same.
    #[error("the two headers are the same")]
    Same,
    /// A seal does not recover.
    #[error("a seal does not verify: {0}")]
    Seal(SignatureError),
    /// Different accounts sealed them: a conflict, but not one account's proof.
    #[error("the headers were sealed by different accounts ({0} and {1})")]
    Sealers(Address, Address),
}

impl Equivocation {
    /// Puts two sealed headers in canonical order; `None` if they are the same header.
    pub fn new(a: SealedHeader, b: SealedHeader) -> Option<Self> {
        use std::cmp::Ordering;
        match a.header.abi_encode().cmp(&b.header.abi_encode()) {
            Ordering::Less => Some(Self { first: a, second: b }),
            Ordering::Greater => Some(Self { first: b, second: a }),
            Ordering::Equal => None,
        }
    }

    /// The height both headers claim.
    pub fn height(&self) -> u64 {
        self.first.header.height
    }

    /// Checks the proof and returns the equivocating account: both headers
    /// are for one height, they differ, and one account sealed both. Whether
    /// that account is a registered node is the caller's to check.
    pub fn verify(&self, domain: &Domain) -> Result<Address, EvidenceError> {
        let (a, b) = (&self.first.header, &self.second.header);
        if a.height != b.height {
            return Err(EvidenceError::Heights(a.height, b.height));
        }
        if a == b {
            return Err(EvidenceError::Same);
        }
        let first = self.first.sealer(domain).map_err(EvidenceError::Seal)?;
        let second = self.second.sealer(domain).map_err(EvidenceError::Seal)?;
        if first != second {
            return Err(EvidenceError::Sealers(first, second));
        }
        Ok(first)
    }
}

impl Body for Equivocation {
    const KIND: Kind = Kind::Equivocation;
    fn encode_body(&self) -> Vec<u8> {
        EquivocationWire {
            first: self.first.header.clone(),
            firstSignature: Bytes::copy_from_slice(&self.first.signature.as_bytes()),
            second: self.second.header.clone(),
            secondSignature: Bytes::copy_from_slice(&self.second.signature.as_bytes()),
        }
        .abi_encode()
    }
    fn decode_body(body: &[u8]) -> Result<Self, DecodeError> {
        let w = EquivocationWire::abi_decode_validate(body).map_err(|e| DecodeError::Malformed(e.to_string()))?;
        let sig = |b: &Bytes| crate::crypto::signature_from_bytes(b).map_err(|e| DecodeError::Invalid(e.to_string()));
        let first = SealedHeader { header: w.first, signature: sig(&w.firstSignature)? };
        let second = SealedHeader { header: w.second, signature: sig(&w.secondSignature)? };
        match first.header.abi_encode().cmp(&second.header.abi_encode()) {
            std::cmp::Ordering::Less => Ok(Self { first, second }),
            std::cmp::Ordering::Equal => Err(DecodeError::Invalid("the two headers are the same".into())),
            std::cmp::Ordering::Greater => Err(DecodeError::NonCanonical),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretKey;
    use crate::encoding::Canonical;
    use crate::ids::{ChainId, DeploymentId};

    fn domain() -> Domain {
        Domain { chain_id: ChainId(31337), deployment: DeploymentId(B256::repeat_byte(0xB0)) }
    }

    fn header(height: u64, time: u64) -> BlockHeader {
        BlockHeader {
            height,
            parent: B256::repeat_byte(1),
            entriesRoot: B256::repeat_byte(2),
            stateHash: B256::repeat_byte(3),
            time,
            firstIndex: 7,
            entryCount: 2,
        }
    }

    fn sealed(key: &SecretKey, h: BlockHeader) -> SealedHeader {
        SealedHeader { signature: domain().sign(key, &h), header: h }
    }

    #[test]
    fn one_account_sealing_two_headers_at_one_height_is_proven_and_round_trips() {
        let k = SecretKey::from_label_unchecked("leader");
        let e = Equivocation::new(sealed(&k, header(5, 101)), sealed(&k, header(5, 100))).unwrap();
        assert_eq!(e.verify(&domain()), Ok(k.address()));
        assert_eq!(e.height(), 5);
        let bytes = e.encode();
        assert_eq!(Equivocation::decode(&bytes).unwrap(), e);
        // The same pair in the other order is the same evidence.
        let again = Equivocation::new(e.second.clone(), e.first.clone()).unwrap();
        assert_eq!(again.encode(), bytes);
    }

    #[test]
    fn what_is_not_one_accounts_proof_is_refused() {
        let (k, other) = (SecretKey::from_label_unchecked("leader"), SecretKey::from_label_unchecked("other"));
        let d = domain();
        assert!(Equivocation::new(sealed(&k, header(5, 100)), sealed(&k, header(5, 100))).is_none());
        let heights = Equivocation::new(sealed(&k, header(5, 100)), sealed(&k, header(6, 100))).unwrap();
        assert_eq!(heights.verify(&d), Err(EvidenceError::Heights(5, 6)));
        let two = Equivocation::new(sealed(&k, header(5, 100)), sealed(&other, header(5, 101))).unwrap();
        assert!(matches!(two.verify(&d), Err(EvidenceError::Sealers(..))));
        // A seal over another header does not recover to the sealer.
        let mut forged = Equivocation::new(sealed(&k, header(5, 100)), sealed(&k, header(5, 101))).unwrap();
        forged.second.signature = forged.first.signature;
        assert!(forged.verify(&d).is_err());
        // Out of canonical order or equal: refused by the decoder.
        let e = Equivocation::new(sealed(&k, header(5, 100)), sealed(&k, header(5, 101))).unwrap();
        let swapped = Equivocation { first: e.second.clone(), second: e.first.clone() };
        assert_eq!(Equivocation::decode(&swapped.encode()), Err(DecodeError::NonCanonical));
        let same = Equivocation { first: e.first.clone(), second: e.first.clone() };
        assert!(matches!(Equivocation::decode(&same.encode()), Err(DecodeError::Invalid(_))));
    }
}
