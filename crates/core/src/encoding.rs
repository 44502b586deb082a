//! The one canonical binary encoding of every BOX object.
//!
//! ```text
//! byte 0     format version (VERSION = 1)
//! byte 1     kind (which object this is; see [`Kind`])
//! bytes 2..  Solidity ABI encoding of the object (composites use the wire
//!            structs below, which embed a signed value or a governance
//!            action as its plain ABI bytes, without a header)
//! ```
//!
//! ABI is already canonical for a given value, and Ethereum tooling can read
//! it. Decoding is strict: unknown versions or kinds, inputs over
//! [`MAX_ENCODED_LEN`], trailing bytes, and any input that does not re-encode
//! to exactly the same bytes are refused with an error, never a panic.
//! Signatures must be 65 bytes in low-`s` form.

#![allow(missing_docs)] // sol!-generated wire structs.

use crate::ceremony::{CeremonyMessage, SignerAnnounce};
use crate::crypto::signature_from_bytes;
use crate::governance::{GovernanceAction, SignedAction};
use crate::ids::{ContentHash, SubjectId};
use crate::quorum::QuorumCertificate;
use crate::transbox::TransBox;
use crate::typed::{
    AddressBookEntry, Approval, BlockDestination, BoxFlow, FlowAuthorization, FreezeEmployee, Genesis, NodeChange,
    NodeVote, PauseTransfers, RegisterAsset, Signed, SignerReport, TransferRequest,
};
use alloy::primitives::{Bytes, Signature};
use alloy::sol;
use alloy::sol_types::SolValue;

/// Current format version.
pub const VERSION: u8 = 1;
/// Largest input any decoder accepts (1 MiB).
pub const MAX_ENCODED_LEN: usize = 1 << 20;

/// What kind of object an encoding holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
#[allow(missing_docs)]
pub enum Kind {
    Flow = 1,
    FlowAuthorization = 2,
    TransferRequest = 3,
    Approval = 4,
    TransBox = 5,
    NodeVote = 6,
    QuorumCertificate = 7,
    SignerReport = 8,
    Governance = 9,
    Genesis = 10,
    FreezeEmployee = 11,
    BlockDestination = 12,
    RegisterAsset = 13,
    NodeChange = 14,
    PauseTransfers = 15,
    /// A bare `NodeVote`; on the wire votes travel signed, as [`Kind::NodeVote`].
    UnsignedNodeVote = 16,
    /// A sealed block.
    Block = 17,
    /// The signer's signed status (a ceremony entry).
    SignerAnnounce = 18,
    /// A key holder device's signed ceremony message.
    CeremonyMessage = 19,
    /// Evidence that one node account sealed two different headers at one height.
    Equivocation = 20,
    /// A governed address-book entry (list or remove a destination).
    AddressBookEntry = 21,
    /// A companion's votes on several subjects in one log entry.
    VoteBatch = 22,
}

impl Kind {
    /// Parses the kind byte.
    pub fn from_u8(b: u8) -> Option<Self> {
        use Kind::*;
        Some(match b {
            1 => Flow,
            2 => FlowAuthorization,
            3 => TransferRequest,
            4 => Approval,
            5 => TransBox,
            6 => NodeVote,
            7 => QuorumCertificate,
            8 => SignerReport,
            9 => Governance,
            10 => Genesis,
            11 => FreezeEmployee,
            12 => BlockDestination,
            13 => RegisterAsset,
            14 => NodeChange,
            15 => PauseTransfers,
            16 => UnsignedNodeVote,
            17 => Block,
            18 => SignerAnnounce,
            19 => CeremonyMessage,
            20 => Equivocation,
            21 => AddressBookEntry,
            22 => VoteBatch,
            _ => return None,
        })
    }
}

/// Why bytes are not a valid encoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Shorter than the header.
    #[error("input is {0} bytes, shorter than the 2-byte header")]
    TooShort(usize),
    /// Over the size limit.
    #[error("input is {0} bytes; the limit is {MAX_ENCODED_LEN}")]
    TooLarge(usize),
    /// Unknown version.
    #[error("unknown encoding version {0} (this build reads version {VERSION})")]
    UnknownVersion(u8),
    /// Unknown kind byte.
    #[error("unknown object kind {0}")]
    UnknownKind(u8),
    /// A different object than expected.
    #[error("expected a {expected:?} but the input holds a {found:?}")]
    WrongKind {
        /// Expected.
        expected: Kind,
        /// Found.
        found: Kind,
    },
    /// ABI decoding failed.
    #[error("malformed body: {0}")]
    Malformed(String),
    /// Decodes, but is not the canonical encoding (e.g. trailing bytes, dirty padding).
    #[error("not the canonical encoding (trailing bytes or non-canonical fields)")]
    NonCanonical,
    /// A field holds an invalid value.
    #[error("invalid field: {0}")]
    Invalid(String),
}

