//! The gateway's TOML configuration file.
//!
//! Like `box-node`'s: [`GatewayConfig::from_toml_str`] parses, resolves
//! relative paths against the config file's directory and checks every rule
//! that needs no disk; [`GatewayConfig::check_files`] checks the files exist;
//! [`GatewayConfig::load`] does both. Every refusal names the field.

use box_core::Address;
use box_ops::config::ConfigError;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// A fully commented example configuration (`box-gateway example-config`).
pub const EXAMPLE: &str = r#"# box-gateway configuration (TOML).
# Relative paths are resolved against the directory of this file.

# Where the HTTPS API listens. The apps (boxctl, the web console) connect here.
listen = "127.0.0.1:8443"

# Where the gateway keeps its SQLite database (gateway.sqlite3), created and
# migrated on first start. Not used when `database` is set.
data_dir = "data/gateway"

# Optional: a PostgreSQL database instead of SQLite, by URL. The schema is
# created and migrated on first start. Example:
# database = "postgres://box@127.0.0.1:5432/box"

# The deployment's genesis: the same JSON file the nodes use. It names the key
# holders, the nodes (ids and endpoints) and the EIP-712 domain every signed
# request and object is checked under.
genesis = "genesis.json"

# Addresses of the administrators. Admins register employees, approvers and
# auditors (by signed requests) and draft approval flows. An admin never
# approves transfers (separation of duties).
admins = ["0x70997970C51812dc3A010C7d01b50e0d17dc79C8"]

# Optional: an Ethereum JSON-RPC URL (http:// or https://; TLS verified against
# the system's root certificates), to show the hot wallet's balances.
# eth_rpc = "http://127.0.0.1:8545"

# The HTTPS certificate and key (PEM), e.g. from `box-node certs issue`.
[tls]
cert = "tls/gateway.pem"
key = "tls/gateway.key"

# Mutual TLS to the chain nodes: the deployment CA and a client certificate
# it issued for the gateway (role box:gateway: `box-node certs issue --role gateway`).
[chain]
ca = "tls/ca.pem"
cert = "tls/gateway-client.pem"
key = "tls/gateway-client.key"
# Optional: node endpoints (host:port). Default: the endpoints in the genesis.
# nodes = ["127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"]
# Optional: a gateway started with an empty database begins at the latest
# state the nodes keep whose height, block hash and state root a strict
# majority of the node registry (verified from the genesis) attests, instead
# of replaying every block from the genesis. A refused state is logged with
# the reason and the gateway replays from the genesis. Such a gateway does
# not hold the blocks before that height: its audit export refuses them
# (export from an auditor's replica or a node). Ignored once the database
# holds blocks. Default: false.
# bootstrap = true

# Limits. Optional: the values below are the defaults.
[limits]
max_body_bytes = 1048576         # larger bodies get 413
timestamp_window_seconds = 300   # a request signed further from the gateway's clock gets 401
per_key_per_minute = 600         # requests per signer per minute (429 beyond, with Retry-After)
per_ip_per_minute = 3000         # requests per client IP per minute
burst = 60                       # how many requests may arrive at once before the rates apply
bad_signatures_per_source = 20   # this many failed proofs (bad signatures, wrong download tokens) from
source_lock_seconds = 300        # one client IP within this many seconds throttle that IP (429) for as
                                 # long. Never the key a request names: a failure proves no identity.
                                 # A key holder's pause and panic pass every limit.
"#;

/// Request limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest accepted body, bytes.
    pub max_body_bytes: usize,
    /// Accepted distance between a request's timestamp and the gateway's clock, seconds.
    pub timestamp_window_seconds: u64,
    /// Sustained requests per signer per minute.
    pub per_key_per_minute: u32,
    /// Sustained requests per client IP per minute.
    pub per_ip_per_minute: u32,
    /// Bucket size for both rates.
    pub burst: u32,
    /// Failed proofs (bad signatures, wrong download tokens) from one client
    /// IP within `source_lock_seconds` that throttle that IP. (Read from
    /// `bad_signatures_before_lock` too, the name of older configs.)
    #[serde(alias = "bad_signatures_before_lock")]
    pub bad_signatures_per_source: u32,
    /// The window and how long a throttled IP stays throttled, seconds.
    /// (Read from `lock_seconds` too.)
    #[serde(alias = "lock_seconds")]
    pub source_lock_seconds: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1 << 20,
            timestamp_window_seconds: 300,
            per_key_per_minute: 600,
            per_ip_per_minute: 3000,
            burst: 60,
            bad_signatures_per_source: 20,
            source_lock_seconds: 300,
        }
    }
}

/// HTTPS server identity.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTls {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
}

