//! Test harness: a real 3-node `box-node` cluster, a real PostgreSQL server
//! started from the Debian binaries in a temp dir, gateway configs, clients,
//! and a deployment whose flow is active.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

use box_api::Client;
use box_api::{FlowState, Role, TransferState};
use box_core::crypto::SecretKey;
use box_core::encoding::Canonical;
use box_core::ids::FlowHash;
use box_core::ids::TransferId;
use box_core::notary::Subject;
use box_core::typed::{ApprovalLevel, AssetLimit, BoxFlow, ReportStatus, Signed, SignerReport, TransferRequest};
use box_core::{Address, B256, U256};
use box_ops::role::CertRole;
use box_testkit::{Cluster, eventually, free_port, key};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The `box-node` binary beside this test's binary in the target dir, built
/// (or brought up to date with the workspace's core and chain) once per test
/// process: a stale node would disagree with this build's box-core.
pub fn box_node() -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf(); // target/<profile>
    let bin = dir.join("box-node");
    BUILT.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "-p", "box-chain", "--bin", "box-node"]);
        if dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.current_dir(env!("CARGO_MANIFEST_DIR")).status().expect("run cargo to build box-node");
        assert!(status.success(), "building box-node failed");
    });
    assert!(bin.exists(), "box-node is not at {}", bin.display());
    bin
}

/// The `box-gateway` binary of this crate.
pub const GATEWAY_BIN: &str = env!("CARGO_BIN_EXE_box-gateway");

/// A PostgreSQL server of our own: initdb in a temp dir, 127.0.0.1 on a free
/// port, stopped on drop.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    run_as: Option<&'static str>,
}

fn pg_bin() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path().join("bin"))).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs.into_iter()
        .rev()
        .find(|d| d.join("initdb").exists() && d.join("pg_ctl").exists())
        .expect("PostgreSQL's initdb/pg_ctl are not in /usr/lib/postgresql/*/bin: install the Debian package postgresql (tools/test does)")
}

impl Postgres {
    pub fn start() -> Self {
        let bin = pg_bin();
        let root = std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false);
        // PostgreSQL refuses to run as root; the Debian package creates the user `postgres`.
        let run_as = root.then_some("postgres");
        let dir = tempfile::Builder::new().prefix("box-pg-").tempdir_in("/tmp").unwrap();
        if let Some(u) = run_as {
            assert!(Command::new("chown").args([&format!("{u}:{u}")]).arg(dir.path()).status().unwrap().success());
        }
        let port = free_port();
        let pg = Self { dir, bin, port, run_as };
        let data = pg.dir.path().join("data");
        pg.run("initdb", &["-D", data.to_str().unwrap(), "-U", "box", "-A", "trust", "-E", "UTF8", "--no-sync"]);
        let opts = format!(
            "-p {port} -h 127.0.0.1 -k {} -c fsync=off -c synchronous_commit=off -c max_connections=200",
            pg.dir.path().display()
        );
        let log = pg.dir.path().join("pg.log");
        pg.run(
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-l", log.to_str().unwrap(), "-o", &opts, "-w", "-t", "60", "start"],
        );
        pg
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let path = self.bin.join(tool);
        let mut cmd = match self.run_as {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.args(["-u", u, "--"]).arg(&path);
                c
            }
            None => Command::new(&path),
        };
        let out = cmd.args(args).stdin(Stdio::null()).output().unwrap();
        assert!(
            out.status.success(),
            "{tool} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Creates a fresh database; returns its URL.
    pub async fn database(&self, name: &str) -> String {
        use sqlx::Connection;
        let admin = format!("postgres://box@127.0.0.1:{}/postgres", self.port);
        let mut c = sqlx::PgConnection::connect(&admin).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut c).await.unwrap();
        format!("postgres://box@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let path = self.bin.join("pg_ctl");
        let mut cmd = match self.run_as {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.args(["-u", u, "--"]).arg(&path);
                c
            }
            None => Command::new(&path),
        };
        let _ = cmd.args(["-D", data.to_str().unwrap_or(""), "-m", "immediate", "stop"]).output();
    }
}

/// Which store a gateway uses.
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite,
    Postgres(String),
}

/// The people of the test deployment.
pub struct People {
    pub admin: SecretKey,
    pub employee: SecretKey,
    /// Level 1 approvers (2 of 3).
    pub l1: Vec<SecretKey>,
    /// Level 2 approvers (1 of 2); `l2[0]` is also an employee.
    pub l2: Vec<SecretKey>,
    pub auditor: SecretKey,
}

impl People {
    pub fn new() -> Self {
        Self {
            admin: key("admin"),
            employee: key("employee-1"),
            l1: (1..=3).map(|i| key(&format!("approver-{i}"))).collect(),
            l2: (4..=5).map(|i| key(&format!("approver-{i}"))).collect(),
            auditor: key("auditor"),
        }
    }
}

