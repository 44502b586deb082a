//! The node's TOML configuration file.
//!
//! Reading a config is two steps, so a config can be checked without the
//! machine it will run on:
//!
//! 1. [`NodeConfig::from_toml_str`] parses the text, resolves relative paths
//!    against the config file's directory and checks every rule that needs no
//!    disk (ids, roles, addresses, timings).
//! 2. [`NodeConfig::check_files`] checks that the files the node will read
//!    (genesis, account key, TLS material) exist.
//!
//! [`NodeConfig::load`] does both. Every refusal names the config field, says
//! what is wrong and what is expected, e.g.
//! `config field "peers[2].addr": "127.0.0.1" is not host:port ...`.
//!
//! This module does not read the genesis, the key or the certificates: their
//! contents are checked by the modules that use them.

use box_ops::paths::resolve;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// A fully commented example configuration (printed by `box-node --help` and
/// shown in the README). It parses with [`NodeConfig::from_toml_str`].
pub const EXAMPLE: &str = include_str!("example-node.toml");

pub use box_ops::config::ConfigError;

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { field: field.into(), problem: problem.into() }
}

/// Whether a node votes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Votes in elections and counts for the notarizing majority.
    Voter,
    /// Replicates and verifies, never votes (an auditor's read-only node).
    Learner,
}

impl Role {
    /// The spelling used in the config file.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Voter => "voter",
            Self::Learner => "learner",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One node of the cluster as every node's config lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    /// Raft node id, >= 1, unique in the cluster.
    pub id: u64,
    /// `host:port` to dial it at (checked to have that shape, not resolved).
    pub addr: String,
    /// Voter or learner.
    pub role: Role,
}

/// TLS material, all PEM.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The deployment CA certificate: the only issuer this node trusts.
    pub ca: PathBuf,
    /// This node's certificate.
    pub cert: PathBuf,
    /// This node's private key.
    pub key: PathBuf,
}

/// Raft timing; every field is optional in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RaftTuning {
    /// The leader's heartbeat interval, ms (default 100). It is also how long
    /// the leader waits for a follower to take one AppendEntries message
    /// (openraft's rule): up to 64 KiB of entries, or one entry of up to
    /// 2 MiB; raise it on a slow link.
    pub heartbeat_ms: u64,
    /// Lower bound of the election timeout, ms (default 300); above `heartbeat_ms`.
    pub election_min_ms: u64,
    /// Upper bound of the election timeout, ms (default 600); above `election_min_ms`.
    pub election_max_ms: u64,
    /// Snapshot every this many log entries (default 2000).
    pub snapshot_every: u64,
    /// How long an entry this node wants in the log (a verified submission,
    /// its vote, an unsealed entry) may wait before it stops following the
    /// leader, ms (default 10000); above `election_max_ms`.
    pub progress_deadline_ms: u64,
}

impl Default for RaftTuning {
    fn default() -> Self {
        Self {
            heartbeat_ms: 100,
            election_min_ms: 300,
            election_max_ms: 600,
            snapshot_every: 2000,
            progress_deadline_ms: 10_000,
        }
    }
}

/// The default of `seal_interval_ms`.
pub const DEFAULT_SEAL_INTERVAL_MS: u64 = 250;
/// The smallest accepted `seal_interval_ms`.
pub const MIN_SEAL_INTERVAL_MS: u64 = 10;

fn default_seal_interval_ms() -> u64 {
    DEFAULT_SEAL_INTERVAL_MS
}

/// The default of `state_checkpoint_every`.
pub const DEFAULT_STATE_CHECKPOINT_EVERY: u64 = 1000;

fn default_state_checkpoint_every() -> u64 {
    DEFAULT_STATE_CHECKPOINT_EVERY
}

/// The file as written; turned into a [`NodeConfig`] by validation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    id: u64,
    listen: String,
    advertise: Option<String>,
    role: Role,
    peers: Vec<Peer>,
    data_dir: PathBuf,
    genesis: PathBuf,
    account_key: PathBuf,
    tls: TlsConfig,
    #[serde(default)]
    raft: RaftTuning,
    #[serde(default = "default_seal_interval_ms")]
    seal_interval_ms: u64,
    #[serde(default = "default_state_checkpoint_every")]
    state_checkpoint_every: u64,
}

