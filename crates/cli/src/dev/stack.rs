//! The local deployment on disk: its directory, `dev.json`, the keys and
//! clients of the people and services in it. Creating it is `create.rs`,
//! starting its processes and the key ceremony `start.rs`, the commands
//! `up.rs`.

use super::eth::DevChain;
use super::procs::{Started, alive};
use super::{DevError, Programs};
use box_api::Client;
use box_core::Address;
use box_core::crypto::SecretKey;
use box_core::typed::{Domain, Genesis};
use box_ops::keyfile;
use rand_core::{OsRng, TryRngCore};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The boxctl profile `dev up` writes (gateway, CA, genesis, every person's keystore).
pub const PROFILE: &str = "boxctl.toml";

/// Chain id of the development public chain (anvil's default).
pub const CHAIN_ID: u64 = 31337;
/// The key holders.
pub const KEY_HOLDERS: [&str; 3] = ["keyholder-1", "keyholder-2", "keyholder-3"];
/// People whose keys `dev up` makes (the employee's key is issued in the demo).
pub const PEOPLE: [&str; 5] = ["admin", "manager-1", "manager-2", "finance-1", "finance-2"];
/// Token the development chain starts with (whole units; 18 decimals).
pub(super) const TOKEN_SUPPLY: u64 = 1_000_000;

pub(super) const WORDS: [&str; 64] = [
    "amber", "basil", "cedar", "delta", "ember", "fjord", "garnet", "harbor", "indigo", "juniper", "kelp", "lantern",
    "meadow", "nectar", "orchid", "pepper", "quartz", "raven", "saffron", "tundra", "umber", "velvet", "willow",
    "yarrow", "zephyr", "anchor", "beacon", "cobalt", "dune", "falcon", "glacier", "heron", "ivory", "jasper",
    "kestrel", "lagoon", "marble", "nutmeg", "onyx", "pebble", "quill", "ridge", "sable", "thistle", "upland", "vista",
    "walnut", "xenon", "yonder", "zinnia", "alder", "bramble", "canyon", "drift", "ferro", "grove", "hazel", "inlet",
    "jade", "kiln", "lumen", "mist", "north", "opal",
];

/// What `dev.json` records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DevState {
    /// anvil's port.
    pub anvil_port: u16,
    /// The nodes' gRPC ports.
    pub node_ports: Vec<u16>,
    /// The gateway's HTTPS port.
    pub gateway_port: u16,
    /// The test ERC-20.
    pub token: Address,
    /// The hot wallet, once the genesis ceremony is done.
    pub wallet: Option<Address>,
    /// Whether the wallet was funded.
    #[serde(default)]
    pub funded: bool,
    /// Running processes.
    #[serde(default)]
    pub pids: Pids,
    /// Nodes removed by `dev node remove` (ids): never started again.
    #[serde(default)]
    pub removed: Vec<u64>,
}

/// Pids of the running processes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Pids {
    /// anvil.
    pub anvil: Option<u32>,
    /// box-node 1, 2, … (index = id - 1; `dev node add` appends).
    pub nodes: Vec<Option<u32>>,
    /// box-signer.
    pub signer: Option<u32>,
    /// box-gateway.
    pub gateway: Option<u32>,
}

/// A local deployment on disk.
#[derive(Debug)]
pub struct Stack {
    /// Its directory (absolute).
    pub dir: PathBuf,
    /// What dev.json says.
    pub state: DevState,
    /// The genesis.
    pub genesis: Genesis,
    /// Where the programs to start are.
    pub programs: Programs,
    /// The processes this run of boxctl started (stopped again if a step fails).
    pub started: Started,
    /// Where the signer's log stood (bytes) when this run started the signer:
    /// only lines after it are this boot's (0 for a signer already running).
    pub signer_log_from: usize,
}

pub(super) fn io<E: std::fmt::Display>(what: impl Into<String>) -> impl FnOnce(E) -> DevError {
    let what = what.into();
    move |e| DevError::new(format!("{what}: {e}"))
}

pub(super) fn random32() -> Result<[u8; 32], DevError> {
    let mut b = [0u8; 32];
    OsRng.try_fill_bytes(&mut b).map_err(io("no randomness from the OS"))?;
    Ok(b)
}

pub(super) fn write(path: &Path, text: &str) -> Result<(), DevError> {
    std::fs::write(path, text).map_err(io(format!("cannot write {}", path.display())))
}

pub(super) fn write_secret(path: &Path, text: &str) -> Result<(), DevError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io(format!("cannot create {}", path.display())))?;
    f.write_all(text.as_bytes()).map_err(io(format!("cannot write {}", path.display())))
}

