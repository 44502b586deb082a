//! The signed objects of BOX as EIP-712 typed data.
//!
//! Every object a person, node or the signer signs is one of the structs
//! below, hashed by alloy's EIP-712 implementation under the [`Domain`] of one
//! deployment (name `BOX`, [`DOMAIN_VERSION`], the public chain id, and the
//! deployment id as salt). A hardware or browser wallet shows exactly these
//! fields when asked to sign.
//!
//! `address(0)` as an asset means ETH; any other asset address is an ERC-20
//! contract from the governed asset registry.
//!
//! This module defines and hashes; it does not verify anything. Verification
//! lives in [`crate::flow`], [`crate::transbox`], [`crate::quorum`] and
//! [`crate::governance`].

#![allow(missing_docs)] // sol! generates the fields; each struct's doc is below.

use crate::crypto::{KnownSigner, SecretKey, SignatureError, recover, recover_with};
use crate::ids::{ChainId, DeploymentId, FlowHash, TransferId};
use alloy::primitives::{Address, B256, Signature, U256, keccak256};
use alloy::sol;
use alloy::sol_types::{Eip712Domain, SolStruct};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// The EIP-712 domain version. Bumped when any struct below changes shape.
pub const DOMAIN_VERSION: &str = "1";
/// The EIP-712 domain name.
pub const DOMAIN_NAME: &str = "BOX";

sol! {
    /// The limits a flow sets for one asset. `asset` is `address(0)` for ETH.
    /// `maxFee` (wei) bounds the fee cap a transfer of this asset may sign:
    /// what it may spend on the public chain's fees, re-pricing included.
    /// The ETH period limit also counts every transfer's signed fee cap
    /// (fees are paid in ETH from the hot wallet), whatever its asset.
    #[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct AssetLimit {
        address asset;
        uint256 perTransfer;
        uint256 perPeriod;
        uint64 periodSeconds;
        uint256 maxFee;
    }

    /// One approval level: who may approve, and how many of them must.
    #[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ApprovalLevel {
        string name;
        address[] approvers;
        uint32 threshold;
    }

    /// An approval flow (审批流): who may apply, who approves level by level,
    /// and the per-asset limits. Its EIP-712 signing hash is its identity.
    /// `addressBookOnly`: every destination must be in the governed address
    /// book ([`AddressBookEntry`]) for this flow; JSON without the field means
    /// `false` (a flow file written before the field existed keeps its
    /// meaning, not its hash: the field is part of the signed type).
    #[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct BoxFlow {
        string name;
        address[] employees;
        ApprovalLevel[] levels;
        AssetLimit[] limits;
        uint64 nonce;
        #[serde(default)]
        bool addressBookOnly;
    }

    /// A key holder's `enable(flowHash)` (`enable = true`) or `disable(flowHash)`.
    #[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct FlowAuthorization {
        bytes32 flowHash;
        bool enable;
    }

    /// An employee's application to move funds. Every field that decides what
    /// happens on the public chain is here and covered by every signature.
    #[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct TransferRequest {
        bytes32 requestId;
        bytes32 flowHash;
        address applicant;
        address asset;
        address to;
        uint256 amount;
        uint256 maxFee;
        uint64 chainId;
        uint64 timestamp;
    }

    /// An approver's signature at `level` (1-based). `below` is the digest of
    /// everything signed below this level (the applicant's signature for
    /// level 1), so approvals nest: see [`crate::transbox::below_digest`].
    #[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Approval {
        TransferRequest request;
        uint32 level;
        bytes32 below;
    }

    /// A node companion's verdict on one subject's content.
    #[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct NodeVote {
        bytes32 subject;
        bytes32 contentHash;
        bool accept;
        string reason;
    }

    /// The signer's account of what it did about a subject (a transfer id or,
    /// for anchoring, a flow hash). See [`crate::typed::ReportStatus`].
    #[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SignerReport {
        bytes32 subject;
        uint8 status;
        bytes32 txHash;
        uint64 nonce;
        string detail;
    }

    /// Governance: freeze (`frozen = true`) or unfreeze an employee, with
    /// the reason the key holders sign (recorded in the history).
    #[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct FreezeEmployee {
        address employee;
        bool frozen;
        string reason;
        uint64 nonce;
    }

    /// Governance: block (`blocked = true`) or unblock a destination, with
    /// the reason the key holders sign (recorded in the history).
    #[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct BlockDestination {
        address destination;
        bool blocked;
        string reason;
        uint64 nonce;
    }

    /// Governance: list (`listed = true`) a destination in the address book
    /// with a label, for one flow (`flowHash`) or every flow (zero), or
    /// remove it (`listed = false`; label and flow are then not read). Only
    /// flows with `addressBookOnly` consult the book. Listing needs every key
    /// holder (as authorizing a flow does); removing needs one.
    #[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct AddressBookEntry {
        address destination;
        string label;
        bytes32 flowHash;
        bool listed;
        uint64 nonce;
    }

    /// Governance: register (`registered = true`) or remove an ERC-20 asset.
    #[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RegisterAsset {
        address token;
        string symbol;
        uint8 decimals;
        bool registered;
        uint64 nonce;
    }

    /// Governance: add (`add = true`) or remove a node account.
    #[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct NodeChange {
        address account;
        uint64 nodeId;
        string endpoint;
        bool add;
        uint64 nonce;
    }

    /// Governance: pause (`paused = true`) or resume all transfers.
    #[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct PauseTransfers {
        bool paused;
        string reason;
        uint64 nonce;
    }

    /// An asset registered at genesis.
    #[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct GenesisAsset {
        address token;
        string symbol;
        uint8 decimals;
    }

    /// A node at genesis: its raft id, endpoint and voting account.
    #[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct GenesisNode {
        uint64 nodeId;
        string endpoint;
        address account;
    }

    /// Everything the history is verified against: who the key holders, the
    /// nodes and the signer are, for which deployment and public chain.
    #[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Genesis {
        bytes32 deploymentId;
        uint64 chainId;
        address[] keyHolders;
        GenesisNode[] nodes;
        address signer;
        GenesisAsset[] assets;
        uint64 time;
    }
}

