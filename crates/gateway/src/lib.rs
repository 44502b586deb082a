#![doc = include_str!("../README.md")]

pub mod api;
pub mod backfill;
pub mod bootstrap;
pub mod config;
pub mod console;
pub mod error;
pub mod finals;
pub mod follower;
pub mod limits;
pub mod relay;
pub mod resume;
pub mod roles;
pub mod server;
pub mod store;

pub use config::GatewayConfig;
pub use server::Gateway;
