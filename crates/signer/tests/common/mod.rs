//! Shared harness for the signer's end-to-end tests: a real `box-signer`
//! process, and key holders that speak the ceremony through a node's gRPC API.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used, clippy::needless_range_loop)]

use box_core::ceremony::{Ceremony, Purpose, SignerAnnounce, SignerState, answer, answer_reenrol, endorse};
use box_core::crypto::SecretKey;
use box_core::encoding::Canonical;
use box_core::notary::Entry;
use box_core::typed::Domain;
use box_core::{Address, B256, Signature};
use box_ops::certs::DevCa;
use box_ops::keyfile;
use box_ops::role::CertRole;
use box_proto::Outcome;
use box_proto::pb;
use box_proto::pb::notary_client::NotaryClient;
use box_proto::reply::ProposeReply;
use box_proto::{Channels, TlsMaterial};
use box_testkit::eventually;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tonic::transport::Channel;

pub const SIGNER_BIN: &str = env!("CARGO_BIN_EXE_box-signer");

/// Phrases of the three test key holders.
pub const PHRASES: [&str; 3] =
    ["copper lantern orbits quietly", "seven herons fold the map", "violet anchor under rain"];

/// `box-node`, built next to this test binary (cargo builds workspace
/// binaries before integration tests only for their own package).
pub fn box_node_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let bin = dir.join("box-node");
    // A workspace test run builds box-node with the other binaries; a
    // benchmark (release) asks cargo every time, since a stale release
    // build from before a protocol change fails in confusing ways.
    let release = dir.ends_with("release");
    if release || !bin.exists() {
        let mut args = vec!["build", "--quiet", "-p", "box-chain", "--bin", "box-node"];
        if release {
            args.push("--release");
        }
        let status = Command::new(env!("CARGO")).args(&args).status().expect("cargo build box-node");
        assert!(status.success(), "building box-node failed");
    }
    bin
}

/// A `box-signer` process with its files.
pub struct SignerProc {
    pub dir: PathBuf,
    pub config: PathBuf,
    pub log: PathBuf,
    child: Option<Child>,
}

