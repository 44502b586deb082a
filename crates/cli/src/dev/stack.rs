//! The local deployment: files, processes, and the key ceremony that brings
//! the signer up.

use super::eth::{DevChain, anvil_binary};
use super::procs::{alive, free_port, sibling, spawn, stop, wait_for_line};
use super::{DevArgs, DevError};
use box_chain::network::{Channels, TlsMaterial};
use box_chain::pb;
use box_chain::role::CertRole;
use box_chain::{certs, keyfile};
use box_core::ceremony::{Purpose, SignerAnnounce, SignerState, answer};
use box_core::crypto::SecretKey;
use box_core::encoding::Canonical;
use box_core::typed::{Domain, Genesis, GenesisAsset, GenesisNode};
use box_core::{Address, B256, U256};
use box_gateway::client::Client;
use rand_core::{OsRng, RngCore, TryRngCore, UnwrapErr};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The boxctl profile `dev up` writes (gateway, CA, genesis, every person's keystore).
pub const PROFILE: &str = "boxctl.toml";

/// Chain id of the development public chain (anvil's default).
pub const CHAIN_ID: u64 = 31337;
/// The key holders.
pub const KEY_HOLDERS: [&str; 3] = ["keyholder-1", "keyholder-2", "keyholder-3"];
/// People whose keys `dev up` makes (the employee's key is issued in the demo).
pub const PEOPLE: [&str; 5] = ["admin", "manager-1", "manager-2", "finance-1", "finance-2"];
/// Token the development chain starts with (whole units; 18 decimals).
const TOKEN_SUPPLY: u64 = 1_000_000;

const WORDS: [&str; 64] = [
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
}

/// Pids of the running processes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Pids {
    /// anvil.
    pub anvil: Option<u32>,
    /// box-node 1..3.
    pub nodes: Vec<Option<u32>>,
    /// box-signer.
    pub signer: Option<u32>,
    /// box-gateway.
    pub gateway: Option<u32>,
}

/// A local deployment on disk.
#[derive(Debug)]
pub struct Stack {
    /// Its directory.
    pub dir: PathBuf,
    /// What dev.json says.
    pub state: DevState,
    /// The genesis.
    pub genesis: Genesis,
}

fn io<E: std::fmt::Display>(what: impl Into<String>) -> impl FnOnce(E) -> DevError {
    let what = what.into();
    move |e| DevError::new(format!("{what}: {e}"))
}

fn random32() -> Result<[u8; 32], DevError> {
    let mut b = [0u8; 32];
    OsRng.try_fill_bytes(&mut b).map_err(io("no randomness from the OS"))?;
    Ok(b)
}

fn write(path: &Path, text: &str) -> Result<(), DevError> {
    std::fs::write(path, text).map_err(io(format!("cannot write {}", path.display())))
}

fn write_secret(path: &Path, text: &str) -> Result<(), DevError> {
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
    /// Opens the deployment in `dir`, if there is one.
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
        Ok(Some(Self { dir: dir.to_owned(), state, genesis }))
    }

    fn save(&self) -> Result<(), DevError> {
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

    fn log(&self, name: &str) -> PathBuf {
        self.dir.join("logs").join(format!("{name}.log"))
    }
}

