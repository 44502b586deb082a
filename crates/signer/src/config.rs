//! The signer's TOML configuration. Relative paths are resolved against the
//! file's directory; every error names the field.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// An annotated example (`box-signer example-config`).
pub const EXAMPLE: &str = r#"# box-signer configuration (TOML).
# Relative paths are resolved against the directory of this file.

# Where the signer keeps its record (d, enrolments, phrase commitments, every
# transaction it signed). Never the key: that exists only in memory.
data_dir = "data/signer"

# The deployment's genesis, the same file every node uses.
genesis = "genesis.json"

# The signer's identity key (made by `box-node keygen`, mode 0600): signs its
# reports and announcements. Its address is the genesis `signer`. It is not
# the wallet key and moves no funds.
identity_key = "keys/signer.key.json"

# Every chain node's gRPC address. The signer dials them all (it opens no
# port of its own) and follows whichever serves verifiable blocks.
nodes = ["127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"]

# Lock (zeroize the key, refuse all work until a full unseal) after this
# many wrong phrases or enrolment codes. At least 1.
lock_after_failures = 3

[tls]
ca = "tls/ca.pem"          # the deployment CA (PEM)
cert = "tls/signer.pem"    # the signer's client certificate from that CA (role box:signer)
key = "tls/signer.key"     # its private key (PEM, mode 0600)

[ethereum]
rpc = "http://127.0.0.1:8545"   # JSON-RPC endpoint of an Ethereum node
chain_id = 31337                # must equal the genesis chain id and the node's eth_chainId
confirmations = 12              # receipt depth that counts as confirmed (1 in development)
poll_ms = 1000                  # how often receipts and fees are checked
replace_after_secs = 60         # re-price a transaction still unmined after this long
retry_max_secs = 60             # a transfer held by a transient failure is retried with backoff up to this
alert_after_secs = 300          # alert (ERROR log line) when one has been held this long
funds_wait_secs = 86400         # a transfer the wallet cannot pay waits this long for a top-up, then is refused
# Fee budget for anchoring a flow (wei, decimal string); transfers carry their own signed cap.
anchor_max_fee = "10000000000000000"
# A transaction whose signed fee cap stays below the base fee this long is cancelled: a 0-value
# send to the wallet itself on the same nonce (no approval needed: it moves nothing and frees the
# nonces of later transfers); the transfer then fails and its applicant applies again with a
# higher fee cap. 0: never cancel.
cancel_after_secs = 3600
# The most one cancellation may spend on fees (wei, decimal string; 21,000 gas at most
# cancel_max_fee / 21,000 per gas). Beyond it the transaction stays stuck, with the alert.
cancel_max_fee = "5000000000000000"
# After a transfer is confirmed its receipt is still checked for this many blocks: a reorg deeper
# than `confirmations` sends the same bytes again, alerts, and reports it to the chain.
reorg_watch_blocks = 128
"#;

/// Paths and addresses.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Data directory.
    pub data_dir: PathBuf,
    /// Genesis JSON.
    pub genesis: PathBuf,
    /// Identity key file.
    pub identity_key: PathBuf,
    /// Node gRPC addresses.
    pub nodes: Vec<String>,
    /// Lockout threshold.
    #[serde(default = "default_lock_after")]
    pub lock_after_failures: u32,
    /// Client TLS.
    pub tls: Tls,
    /// Ethereum.
    pub ethereum: Ethereum,
}

/// Client TLS files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// CA certificate.
    pub ca: PathBuf,
    /// Client certificate.
    pub cert: PathBuf,
    /// Client key.
    pub key: PathBuf,
}