impl SignerProc {
    /// Writes a signer config in `dir` for `nodes`, trusting `ca`.
    #[allow(clippy::too_many_arguments)]
    pub fn prepare(
        dir: &Path,
        ca: &DevCa,
        genesis: &Path,
        identity: &SecretKey,
        nodes: &[String],
        rpc: &str,
        chain_id: u64,
        replace_after_secs: u64,
    ) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.ca_pem()).unwrap();
        let (cert, key) = ca.issue("box-signer", CertRole::Signer, &["127.0.0.1".into()]).unwrap();
        std::fs::write(dir.join("signer.pem"), cert).unwrap();
        std::fs::write(dir.join("signer.key"), key).unwrap();
        let key_path = dir.join("identity.json");
        if !key_path.exists() {
            keyfile::generate(&key_path, *identity.expose_bytes()).unwrap();
        }
        let nodes: Vec<String> = nodes.iter().map(|n| format!("\"{n}\"")).collect();
        let config = format!(
            "data_dir = \"data\"\ngenesis = \"{}\"\nidentity_key = \"identity.json\"\nnodes = [{}]\nlock_after_failures = 3\n\n\
             [tls]\nca = \"ca.pem\"\ncert = \"signer.pem\"\nkey = \"signer.key\"\n\n\
             [ethereum]\nrpc = \"{rpc}\"\nchain_id = {chain_id}\nconfirmations = 1\npoll_ms = 100\nreplace_after_secs = {replace_after_secs}\n",
            genesis.display(),
            nodes.join(", "),
        );
        let path = dir.join("signer.toml");
        std::fs::write(&path, config).unwrap();
        Self { dir: dir.to_owned(), config: path, log: dir.join("signer.log"), child: None }
    }

    /// A signer in `c`'s directory (`dir` under it) following every node of
    /// `c`, with its genesis and CA, using the Ethereum node at `rpc`.
    pub fn for_cluster(c: &box_testkit::Cluster, dir: &str, rpc: &str, chain_id: u64) -> Self {
        Self::prepare(
            &c.dir.path().join(dir),
            &c.ca,
            &c.dir.path().join("genesis.json"),
            &c.signer,
            &cluster_nodes(c),
            rpc,
            chain_id,
            60,
        )
    }

    /// Starts the process with extra arguments and environment.
    pub fn spawn(&mut self, args: &[&str], env: &[(&str, &str)]) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let mut cmd = Command::new(SIGNER_BIN);
        // Plaintext identity key (--dev); the enrolment code and d to a file, not a terminal.
        cmd.arg("run").arg("--dev").arg("--enrolment-out").arg(self.revealed_file());
        cmd.arg("--config").arg(&self.config).args(args);
        cmd.env("RUST_LOG", "info,box_signer=debug").env_remove("BOX_SIGNER_FAULT");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdout(log.try_clone().unwrap()).stderr(log).stdin(Stdio::null());
        self.child = Some(cmd.spawn().unwrap());
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops the process with `SIGTERM`, as systemd does; returns how it exited.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("the signer is running");
        box_testkit::terminate(&mut c)
    }

    /// Waits for the process to exit by itself; returns its status code.
    pub async fn exited(&mut self, within: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                self.child = None;
                return Some(status.code().unwrap_or(-1));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// Everything the process wrote.
    pub fn output(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// `box-signer show-backup` (the signer must be stopped): the wallet and `d` (hex, no 0x).
    pub fn show_backup(&self) -> (Address, String) {
        let out = Command::new(SIGNER_BIN).arg("show-backup").arg("--config").arg(&self.config).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "show-backup failed: {text}{}", String::from_utf8_lossy(&out.stderr));
        let field = |label: &str| text.lines().find_map(|l| l.strip_prefix(label)).map(str::trim).unwrap();
        (field("hot wallet:").parse().unwrap(), field("d: 0x").to_owned())
    }

    /// How many Argon2id runs the signer has logged (all boots).
    pub fn argon2_runs(&self) -> usize {
        self.output().matches("Argon2id run ").count()
    }

    /// The file the signer shows the enrolment code and `d` in (`--enrolment-out`).
    pub fn revealed_file(&self) -> PathBuf {
        self.dir.join("enrolment.txt")
    }

    /// What the signer showed in [`Self::revealed_file`] (all boots).
    pub fn revealed(&self) -> String {
        std::fs::read_to_string(self.revealed_file()).unwrap_or_default()
    }

    /// The enrolment code shown to the operator at the latest boot.
    pub async fn enrolment_code(&self) -> String {
        eventually("the enrolment code on the console", Duration::from_secs(60), || async {
            let out = self.revealed();
            out.lines().rev().find_map(|l| l.split("one-time enrolment code: ").nth(1)).map(|c| c.trim().to_owned())
        })
        .await
    }
}

impl Drop for SignerProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Every node address of `c`.
pub fn cluster_nodes(c: &box_testkit::Cluster) -> Vec<String> {
    c.nodes.iter().map(|n| n.addr.clone()).collect()
}

/// Key holders (the genesis's `key-holder-i`) talking to the signer through a node.
pub struct Holders {
    pub domain: Domain,
    pub keys: Vec<SecretKey>,
    client: NotaryClient<Channel>,
}

impl Holders {
    pub fn new(domain: Domain, keys: Vec<SecretKey>, tls: &TlsMaterial, node: &str) -> Self {
        let client = NotaryClient::new(Channels::new(tls.client()).get(node).unwrap());
        Self { domain, keys, client }
    }

    /// The signer's latest announcement on the chain.
    pub async fn announce(&self) -> Option<SignerAnnounce> {
        let s = self.client.clone().signer_status(pb::SignerStatusQuery {}).await.ok()?.into_inner();
        match Ceremony::decode(&s.announce).ok()? {
            Ceremony::Announce(a) => Some(a.value),
            Ceremony::Message(_) => None,
        }
    }

    /// Waits for an announcement satisfying `ok`.
    pub async fn wait(&self, what: &str, ok: impl Fn(&SignerAnnounce) -> bool) -> SignerAnnounce {
        eventually(what, Duration::from_secs(90), || async { self.announce().await.filter(|a| ok(a)) }).await
    }