/// Files for a gateway of `cluster` in `dir`; returns the config path.
pub fn write_config(cluster: &Cluster, dir: &Path, db: &Db, port: u16, limits: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let (cert, key_pem) =
        cluster.ca.issue("gateway", CertRole::Gateway, &["127.0.0.1".into(), "localhost".into()]).unwrap();
    std::fs::write(dir.join("gateway.pem"), cert).unwrap();
    std::fs::write(dir.join("gateway.key"), key_pem).unwrap();
    std::fs::write(dir.join("ca.pem"), cluster.ca.ca_pem()).unwrap();
    std::fs::write(dir.join("client.pem"), &cluster.client_tls.cert).unwrap();
    std::fs::write(dir.join("client.key"), &cluster.client_tls.key).unwrap();
    let genesis = cluster.dir.path().join("genesis.json");
    let database = match db {
        Db::Sqlite => String::new(),
        Db::Postgres(url) => format!("database = \"{url}\"\n"),
    };
    let admin = People::new().admin.address().to_checksum(None);
    let text = format!(
        "listen = \"127.0.0.1:{port}\"\ndata_dir = \"data\"\n{database}genesis = \"{}\"\nadmins = [\"{admin}\"]\n\n\
         [tls]\ncert = \"gateway.pem\"\nkey = \"gateway.key\"\n\n[chain]\nca = \"ca.pem\"\ncert = \"client.pem\"\nkey = \"client.key\"\n\n\
         [limits]\n{limits}\n",
        genesis.display()
    );
    let path = dir.join("gateway.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Generous limits so the scenario is not throttled; one test tightens them.
pub const TEST_LIMITS: &str = "per_key_per_minute = 100000\nper_ip_per_minute = 1000000\nburst = 10000\nbad_signatures_per_source = 1000\nsource_lock_seconds = 300\nmax_body_bytes = 65536";

/// A client of the gateway at `addr` acting as `key`.
pub fn client(cluster: &Cluster, addr: std::net::SocketAddr, key: &SecretKey) -> Client {
    Client::new(&format!("https://{addr}"), cluster.ca.ca_pem(), key.clone(), cluster.domain).unwrap()
}

/// The test flow: employees = the employee and `l2[0]`; level 1 (2 of 3), level 2 (1 of 2); ETH limits.
pub fn flow(p: &People, nonce: u64) -> BoxFlow {
    flow_with(p, nonce, 2)
}

/// The test flow with `l1_threshold` of the 3 level-1 approvers.
pub fn flow_with(p: &People, nonce: u64, l1_threshold: u32) -> BoxFlow {
    BoxFlow {
        name: format!("Payments {nonce}"),
        employees: vec![p.employee.address(), p.l2[0].address()],
        levels: vec![
            ApprovalLevel {
                name: "Team leads".into(),
                approvers: p.l1.iter().map(SecretKey::address).collect(),
                threshold: l1_threshold,
            },
            ApprovalLevel {
                name: "Finance".into(),
                approvers: p.l2.iter().map(SecretKey::address).collect(),
                threshold: 1,
            },
        ],
        limits: vec![AssetLimit {
            asset: Address::ZERO,
            perTransfer: U256::from(10u64) * U256::from(10u64).pow(U256::from(18u64)),
            perPeriod: U256::from(1000u64) * U256::from(10u64).pow(U256::from(18u64)),
            periodSeconds: 86_400,
            maxFee: U256::from(10u64).pow(U256::from(17u64)),
        }],
        nonce,
        addressBookOnly: false,
    }
}

/// A request of `amount` wei from `applicant` under `flow`.
pub fn request(flow: FlowHash, applicant: &SecretKey, amount: u128, label: &str) -> TransferRequest {
    TransferRequest {
        requestId: alloy::primitives::keccak256(label.as_bytes()),
        flowHash: flow.0,
        applicant: applicant.address(),
        asset: Address::ZERO,
        to: Address::repeat_byte(0xD5),
        amount: U256::from(amount),
        maxFee: U256::from(10u64).pow(U256::from(16u64)),
        chainId: box_testkit::CHAIN_ID,
        timestamp: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(),
    }
}

/// Waits until the flow reaches `status`.
pub async fn wait_flow(c: &Client, hash: FlowHash, status: FlowState) {
    eventually(&format!("flow {hash} {status}"), Duration::from_secs(90), || async {
        c.flow(hash).await.ok().filter(|f| f.status == status).map(|_| ())
    })
    .await;
}

/// Registers everyone, drafts the flow, submits it, has every key holder
/// enable it, anchors it as the signer would, and waits until it is active.
pub async fn active_flow(cluster: &Cluster, addr: std::net::SocketAddr, p: &People, nonce: u64) -> FlowHash {
    active_flow_with(cluster, addr, p, flow(p, nonce)).await
}

/// Registers the test's people at the gateway at `addr` (the people
/// registry is each gateway's own).
pub async fn register_people(cluster: &Cluster, addr: std::net::SocketAddr, p: &People) {
    let admin = client(cluster, addr, &p.admin);
    admin.register(p.employee.address(), "Erin Employee", &[Role::Employee]).await.unwrap();
    for (i, a) in p.l1.iter().enumerate() {
        admin.register(a.address(), &format!("Lead {i}"), &[Role::Approver]).await.unwrap();
    }
    admin.register(p.l2[0].address(), "Fay Finance", &[Role::Approver, Role::Employee]).await.unwrap();
    admin.register(p.l2[1].address(), "Gus Finance", &[Role::Approver]).await.unwrap();
    admin.register(p.auditor.address(), "Ada Auditor", &[Role::Auditor]).await.unwrap();
}

/// [`active_flow`] with a flow of one's own.
pub async fn active_flow_with(cluster: &Cluster, addr: std::net::SocketAddr, p: &People, f: BoxFlow) -> FlowHash {
    register_people(cluster, addr, p).await;
    let admin = client(cluster, addr, &p.admin);
    let created = admin.create_flow(&f).await.unwrap();
    let hash: FlowHash = created.hash;
    assert_eq!(hash, cluster.domain.flow_hash(&f), "the gateway names the flow by its EIP-712 hash");
    assert_eq!(created.status, FlowState::Draft);
    admin.submit_flow(hash).await.unwrap();
    wait_flow(&admin, hash, FlowState::Notarized).await;
    for kh in &cluster.key_holders {
        client(cluster, addr, kh).authorize_flow(hash, true).await.unwrap();
    }
    wait_flow(&admin, hash, FlowState::Authorized).await;
    anchor(cluster, hash).await;
    wait_flow(&admin, hash, FlowState::Active).await;
    hash
}

/// The signer's report that the flow is anchored (the signer talks to the chain, not the gateway).
pub async fn anchor(cluster: &Cluster, hash: FlowHash) {
    let report = SignerReport {
        subject: hash.0,
        status: ReportStatus::Anchored as u8,
        txHash: B256::repeat_byte(0xA7),
        nonce: 0,
        detail: String::new(),
    };
    let s = Subject::SignerReport(Signed::new(&cluster.domain, &cluster.signer, report));
    cluster.submit(&s.encode()).await;
}

/// The signer's report on transfer `subject` (tx hash `0x7c…`), waited
/// for until it is notarized.
pub async fn report(cluster: &Cluster, subject: B256, status: ReportStatus, detail: &str) {
    let r = SignerReport {
        subject,
        status: status as u8,
        txHash: B256::repeat_byte(0x7C),
        nonce: 0,
        detail: detail.into(),
    };
    let id = cluster.submit(&Subject::SignerReport(Signed::new(&cluster.domain, &cluster.signer, r)).encode()).await;
    // Decided before the next report is sent: a confirmed report judged
    // while the broadcast one is still pending would be refused by the
    // nodes (a transfer is confirmed only once broadcast).
    eventually("the report notarized", Duration::from_secs(90), || async {
        cluster.subject(1, &id).await.filter(|s| s.status.to_string() == "notarized")
    })
    .await;
}

/// Waits until transfer `id` reaches `state`.
pub async fn wait_transfer(c: &Client, id: &TransferId, state: TransferState) -> box_api::TransferOut {
    eventually(&format!("transfer {id} {state}"), Duration::from_secs(90), || async {
        c.transfer(id).await.ok().filter(|t| t.status.state == state)
    })
    .await
}

/// Restarts every node of `cluster` with its clock two days ahead
/// (`BOX_NODE_CLOCK_AHEAD`) and waits until a flow submitted then (seed
/// `seed`) is decided: the log time of its entry passed every deadline of a
/// day or of the retention window, so what was due has retired.
pub async fn two_days_on(cluster: &mut Cluster, seed: u64) {
    for node in 1..=3 {
        cluster.kill(node);
    }
    for node in 1..=3 {
        cluster.spawn_with(node, &[("BOX_NODE_CLOCK_AHEAD", "172800")]);
    }
    cluster.wait_leader().await;
    let later = cluster.submit(&box_testkit::sample_flow(seed).encode()).await;
    eventually("a flow decided two days on", Duration::from_secs(90), || async {
        cluster.subject(1, &later).await.filter(|s| s.status.to_string() == "notarized" && s.height > 0)
    })
    .await;
}