/// Writes a fresh deployment into `dir` (anvil runs, the token is deployed).
async fn create(dir: &Path) -> Result<Stack, DevError> {
    for sub in ["tls", "keys", "logs", "anvil", "signer", "gateway", "node-1", "node-2", "node-3"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(io(format!("cannot create {}", dir.join(sub).display())))?;
    }
    let state = DevState {
        anvil_port: free_port()?,
        node_ports: vec![free_port()?, free_port()?, free_port()?],
        gateway_port: free_port()?,
        token: Address::ZERO,
        wallet: None,
        funded: false,
        pids: Pids::default(),
    };
    // The public chain first: the token's address goes into the genesis.
    let mut stack = Stack { dir: dir.to_owned(), state, genesis: placeholder_genesis() };
    start_anvil(&mut stack)?;
    let chain = stack.chain().await?;
    stack.state.token = chain.deploy_token(U256::from(TOKEN_SUPPLY) * U256::from(10u64).pow(U256::from(18u64))).await?;

    let tls = dir.join("tls");
    certs::init_ca(&tls, "BOX development CA").map_err(io("development CA"))?;
    let hosts = ["127.0.0.1".to_owned(), "localhost".to_owned()];
    // Each certificate names its role: the nodes serve each only what it needs.
    let roles = [
        ("node-1", CertRole::Node(1)),
        ("node-2", CertRole::Node(2)),
        ("node-3", CertRole::Node(3)),
        ("signer", CertRole::Signer),
        ("gateway", CertRole::Gateway),
        ("gateway-client", CertRole::Gateway),
    ];
    for (name, role) in roles {
        certs::issue(&tls, &tls, name, role, &hosts).map_err(io(format!("certificate for {name}")))?;
    }
    let keys = dir.join("keys");
    for name in ["node-1", "node-2", "node-3", "signer"] {
        keyfile::generate(&keys.join(format!("{name}.json")), random32()?).map_err(io(format!("key {name}")))?;
    }
    // People act through boxctl: their keys are keystore v3 files in the
    // profile (with password files: a development deployment only).
    let mut identities = std::collections::BTreeMap::new();
    let mut holders = Vec::new();
    for name in KEY_HOLDERS.iter().chain(PEOPLE.iter()) {
        let key = SecretKey::from_bytes(&random32()?).map_err(io("a fresh key"))?;
        if KEY_HOLDERS.contains(name) {
            holders.push(key.address());
        }
        let id = crate::profile::write_dev_identity(&dir.join("identities"), name, &key)
            .map_err(io(format!("identity {name}")))?;
        identities.insert((*name).to_owned(), id);
    }
    let mut rng = UnwrapErr(OsRng);
    for holder in KEY_HOLDERS {
        let phrase: Vec<&str> = (0..6).map(|_| WORDS[(rng.next_u32() % 64) as usize]).collect();
        write_secret(&keys.join(format!("{holder}.phrase")), &phrase.join(" "))?;
    }
    let load = |n: &str| keyfile::load(&keys.join(format!("{n}.json"))).map_err(io(format!("key {n}")));
    let genesis = Genesis {
        deploymentId: B256::from(random32()?),
        chainId: CHAIN_ID,
        keyHolders: holders,
        nodes: (0..3)
            .map(|i| {
                Ok(GenesisNode {
                    nodeId: i as u64 + 1,
                    endpoint: format!("127.0.0.1:{}", stack.state.node_ports[i]),
                    account: load(&format!("node-{}", i + 1))?.address(),
                })
            })
            .collect::<Result<_, DevError>>()?,
        signer: load("signer")?.address(),
        assets: vec![GenesisAsset { token: stack.state.token, symbol: "BOXT".into(), decimals: 18 }],
        time: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
    };
    write(&dir.join("genesis.json"), &serde_json::to_string_pretty(&genesis).map_err(io("genesis"))?)?;
    stack.genesis = genesis;
    let profile = crate::profile::ProfileFile {
        gateway: stack.gateway_url(),
        ca: PathBuf::from("tls/ca.pem"),
        genesis: PathBuf::from("genesis.json"),
        default_identity: Some("admin".into()),
        identities,
    };
    profile.save(&dir.join(PROFILE)).map_err(io("the boxctl profile"))?;
    write_configs(&stack)?;
    stack.save()?;
    Ok(stack)
}

fn placeholder_genesis() -> Genesis {
    Genesis {
        deploymentId: B256::ZERO,
        chainId: CHAIN_ID,
        keyHolders: vec![],
        nodes: vec![],
        signer: Address::ZERO,
        assets: vec![],
        time: 0,
    }
}

