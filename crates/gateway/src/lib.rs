//! # box-gateway
//!
//! BOX's access layer (接入层): the HTTPS API the key-holder, admin, approver,
//! employee and auditor apps talk to. It is an **untrusted relay** (DESIGN.md
//! §2): it stores drafts and collected signatures and relays them to the
//! private chain; it never signs anything for anyone, and everything it
//! relays is signed by the person it comes from, so it can delay but never
//! forge.
//!
//! ```text
//!  apps (boxctl, console) ──HTTPS, signed requests──▶ box-gateway ──mTLS gRPC──▶ box-node ×(2n+1)
//!                                                      │  SQL store (SQLite file | PostgreSQL)
//!                                                      │  outbox ─relay─▶ Submit (leader first, then the others)
//!                                                      └  verified replica ◀─ sealed blocks (GetBlock)
//! ```
//!
//! - [`auth`]: every call is signed by the caller's key over (method, path,
//!   body hash, timestamp, nonce) as the EIP-712 struct `ApiRequest`.
//! - [`roles`]: key holders from the genesis, admins from the config,
//!   everyone else registered by admins; separation of duties.
//! - [`store`]: one schema on SQLite or PostgreSQL through sqlx.
//! - [`follower`]: the chain's blocks, verified and replayed through
//!   box-core's notary state machine; statuses come from there.
//! - [`relay`]: the durable outbox to the chain.
//! - [`api`]: the `/v1` endpoints and their OpenAPI document.
//! - [`client`]: a typed client that signs for its caller.

pub mod api;
pub mod auth;
pub mod chain;
pub mod client;
pub mod config;
pub mod error;
pub mod follower;
pub mod limits;
pub mod relay;
pub mod roles;
pub mod server;
pub mod store;

pub use client::Client;
pub use config::GatewayConfig;
pub use server::Gateway;
