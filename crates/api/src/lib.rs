#![doc = include_str!("../README.md")]

pub mod action;
pub mod auth;
#[cfg(feature = "client")]
pub mod client;
pub mod eip712_json;
pub mod error;
pub mod roles;
pub mod status;
pub mod types;
pub mod wire;

#[cfg(feature = "client")]
pub use client::{Client, ClientError, RawResponse};
pub use eip712_json::{Eip712Json, FlowJson, TransferRequestJson};
pub use error::ErrorBody;
pub use roles::Role;
pub use status::{CollectionState, FlowState, GovernanceState, Needs, RelayOutcome, TransferState};
pub use types::*;
pub use wire::{BaseUnits, HexBytes, SignatureHex};