/// What a [`SignerReport`] says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum ReportStatus {
    /// Signed and broadcast; `txHash` and `nonce` are set.
    Broadcast = 1,
    /// The receipt is the configured number of blocks deep.
    Confirmed = 2,
    /// The signer's own checks refused it; `detail` says why. Nothing was signed.
    Refused = 3,
    /// Reverted or dropped on the public chain; `detail` says why.
    Failed = 4,
    /// A flow's anchoring transaction is confirmed; `subject` is the flow hash.
    Anchored = 5,
    /// A confirmed receipt vanished in a reorg: back to broadcast.
    Reorged = 6,
}

impl ReportStatus {
    /// Parses the wire byte.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::Broadcast,
            2 => Self::Confirmed,
            3 => Self::Refused,
            4 => Self::Failed,
            5 => Self::Anchored,
            6 => Self::Reorged,
            _ => return None,
        })
    }
}

/// The EIP-712 domain of one deployment on one public chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Domain {
    /// The public chain's EIP-155 id.
    pub chain_id: ChainId,
    /// The deployment id (the domain salt).
    pub deployment: DeploymentId,
}

impl Domain {
    /// The alloy domain value.
    pub fn eip712(&self) -> Eip712Domain {
        Eip712Domain::new(
            Some(Cow::Borrowed(DOMAIN_NAME)),
            Some(Cow::Borrowed(DOMAIN_VERSION)),
            Some(U256::from(self.chain_id.0)),
            None,
            Some(self.deployment.0),
        )
    }

    /// The EIP-712 domain separator. The last one computed on this thread
    /// is remembered: a node hashes every signed value under the same
    /// domain, and the separator is a struct hash of its own (about 1% of a
    /// busy node's CPU when computed for each).
    pub fn separator(&self) -> B256 {
        thread_local! {
            static LAST: std::cell::Cell<Option<(Domain, B256)>> = const { std::cell::Cell::new(None) };
        }
        LAST.with(|last| match last.get() {
            Some((d, separator)) if d == *self => separator,
            _ => {
                let separator = self.eip712().hash_struct();
                last.set(Some((*self, separator)));
                separator
            }
        })
    }

    /// The EIP-712 signing hash of `value` under this domain:
    /// `keccak256(0x19 ‖ 0x01 ‖ separator ‖ hashStruct(value))` (EIP-712,
    /// "Specification of the eth_signTypedData JSON RPC").
    pub fn signing_hash<T: SolStruct>(&self, value: &T) -> B256 {
        let mut bytes = [0u8; 66];
        bytes[..2].copy_from_slice(&[0x19, 0x01]);
        bytes[2..34].copy_from_slice(self.separator().as_slice());
        bytes[34..].copy_from_slice(value.eip712_hash_struct().as_slice());
        keccak256(bytes)
    }

