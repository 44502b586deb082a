#![doc = include_str!("../README.md")]

pub mod address;
pub mod address_book;
pub mod amount;
pub mod asset;
pub mod attestation;
pub mod audit;
pub mod block;
pub mod ceremony;
pub mod checkpoint;
pub mod commitment;
pub mod crypto;
pub mod decision;
pub mod encoding;
pub mod evidence;
pub mod flow;
pub mod genesis;
pub mod governance;
pub mod ids;
pub mod keys;
pub mod notary;
pub mod quorum;
mod refusal;
pub mod transbox;
pub mod typed;
pub mod typed_data;

pub use alloy::primitives::{Address, B256, Signature, U256};
pub use amount::Amount;
pub use refusal::{DestinationRule, Refusal, Units};