/// How to reach the chain.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    /// The deployment CA (PEM).
    pub ca: PathBuf,
    /// The gateway's client certificate (PEM).
    pub cert: PathBuf,
    /// Its key (PEM).
    pub key: PathBuf,
    /// Node endpoints; default: the genesis endpoints.
    #[serde(default)]
    pub nodes: Vec<String>,
    /// Whether a fresh store starts from a majority-attested state instead
    /// of the genesis ([`crate::bootstrap`]). Default: false.
    #[serde(default)]
    pub bootstrap: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: String,
    data_dir: PathBuf,
    database: Option<String>,
    genesis: PathBuf,
    #[serde(default)]
    admins: Vec<String>,
    eth_rpc: Option<String>,
    tls: ServerTls,
    chain: ChainConfig,
    #[serde(default)]
    limits: Limits,
}

/// Where the data lives.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL URL.
    Postgres(String),
}

impl std::fmt::Debug for Database {
    // A URL may carry a password: show the host part only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(p) => write!(f, "Sqlite({})", p.display()),
            Self::Postgres(url) => write!(f, "Postgres({})", url.rsplit_once('@').map_or("<url>", |(_, h)| h)),
        }
    }
}

impl std::fmt::Display for Database {
    /// For messages: the file, or the PostgreSQL host and database (never the URL's password).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(p) => write!(f, "the SQLite file {}", p.display()),
            Self::Postgres(url) => {
                write!(f, "PostgreSQL at {}", url.rsplit_once('@').map_or("<url>", |(_, h)| h))
            }
        }
    }
}

impl Database {
    /// The sqlx URL.
    pub fn url(&self) -> String {
        match self {
            Self::Sqlite(p) => format!("sqlite://{}?mode=rwc", p.display()),
            Self::Postgres(u) => u.clone(),
        }
    }
}

/// A validated configuration; paths are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayConfig {
    /// HTTPS listen address.
    pub listen: SocketAddr,
    /// Data directory (SQLite file lives here).
    pub data_dir: PathBuf,
    /// The store.
    pub database: Database,
    /// Genesis JSON.
    pub genesis: PathBuf,
    /// Administrators.
    pub admins: Vec<Address>,
    /// Ethereum JSON-RPC URL.
    pub eth_rpc: Option<String>,
    /// HTTPS identity.
    pub tls: ServerTls,
    /// Chain access.
    pub chain: ChainConfig,
    /// Limits.
    pub limits: Limits,
}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { field: field.into(), problem: problem.into() }
}