    /// Signs `value` under this domain.
    pub fn sign<T: SolStruct>(&self, key: &SecretKey, value: &T) -> Signature {
        key.sign_hash(&self.signing_hash(value))
    }

    /// Recovers who signed `value` under this domain.
    pub fn recover<T: SolStruct>(&self, value: &T, sig: &Signature) -> Result<Address, SignatureError> {
        recover(&self.signing_hash(value), sig)
    }

    /// The identity of a flow.
    pub fn flow_hash(&self, flow: &BoxFlow) -> FlowHash {
        FlowHash(self.signing_hash(flow))
    }

    /// The identity of a transfer: the hash of its request.
    pub fn transfer_id(&self, request: &TransferRequest) -> TransferId {
        TransferId(self.signing_hash(request))
    }
}

impl Genesis {
    /// The domain this genesis fixes.
    pub fn domain(&self) -> Domain {
        Domain { chain_id: ChainId(self.chainId), deployment: DeploymentId(self.deploymentId) }
    }
}

/// One value with one signature. Says nothing about who signed until
/// [`Signed::signer`] recovers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signed<T> {
    /// The signed value.
    pub value: T,
    /// The signature over its EIP-712 signing hash.
    pub signature: Signature,
}

impl<T: SolStruct> Signed<T> {
    /// Signs `value` with `key` under `domain`.
    pub fn new(domain: &Domain, key: &SecretKey, value: T) -> Self {
        let signature = domain.sign(key, &value);
        Self { value, signature }
    }

    /// Recovers the signer.
    pub fn signer(&self, domain: &Domain) -> Result<Address, SignatureError> {
        domain.recover(&self.value, &self.signature)
    }

    /// Recovers the signer as [`Signed::signer`] does, checking first
    /// whether `known` signed it ([`recover_with`]): for
    /// a run of values one signer likely signed.
    pub fn signer_with(&self, domain: &Domain, known: &mut Option<KnownSigner>) -> Result<Address, SignatureError> {
        recover_with(&domain.signing_hash(&self.value), &self.signature, known)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The remembered separator is the one of the domain asked about: two
    /// domains in turn on one thread give alloy's own EIP-712 signing hash.
    #[test]
    fn the_signing_hash_is_alloys_for_each_domain_in_turn() {
        let report = SignerReport {
            subject: B256::repeat_byte(3),
            status: 1,
            txHash: B256::repeat_byte(4),
            nonce: 7,
            detail: "sent".into(),
        };
        let domains = [
            Domain { chain_id: ChainId(1), deployment: DeploymentId(B256::repeat_byte(1)) },
            Domain { chain_id: ChainId(31337), deployment: DeploymentId(B256::repeat_byte(1)) },
            Domain { chain_id: ChainId(1), deployment: DeploymentId(B256::repeat_byte(2)) },
        ];
        for d in domains.iter().chain(domains.iter().rev()) {
            assert_eq!(d.signing_hash(&report), report.eip712_signing_hash(&d.eip712()));
            assert_eq!(d.separator(), d.eip712().hash_struct());
        }
    }

    #[test]
    fn type_strings_nest_the_request_inside_the_approval() {
        assert_eq!(
            Approval::eip712_encode_type(),
            "Approval(TransferRequest request,uint32 level,bytes32 below)TransferRequest(bytes32 requestId,bytes32 flowHash,address applicant,address asset,address to,uint256 amount,uint256 maxFee,uint64 chainId,uint64 timestamp)"
        );
        assert!(BoxFlow::eip712_encode_type().starts_with(
            "BoxFlow(string name,address[] employees,ApprovalLevel[] levels,AssetLimit[] limits,uint64 nonce,bool addressBookOnly)ApprovalLevel(string name,address[] approvers,uint32 threshold)AssetLimit("
        ));
    }

    #[test]
    fn domain_binds_chain_and_deployment() {
        let a = Domain { chain_id: ChainId(1), deployment: DeploymentId(B256::repeat_byte(1)) };
        let b = Domain { chain_id: ChainId(2), ..a };
        let c = Domain { deployment: DeploymentId(B256::repeat_byte(2)), ..a };
        let v = FlowAuthorization { flowHash: B256::ZERO, enable: true };
        assert_ne!(a.signing_hash(&v), b.signing_hash(&v));
        assert_ne!(a.signing_hash(&v), c.signing_hash(&v));
        let k = SecretKey::from_label_unchecked("kh");
        let s = Signed::new(&a, &k, v.clone());
        assert_eq!(s.signer(&a).unwrap(), k.address());
        assert_ne!(s.signer(&b).ok(), Some(k.address()));
    }
}
