#![doc = include_str!("../README.md")]

pub mod config;
pub mod console;
pub mod crosscheck;
pub mod eth;
pub mod executor;
pub mod link;
pub mod locked;
pub mod runtime;
pub mod store;
pub mod vault;