    /// Waits for a fresh boot (a boot other than `old`) in `state`.
    pub async fn boot(&self, old: Option<B256>, state: SignerState) -> SignerAnnounce {
        self.wait(&format!("a new boot in state {}", state.as_str()), |a| Some(a.boot) != old && a.state == state as u8)
            .await
    }

    /// Key holder `slot` sends `payload` for `purpose` (with its own device key).
    pub async fn send(&self, slot: usize, a: &SignerAnnounce, purpose: Purpose, payload: &[u8]) {
        self.send_as(&self.keys[slot], slot, a, purpose, payload).await;
    }

    /// Sends a ceremony message for `slot` signed by `device`.
    pub async fn send_as(&self, device: &SecretKey, slot: usize, a: &SignerAnnounce, purpose: Purpose, payload: &[u8]) {
        let mut rng = rand_core::UnwrapErr(rand_core::OsRng);
        let c = answer(&self.domain, device, a, purpose, slot as u8, &format!("device-{slot}"), payload, 1, &mut rng)
            .unwrap();
        self.propose(c).await;
    }

    /// Key holder `endorser`'s enrolled device vouches for `device` re-enrolling `slot` in `a`'s boot.
    pub fn endorse(&self, endorser: usize, a: &SignerAnnounce, slot: usize, device: Address) -> Signature {
        endorse(&self.domain, &self.keys[endorser], a.boot, slot as u8, device)
    }

    /// `device` re-enrols for `slot` with `phrase` and `endorsement`.
    pub async fn reenrol(
        &self,
        device: &SecretKey,
        slot: usize,
        a: &SignerAnnounce,
        phrase: &[u8],
        endorsement: &Signature,
    ) {
        let mut rng = rand_core::UnwrapErr(rand_core::OsRng);
        let c =
            answer_reenrol(&self.domain, device, a, slot as u8, "new-phone", phrase, endorsement, 1, &mut rng).unwrap();
        self.propose(c).await;
    }

    async fn propose(&self, c: Ceremony) {
        let r = self
            .client
            .clone()
            .propose(pb::ProposeRequest { entry: Entry::Ceremony(c).encode(), forwarded: false })
            .await
            .unwrap();
        assert_eq!(ProposeReply::from_wire(r.into_inner()).unwrap().outcome, Outcome::Relayed);
    }

    /// The whole genesis ceremony with the signer's console `code`: every
    /// holder enrols, then sends their phrase. Returns the wallet address.
    pub async fn genesis(&self, code: &str) -> Address {
        self.genesis_after(None, code).await
    }

    /// [`Self::genesis`] with a boot other than `old` (a signer stopped
    /// while it awaited enrolment leaves its announcement on the chain).
    pub async fn genesis_after(&self, old: Option<B256>, code: &str) -> Address {
        let a = self.boot(old, SignerState::AwaitingEnrolment).await;
        for slot in 0..self.keys.len() {
            self.send(slot, &a, Purpose::Enrol, code.as_bytes()).await;
        }
        let a = self.wait("every device enrolled", |a| a.state == SignerState::AwaitingGenesis as u8).await;
        for slot in 0..self.keys.len() {
            self.send(slot, &a, Purpose::Phrase, PHRASES[slot].as_bytes()).await;
        }
        self.wait("the genesis done", |a| a.state == SignerState::Unsealed as u8 && !a.wallet.is_zero()).await.wallet
    }

    /// Unseals a freshly booted signer (boot other than `old`).
    pub async fn unseal(&self, old: Option<B256>) -> SignerAnnounce {
        let a = self.boot(old, SignerState::Sealed).await;
        for slot in 0..self.keys.len() {
            self.send(slot, &a, Purpose::Phrase, PHRASES[slot].as_bytes()).await;
        }
        let boot = a.boot;
        self.wait("unsealed", |x| x.boot == boot && x.state == SignerState::Unsealed as u8).await
    }
}

/// Every file under `dir`, concatenated (for secret greps).
pub fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(b) = std::fs::read(&p) {
                out.extend_from_slice(&b);
            }
        }
    }
    out
}

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// One ether in wei.
pub fn ether(n: u64) -> box_core::U256 {
    box_core::U256::from(n) * box_core::U256::from(10u64).pow(box_core::U256::from(18u64))
}

/// The people of the test flow.
pub struct People {
    pub employee: SecretKey,
    pub managers: [SecretKey; 2],
    pub finance: [SecretKey; 2],
}