/// The public chain.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ethereum {
    /// JSON-RPC URL.
    pub rpc: String,
    /// Expected chain id.
    pub chain_id: u64,
    /// Confirmation depth.
    #[serde(default = "default_confirmations")]
    pub confirmations: u64,
    /// Poll interval.
    #[serde(default = "default_poll")]
    pub poll_ms: u64,
    /// Fee bump delay.
    #[serde(default = "default_replace")]
    pub replace_after_secs: u64,
    /// Anchoring fee budget in wei.
    #[serde(default = "default_anchor_fee")]
    pub anchor_max_fee: String,
    /// The longest delay between retries after transient failures (seconds).
    #[serde(default = "default_retry_max")]
    pub retry_max_secs: u64,
    /// Alert when a transfer has been held by transient failures this long (seconds).
    #[serde(default = "default_alert_after")]
    pub alert_after_secs: u64,
    /// How long a transfer the wallet cannot pay waits for funds before it is refused (seconds).
    #[serde(default = "default_funds_wait")]
    pub funds_wait_secs: u64,
    /// Cancel a transaction whose fee cap has stayed below the base fee this long (seconds; 0: never).
    #[serde(default = "default_cancel_after")]
    pub cancel_after_secs: u64,
    /// The most one cancellation may spend on fees, in wei.
    #[serde(default = "default_cancel_fee")]
    pub cancel_max_fee: String,
    /// How many blocks after its confirmation a transfer's receipt is still checked for reorgs.
    #[serde(default = "default_reorg_watch")]
    pub reorg_watch_blocks: u64,
}

fn default_lock_after() -> u32 {
    3
}
fn default_confirmations() -> u64 {
    12
}
fn default_poll() -> u64 {
    1000
}
fn default_replace() -> u64 {
    60
}
fn default_retry_max() -> u64 {
    60
}
fn default_alert_after() -> u64 {
    300
}
fn default_funds_wait() -> u64 {
    86_400
}
fn default_cancel_after() -> u64 {
    3600
}
fn default_cancel_fee() -> String {
    "5000000000000000".into()
}
fn default_reorg_watch() -> u64 {
    128
}
fn default_anchor_fee() -> String {
    "10000000000000000".into()
}

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Unreadable file.
    #[error("cannot read {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Not valid TOML or a field is wrong (toml names the field).
    #[error("{path}: {message}")]
    Parse {
        /// File.
        path: PathBuf,
        /// toml's message, naming the field and line.
        message: String,
    },
    /// A field's value breaks a rule.
    #[error("config field {field:?}: {reason}")]
    Field {
        /// Field.
        field: &'static str,
        /// Rule.
        reason: String,
    },
}

impl Config {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        Self::parse(&text, box_ops::paths::base_of(path)).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse { path: path.into(), message },
            other => other,
        })
    }

    /// Parses `text`, resolving relative paths against `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Self, ConfigError> {
        let mut c: Self =
            toml::from_str(text).map_err(|e| ConfigError::Parse { path: PathBuf::new(), message: e.to_string() })?;
        let field = |field, reason: &str| Err(ConfigError::Field { field, reason: reason.to_owned() });
        if c.nodes.is_empty() {
            return field("nodes", "list at least one chain node");
        }
        if c.lock_after_failures == 0 {
            return field("lock_after_failures", "must be at least 1");
        }
        if c.ethereum.chain_id == 0 {
            return field("ethereum.chain_id", "0 is not a chain id");
        }
        if c.ethereum.confirmations == 0 {
            return field("ethereum.confirmations", "must be at least 1");
        }
        if c.ethereum.poll_ms < 10 {
            return field("ethereum.poll_ms", "must be at least 10");
        }
        if !c.ethereum.rpc.starts_with("http://") && !c.ethereum.rpc.starts_with("https://") {
            return field("ethereum.rpc", "must be an http:// or https:// URL");
        }
        if c.ethereum.anchor_max_fee.parse::<alloy::primitives::U256>().is_err() {
            return field("ethereum.anchor_max_fee", "must be a decimal number of wei");
        }
        for p in [&mut c.data_dir, &mut c.genesis, &mut c.identity_key, &mut c.tls.ca, &mut c.tls.cert, &mut c.tls.key]
        {
            *p = box_ops::paths::resolve(base, p);
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_parses_and_errors_name_the_field() {
        let c = Config::parse(EXAMPLE, Path::new("/etc/box")).unwrap();
        assert_eq!(c.data_dir, Path::new("/etc/box/data/signer"));
        assert_eq!(c.ethereum.confirmations, 12);
        let bad = EXAMPLE.replace("confirmations = 12", "confirmations = 0");
        let err = Config::parse(&bad, Path::new(".")).unwrap_err().to_string();
        assert!(err.contains("ethereum.confirmations"), "{err}");
        let unknown = format!("{EXAMPLE}\nsurprise = 1\n");
        let err = Config::parse(&unknown, Path::new(".")).unwrap_err().to_string();
        assert!(err.contains("surprise"), "{err}");
    }
}