/// A validated node configuration. Paths are already resolved against the
/// config file's directory. Holding one means every rule of
/// [`NodeConfig::from_toml_str`] passed; it does not mean the files exist
/// (see [`NodeConfig::check_files`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// Raft node id, >= 1.
    pub id: u64,
    /// gRPC listen address (raft and client API).
    pub listen: SocketAddr,
    /// `host:port` peers use to reach this node; equals this node's `addr` in `peers`.
    pub advertise: String,
    /// This node's role; equals its role in `peers`.
    pub role: Role,
    /// Every node of the cluster, this one included.
    pub peers: Vec<Peer>,
    /// Directory of the node's databases; created by the node if missing.
    pub data_dir: PathBuf,
    /// JSON file of `box_core::typed::Genesis`.
    pub genesis: PathBuf,
    /// The node account key file (see `keyfile`).
    pub account_key: PathBuf,
    /// Mutual-TLS material.
    pub tls: TlsConfig,
    /// Raft timing.
    pub raft: RaftTuning,
    /// How long entries that decide nothing may wait unsealed, ms (>= 10); a
    /// decision is sealed at once (see `crate::sealer`).
    pub seal_interval_ms: u64,
    /// Keep the binary state after every this many blocks (>= 1; default
    /// 1000) for new followers (`Notary.GetState`); the latest two are kept.
    pub state_checkpoint_every: u64,
    /// How the account key file is opened: not from the file (set by
    /// `box-node run --dev/--passphrase-fd`); the default accepts only an
    /// encrypted keystore (see `box_ops::unlock`).
    pub unlock: box_ops::unlock::Unlock,
}