impl People {
    pub fn new() -> Self {
        let k = box_testkit::key;
        Self {
            employee: k("employee"),
            managers: [k("manager-1"), k("manager-2")],
            finance: [k("finance-1"), k("finance-2")],
        }
    }

    /// Two levels (Manager 1 of 2, Finance 2 of 2); ETH 5 per transfer, 8
    /// per day; `token` 1000 per transfer, 2000 per day.
    pub fn flow(&self, token: Address) -> box_core::typed::BoxFlow {
        use box_core::typed::{ApprovalLevel, AssetLimit, BoxFlow};
        BoxFlow {
            name: "payments".into(),
            employees: vec![self.employee.address()],
            levels: vec![
                ApprovalLevel {
                    name: "Manager".into(),
                    approvers: self.managers.iter().map(SecretKey::address).collect(),
                    threshold: 1,
                },
                ApprovalLevel {
                    name: "Finance".into(),
                    approvers: self.finance.iter().map(SecretKey::address).collect(),
                    threshold: 2,
                },
            ],
            limits: vec![
                AssetLimit {
                    asset: Address::ZERO,
                    perTransfer: ether(5),
                    perPeriod: ether(8),
                    periodSeconds: 86_400,
                    maxFee: ether(1) / box_core::U256::from(10u64),
                },
                AssetLimit {
                    asset: token,
                    perTransfer: ether(1000),
                    perPeriod: ether(2000),
                    periodSeconds: 86_400,
                    maxFee: ether(1) / box_core::U256::from(10u64),
                },
            ],
            nonce: 1,
            addressBookOnly: false,
        }
    }

    /// A request approved at the first `levels` levels.
    pub fn transfer(
        &self,
        domain: &Domain,
        flow: B256,
        asset: Address,
        to: Address,
        amount: box_core::U256,
        levels: usize,
    ) -> box_core::transbox::TransBox {
        self.sign(domain, self.request(domain, flow, asset, to, amount), levels)
    }

    /// A fresh request from the employee.
    pub fn request(
        &self,
        domain: &Domain,
        flow: B256,
        asset: Address,
        to: Address,
        amount: box_core::U256,
    ) -> box_core::typed::TransferRequest {
        let mut id = B256::ZERO;
        rand_core::RngCore::fill_bytes(&mut rand_core::UnwrapErr(rand_core::OsRng), id.as_mut_slice());
        box_core::typed::TransferRequest {
            requestId: id,
            flowHash: flow,
            applicant: self.employee.address(),
            asset,
            to,
            amount,
            maxFee: box_core::U256::from(10_000_000_000_000_000u64),
            chainId: domain.chain_id.0,
            timestamp: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(),
        }
    }

    /// `request` signed by the employee and approved at the first `levels` levels.
    pub fn sign(
        &self,
        domain: &Domain,
        request: box_core::typed::TransferRequest,
        levels: usize,
    ) -> box_core::transbox::TransBox {
        let mut tb = box_core::transbox::TransBox::apply(domain, request, &self.employee);
        if levels >= 1 {
            tb.approve(domain, 1, &self.managers[0]);
        }
        if levels >= 2 {
            tb.approve(domain, 2, &self.finance[0]);
            tb.approve(domain, 2, &self.finance[1]);
        }
        tb
    }
}

/// A governance action signed by `signers`.
pub fn governance(
    domain: &Domain,
    action: box_core::governance::GovernanceAction,
    signers: &[SecretKey],
) -> box_core::notary::Subject {
    let h = action.signing_hash(domain);
    box_core::notary::Subject::Governance(box_core::governance::SignedAction {
        action,
        signatures: signers.iter().map(|k| k.sign_hash(&h)).collect(),
    })
}

/// Every key holder enables `flow`.
pub fn authorizations(domain: &Domain, holders: &[SecretKey], flow: B256) -> Vec<box_core::notary::Subject> {
    use box_core::typed::{FlowAuthorization, Signed};
    holders
        .iter()
        .map(|k| {
            box_core::notary::Subject::FlowAuthorization(Signed::new(
                domain,
                k,
                FlowAuthorization { flowHash: flow, enable: true },
            ))
        })
        .collect()
}
