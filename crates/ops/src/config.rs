//! The one error every BOX process's configuration loader returns.
//!
//! The node, the gateway and the signer read TOML files an operator writes;
//! each refusal names the field, says what is wrong and what is expected.
//! This module holds only the error, not the loaders: each process owns its
//! own file format.

use std::path::PathBuf;

/// Why a configuration was refused. Each message says which field is wrong
/// and what is expected, for an operator to fix the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("could not read config file {path}: {source}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not TOML of the expected shape (syntax error, unknown or
    /// missing field, wrong type). The message comes from the TOML parser and
    /// shows the offending line.
    #[error("config is not valid: {0}")]
    Parse(String),
    /// A field has a value that breaks a rule.
    #[error("config field \"{field}\": {problem}")]
    Invalid {
        /// The field, as written in the file (`peers[2].addr`, `raft.heartbeat_ms`).
        field: String,
        /// What is wrong and what is expected.
        problem: String,
    },
    /// A file named by a field is missing or is not what it should be.
    #[error("config field \"{field}\": {path}: {problem}")]
    File {
        /// The field naming the file.
        field: String,
        /// The path after resolution against the config file's directory.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

impl ConfigError {
    /// The config field the error is about, if it is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. } | Self::File { field, .. } => Some(field),
            Self::Read { .. } | Self::Parse(_) => None,
        }
    }
}
