//! # box-core
//!
//! The pure domain of BOX: values, the EIP-712 signed objects, their
//! canonical encoding, key derivation, every verification rule and the notary
//! state machine. No I/O, no async, no clock (time is an argument), no unsafe.
//!
//! ```text
//!  boxctl ──HTTPS──▶ box-gateway ──gRPC──▶ box-node ×(2n+1) ──events──▶ box-signer ──▶ Ethereum
//!                         │                    │  companion                 │
//!                         └────────────────────┴──── box-core ──────────────┘
//!                      (same types, same rules, same state machine everywhere)
//! ```
//!
//! Verification returns proof-carrying types ([`flow::VerifiedFlow`],
//! [`transbox::VerifiedTransBox`], [`quorum::VerifiedCertificate`]) that only
//! the verifiers can build, or a [`Refusal`] naming the exact rule that failed.

pub mod address;
pub mod amount;
pub mod asset;
pub mod crypto;
pub mod encoding;
pub mod flow;
pub mod governance;
pub mod ids;
pub mod keys;
pub mod notary;
pub mod quorum;
mod refusal;
pub mod transbox;
pub mod typed;

pub use alloy::primitives::{Address, B256, Signature, U256};
pub use amount::Amount;
pub use refusal::Refusal;
