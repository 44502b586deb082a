#![doc = include_str!("../README.md")]

pub mod api;
pub mod auth;
pub mod chain;
pub mod client;
pub mod config;
pub mod console;
pub mod error;
pub mod eth;
pub mod follower;
pub mod limits;
pub mod relay;
pub mod roles;
pub mod server;
pub mod store;

pub use client::Client;
pub use config::GatewayConfig;
pub use server::Gateway;
