#![doc = include_str!("../README.md")]

pub mod config;
pub mod console;
pub mod crosscheck;
pub mod exec;
pub mod link;
pub mod locked;
pub mod ports;
pub mod resume;
pub mod runtime;
pub mod status;
pub mod store;
pub mod tx;
pub mod vault;