impl GatewayConfig {
    /// Reads, parses and validates a config file, including its files.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let c = Self::from_toml_str(&text, box_ops::paths::base_of(path))?;
        c.check_files()?;
        Ok(c)
    }

    /// Parses and validates config text; touches no file.
    pub fn from_toml_str(s: &str, base: &Path) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(s).map_err(|e| ConfigError::Parse(e.to_string()))?;
        let listen: SocketAddr = raw.listen.parse().map_err(|_| {
            invalid(
                "listen",
                format!("{:?} is not an IP address and port (expected e.g. \"127.0.0.1:8443\")", raw.listen),
            )
        })?;
        let resolve = |p: &Path| box_ops::paths::resolve(base, p);
        let data_dir = resolve(&raw.data_dir);
        let database = match raw.database {
            None => Database::Sqlite(data_dir.join("gateway.sqlite3")),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => Database::Postgres(url),
            Some(url) if url.starts_with("sqlite://") => {
                return Err(invalid(
                    "database",
                    "SQLite is the default: remove `database` and set `data_dir` (the file is data_dir/gateway.sqlite3)",
                ));
            }
            Some(_) => return Err(invalid("database", "expected a postgres:// URL (or no `database` for SQLite)")),
        };
        let mut admins = Vec::new();
        for (i, a) in raw.admins.iter().enumerate() {
            let addr =
                box_core::address::parse_address(a).map_err(|e| invalid(format!("admins[{i}]"), e.to_string()))?;
            if admins.contains(&addr) {
                return Err(invalid(format!("admins[{i}]"), format!("{a} is listed twice")));
            }
            admins.push(addr);
        }
        if let Some(url) = &raw.eth_rpc
            && let Err(e) = box_eth::Eth::connect(url)
        {
            return Err(invalid("eth_rpc", format!("{url:?}: {e} (an http:// or https:// JSON-RPC URL)")));
        }
        for (i, n) in raw.chain.nodes.iter().enumerate() {
            if n.rsplit_once(':').is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err()) {
                return Err(invalid(format!("chain.nodes[{i}]"), format!("{n:?} is not host:port")));
            }
        }
        let l = raw.limits;
        if l.max_body_bytes < 1024 {
            return Err(invalid("limits.max_body_bytes", "must be at least 1024"));
        }
        if l.timestamp_window_seconds == 0 {
            return Err(invalid("limits.timestamp_window_seconds", "must be 1 or more"));
        }
        if l.per_key_per_minute == 0 || l.per_ip_per_minute == 0 || l.burst == 0 {
            return Err(invalid("limits", "per_key_per_minute, per_ip_per_minute and burst must be 1 or more"));
        }
        if l.bad_signatures_per_source == 0 || l.source_lock_seconds == 0 {
            return Err(invalid("limits", "bad_signatures_per_source and source_lock_seconds must be 1 or more"));
        }
        Ok(Self {
            listen,
            data_dir,
            database,
            genesis: resolve(&raw.genesis),
            admins,
            eth_rpc: raw.eth_rpc,
            tls: ServerTls { cert: resolve(&raw.tls.cert), key: resolve(&raw.tls.key) },
            chain: ChainConfig {
                ca: resolve(&raw.chain.ca),
                cert: resolve(&raw.chain.cert),
                key: resolve(&raw.chain.key),
                nodes: raw.chain.nodes,
                bootstrap: raw.chain.bootstrap,
            },
            limits: l,
        })
    }

    /// Checks the files the gateway reads exist.
    pub fn check_files(&self) -> Result<(), ConfigError> {
        let files = [
            ("genesis", &self.genesis),
            ("tls.cert", &self.tls.cert),
            ("tls.key", &self.tls.key),
            ("chain.ca", &self.chain.ca),
            ("chain.cert", &self.chain.cert),
            ("chain.key", &self.chain.key),
        ];
        for (field, path) in files {
            if !path.is_file() {
                return Err(ConfigError::File {
                    field: field.into(),
                    path: path.clone(),
                    problem: "no such file".into(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_example_parses() {
        let c = GatewayConfig::from_toml_str(EXAMPLE, Path::new("/etc/box")).unwrap();
        assert_eq!(c.database, Database::Sqlite(PathBuf::from("/etc/box/data/gateway/gateway.sqlite3")));
        assert_eq!(c.limits, Limits::default());
        assert_eq!(c.admins.len(), 1);
    }

    #[test]
    fn bootstrap_is_opt_in() {
        let c = GatewayConfig::from_toml_str(EXAMPLE, Path::new("/")).unwrap();
        assert!(!c.chain.bootstrap);
        let on = EXAMPLE.replace("# bootstrap = true", "bootstrap = true");
        assert!(GatewayConfig::from_toml_str(&on, Path::new("/")).unwrap().chain.bootstrap);
    }

    #[test]
    fn older_names_of_the_source_throttle_still_read() {
        let old = EXAMPLE
            .replace("bad_signatures_per_source = 20", "bad_signatures_before_lock = 7")
            .replace("source_lock_seconds = 300", "lock_seconds = 60");
        let c = GatewayConfig::from_toml_str(&old, Path::new("/")).unwrap();
        assert_eq!((c.limits.bad_signatures_per_source, c.limits.source_lock_seconds), (7, 60));
    }

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            ("listen = \"127.0.0.1:8443\"", "listen = \"localhost\"", "listen"),
            (
                "admins = [\"0x70997970C51812dc3A010C7d01b50e0d17dc79C8\"]",
                "admins = [\"0x70997970c51812dc3A010C7d01b50e0d17dc79C8\"]",
                "admins[0]",
            ),
            ("max_body_bytes = 1048576", "max_body_bytes = 10", "limits.max_body_bytes"),
            ("# database = \"postgres://box@127.0.0.1:5432/box\"", "database = \"mysql://x\"", "database"),
            ("# eth_rpc = \"http://127.0.0.1:8545\"", "eth_rpc = \"ws://x\"", "eth_rpc"),
        ];
        for (from, to, field) in cases {
            assert!(EXAMPLE.contains(from), "{from}");
            let e = GatewayConfig::from_toml_str(&EXAMPLE.replace(from, to), Path::new("/")).unwrap_err();
            assert_eq!(e.field(), Some(field), "{e}");
        }
        let e = GatewayConfig::from_toml_str(&EXAMPLE.replace("[limits]", "[limits]\nbogus = 1"), Path::new("/"))
            .unwrap_err();
        assert!(e.to_string().contains("bogus"), "{e}");
    }

    #[test]
    fn the_wallet_view_reads_over_http_or_https() {
        for url in ["http://127.0.0.1:8545", "https://rpc.example.org/v3/key"] {
            let text = EXAMPLE.replace("# eth_rpc = \"http://127.0.0.1:8545\"", &format!("eth_rpc = \"{url}\""));
            let c = GatewayConfig::from_toml_str(&text, Path::new("/")).unwrap();
            assert_eq!(c.eth_rpc.as_deref(), Some(url));
        }
    }

    #[test]
    fn a_postgres_url_never_shows_its_password() {
        let d = Database::Postgres("postgres://box:s3cret@127.0.0.1:5432/box".into());
        assert!(!format!("{d:?}").contains("s3cret"));
    }
}