/// An object with a canonical binary encoding.
pub trait Canonical: Sized {
    /// The canonical bytes.
    fn encode(&self) -> Vec<u8>;
    /// Strictly decodes canonical bytes.
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError>;
    /// Keccak-256 of the canonical bytes.
    fn content_hash(&self) -> ContentHash {
        ContentHash::of(&self.encode())
    }
}

/// An object of one fixed [`Kind`] whose body is an ABI encoding.
pub trait Body: Sized {
    /// Its kind.
    const KIND: Kind;
    /// The ABI body.
    fn encode_body(&self) -> Vec<u8>;
    /// Decodes an ABI body (canonicality is checked by the caller).
    fn decode_body(body: &[u8]) -> Result<Self, DecodeError>;
}

/// Checks size, version and reads the kind.
pub fn header(bytes: &[u8]) -> Result<(Kind, &[u8]), DecodeError> {
    if bytes.len() > MAX_ENCODED_LEN {
        return Err(DecodeError::TooLarge(bytes.len()));
    }
    if bytes.len() < 2 {
        return Err(DecodeError::TooShort(bytes.len()));
    }
    if bytes[0] != VERSION {
        return Err(DecodeError::UnknownVersion(bytes[0]));
    }
    let kind = Kind::from_u8(bytes[1]).ok_or(DecodeError::UnknownKind(bytes[1]))?;
    Ok((kind, &bytes[2..]))
}

impl<T: Body> Canonical for T {
    fn encode(&self) -> Vec<u8> {
        let body = self.encode_body();
        let mut out = Vec::with_capacity(2 + body.len());
        out.push(VERSION);
        out.push(T::KIND as u8);
        out.extend_from_slice(&body);
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (kind, body) = header(bytes)?;
        if kind != T::KIND {
            return Err(DecodeError::WrongKind { expected: T::KIND, found: kind });
        }
        let v = T::decode_body(body)?;
        if v.encode_body() != body {
            return Err(DecodeError::NonCanonical);
        }
        Ok(v)
    }
}

fn abi<T: SolValue + From<<T::SolType as alloy::sol_types::SolType>::RustType>>(body: &[u8]) -> Result<T, DecodeError> {
    T::abi_decode_validate(body).map_err(|e| DecodeError::Malformed(e.to_string()))
}

macro_rules! sol_body {
    ($($t:ty => $k:ident),* $(,)?) => {$(
        impl Body for $t {
            const KIND: Kind = Kind::$k;
            fn encode_body(&self) -> Vec<u8> {
                self.abi_encode()
            }
            fn decode_body(body: &[u8]) -> Result<Self, DecodeError> {
                abi(body)
            }
        }
    )*};
}

sol_body!(
    BoxFlow => Flow,
    TransferRequest => TransferRequest,
    Approval => Approval,
    NodeVote => UnsignedNodeVote,
    Genesis => Genesis,
    FreezeEmployee => FreezeEmployee,
    BlockDestination => BlockDestination,
    RegisterAsset => RegisterAsset,
    NodeChange => NodeChange,
    PauseTransfers => PauseTransfers,
    AddressBookEntry => AddressBookEntry,
);

sol! {
    struct SignedWire { bytes value; bytes signature; }
    struct TransBoxWire { TransferRequest request; bytes applicantSignature; bytes[][] levels; }
    struct CertificateWire { bytes32 subject; bytes32 contentHash; bytes[] votes; }
    struct ActionWire { uint8 action; bytes body; bytes[] signatures; }
}

fn sig(bytes: &Bytes) -> Result<Signature, DecodeError> {
    signature_from_bytes(bytes).map_err(|e| DecodeError::Invalid(e.to_string()))
}

fn sig_bytes(s: &Signature) -> Bytes {
    Bytes::copy_from_slice(&s.as_bytes())
}