fn write_configs(s: &Stack) -> Result<(), DevError> {
    let peers: String = (0..3)
        .map(|i| {
            format!("[[peers]]\nid = {}\naddr = \"127.0.0.1:{}\"\nrole = \"voter\"\n\n", i + 1, s.state.node_ports[i])
        })
        .collect();
    for i in 0..3 {
        let id = i + 1;
        let text = format!(
            "# box-node {id} of the development deployment (boxctl dev up).\nid = {id}\nlisten = \"127.0.0.1:{port}\"\nrole = \"voter\"\n\
             data_dir = \"data\"\ngenesis = \"../genesis.json\"\naccount_key = \"../keys/node-{id}.json\"\nseal_interval_ms = 100\n\n\
             [tls]\nca = \"../tls/ca.pem\"\ncert = \"../tls/node-{id}.pem\"\nkey = \"../tls/node-{id}.key\"\n\n{peers}",
            port = s.state.node_ports[i],
        );
        write(&s.dir.join(format!("node-{id}/node.toml")), &text)?;
    }
    let nodes: Vec<String> = s.state.node_ports.iter().map(|p| format!("\"127.0.0.1:{p}\"")).collect();
    let signer = format!(
        "# box-signer of the development deployment (boxctl dev up).\ndata_dir = \"data\"\ngenesis = \"../genesis.json\"\n\
         identity_key = \"../keys/signer.json\"\nnodes = [{}]\nlock_after_failures = 3\n\n\
         [tls]\nca = \"../tls/ca.pem\"\ncert = \"../tls/signer.pem\"\nkey = \"../tls/signer.key\"\n\n\
         [ethereum]\nrpc = \"{}\"\nchain_id = {CHAIN_ID}\nconfirmations = 1\npoll_ms = 200\nreplace_after_secs = 30\n",
        nodes.join(", "),
        s.anvil_url(),
    );
    write(&s.dir.join("signer/signer.toml"), &signer)?;
    let admin = s.key("admin")?.address();
    let gateway = format!(
        "# box-gateway of the development deployment (boxctl dev up).\nlisten = \"127.0.0.1:{}\"\ndata_dir = \"data\"\n\
         genesis = \"../genesis.json\"\nadmins = [\"{admin}\"]\neth_rpc = \"{}\"\n\n\
         [tls]\ncert = \"../tls/gateway.pem\"\nkey = \"../tls/gateway.key\"\n\n\
         [chain]\nca = \"../tls/ca.pem\"\ncert = \"../tls/gateway-client.pem\"\nkey = \"../tls/gateway-client.key\"\n",
        s.state.gateway_port,
        s.anvil_url(),
    );
    write(&s.dir.join("gateway/gateway.toml"), &gateway)
}

fn start_anvil(s: &mut Stack) -> Result<(), DevError> {
    if s.state.pids.anvil.is_some_and(alive) {
        return Ok(());
    }
    let bin = anvil_binary()?;
    let port = s.state.anvil_port.to_string();
    let state = s.dir.join("anvil/state.json");
    let state = state.to_string_lossy().into_owned();
    let args =
        ["--host", "127.0.0.1", "--port", &port, "--chain-id", "31337", "--state", &state, "--state-interval", "1"];
    s.state.pids.anvil = Some(spawn(&bin, &args, &s.dir.join("anvil"), &s.log("anvil"), &[])?);
    Ok(())
}