impl Stack {
    /// Opens the deployment in `dir` (absolute), if there is one.
    pub fn open(dir: &Path) -> Result<Option<Self>, DevError> {
        let path = dir.join("dev.json");
        if !path.exists() {
            return Ok(None);
        }
        let state: DevState = serde_json::from_slice(&std::fs::read(&path).map_err(io("cannot read dev.json"))?)
            .map_err(io(format!("{} is not a deployment record", path.display())))?;
        let genesis: Genesis =
            serde_json::from_slice(&std::fs::read(dir.join("genesis.json")).map_err(io("cannot read genesis.json"))?)
                .map_err(io("genesis.json"))?;
        Ok(Some(Self {
            dir: dir.to_owned(),
            state,
            genesis,
            programs: Programs::default(),
            started: Started::default(),
            signer_log_from: 0,
        }))
    }

    pub(super) fn save(&self) -> Result<(), DevError> {
        let text = serde_json::to_string_pretty(&self.state).map_err(io("dev.json"))?;
        write(&self.dir.join("dev.json"), &text)
    }

    /// The deployment's EIP-712 domain.
    pub fn domain(&self) -> Domain {
        self.genesis.domain()
    }

    /// The key of `name`: a service (`node-N`, `signer`) or a person of the profile.
    pub fn key(&self, name: &str) -> Result<SecretKey, DevError> {
        let service = self.dir.join("keys").join(format!("{name}.json"));
        if service.exists() {
            return keyfile::load(&service).map_err(io(format!("key {name}")));
        }
        let profile = self.profile()?;
        crate::profile::unlock(&profile, &crate::profile::IdentityChoice { name: Some(name.into()), keystore: None })
            .map_err(io(format!("identity {name}")))
    }

    /// The boxctl profile of this deployment.
    pub fn profile(&self) -> Result<crate::Profile, DevError> {
        crate::Profile::load(&self.dir.join(PROFILE)).map_err(io("the boxctl profile"))
    }

    /// A boxctl session acting as `name`.
    pub fn session(&self, name: &str) -> Result<crate::Session, DevError> {
        crate::Session::new(self.profile()?, self.key(name)?).map_err(io(format!("session as {name}")))
    }

    /// Key holder `i`'s phrase (stored for this development deployment only).
    pub fn phrase(&self, i: usize) -> Result<String, DevError> {
        std::fs::read_to_string(self.dir.join("keys").join(format!("{}.phrase", KEY_HOLDERS[i])))
            .map(|s| s.trim().to_owned())
            .map_err(io("a key holder's phrase"))
    }

    /// The gateway's URL.
    pub fn gateway_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.state.gateway_port)
    }

    /// anvil's URL.
    pub fn anvil_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.state.anvil_port)
    }

    /// A gateway client signing as `name`.
    pub fn client(&self, name: &str) -> Result<Client, DevError> {
        self.client_with(self.key(name)?)
    }

    /// A gateway client signing with `key`.
    pub fn client_with(&self, key: SecretKey) -> Result<Client, DevError> {
        let ca = std::fs::read_to_string(self.dir.join("tls/ca.pem")).map_err(io("the CA certificate"))?;
        Client::new(&self.gateway_url(), &ca, key, self.domain()).map_err(io("gateway client"))
    }

    /// The public chain, as anvil's development account.
    pub async fn chain(&self) -> Result<DevChain, DevError> {
        DevChain::connect(&self.anvil_url()).await
    }

    /// The log file of process `name` (`anvil`, `node-1`, `gateway`, `signer`).
    pub fn log(&self, name: &str) -> PathBuf {
        self.dir.join("logs").join(format!("{name}.log"))
    }

    /// Whether `pid` (from dev.json) is this deployment's live process `sub`:
    /// alive, and running in `dir/sub`. A pid from before a reboot may now
    /// belong to anything else, which must be neither trusted nor stopped.
    pub fn runs_here(&self, pid: u32, sub: &str) -> bool {
        alive(pid)
            && std::fs::read_link(format!("/proc/{pid}/cwd"))
                .is_ok_and(|cwd| std::fs::canonicalize(self.dir.join(sub)).is_ok_and(|want| want == cwd))
    }

    /// Stops the processes this run started and forgets them in dev.json.
    pub async fn stop_started(&mut self) -> Vec<u32> {
        let stopped = self.started.stop_all().await;
        let pids = &mut self.state.pids;
        for slot in [&mut pids.anvil, &mut pids.signer, &mut pids.gateway].into_iter().chain(pids.nodes.iter_mut()) {
            if slot.is_some_and(|p| stopped.contains(&p)) {
                *slot = None;
            }
        }
        let _ = self.save();
        stopped
    }
}