impl NodeConfig {
    /// Reads, parses and validates a config file, including
    /// [`check_files`](Self::check_files). Relative paths in it are resolved
    /// against the file's directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let config = Self::from_toml_str(&text, box_ops::paths::base_of(path))?;
        config.check_files()?;
        Ok(config)
    }

    /// Parses and validates config text; relative paths are resolved against
    /// `base_dir`. Touches no file: see [`check_files`](Self::check_files).
    ///
    /// An even number of voters is accepted (raft works with it) although it
    /// adds no fault tolerance over one voter fewer; see
    /// [`warnings`](Self::warnings).
    pub fn from_toml_str(s: &str, base_dir: &Path) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(s).map_err(|e| ConfigError::Parse(e.to_string()))?;
        Self::validate(raw, base_dir)
    }

    fn validate(raw: RawConfig, base_dir: &Path) -> Result<Self, ConfigError> {
        if raw.id == 0 {
            return Err(invalid("id", "must be 1 or more (raft node ids start at 1)"));
        }
        let listen: SocketAddr = raw.listen.parse().map_err(|_| {
            invalid(
                "listen",
                format!(
                    "{:?} is not an IP address and port (expected e.g. \"127.0.0.1:7001\" or \"[::1]:7001\")",
                    raw.listen
                ),
            )
        })?;
        let advertise = raw.advertise.unwrap_or_else(|| listen.to_string());
        check_host_port(&advertise).map_err(|p| invalid("advertise", p))?;
        if let Some(ip) = host_ip(&advertise)
            && ip.is_unspecified()
        {
            let hint = if raw.listen == advertise {
                "; `listen` is a wildcard address, so set `advertise` to the address peers dial"
            } else {
                ""
            };
            return Err(invalid(
                "advertise",
                format!(
                    "{advertise:?} is a wildcard address nobody can dial (expected this node's reachable host:port){hint}"
                ),
            ));
        }

        let mut ids = BTreeMap::new();
        let mut addrs = BTreeMap::new();
        for (i, peer) in raw.peers.iter().enumerate() {
            if peer.id == 0 {
                return Err(invalid(format!("peers[{i}].id"), "must be 1 or more (raft node ids start at 1)"));
            }
            if let Some(first) = ids.insert(peer.id, i) {
                return Err(invalid(
                    format!("peers[{i}].id"),
                    format!("id {} is already used by peers[{first}]; every node needs its own id", peer.id),
                ));
            }
            check_host_port(&peer.addr).map_err(|p| invalid(format!("peers[{i}].addr"), p))?;
            if let Some(first) = addrs.insert(peer.addr.to_ascii_lowercase(), i) {
                return Err(invalid(
                    format!("peers[{i}].addr"),
                    format!(
                        "{:?} is already the address of peers[{first}]; every node needs its own address",
                        peer.addr
                    ),
                ));
            }
        }
        if !raw.peers.iter().any(|p| p.role == Role::Voter) {
            return Err(invalid("peers", "no peer has role = \"voter\"; a cluster needs at least one voter"));
        }
        let Some(&me) = ids.get(&raw.id) else {
            return Err(invalid(
                "peers",
                format!("this node's id ({}) is not listed; list every node of the cluster, this one included", raw.id),
            ));
        };
        let own = &raw.peers[me];
        if own.role != raw.role {
            return Err(invalid(
                "role",
                format!(
                    "is {:?} but this node's entry peers[{me}] says {:?}; they must agree",
                    raw.role.as_str(),
                    own.role.as_str()
                ),
            ));
        }
        if own.addr != advertise {
            return Err(invalid(
                "advertise",
                format!(
                    "{advertise:?} differs from this node's entry peers[{me}].addr = {:?}; the address this node advertises must be the one its peers list (set `advertise` or fix the peer entry)",
                    own.addr
                ),
            ));
        }

        let r = raw.raft;
        if r.heartbeat_ms == 0 {
            return Err(invalid("raft.heartbeat_ms", "must be 1 or more (milliseconds)"));
        }
        if r.election_min_ms <= r.heartbeat_ms {
            return Err(invalid(
                "raft.election_min_ms",
                format!(
                    "{} must be greater than raft.heartbeat_ms ({}), or followers start elections between heartbeats",
                    r.election_min_ms, r.heartbeat_ms
                ),
            ));
        }
        if r.election_max_ms <= r.election_min_ms {
            return Err(invalid(
                "raft.election_max_ms",
                format!(
                    "{} must be greater than raft.election_min_ms ({}); the spread keeps nodes from starting elections in lockstep",
                    r.election_max_ms, r.election_min_ms
                ),
            ));
        }
        if r.snapshot_every == 0 {
            return Err(invalid("raft.snapshot_every", "must be 1 or more (log entries between snapshots)"));
        }
        if r.progress_deadline_ms <= r.election_max_ms {
            return Err(invalid(
                "raft.progress_deadline_ms",
                format!(
                    "{} must be greater than raft.election_max_ms ({}), or a leader is deposed before it could be elected",
                    r.progress_deadline_ms, r.election_max_ms
                ),
            ));
        }
        if raw.seal_interval_ms < MIN_SEAL_INTERVAL_MS {
            return Err(invalid(
                "seal_interval_ms",
                format!(
                    "{} is too short; expected at least {MIN_SEAL_INTERVAL_MS} (milliseconds)",
                    raw.seal_interval_ms
                ),
            ));
        }
        if raw.state_checkpoint_every == 0 {
            return Err(invalid("state_checkpoint_every", "must be 1 or more (blocks between kept states)"));
        }

        Ok(Self {
            id: raw.id,
            listen,
            advertise,
            role: raw.role,
            peers: raw.peers,
            data_dir: resolve(base_dir, &raw.data_dir),
            genesis: resolve(base_dir, &raw.genesis),
            account_key: resolve(base_dir, &raw.account_key),
            tls: TlsConfig {
                ca: resolve(base_dir, &raw.tls.ca),
                cert: resolve(base_dir, &raw.tls.cert),
                key: resolve(base_dir, &raw.tls.key),
            },
            raft: r,
            seal_interval_ms: raw.seal_interval_ms,
            state_checkpoint_every: raw.state_checkpoint_every,
            unlock: box_ops::unlock::Unlock::default(),
        })
    }

    /// Checks that the genesis, the account key and the TLS files exist and
    /// are files, and that `data_dir`, if it exists, is a directory. Does not
    /// read or check their contents, nor file permissions.
    pub fn check_files(&self) -> Result<(), ConfigError> {
        let files = [
            ("genesis", &self.genesis),
            ("account_key", &self.account_key),
            ("tls.ca", &self.tls.ca),
            ("tls.cert", &self.tls.cert),
            ("tls.key", &self.tls.key),
        ];
        for (field, path) in files {
            let problem = match std::fs::metadata(path) {
                Ok(m) if m.is_file() => continue,
                Ok(_) => "is not a regular file".to_owned(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => "file does not exist".to_owned(),
                Err(e) => format!("cannot be read: {e}"),
            };
            return Err(ConfigError::File { field: field.to_owned(), path: path.clone(), problem });
        }
        if let Ok(m) = std::fs::metadata(&self.data_dir)
            && !m.is_dir()
        {
            return Err(ConfigError::File {
                field: "data_dir".to_owned(),
                path: self.data_dir.clone(),
                problem: "exists but is not a directory".to_owned(),
            });
        }
        Ok(())
    }

    /// This node's own entry in `peers` (validation guarantees there is one).
    pub fn this_peer(&self) -> Option<&Peer> {
        self.peers.iter().find(|p| p.id == self.id)
    }

    /// The voters' ids, ascending.
    pub fn voter_ids(&self) -> BTreeSet<u64> {
        self.peers.iter().filter(|p| p.role == Role::Voter).map(|p| p.id).collect()
    }

    /// Advice that is not an error, for the node to log at startup: an even
    /// number of voters tolerates no more failures than one voter fewer.
    pub fn warnings(&self) -> Vec<String> {
        let voters = self.voter_ids().len();
        let mut out = Vec::new();
        if voters > 0 && voters.is_multiple_of(2) {
            out.push(format!(
                "the cluster has {voters} voters; an even count tolerates no more failures than {} voters (use an odd number)",
                voters - 1
            ));
        }
        out
    }
}