/// Starts whatever is not running.
async fn start(s: &mut Stack) -> Result<(), DevError> {
    start_anvil(s)?;
    s.chain().await?;
    let node = sibling("box-node")?;
    s.state.pids.nodes.resize(3, None);
    for i in 0..3 {
        if !s.state.pids.nodes[i].is_some_and(alive) {
            let dir = s.dir.join(format!("node-{}", i + 1));
            let log = s.log(&format!("node-{}", i + 1));
            s.state.pids.nodes[i] = Some(spawn(&node, &["run", "--config", "node.toml"], &dir, &log, &[])?);
        }
    }
    s.save()?;
    wait_leader(s).await?;
    if !s.state.pids.gateway.is_some_and(alive) {
        let bin = sibling("box-gateway")?;
        let dir = s.dir.join("gateway");
        s.state.pids.gateway = Some(spawn(&bin, &["run", "--config", "gateway.toml"], &dir, &s.log("gateway"), &[])?);
        s.save()?;
    }
    let admin = s.client("admin")?;
    let mut ready = false;
    for _ in 0..300 {
        if admin.deployment().await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !ready {
        return Err(DevError::new(format!("the gateway did not come up; see {}", s.log("gateway").display())));
    }
    if !s.state.pids.signer.is_some_and(alive) {
        let bin = sibling("box-signer")?;
        let dir = s.dir.join("signer");
        s.state.pids.signer = Some(spawn(&bin, &["run", "--config", "signer.toml"], &dir, &s.log("signer"), &[])?);
        s.save()?;
    }
    Ok(())
}

async fn wait_leader(s: &Stack) -> Result<(), DevError> {
    let tls = TlsMaterial::load(
        &s.dir.join("tls/ca.pem"),
        &s.dir.join("tls/gateway-client.pem"),
        &s.dir.join("tls/gateway-client.key"),
    )
    .map_err(DevError::new)?;
    let channels = Channels::new(tls.client());
    for _ in 0..600 {
        for port in &s.state.node_ports {
            if let Ok(ch) = channels.get(&format!("127.0.0.1:{port}")) {
                let mut c = pb::notary_client::NotaryClient::new(ch);
                if let Ok(info) = c.cluster(pb::ClusterQuery {}).await
                    && info.into_inner().leader != 0
                {
                    return Ok(());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(DevError::new(format!("the chain elected no leader; see {}", s.dir.join("logs").display())))
}

/// The signer's latest announcement, through the gateway, its signature
/// checked against the genesis signer.
async fn announcement(s: &Stack) -> Result<Option<SignerAnnounce>, DevError> {
    match s.client("admin")?.signer_announce(s.genesis.signer).await {
        Ok(a) => Ok(Some(a)),
        Err(e) if e.code() == Some("signer_not_announced") => Ok(None),
        Err(e) if e.code().is_some() => Err(DevError::new(format!("signer status: {e}"))),
        Err(_) => Ok(None), // the gateway is still starting
    }
}

async fn wait_signer(s: &Stack, what: &str, ok: impl Fn(&SignerAnnounce) -> bool) -> Result<SignerAnnounce, DevError> {
    for _ in 0..1200 {
        if let Some(a) = announcement(s).await?
            && ok(&a)
        {
            return Ok(a);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(DevError::new(format!("the signer did not reach \"{what}\"; see {}", s.log("signer").display())))
}

/// Key holder `i` sends `payload` for `purpose` through the gateway.
async fn send(s: &Stack, i: usize, a: &SignerAnnounce, purpose: Purpose, payload: &[u8]) -> Result<(), DevError> {
    let key = s.key(KEY_HOLDERS[i])?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let msg = answer(&s.domain(), &key, a, purpose, i as u8, KEY_HOLDERS[i], payload, now, &mut UnwrapErr(OsRng))
        .map_err(io("sealing a ceremony message"))?;
    let entry = box_core::notary::Entry::Ceremony(msg).encode();
    s.client_with(key)?.relay_ceremony(&entry).await.map_err(io("relaying a ceremony message"))?;
    Ok(())
}

/// Brings the signer to Unsealed: the genesis ceremony the first time, an unseal after.
async fn ceremony(s: &mut Stack, quiet: bool) -> Result<Address, DevError> {
    let log = s.log("signer");
    // The signer announces each boot; wait for this boot's announcement.
    let a = wait_signer(s, "started", |a| {
        let state = SignerState::from_u8(a.state);
        state.is_some() && alive_boot(s, a)
    })
    .await?;
    match SignerState::from_u8(a.state) {
        Some(SignerState::AwaitingEnrolment) => {
            let line = wait_for_line(&log, 0, "one-time enrolment code:", Duration::from_secs(30)).await?;
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let code = text
                .lines()
                .rev()
                .find_map(|l| l.split("one-time enrolment code: ").nth(1))
                .unwrap_or_else(|| line.split("code: ").nth(1).unwrap_or(""))
                .trim()
                .to_owned();
            if !quiet {
                println!("  key holders enrol their devices with the signer's one-time code");
            }
            for i in 0..3 {
                send(s, i, &a, Purpose::Enrol, code.as_bytes()).await?;
            }
            let a = wait_signer(s, "every device enrolled", |x| x.state == SignerState::AwaitingGenesis as u8).await?;
            if !quiet {
                println!(
                    "  key holders send their phrases (HPKE-sealed to the signer, through the gateway and the chain)"
                );
            }
            for i in 0..3 {
                send(s, i, &a, Purpose::Phrase, s.phrase(i)?.as_bytes()).await?;
            }
        }
        Some(SignerState::Sealed | SignerState::Locked | SignerState::AwaitingGenesis) => {
            if !quiet {
                println!("  key holders unseal the signer with their phrases");
            }
            for i in 0..3 {
                send(s, i, &a, Purpose::Phrase, s.phrase(i)?.as_bytes()).await?;
            }
        }
        _ => {}
    }
    let boot = a.boot;
    let a = wait_signer(s, "unsealed", |x| x.boot == boot && x.state == SignerState::Unsealed as u8).await?;
    Ok(a.wallet)
}

/// Whether `a` is the running signer's current boot (its console shows the boot id).
fn alive_boot(s: &Stack, a: &SignerAnnounce) -> bool {
    let text = std::fs::read_to_string(s.log("signer")).unwrap_or_default();
    text.lines().rev().find_map(|l| l.strip_prefix("box-signer: boot ")).is_some_and(|b| b.trim() == a.boot.to_string())
}

/// `boxctl dev up`.
pub async fn up(args: DevArgs) -> Result<(), DevError> {
    let dir = &args.dir;
    std::fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
    let quiet = args.json;
    let mut s = match Stack::open(dir)? {
        Some(s) => {
            if !quiet {
                println!("resuming the deployment in {}", dir.display());
            }
            s
        }
        None => {
            if !quiet {
                println!("creating a local BOX deployment in {}", dir.display());
            }
            create(dir).await?
        }
    };
    start(&mut s).await?;
    let wallet = ceremony(&mut s, quiet).await?;
    s.state.wallet = Some(wallet);
    s.save()?;
    if !s.state.funded {
        let chain = s.chain().await?;
        let unit = U256::from(10u64).pow(U256::from(18u64));
        chain.fund(wallet, U256::from(100u64) * unit).await?;
        chain.send_token(s.state.token, wallet, U256::from(10_000u64) * unit).await?;
        s.state.funded = true;
        s.save()?;
    }
    summary(&s, args.json);
    Ok(())
}

fn summary(s: &Stack, json: bool) {
    let wallet = s.state.wallet.map(|w| w.to_string()).unwrap_or_default();
    if json {
        let v = serde_json::json!({
            "dir": s.dir, "gateway": s.gateway_url(), "anvil": s.anvil_url(), "wallet": wallet,
            "token": s.state.token.to_string(), "nodes": s.state.node_ports.iter().map(|p| format!("127.0.0.1:{p}")).collect::<Vec<_>>(),
            "pids": s.state.pids,
        });
        println!("{v}");
        return;
    }
    println!("BOX is up:");
    println!("  public chain   anvil at {} (chain id {CHAIN_ID})", s.anvil_url());
    println!(
        "  private chain  box-node ×3 at {}",
        s.state.node_ports.iter().map(|p| format!("127.0.0.1:{p}")).collect::<Vec<_>>().join(", ")
    );
    println!("  gateway        {}", s.gateway_url());
    println!("  signer         unsealed; hot wallet {wallet}");
    println!("  token          BOXT at {}", s.state.token);
    println!("  files          {} (configs, keys, data; logs in logs/)", s.dir.display());
    println!(
        "  boxctl         export BOX_PROFILE={}; boxctl --as keyholder-1|admin|manager-1|finance-1 … (e.g. boxctl status)",
        s.dir.join(PROFILE).display()
    );
    println!("stop it with: boxctl dev down --dir {}", s.dir.display());
}

/// `boxctl dev down`: stops every process, keeps the data.
pub async fn down(args: DevArgs) -> Result<(), DevError> {
    let Some(mut s) = Stack::open(&args.dir)? else {
        return Err(DevError::new(format!("no deployment in {} (nothing to stop)", args.dir.display())));
    };
    let grace = Duration::from_secs(10);
    // The signer first (it holds the key), the public chain last (it saves its state on exit).
    if let Some(p) = s.state.pids.signer.take() {
        stop(p, grace).await;
    }
    if let Some(p) = s.state.pids.gateway.take() {
        stop(p, grace).await;
    }
    for p in std::mem::take(&mut s.state.pids.nodes).into_iter().flatten() {
        stop(p, grace).await;
    }
    if let Some(p) = s.state.pids.anvil.take() {
        stop(p, grace).await;
    }
    s.save()?;
    if !args.json {
        println!("stopped; the data is kept in {} (boxctl dev up resumes it)", s.dir.display());
    }
    Ok(())
}
