#![doc = include_str!("../README.md")]

pub mod certs;
pub mod config;
pub mod keyfile;
pub mod keystore;
pub mod logging;
pub mod paths;
pub mod role;
pub mod shutdown;
pub mod unlock;
