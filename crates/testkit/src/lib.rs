//! # box-testkit
//!
//! Test harness for BOX (a dev-dependency only): a development CA, a
//! deployment (genesis, node account keys, key holders), and clusters of real
//! `box-node` processes on 127.0.0.1 with mutual TLS, driven through
//! box-proto's node client (certificates and key files from box-ops; no
//! dependency on the node itself). Every wait is a
//! readiness check with a deadline, never a fixed sleep.
//!
//! Its functions run only inside tests and benchmarks, where a failed setup
//! step (a port, a file, a process) must stop the calling test with the
//! cause; so they unwrap, as test code does, instead of returning errors.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

pub mod anvil;

use box_core::block::Block;
use box_core::crypto::SecretKey;
use box_core::encoding::Canonical;
use box_core::ids::{ChainId, DeploymentId, SubjectId};
use box_core::notary::Subject;
use box_core::typed::{Domain, Genesis, GenesisNode};
use box_core::{B256, U256};
use box_ops::certs::DevCa;
use box_ops::keyfile;
use box_ops::role::CertRole;
use box_proto::pb::notary_client::NotaryClient;
use box_proto::pb::{self};
use box_proto::{Channels, Node, NodeClient, NodeError, SubjectView, TlsMaterial};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

/// The public chain id tests use (anvil's default).
pub const CHAIN_ID: u64 = 31337;

/// A deterministic key for tests: as secret as its label.
pub fn key(label: &str) -> SecretKey {
    SecretKey::from_label_unchecked(label)
}

/// A distinct, well-formed flow subject per `n`: cheap filler for notarization tests.
pub fn sample_flow(n: u64) -> box_core::notary::Subject {
    use box_core::Address;
    use box_core::typed::{ApprovalLevel, AssetLimit, BoxFlow};
    box_core::notary::Subject::Flow(BoxFlow {
        name: format!("flow {n}"),
        employees: vec![Address::repeat_byte(0xE1)],
        levels: vec![ApprovalLevel {
            name: "Finance".into(),
            approvers: vec![Address::repeat_byte(0xA1)],
            threshold: 1,
        }],
        limits: vec![AssetLimit {
            asset: Address::ZERO,
            perTransfer: U256::from(10u64),
            perPeriod: U256::from(100u64),
            periodSeconds: 3600,
            maxFee: U256::from(10u64).pow(U256::from(17u64)),
        }],
        nonce: n,
        addressBookOnly: false,
    })
}

/// An ETH flow "Payments" for `employee`: one level "Finance" of
/// `approvers` with `threshold`, at most 10 ETH a transfer and 100 ETH a day,
/// a fee cap of 0.1 ETH; nonce 1.
pub fn payments_flow(
    employee: box_core::Address,
    approvers: Vec<box_core::Address>,
    threshold: u32,
) -> box_core::typed::BoxFlow {
    use box_core::Address;
    use box_core::typed::{ApprovalLevel, AssetLimit, BoxFlow};
    let ether = U256::from(10u64).pow(U256::from(18u64));
    BoxFlow {
        name: "Payments".into(),
        employees: vec![employee],
        levels: vec![ApprovalLevel { name: "Finance".into(), approvers, threshold }],
        limits: vec![AssetLimit {
            asset: Address::ZERO,
            perTransfer: ether * U256::from(10u64),
            perPeriod: ether * U256::from(100u64),
            periodSeconds: 86_400,
            maxFee: ether / U256::from(10u64),
        }],
        nonce: 1,
        addressBookOnly: false,
    }
}

/// The request the cluster tests take through their steps: 1 ETH (max fee
/// 0.01 ETH) from `applicant` under `flow` to `0xd5d5…`, request id
/// `0x4242…`, on [`CHAIN_ID`], timestamped now.
pub fn one_ether_request(flow: B256, applicant: box_core::Address) -> box_core::typed::TransferRequest {
    let ether = U256::from(10u64).pow(U256::from(18u64));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    box_core::typed::TransferRequest {
        requestId: B256::repeat_byte(0x42),
        flowHash: flow,
        applicant,
        asset: box_core::Address::ZERO,
        to: box_core::Address::repeat_byte(0xD5),
        amount: ether,
        maxFee: ether / U256::from(100u64),
        chainId: CHAIN_ID,
        timestamp: now,
    }
}

/// CPU model, core count and OS, for the line benchmarks print before their table.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=")).map(|v| v.trim_matches('"').to_owned()))
        .unwrap_or_else(|| std::env::consts::OS.to_owned());
    format!("{cpu}, {cores} cores, {os}")
}