/// Checks `host:port` shape: a non-empty host name or IP (IPv6 in brackets)
/// and a port 1..=65535. Does not resolve the name.
fn check_host_port(s: &str) -> Result<(), String> {
    let shape = || {
        format!(
            "{s:?} is not host:port (expected e.g. \"10.0.0.5:7001\", \"node2.example.internal:7001\" or \"[::1]:7001\")"
        )
    };
    let port = if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest.split_once("]:").ok_or_else(shape)?;
        h.parse::<Ipv6Addr>().map_err(|_| format!("{s:?}: {h:?} in brackets is not an IPv6 address"))?;
        p
    } else {
        let (h, p) = s.rsplit_once(':').ok_or_else(shape)?;
        if h.contains(':') {
            return Err(format!("{s:?}: an IPv6 address needs brackets, e.g. \"[::1]:7001\""));
        }
        let name_ok = h.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        if h.is_empty() || !name_ok {
            return Err(shape());
        }
        p
    };
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("{s:?}: port {port:?} is not a port number between 1 and 65535")),
        Ok(_) => Ok(()),
    }
}

/// The host part of a checked `host:port` as an IP, if it is one.
fn host_ip(s: &str) -> Option<IpAddr> {
    let (host, _) = s.rsplit_once(':')?;
    host.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const BASE: &str = "/etc/box";

    fn parse(s: &str) -> Result<NodeConfig, ConfigError> {
        NodeConfig::from_toml_str(s, Path::new(BASE))
    }

    /// EXAMPLE with one `key = value` line (first match of `key =` at the
    /// start of a line) replaced, or with `extra` appended.
    fn example_with(key: &str, line: &str) -> String {
        let mut done = false;
        let out: Vec<String> = EXAMPLE
            .lines()
            .map(|l| {
                if !done && l.starts_with(&format!("{key} =")) {
                    done = true;
                    line.to_owned()
                } else {
                    l.to_owned()
                }
            })
            .collect();
        assert!(done, "no line for {key}");
        out.join("\n")
    }

    fn assert_field(result: Result<NodeConfig, ConfigError>, field: &str) -> String {
        let err = result.expect_err("config should be refused");
        let msg = err.to_string();
        assert_eq!(err.field(), Some(field), "{msg}");
        assert!(msg.contains(&format!("\"{field}\"")), "field {field} not named in: {msg}");
        msg
    }

    /// A minimal config: one voter, defaults for everything optional.
    fn minimal(extra_top: &str, peers: &str) -> String {
        format!(
            "id = 1\nlisten = \"127.0.0.1:7001\"\nrole = \"voter\"\ndata_dir = \"d\"\ngenesis = \"g.json\"\naccount_key = \"k.json\"\n{extra_top}\n[tls]\nca = \"ca.pem\"\ncert = \"n.pem\"\nkey = \"n.key\"\n{peers}"
        )
    }

    const ONE_PEER: &str = "[[peers]]\nid = 1\naddr = \"127.0.0.1:7001\"\nrole = \"voter\"\n";

    #[test]
    fn example_parses_with_every_field() {
        let c = parse(EXAMPLE).unwrap();
        assert_eq!(c.id, 1);
        assert_eq!(c.listen, "127.0.0.1:7001".parse().unwrap());
        assert_eq!(c.advertise, "127.0.0.1:7001");
        assert_eq!(c.role, Role::Voter);
        assert_eq!(c.peers.len(), 4);
        assert_eq!(c.peers[3], Peer { id: 4, addr: "127.0.0.1:7004".into(), role: Role::Learner });
        assert_eq!(c.data_dir, Path::new("/etc/box/data/node1"));
        assert_eq!(c.genesis, Path::new("/etc/box/genesis.json"));
        assert_eq!(c.account_key, Path::new("/etc/box/keys/node1.key.json"));
        assert_eq!(c.tls.ca, Path::new("/etc/box/tls/ca.pem"));
        assert_eq!(c.tls.cert, Path::new("/etc/box/tls/node1.pem"));
        assert_eq!(c.tls.key, Path::new("/etc/box/tls/node1.key"));
        assert_eq!(c.raft, RaftTuning::default());
        assert_eq!(c.seal_interval_ms, 250);
        assert_eq!(c.voter_ids(), BTreeSet::from([1, 2, 3]));
        assert_eq!(c.this_peer().unwrap().id, 1);
        assert!(c.warnings().is_empty());
        // Every field of NodeConfig is shown (and so explained) in EXAMPLE.
        for key in [
            "id =",
            "listen =",
            "advertise =",
            "role =",
            "[[peers]]",
            "addr =",
            "data_dir =",
            "genesis =",
            "account_key =",
            "[tls]",
            "ca =",
            "cert =",
            "key =",
            "[raft]",
            "heartbeat_ms =",
            "election_min_ms =",
            "election_max_ms =",
            "snapshot_every =",
            "progress_deadline_ms =",
            "seal_interval_ms =",
            "state_checkpoint_every =",
        ] {
            assert!(EXAMPLE.contains(key), "EXAMPLE does not show {key}");
        }
    }

    #[test]
    fn defaults_and_absolute_paths() {
        let c = parse(&minimal("", ONE_PEER)).unwrap();
        assert_eq!(c.advertise, "127.0.0.1:7001");
        assert_eq!(
            c.raft,
            RaftTuning {
                heartbeat_ms: 100,
                election_min_ms: 300,
                election_max_ms: 600,
                snapshot_every: 2000,
                progress_deadline_ms: 10_000
            }
        );
        assert_eq!(c.seal_interval_ms, 250);
        assert_eq!(c.state_checkpoint_every, DEFAULT_STATE_CHECKPOINT_EVERY);
        assert_eq!(c.data_dir, Path::new("/etc/box/d"));
        let abs = minimal("", ONE_PEER).replace("genesis = \"g.json\"", "genesis = \"/srv/g.json\"");
        assert_eq!(parse(&abs).unwrap().genesis, Path::new("/srv/g.json"));
        // A partial [raft] table keeps the other defaults.
        let partial = format!("{}\n[raft]\nheartbeat_ms = 50\n", minimal("", ONE_PEER));
        assert_eq!(parse(&partial).unwrap().raft.heartbeat_ms, 50);
        assert_eq!(parse(&partial).unwrap().raft.election_max_ms, 600);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let top = minimal("colour = \"blue\"", ONE_PEER);
        let msg = parse(&top).unwrap_err().to_string();
        assert!(msg.contains("colour"), "{msg}");
        let in_raft = format!("{}\n[raft]\nheartbeat = 50\n", minimal("", ONE_PEER));
        assert!(parse(&in_raft).unwrap_err().to_string().contains("heartbeat"));
        let in_peer = minimal("", &format!("{ONE_PEER}port = 1\n"));
        assert!(parse(&in_peer).unwrap_err().to_string().contains("port"));
        let bad_role = example_with("role", "role = \"leader\"");
        assert!(matches!(parse(&bad_role), Err(ConfigError::Parse(_))));
    }

    #[test]
    fn id_must_be_positive() {
        assert_field(parse(&example_with("id", "id = 0")), "id");
        let peer0 = EXAMPLE.replacen("id = 4", "id = 0", 1);
        assert_field(parse(&peer0), "peers[3].id");
    }

    #[test]
    fn listen_and_advertise_addresses() {
        assert_field(parse(&example_with("listen", "listen = \"localhost:7001\"")), "listen");
        assert_field(parse(&example_with("advertise", "advertise = \"127.0.0.1\"")), "advertise");
        let wildcard =
            example_with("listen", "listen = \"0.0.0.0:7001\"").replace("advertise = \"127.0.0.1:7001\"\n", "");
        let msg = assert_field(parse(&wildcard), "advertise");
        assert!(msg.contains("wildcard"), "{msg}");
        // listen on all interfaces, advertise the reachable address: fine.
        let ok = example_with("listen", "listen = \"0.0.0.0:7001\"");
        assert_eq!(parse(&ok).unwrap().listen.port(), 7001);
        // advertise must equal this node's own peers entry.
        let msg = assert_field(parse(&example_with("advertise", "advertise = \"node1.internal:7001\"")), "advertise");
        assert!(msg.contains("peers[0].addr"), "{msg}");
    }

    #[test]
    fn peer_addr_must_be_host_port() {
        for bad in
            ["127.0.0.1", "127.0.0.1:", ":7002", "127.0.0.1:0", "127.0.0.1:70000", "::1:7002", "[zz]:7002", "a b:1"]
        {
            let text = EXAMPLE.replacen("addr = \"127.0.0.1:7003\"", &format!("addr = \"{bad}\""), 1);
            let msg = assert_field(parse(&text), "peers[2].addr");
            assert!(msg.contains(bad), "{msg}");
        }
        let v6 = EXAMPLE.replacen("addr = \"127.0.0.1:7003\"", "addr = \"[::1]:7003\"", 1);
        assert_eq!(parse(&v6).unwrap().peers[2].addr, "[::1]:7003");
        let text = EXAMPLE.replacen("addr = \"127.0.0.1:7003\"", "addr = \"127.0.0.1\"", 1);
        assert_eq!(
            parse(&text).unwrap_err().to_string().lines().next().unwrap(),
            "config field \"peers[2].addr\": \"127.0.0.1\" is not host:port (expected e.g. \"10.0.0.5:7001\", \"node2.example.internal:7001\" or \"[::1]:7001\")"
        );
    }

    #[test]
    fn peer_ids_and_addrs_are_unique() {
        let dup_id = EXAMPLE.replacen("id = 3", "id = 2", 1);
        let msg = assert_field(parse(&dup_id), "peers[2].id");
        assert!(msg.contains("peers[1]"), "{msg}");
        let dup_addr = EXAMPLE.replacen("addr = \"127.0.0.1:7003\"", "addr = \"127.0.0.1:7002\"", 1);
        let msg = assert_field(parse(&dup_addr), "peers[2].addr");
        assert!(msg.contains("peers[1]"), "{msg}");
    }

    #[test]
    fn this_node_listed_once_with_its_role() {
        // Not listed at all.
        let missing = example_with("id", "id = 9");
        let msg = assert_field(parse(&missing), "peers");
        assert!(msg.contains('9'), "{msg}");
        // Listed twice is a duplicate id.
        let twice = EXAMPLE.replacen("id = 2", "id = 1", 1);
        assert_field(parse(&twice), "peers[1].id");
        // Role disagrees.
        let role = example_with("role", "role = \"learner\"");
        let msg = assert_field(parse(&role), "role");
        assert!(msg.contains("peers[0]"), "{msg}");
    }

    #[test]
    fn at_least_one_voter() {
        let learner_only =
            minimal("", &ONE_PEER.replace("voter", "learner")).replace("role = \"voter\"", "role = \"learner\"");
        assert_field(parse(&learner_only), "peers");
        let none = minimal("peers = []", "");
        assert_field(parse(&none), "peers");
    }

    #[test]
    fn even_voters_only_warn() {
        let four = EXAMPLE.replace("role = \"learner\"", "role = \"voter\"");
        let c = parse(&four).unwrap();
        assert_eq!(c.voter_ids().len(), 4);
        assert_eq!(c.warnings().len(), 1);
    }

    #[test]
    fn raft_timing_rules() {
        assert_field(parse(&EXAMPLE.replace("heartbeat_ms = 100", "heartbeat_ms = 0")), "raft.heartbeat_ms");
        assert_field(parse(&EXAMPLE.replace("election_min_ms = 300", "election_min_ms = 100")), "raft.election_min_ms");
        let msg = assert_field(
            parse(&EXAMPLE.replace("election_max_ms = 600", "election_max_ms = 300")),
            "raft.election_max_ms",
        );
        assert!(msg.contains("300"), "{msg}");
        assert_field(parse(&EXAMPLE.replace("snapshot_every = 2000", "snapshot_every = 0")), "raft.snapshot_every");
        let msg = assert_field(
            parse(&EXAMPLE.replace("progress_deadline_ms = 10000", "progress_deadline_ms = 600")),
            "raft.progress_deadline_ms",
        );
        assert!(msg.contains("election_max_ms"), "{msg}");
    }

    #[test]
    fn seal_interval_minimum() {
        assert_field(parse(&example_with("seal_interval_ms", "seal_interval_ms = 9")), "seal_interval_ms");
        assert_eq!(parse(&example_with("seal_interval_ms", "seal_interval_ms = 10")).unwrap().seal_interval_ms, 10);
        assert_field(
            parse(&example_with("state_checkpoint_every", "state_checkpoint_every = 0")),
            "state_checkpoint_every",
        );
        assert_eq!(
            parse(&example_with("state_checkpoint_every", "state_checkpoint_every = 3"))
                .unwrap()
                .state_checkpoint_every,
            3
        );
    }

    #[test]
    fn files_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        let c = NodeConfig::from_toml_str(EXAMPLE, base).unwrap();
        let files = [
            ("genesis", &c.genesis),
            ("account_key", &c.account_key),
            ("tls.ca", &c.tls.ca),
            ("tls.cert", &c.tls.cert),
            ("tls.key", &c.tls.key),
        ];
        // Create them one by one; each time the next missing one is named.
        for (field, path) in files {
            let err = c.check_files().unwrap_err();
            let msg = err.to_string();
            assert_eq!(err.field(), Some(field), "{msg}");
            assert!(msg.contains(&format!("\"{field}\"")) && msg.contains(&path.display().to_string()), "{msg}");
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"x").unwrap();
        }
        c.check_files().unwrap();
        // data_dir may be missing (the node creates it) but not a file.
        std::fs::create_dir_all(c.data_dir.parent().unwrap()).unwrap();
        std::fs::write(&c.data_dir, b"x").unwrap();
        assert_eq!(c.check_files().unwrap_err().field(), Some("data_dir"));
    }

    #[test]
    fn load_resolves_against_the_config_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(&path, EXAMPLE).unwrap();
        // Files missing: load refuses, naming the first.
        assert_eq!(NodeConfig::load(&path).unwrap_err().field(), Some("genesis"));
        for f in ["genesis.json", "keys/node1.key.json", "tls/ca.pem", "tls/node1.pem", "tls/node1.key"] {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"x").unwrap();
        }
        let c = NodeConfig::load(&path).unwrap();
        assert_eq!(c.genesis, dir.path().join("genesis.json"));
        let missing = NodeConfig::load(&dir.path().join("nope.toml")).unwrap_err();
        assert!(matches!(missing, ConfigError::Read { .. }));
        assert!(missing.to_string().contains("nope.toml"));
    }
}
