//! boxctl
pub mod dev;