/// Whether the redb store at `path` (of a process killed with `kill -9`)
/// would need redb's full repair to open, a walk of the whole file that grows
/// with it: a copy is opened, so the store itself stays as the crash left it.
/// Panics if the copy cannot be made or opened at all.
pub fn needs_full_repair(path: &Path) -> bool {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let copy = dir.path().join("copy.redb");
    std::fs::copy(path, &copy).unwrap_or_else(|e| panic!("cannot copy {}: {e}", path.display()));
    let repaired = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = repaired.clone();
    let db = redb::Database::builder()
        .set_repair_callback(move |_| seen.store(true, std::sync::atomic::Ordering::Relaxed))
        .create(&copy)
        .unwrap_or_else(|e| panic!("the store {} does not open: {e}", path.display()));
    drop(db);
    repaired.load(std::sync::atomic::Ordering::Relaxed)
}

/// The layout of the history benchmark's cached stores (box-chain
/// `benches/history.rs`, `histgen`), bumped whenever what it builds changes
/// so that a stale cache is not reused. 2: the stores carry the
/// sealed-header table. 3: blocks and notarized records in page-sized
/// pieces (an older cache would be moved at every node start of a run).
pub const HISTORY_FORMAT: u32 = 3;

/// The ports the history benchmark's nodes listen on by default: its
/// genesis names them, so a cached history runs only on these.
pub const HISTORY_PORTS: [u16; 3] = [21701, 21702, 21703];

/// Where the history benchmark keeps the history of `n` finished transfers,
/// `per_block` to a block, for nodes on `ports`: `bench-history/` under the
/// cargo target directory (`$CARGO_TARGET_DIR` or the workspace's
/// `target/`). It holds `state.redb` and `raft-log.redb` (a node's stores at
/// the tip), `checkpoint.bin` (box-core's checkpoint of the verified state at
/// the tip, every retired id listed) and `built.json` once complete.
pub fn history_cache(n: u64, per_block: u64, ports: &[u16]) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| anvil::workspace_root().join("target"));
    target.join("bench-history").join(format!("v{HISTORY_FORMAT}-n{n}-b{per_block}-p{}", ports[0]))
}

/// The cached history of `n` finished transfers the history benchmark
/// builds by default (100 a block, [`HISTORY_PORTS`]). Panics, saying the
/// command that builds it, if it is not there.
pub fn cached_history(n: u64) -> PathBuf {
    let dir = history_cache(n, 100, &HISTORY_PORTS);
    assert!(
        dir.join("built.json").exists(),
        "no cached history of {n} transfers at {}: build it first with `BOX_BENCH_HISTORY_CLUSTER=0 \
         BOX_BENCH_HISTORY_N={n} cargo bench -p box-chain --bench history`",
        dir.display()
    );
    dir
}

/// The Ns of a start-to-ready measurement at the tip of cached histories:
/// `BOX_START_HISTORY_N` (a comma list; default `0,20000`), the first the
/// anchor.
pub fn history_ns() -> Vec<u64> {
    std::env::var("BOX_START_HISTORY_N")
        .unwrap_or_else(|_| "0,20000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("BOX_START_HISTORY_N: a comma list of numbers"))
        .collect()
}

/// One N of a start-to-ready measurement at the tip of a cached history.
pub struct HistoryStart {
    /// Finished transfers in the history.
    pub n: u64,
    /// The chain's height when measured.
    pub height: u64,
    /// Retired ids in the state at the tip.
    pub retired: u64,
    /// The first start, from the state with every retired id listed.
    pub first: Duration,
    /// The later starts, with the retired ids in the store's index.
    pub restarts: Vec<Duration>,
}

/// Prints the machine line and the table of `rows` for `who` (e.g.
/// "gateway"): medians with the range of the restarts, and the ratio of
/// each to the first row's.
pub fn print_history_starts(who: &str, rows: &mut [HistoryStart]) {
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("{}", machine());
    println!(
        "| finished transfers | height | retired ids | {who} first start (every id listed) | × first N | restart \
         (ids in the index), median | × first N |\n|---|---|---|---|---|---|---|"
    );
    let Some(first) = rows.first_mut() else { return };
    let anchor = (first.first, median(&mut first.restarts));
    for r in rows.iter_mut() {
        let later = median(&mut r.restarts);
        println!(
            "| {} | {} | {} | {:.0} ms | {:.1}× | {:.0} ms ({} runs, {:.0}–{:.0}) | {:.1}× |",
            r.n,
            r.height,
            r.retired,
            ms(r.first),
            ms(r.first) / ms(anchor.0),
            ms(later),
            r.restarts.len(),
            ms(r.restarts[0]),
            ms(r.restarts[r.restarts.len() - 1]),
            ms(later) / ms(anchor.1)
        );
    }
}

/// The `retired_indexed` field of a signer's or gateway's log line saying
/// it resumed from its persisted state (how many retired ids that state
/// leaves to the store's index). Panics if `log` has no such line.
pub fn resumed_indexed(log: &str) -> u64 {
    log.lines()
        .find(|l| l.contains("resumed from the verified state persisted at height "))
        .and_then(|l| l.split("retired_indexed=").nth(1))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no resume line with retired_indexed in the log:\n{log}"))
}

/// A free TCP port on 127.0.0.1.
///
/// Never the same port twice in one process: the kernel may hand a port
/// just released to the next bind, and a cluster given one port for two
/// nodes refuses to start.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if GIVEN.lock().unwrap().insert(port) {
            return port;
        }
    }
}