macro_rules! signed_body {
    ($($t:ty => $k:ident),* $(,)?) => {$(
        impl Body for Signed<$t> {
            const KIND: Kind = Kind::$k;
            fn encode_body(&self) -> Vec<u8> {
                SignedWire { value: self.value.abi_encode().into(), signature: sig_bytes(&self.signature) }.abi_encode()
            }
            fn decode_body(body: &[u8]) -> Result<Self, DecodeError> {
                let w: SignedWire = abi(body)?;
                Ok(Self { value: abi::<$t>(&w.value)?, signature: sig(&w.signature)? })
            }
        }
    )*};
}

signed_body!(
    FlowAuthorization => FlowAuthorization,
    NodeVote => NodeVote,
    SignerReport => SignerReport,
    SignerAnnounce => SignerAnnounce,
    CeremonyMessage => CeremonyMessage,
);

impl Body for TransBox {
    const KIND: Kind = Kind::TransBox;
    fn encode_body(&self) -> Vec<u8> {
        TransBoxWire {
            request: self.request.clone(),
            applicantSignature: sig_bytes(&self.applicant_signature),
            levels: self.levels.iter().map(|l| l.iter().map(sig_bytes).collect()).collect(),
        }
        .abi_encode()
    }
    fn decode_body(body: &[u8]) -> Result<Self, DecodeError> {
        let w: TransBoxWire = abi(body)?;
        Ok(Self {
            request: w.request,
            applicant_signature: sig(&w.applicantSignature)?,
            levels: w
                .levels
                .iter()
                .map(|l| l.iter().map(sig).collect::<Result<Vec<_>, _>>())
                .collect::<Result<Vec<_>, _>>()?,
        })
    }
}

impl Body for QuorumCertificate {
    const KIND: Kind = Kind::QuorumCertificate;
    fn encode_body(&self) -> Vec<u8> {
        CertificateWire {
            subject: self.subject.0,
            contentHash: self.content.0,
            votes: self.votes.iter().map(sig_bytes).collect(),
        }
        .abi_encode()
    }
    fn decode_body(body: &[u8]) -> Result<Self, DecodeError> {
        let w: CertificateWire = abi(body)?;
        Ok(Self {
            subject: SubjectId(w.subject),
            content: ContentHash(w.contentHash),
            votes: w.votes.iter().map(sig).collect::<Result<_, _>>()?,
        })
    }
}

impl Body for SignedAction {
    const KIND: Kind = Kind::Governance;
    fn encode_body(&self) -> Vec<u8> {
        let (action, body) = match &self.action {
            GovernanceAction::FreezeEmployee(a) => (Kind::FreezeEmployee, a.abi_encode()),
            GovernanceAction::BlockDestination(a) => (Kind::BlockDestination, a.abi_encode()),
            GovernanceAction::RegisterAsset(a) => (Kind::RegisterAsset, a.abi_encode()),
            GovernanceAction::NodeChange(a) => (Kind::NodeChange, a.abi_encode()),
            GovernanceAction::PauseTransfers(a) => (Kind::PauseTransfers, a.abi_encode()),
            GovernanceAction::AddressBookEntry(a) => (Kind::AddressBookEntry, a.abi_encode()),
        };
        ActionWire {
            action: action as u8,
            body: body.into(),
            signatures: self.signatures.iter().map(sig_bytes).collect(),
        }
        .abi_encode()
    }
    fn decode_body(body: &[u8]) -> Result<Self, DecodeError> {
        let w: ActionWire = abi(body)?;
        let action = match Kind::from_u8(w.action) {
            Some(Kind::FreezeEmployee) => GovernanceAction::FreezeEmployee(abi(&w.body)?),
            Some(Kind::BlockDestination) => GovernanceAction::BlockDestination(abi(&w.body)?),
            Some(Kind::RegisterAsset) => GovernanceAction::RegisterAsset(abi(&w.body)?),
            Some(Kind::NodeChange) => GovernanceAction::NodeChange(abi(&w.body)?),
            Some(Kind::PauseTransfers) => GovernanceAction::PauseTransfers(abi(&w.body)?),
            Some(Kind::AddressBookEntry) => GovernanceAction::AddressBookEntry(abi(&w.body)?),
            _ => return Err(DecodeError::Invalid(format!("unknown governance action {}", w.action))),
        };
        Ok(Self { action, signatures: w.signatures.iter().map(sig).collect::<Result<_, _>>()? })
    }
}
