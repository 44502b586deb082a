//! The request and response bodies of every endpoint under `/v1`, one
//! module per area. Field names are camelCase; every request body refuses
//! unknown fields. Values use the encodings of [`crate::wire`]; signed
//! objects are box-core's own structs ([`crate::eip712_json`]).
//!
//! These types carry what the gateway shows; they prove nothing. What a
//! client signs it checks first (see [`crate::client`]).

mod ceremony;
mod chain;
mod flows;
mod people;
mod transfers;
mod typed_data;

pub use ceremony::{BalanceOut, CeremonyIn, CeremonyOut, SignerOut, WalletOut};
pub use chain::{
    AddressBookOut, AuditOut, AuditQuery, ClusterOut, DeploymentOut, NodeOut, RegisteredNodeOut, StatusOut, TokenOut,
};
pub use flows::{AuthorizationIn, FlowIn, FlowOut, GovernanceIn, GovernanceOut, GovernanceQuery, QueuedOut, RelayOut};
pub use people::{ClaimIn, EscrowIn, EscrowOut, MeOut, OffboardIn, OffboardOut, PersonIn, PersonOut};
pub use transfers::{
    ApplyIn, ApproveIn, LevelProgress, RejectIn, SignatureOut, TransferOut, TransferQuery, TransferStatusOut,
    TransferSummary,
};
pub use typed_data::{
    AssetOut, AuthorizationQuery, FlowTypedData, GovernanceDraftIn, GovernanceKind, GovernanceTypedData,
    TransferRequestIn, TransferTypedData, TypedDataCatalogue,
};