/// Waits until `check` returns `Some`, polling every 50 ms, up to `deadline`.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < deadline, "timed out after {deadline:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Start-to-ready of a process started at `started`: the time until the
/// first line containing `marker` appears in what `output` returns
/// (polled every 10 ms), `None` if it does not within `deadline`. A
/// measurement for benches (the signer's `caught up at height`, the
/// gateway's `verified N stored blocks after height`), not an assertion.
pub async fn time_to_line(
    started: Instant,
    output: impl Fn() -> String,
    marker: &str,
    deadline: Duration,
) -> Option<Duration> {
    loop {
        if output().contains(marker) {
            return Some(started.elapsed());
        }
        if started.elapsed() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// One node's files and process.
pub struct NodeProc {
    pub id: u64,
    pub addr: String,
    pub voter: bool,
    pub config: PathBuf,
    pub log: PathBuf,
    pub account: SecretKey,
    child: Option<Child>,
}

impl NodeProc {
    /// Whether the process is running (as far as we started it).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

/// A deployment and its running cluster.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub binary: PathBuf,
    pub ca: DevCa,
    pub genesis: Genesis,
    pub domain: Domain,
    pub key_holders: Vec<SecretKey>,
    pub signer: SecretKey,
    pub nodes: Vec<NodeProc>,
    /// The gateway's certificate (role `box:gateway`): what [`Cluster::client`] uses.
    pub client_tls: TlsMaterial,
    /// The signer's certificate (role `box:signer`): signer reports and announcements.
    pub signer_tls: TlsMaterial,
    channels: Channels,
    signer_channels: Channels,
}

impl Cluster {
    /// Writes a deployment with `voters` authority nodes and `learners`
    /// backup nodes, starts every node as a separate `binary` process and
    /// waits until a leader is elected.
    pub async fn start(binary: &Path, voters: usize, learners: usize) -> Self {
        Self::start_with(binary, voters, learners, &[]).await
    }

    /// [`Cluster::start`], with extra environment for some nodes: `(id, env)`.
    pub async fn start_with(binary: &Path, voters: usize, learners: usize, env: &[(u64, &[(&str, &str)])]) -> Self {
        let mut c = Self::prepare(binary, voters, learners, 250);
        for i in 0..voters + learners {
            let id = i as u64 + 1;
            let extra = env.iter().find(|(n, _)| *n == id).map_or(&[][..], |(_, e)| *e);
            c.spawn_with(id, extra);
        }
        c.wait_leader().await;
        c
    }

    /// Writes the deployment's files (CA, certificates, account keys,
    /// genesis, one config per node with the given seal interval) without
    /// starting anything: for tests and benches that run nodes in-process.
    pub fn prepare(binary: &Path, voters: usize, learners: usize, seal_interval_ms: u64) -> Self {
        let ports: Vec<u16> = (0..voters + learners).map(|_| free_port()).collect();
        Self::prepare_on(binary, voters, learners, seal_interval_ms, &ports)
    }

    /// [`Cluster::prepare`] on the given ports (one per node, voters
    /// first): the genesis names them as the nodes' endpoints, so a history
    /// built for this deployment ahead of time (the history benchmark's
    /// cached stores) stays valid from run to run. The ports must be free.
    pub fn prepare_on(binary: &Path, voters: usize, learners: usize, seal_interval_ms: u64, ports: &[u16]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = DevCa::new("box-test-ca").unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.ca_pem()).unwrap();
        assert_eq!(ports.len(), voters + learners, "one port per node");
        let mut nodes = Vec::new();
        for (i, port) in ports.iter().enumerate() {
            let id = i as u64 + 1;
            let ndir = dir.path().join(format!("node-{id}"));
            std::fs::create_dir_all(&ndir).unwrap();
            let (cert, key_pem) =
                ca.issue(&format!("node-{id}"), CertRole::Node(id), &["127.0.0.1".into(), "localhost".into()]).unwrap();
            std::fs::write(ndir.join("node.pem"), cert).unwrap();
            std::fs::write(ndir.join("node.key"), key_pem).unwrap();
            let account_path = ndir.join("account.json");
            keyfile::generate(&account_path, *key(&format!("node-account-{id}")).expose_bytes()).unwrap();
            let account = keyfile::load(&account_path).unwrap();
            nodes.push(NodeProc {
                id,
                addr: format!("127.0.0.1:{port}"),
                voter: i < voters,
                config: ndir.join("node.toml"),
                log: ndir.join("node.log"),
                account,
                child: None,
            });
        }
        let key_holders: Vec<SecretKey> = (0..3).map(|i| key(&format!("key-holder-{i}"))).collect();
        let signer = key("signer");
        let genesis = Genesis {
            deploymentId: B256::from(U256::from(0xB0B0u64)),
            chainId: CHAIN_ID,
            keyHolders: key_holders.iter().map(SecretKey::address).collect(),
            nodes: nodes
                .iter()
                .filter(|n| n.voter)
                .map(|n| GenesisNode { nodeId: n.id, endpoint: n.addr.clone(), account: n.account.address() })
                .collect(),
            signer: signer.address(),
            assets: vec![],
            time: 1_800_000_000,
        };
        std::fs::write(dir.path().join("genesis.json"), serde_json::to_vec_pretty(&genesis).unwrap()).unwrap();
        let peers: String = nodes
            .iter()
            .map(|n| {
                format!(
                    "[[peers]]\nid = {}\naddr = \"{}\"\nrole = \"{}\"\n\n",
                    n.id,
                    n.addr,
                    if n.voter { "voter" } else { "learner" }
                )
            })
            .collect();
        for n in &nodes {
            let toml = format!(
                "id = {id}\nlisten = \"{addr}\"\nrole = \"{role}\"\ndata_dir = \"data\"\ngenesis = \"../genesis.json\"\n\
                 account_key = \"account.json\"\nseal_interval_ms = {seal_interval_ms}\n\n[tls]\nca = \"../ca.pem\"\ncert = \"node.pem\"\n\
                 key = \"node.key\"\n\n[raft]\nheartbeat_ms = 250\nelection_min_ms = 1000\nelection_max_ms = 2000\n\n{peers}",
                id = n.id,
                addr = n.addr,
                role = if n.voter { "voter" } else { "learner" },
            );
            std::fs::write(&n.config, toml).unwrap();
        }
        let client_tls = issue(&ca, "gateway", CertRole::Gateway);
        let signer_tls = issue(&ca, "signer", CertRole::Signer);
        let channels = Channels::new(client_tls.client());
        let signer_channels = Channels::new(signer_tls.client());
        let domain = genesis.domain();
        Self {
            dir,
            binary: binary.to_owned(),
            ca,
            genesis,
            domain,
            key_holders,
            signer,
            nodes,
            client_tls,
            signer_tls,
            channels,
            signer_channels,
        }
    }

    /// A fresh certificate of the deployment CA for `name` in `role`.
    pub fn tls_as(&self, name: &str, role: CertRole) -> TlsMaterial {
        issue(&self.ca, name, role)
    }

    /// Node `id`'s own certificate (role `box:node:<id>`).
    pub fn node_tls(&self, id: u64) -> TlsMaterial {
        let dir = self.dir.path().join(format!("node-{id}"));
        TlsMaterial::load(&self.dir.path().join("ca.pem"), &dir.join("node.pem"), &dir.join("node.key")).unwrap()
    }

    fn node(&self, id: u64) -> &NodeProc {
        self.nodes.iter().find(|n| n.id == id).unwrap()
    }

    /// Copies a node's stores (`state.redb`, `raft-log.redb` in `from`, e.g.
    /// a [`cached_history`]) into every node's data directory, each synced to
    /// disk: otherwise the first fsync of a node's first commit writes the
    /// whole fresh copy, and a start measured after it grows with the store
    /// for that alone. The nodes must be stopped.
    pub fn seed_stores(&self, from: &Path) {
        for node in &self.nodes {
            let data = node.config.parent().unwrap().join("data");
            std::fs::create_dir_all(&data).unwrap();
            for f in ["state.redb", "raft-log.redb"] {
                std::fs::copy(from.join(f), data.join(f)).unwrap();
                std::fs::File::open(data.join(f)).unwrap().sync_all().unwrap();
            }
        }
    }

    /// Starts (or restarts) node `id`'s process.
    pub fn spawn(&mut self, id: u64) {
        self.spawn_with(id, &[]);
    }

    /// Starts (or restarts) node `id`'s process with extra environment, e.g.
    /// `BOX_NODE_FAULT` to make it misbehave.
    pub fn spawn_with(&mut self, id: u64, env: &[(&str, &str)]) {
        let binary = self.binary.clone();
        let n = self.nodes.iter_mut().find(|n| n.id == id).unwrap();
        assert!(n.child.is_none(), "node {id} is already running");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&n.log).unwrap();
        let child = Command::new(binary)
            .args(["run", "--dev", "--config"])
            .arg(&n.config)
            .env("RUST_LOG", box_chain_log_filter())
            .env_remove("BOX_NODE_FAULT")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        n.child = Some(child);
    }

    /// `kill -9` node `id`.
    pub fn kill(&mut self, id: u64) {
        let n = self.nodes.iter_mut().find(|n| n.id == id).unwrap();
        if let Some(mut c) = n.child.take() {
            c.kill().unwrap(); // SIGKILL on unix
            c.wait().unwrap();
        }
    }

    /// Stops node `id` with `SIGTERM`, as systemd does, and returns how it exited.
    pub fn terminate(&mut self, id: u64) -> std::process::ExitStatus {
        let n = self.nodes.iter_mut().find(|n| n.id == id).unwrap();
        let mut c = n.child.take().expect("the node is running");
        terminate(&mut c)
    }

    /// How node `id` exited, if its process has ended on its own (it is
    /// then no longer running); `None` while it runs.
    pub fn exited(&mut self, id: u64) -> Option<std::process::ExitStatus> {
        let n = self.nodes.iter_mut().find(|n| n.id == id).unwrap();
        let status = n.child.as_mut()?.try_wait().unwrap()?;
        n.child = None;
        Some(status)
    }

    /// Node `id`'s whole log.
    pub fn log(&self, id: u64) -> String {
        std::fs::read_to_string(&self.node(id).log).unwrap_or_default()
    }

    /// The last 30 lines of node `id`'s log, after the first three lines of
    /// each of the first three panics above them: a panic's message scrolls
    /// out of the tail under the backtrace and the errors that follow it.
    pub fn log_tail(&self, id: u64) -> String {
        tail_with_panics(&std::fs::read_to_string(&self.node(id).log).unwrap_or_default(), 30)
    }

    /// The generated notary client to node `id` over mutual TLS, as the
    /// gateway: no failover, no deadline, replies as the wire sends them. For
    /// tests of the node's own gRPC surface; [`Cluster::node_client`] is the
    /// client the processes use.
    pub fn client(&self, id: u64) -> NotaryClient<Channel> {
        NotaryClient::new(self.channels.get(&self.node(id).addr).unwrap())
    }

    /// The generated client with another identity (e.g. the signer's, a
    /// node's, or a certificate from another CA), as [`Cluster::client`].
    pub fn client_with(&self, id: u64, tls: &TlsMaterial) -> NotaryClient<Channel> {
        NotaryClient::new(Channels::new(tls.client()).get(&self.node(id).addr).unwrap())
    }

    /// Ids of nodes whose process runs.
    pub fn running(&self) -> Vec<u64> {
        self.nodes.iter().filter(|n| n.is_running()).map(|n| n.id).collect()
    }

    /// Waits up to 60 s until every running node names the same leader,
    /// polling every 50 ms; returns it. On a timeout it fails with each
    /// running node's (leader, height), 0 for a node that did not answer,
    /// and the tail of its log.
    pub async fn wait_leader(&self) -> u64 {
        let deadline = Duration::from_secs(60);
        let start = Instant::now();
        loop {
            let running = self.running();
            let mut views = Vec::new();
            for view in self.node_client(&running).cluster().await {
                views.push(view.info.ok().map_or((0, 0), |i| (i.leader, i.height)));
            }
            if let Some(&(l, _)) = views.first()
                && l != 0
                && views.len() == running.len()
                && views.iter().all(|(x, _)| *x == l)
                && running.contains(&l)
            {
                return l;
            }
            if start.elapsed() >= deadline {
                let logs: Vec<String> =
                    running.iter().map(|id| format!("--- node {id}:\n{}", self.log_tail(*id))).collect();
                panic!(
                    "timed out after {deadline:?} waiting for a leader every running node agrees on; nodes {running:?} \
                     name (leader, height) {views:?}\n{}",
                    logs.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// box-proto's node client to nodes `ids` (in that order), as the gateway.
    pub fn node_client(&self, ids: &[u64]) -> NodeClient {
        self.node_client_with(ids, &self.channels)
    }

    fn node_client_with(&self, ids: &[u64], channels: &Channels) -> NodeClient {
        let nodes = ids.iter().map(|id| Node { id: *id, addr: self.node(*id).addr.clone() }).collect();
        NodeClient::with_channels(nodes, channels.clone())
    }

    /// A node client to every running node, starting at the `start`-th,
    /// with the certificate that submits `subject` in a deployment: the
    /// signer's for a signer report, the gateway's for anything else.
    fn submitter(&self, subject: &[u8], start: usize) -> NodeClient {
        let channels = match Subject::decode(subject) {
            Ok(Subject::SignerReport(_)) => &self.signer_channels,
            _ => &self.channels,
        };
        let mut ids = self.running();
        let len = ids.len().max(1);
        ids.rotate_left(start % len);
        self.node_client_with(&ids, channels)
    }

    /// Submits canonical subject bytes through any running node, as the
    /// gateway (a signer report as the signer), retrying on unavailability
    /// (elections); returns the subject id.
    pub async fn submit(&self, subject: &[u8]) -> SubjectId {
        submit_via(&self.submitter(subject, 0), subject.to_vec()).await
    }

    /// Submits many subjects, `parallel` at a time, spread over the running
    /// nodes; returns their ids in order.
    pub async fn submit_all(&self, subjects: Vec<Vec<u8>>, parallel: usize) -> Vec<SubjectId> {
        let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(parallel));
        let mut tasks = tokio::task::JoinSet::new();
        for (i, s) in subjects.into_iter().enumerate() {
            let client = self.submitter(&s, i);
            let permit = sem.clone().acquire_owned().await.unwrap();
            tasks.spawn(async move {
                let id = submit_via(&client, s).await;
                drop(permit);
                (i, id)
            });
        }
        let mut out = tasks.join_all().await;
        out.sort_by_key(|(i, _)| *i);
        out.into_iter().map(|(_, id)| id).collect()
    }

    /// A subject's status as node `id` sees it; `None` if it does not answer.
    pub async fn subject(&self, id: u64, subject: &SubjectId) -> Option<SubjectView> {
        self.node_client(&[id]).subject(subject).await.ok()
    }

    /// Every block node `id` holds, from height 1.
    pub async fn blocks(&self, id: u64) -> Vec<Block> {
        let mut out = Vec::new();
        let client = self.node_client(&[id]);
        for h in 1.. {
            match client.block(h).await {
                Ok(Some((bytes, _))) => out.push(Block::decode(&bytes).unwrap()),
                Ok(None) => break,
                Err(e) => panic!("get_block {h} on node {id}: {e}"),
            }
        }
        out
    }

    /// Node `id`'s view of the cluster.
    pub async fn info(&self, id: u64) -> Option<pb::ClusterInfo> {
        self.node_client(&[id]).cluster().await.pop()?.info.ok()
    }

    /// Waits (90 s at most) until the running nodes decide `id` and hold
    /// the decision in a block, and asserts it was notarized.
    pub async fn notarized(&self, id: &SubjectId) {
        let client = self.node_client(&self.running());
        let status = eventually("a decision in a block", Duration::from_secs(90), || async {
            let view = client.subject(id).await.ok().filter(|v| v.height > 0)?;
            Some(view.status.to_string()).filter(|s| s == "notarized" || s == "rejected")
        })
        .await;
        assert_eq!(status, "notarized", "subject {id}");
    }

    /// Makes `flow` ready for transfers, each step [notarized](Cluster::notarized)
    /// before the next: the flow itself, every key holder's authorization,
    /// then the signer's anchoring report (transaction hash `0xa7a7…`).
    /// Returns its flow hash.
    pub async fn activate(&self, flow: box_core::typed::BoxFlow) -> B256 {
        use box_core::typed::{FlowAuthorization, ReportStatus, Signed};
        let fh = self.domain.flow_hash(&flow).0;
        self.notarized(&self.submit(&Subject::Flow(flow).encode()).await).await;
        for k in &self.key_holders {
            let a = FlowAuthorization { flowHash: fh, enable: true };
            self.notarized(&self.submit(&Subject::FlowAuthorization(Signed::new(&self.domain, k, a)).encode()).await)
                .await;
        }
        let anchored = self.report(fh, ReportStatus::Anchored, B256::repeat_byte(0xA7), "");
        self.notarized(&self.submit(&anchored.encode()).await).await;
        fh
    }

    /// The signer's report on `subject` (a transfer or flow id), signed
    /// with the deployment's signer key, nonce 0.
    pub fn report(&self, subject: B256, status: box_core::typed::ReportStatus, tx: B256, detail: &str) -> Subject {
        use box_core::typed::{Signed, SignerReport};
        let r = SignerReport { subject, status: status as u8, txHash: tx, nonce: 0, detail: detail.into() };
        Subject::SignerReport(Signed::new(&self.domain, &self.signer, r))
    }

    /// Takes one transfer ([`one_ether_request`]) through its whole life,
    /// each step [notarized](Cluster::notarized) before the next: a
    /// payments flow (employee `employee`, one level of two approvers
    /// `approver-0/1`, threshold 1) [activated](Cluster::activate), the
    /// transbox (submitted now: its deadline is a day of log time later)
    /// approved by `approver-0`, then the signer's broadcast report and its
    /// confirmed report carrying `detail` (transaction hash `0x7a7a…`).
    pub async fn finished_transfer(&self, detail: &str) -> FinishedTransfer {
        use box_core::transbox::TransBox;
        use box_core::typed::ReportStatus;
        let employee = key("employee");
        let approvers: Vec<SecretKey> = (0..2).map(|i| key(&format!("approver-{i}"))).collect();
        let fh = self
            .activate(payments_flow(employee.address(), approvers.iter().map(SecretKey::address).collect(), 1))
            .await;
        let mut tb = TransBox::apply(&self.domain, one_ether_request(fh, employee.address()), &employee);
        tb.approve(&self.domain, 1, &approvers[0]);
        let transfer = tb.transfer_id(&self.domain);
        let transbox = Subject::Transfer(tb);
        let transbox_id = self.submit(&transbox.encode()).await;
        self.notarized(&transbox_id).await;
        let tx = B256::repeat_byte(0x7A);
        self.notarized(&self.submit(&self.report(transfer.0, ReportStatus::Broadcast, tx, "").encode()).await).await;
        self.notarized(&self.submit(&self.report(transfer.0, ReportStatus::Confirmed, tx, detail).encode()).await)
            .await;
        FinishedTransfer { transfer, transbox, transbox_id, tx }
    }

    /// A governance action removing node `nodes[node]` (nonce 1), signed by
    /// the node accounts of `nodes[i]` for each `i` in `signers` (a removal
    /// needs a majority of the registered nodes' signatures: box-core
    /// `GovernanceAction::authority`).
    pub fn remove_node(&self, node: usize, signers: &[usize]) -> Subject {
        use box_core::governance::{GovernanceAction, SignedAction};
        use box_core::typed::NodeChange;
        let n = &self.nodes[node];
        let action = GovernanceAction::NodeChange(NodeChange {
            account: n.account.address(),
            nodeId: n.id,
            endpoint: n.addr.clone(),
            add: false,
            nonce: 1,
        });
        let h = action.signing_hash(&self.domain);
        let signatures = signers.iter().map(|i| self.nodes[*i].account.sign_hash(&h)).collect();
        Subject::Governance(SignedAction { action, signatures })
    }

    /// Submits a subject the nodes reject and waits (90 s at most) until
    /// node 1 holds the rejection in a block: the removal of node 3 signed
    /// by node 1's account alone ([`Cluster::remove_node`]; one of three). Returns it and
    /// node 1's view of it.
    pub async fn rejected_subject(&self) -> (Subject, SubjectId, SubjectView) {
        let rejected = self.remove_node(2, &[0]);
        let id = self.submit(&rejected.encode()).await;
        let view = eventually("a rejection in a block", Duration::from_secs(90), || async {
            self.subject(1, &id).await.filter(|s| s.status.to_string() == "rejected" && s.height > 0)
        })
        .await;
        (rejected, id, view)
    }

    /// The genesis domain's chain id.
    pub fn chain_id(&self) -> ChainId {
        self.domain.chain_id
    }

    /// The deployment id.
    pub fn deployment(&self) -> DeploymentId {
        self.domain.deployment
    }
}

/// A transfer [`Cluster::finished_transfer`] took to `Confirmed`.
#[derive(Debug, Clone)]
pub struct FinishedTransfer {
    /// Its transfer id.
    pub transfer: box_core::ids::TransferId,
    /// Its notarized transbox.
    pub transbox: Subject,
    /// The transbox's subject id.
    pub transbox_id: SubjectId,
    /// The transaction hash its reports name.
    pub tx: B256,
}

/// Sends `SIGTERM` to `child` (as systemd and `kill` do) and waits up to a
/// minute for it to exit; returns how it exited. Panics if it does not.
pub fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success(), "kill -TERM {pid} failed");
    // Generous under load; an exit is expected within a second.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(exit) = child.try_wait().unwrap() {
            return exit;
        }
        assert!(Instant::now() < deadline, "process {pid} did not exit within a minute of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// box-node's default log filter (`box_chain::peers::LOG_FILTER`, restated:
/// the test kit does not link box-chain), so tests see what an operator sees.
fn box_chain_log_filter() -> &'static str {
    "info,openraft=warn,openraft::replication=off,openraft::engine::handler::replication_handler=error"
}

fn issue(ca: &DevCa, name: &str, role: CertRole) -> TlsMaterial {
    let (cert, key) = ca.issue(name, role, &["127.0.0.1".into()]).unwrap();
    TlsMaterial { ca: ca.ca_pem().to_owned(), cert, key }
}

/// Submits through `client` (box-proto's failover over its nodes),
/// retrying while no node takes it (elections, a withholding leader);
/// returns the subject id. Panics on a refusal.
pub async fn submit_via(client: &NodeClient, subject: Vec<u8>) -> SubjectId {
    let begun = Instant::now();
    loop {
        match client.submit(subject.clone()).await {
            Ok(r) => return r.subject_id,
            Err(NodeError::Unavailable(why)) => {
                assert!(begun.elapsed() < Duration::from_secs(90), "submit kept failing: {why}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("submit refused: {e}"),
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut c) = n.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// The first line of `text` that shows Rust `Debug` formatting instead of
/// words for people (issue 17 item 6): `Some(`, `Ok(`, `Err(` after a
/// non-identifier character, or struct syntax `Name { field: `. `None` when
/// every line reads as written for a person.
pub fn debug_text(text: &str) -> Option<&str> {
    fn ident(c: char) -> bool {
        c.is_ascii_alphanumeric() || c == '_'
    }
    let wrapper = |line: &str| {
        ["Some(", "Ok(", "Err("]
            .iter()
            .any(|w| line.match_indices(w).any(|(i, _)| !line[..i].chars().next_back().is_some_and(ident)))
    };
    let structure = |line: &str| {
        line.match_indices(" { ").any(|(i, _)| {
            let name = &line[..i];
            let name = &name[name.rfind(|c: char| !ident(c)).map_or(0, |p| p + 1)..];
            let field = &line[i + 3..];
            let field_len = field.find(|c: char| !ident(c)).unwrap_or(field.len());
            name.starts_with(|c: char| c.is_ascii_uppercase())
                && field_len > 0
                && field[..1].chars().all(|c| c.is_ascii_lowercase() || c == '_')
                && field[field_len..].starts_with(": ")
        })
    };
    text.lines().find(|line| wrapper(line) || structure(line))
}

/// Panics naming `what` and the line if `text` shows Rust `Debug` formatting
/// (see [`debug_text`]).
#[track_caller]
pub fn assert_for_people(what: &str, text: &str) {
    if let Some(line) = debug_text(text) {
        panic!("{what} shows Rust Debug text instead of words:\n{line}");
    }
}

#[cfg(test)]
mod for_people {
    use super::debug_text;

    #[test]
    fn debug_syntax_is_found_and_prose_is_not() {
        for bad in [
            "created the CA: CaFiles { cert: \"ca.pem\", key: \"ca.key\" }",
            "error=Some(\"timeout\")",
            "registered: Ok(())",
            "ERROR box: Err(Status { code: Unavailable })",
            "cannot connect: hyper_util::client::legacy::Error(Connect, ConnectError { kind: Refused })",
        ] {
            assert!(debug_text(bad).is_some(), "{bad}");
        }
        for fine in [
            "refused: 7 ETH exceeds the per-transfer limit of 5 ETH",
            "{\"address\": \"0xabc\"}",
            "Transfer(wallet, to, amount) logged by the token",
            "Awesome(ly) done; tools = { dev = true }",
            "Some employees wait: 2 of 3 signed",
        ] {
            assert_eq!(debug_text(fine), None, "{fine}");
        }
    }
}

/// The last `n` lines of `text`, after the first three lines of each of the
/// first three panics above them (see [`Cluster::log_tail`]).
fn tail_with_panics(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines.len().saturating_sub(n);
    let mut out = Vec::new();
    for (i, _) in lines[..tail].iter().enumerate().filter(|(_, l)| l.contains("panicked at")).take(3) {
        out.push("(a panic, earlier in the log:)");
        out.extend_from_slice(&lines[i..(i + 3).min(tail)]);
    }
    out.extend_from_slice(&lines[tail..]);
    out.join("\n")
}

#[cfg(test)]
mod log_tests {
    use super::tail_with_panics;

    #[test]
    fn a_panic_above_the_tail_is_kept_in_it() {
        let mut log = vec!["start".to_owned(), "thread 'x' panicked at src/a.rs:1:2:".into(), "boom".into()];
        log.extend((0..40).map(|i| format!("after {i}")));
        let tail = tail_with_panics(&log.join("\n"), 5);
        let lines: Vec<&str> = tail.lines().collect();
        assert_eq!(
            lines[..4],
            ["(a panic, earlier in the log:)", "thread 'x' panicked at src/a.rs:1:2:", "boom", "after 0"]
        );
        assert_eq!(lines[4..], ["after 35", "after 36", "after 37", "after 38", "after 39"]);
        // No panic: the tail alone; a short log: all of it.
        assert_eq!(tail_with_panics("a\nb\nc", 2), "b\nc");
        assert_eq!(tail_with_panics("a\nb", 5), "a\nb");
    }
}
