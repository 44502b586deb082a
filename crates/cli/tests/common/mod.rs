//! Test harness for boxctl: the `boxctl` binary run as a process, and a real
//! deployment for it to talk to: anvil, a 3-node `box-node` cluster, a
//! `box-signer` process, and a `box-gateway` over HTTPS (in this process),
//! with keystore v3 identities and a profile file.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use box_cli::keystore::{self, ScryptCost};
use box_core::crypto::SecretKey;
use box_gateway::Gateway;
use box_gateway::config::GatewayConfig;
use box_ops::role::CertRole;
use box_testkit::anvil::Anvil;
use box_testkit::{Cluster, eventually, free_port, key};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

pub const BOXCTL: &str = env!("CARGO_BIN_EXE_boxctl");

/// A workspace binary beside boxctl (`box-node`, `box-signer`), built if missing.
pub fn sibling(name: &str, package: &str) -> PathBuf {
    let dir = Path::new(BOXCTL).parent().unwrap();
    let bin = dir.join(name);
    if !bin.exists() {
        let status = Command::new(env!("CARGO")).args(["build", "-p", package, "--bin", name]).status().unwrap();
        assert!(status.success(), "building {name} failed");
    }
    bin
}

/// What a boxctl run did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts success; returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "boxctl failed:\nstdout: {}\nstderr: {}", self.stdout, self.stderr);
        &self.stdout
    }

    /// Asserts exit `code` and that stderr mentions `needle`.
    #[track_caller]
    pub fn refused(&self, code: i32, needle: &str) {
        assert_eq!(self.code, code, "expected exit {code}:\nstdout: {}\nstderr: {}", self.stdout, self.stderr);
        assert!(self.stderr.contains(needle), "stderr lacks {needle:?}:\n{}", self.stderr);
    }

    /// stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.ok()).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

/// Every boxctl output in these tests reads as words for people: no Rust
/// `Debug` text on stdout or stderr, refusals included (issue 17 item 6).
fn finish(out: Output) -> Run {
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    box_testkit::assert_for_people("boxctl's stdout", &run.stdout);
    box_testkit::assert_for_people("boxctl's stderr", &run.stderr);
    run
}

/// Runs boxctl with `args` and `env` (and nothing inherited that changes its behaviour).
pub fn boxctl(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(BOXCTL);
    cmd.args(args).stdin(Stdio::null());
    for v in ["BOX_PROFILE", "BOX_AS", "BOX_PASSWORD", "BOX_PHRASE", "XDG_CONFIG_HOME"] {
        cmd.env_remove(v);
    }
    cmd.env("HOME", "/nonexistent");
    for (k, v) in env {
        cmd.env(k, v);
    }
    finish(cmd.output().unwrap())
}

/// Writes `key` as a keystore v3 file and its password beside it; returns the keystore path.
pub fn write_identity(dir: &Path, name: &str, key: &SecretKey) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let password = format!("password of {name}");
    let json = keystore::encrypt(key, &password, ScryptCost::LIGHT).unwrap();
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
    std::fs::write(dir.join(format!("{name}.password")), password).unwrap();
    path
}

/// The names and keys of the test deployment's identities.
pub fn people() -> Vec<(&'static str, SecretKey)> {
    vec![
        ("kh-1", key("key-holder-0")),
        ("kh-2", key("key-holder-1")),
        ("kh-3", key("key-holder-2")),
        ("admin", key("admin")),
        ("manager-1", key("manager-1")),
        ("manager-2", key("manager-2")),
        ("finance-1", key("finance-1")),
        ("finance-2", key("finance-2")),
        ("auditor", key("auditor")),
    ]
}

/// A `box-signer` process, killed on drop.
pub struct Signer {
    child: Child,
    pub log: PathBuf,
}

impl Drop for Signer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Signer {
    /// What the signer printed.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The one-time enrolment code from its console.
    pub async fn enrolment_code(&self) -> String {
        eventually("the enrolment code on the signer's console", Duration::from_secs(60), || async {
            self.output().lines().find_map(|l| l.split("one-time enrolment code: ").nth(1)).map(|c| c.trim().to_owned())
        })
        .await
    }

    /// `d` as printed at genesis, if it was (it must not be: the log is not a terminal).
    pub fn d(&self) -> Option<String> {
        self.output().lines().find_map(|l| l.split("d = 0x").nth(1).map(|r| format!("0x{}", &r[..64])))
    }

    /// Stops the signer and runs `box-signer show-backup`: the wallet and `d` (`0x…`).
    pub fn stop_and_show_backup(&mut self, config: &Path) -> (box_core::Address, String) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let out = Command::new(sibling("box-signer", "box-signer"))
            .args(["show-backup", "--config"])
            .arg(config)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "show-backup failed: {text}{}", String::from_utf8_lossy(&out.stderr));
        let field = |label: &str| text.lines().find_map(|l| l.strip_prefix(label)).map(str::trim).unwrap().to_owned();
        (field("hot wallet:").parse().unwrap(), field("d:"))
    }
}

/// A whole deployment and a profile for boxctl.
pub struct Deployment {
    pub anvil: Anvil,
    pub cluster: Cluster,
    pub gateway: Gateway,
    pub signer: Signer,
    pub dir: tempfile::TempDir,
    pub profile: PathBuf,
}

impl Deployment {
    /// Starts everything; the signer waits for enrolment.
    pub async fn start() -> Self {
        let anvil = Anvil::start().await;
        let cluster = Cluster::start(&sibling("box-node", "box-chain"), 3, 0).await;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let genesis = cluster.dir.path().join("genesis.json");
        std::fs::write(d.join("ca.pem"), cluster.ca.ca_pem()).unwrap();

        // The gateway, over HTTPS, in this process.
        let gw = d.join("gateway");
        std::fs::create_dir_all(&gw).unwrap();
        let (cert, key_pem) =
            cluster.ca.issue("gateway", CertRole::Gateway, &["127.0.0.1".into(), "localhost".into()]).unwrap();
        std::fs::write(gw.join("gateway.pem"), cert).unwrap();
        std::fs::write(gw.join("gateway.key"), key_pem).unwrap();
        std::fs::write(gw.join("client.pem"), &cluster.client_tls.cert).unwrap();
        std::fs::write(gw.join("client.key"), &cluster.client_tls.key).unwrap();
        let config = format!(
            "listen = \"127.0.0.1:{}\"\ndata_dir = \"data\"\ngenesis = \"{}\"\nadmins = [\"{}\"]\neth_rpc = \"{}\"\n\n\
             [tls]\ncert = \"gateway.pem\"\nkey = \"gateway.key\"\n\n[chain]\nca = \"../ca.pem\"\ncert = \"client.pem\"\nkey = \"client.key\"\n\n\
             [limits]\nper_key_per_minute = 100000\nper_ip_per_minute = 1000000\nburst = 10000\n",
            free_port(),
            genesis.display(),
            key("admin").address().to_checksum(None),
            anvil.endpoint(),
        );
        std::fs::write(gw.join("gateway.toml"), config).unwrap();
        let gateway = Gateway::start(&GatewayConfig::load(&gw.join("gateway.toml")).unwrap()).await.unwrap();

        // The signer, as a process.
        let sd = d.join("signer");
        std::fs::create_dir_all(&sd).unwrap();
        let (cert, key_pem) = cluster.ca.issue("box-signer", CertRole::Signer, &["127.0.0.1".into()]).unwrap();
        std::fs::write(sd.join("signer.pem"), cert).unwrap();
        std::fs::write(sd.join("signer.key"), key_pem).unwrap();
        box_ops::keyfile::generate(&sd.join("identity.json"), *cluster.signer.expose_bytes()).unwrap();
        let nodes: Vec<String> = cluster.nodes.iter().map(|n| format!("\"{}\"", n.addr)).collect();
        let config = format!(
            "data_dir = \"data\"\ngenesis = \"{}\"\nidentity_key = \"identity.json\"\nnodes = [{}]\nlock_after_failures = 3\n\n\
             [tls]\nca = \"../ca.pem\"\ncert = \"signer.pem\"\nkey = \"signer.key\"\n\n\
             [ethereum]\nrpc = \"{}\"\nchain_id = {}\nconfirmations = 1\npoll_ms = 100\nreplace_after_secs = 60\n",
            genesis.display(),
            nodes.join(", "),
            anvil.endpoint(),
            anvil.chain_id(),
        );
        std::fs::write(sd.join("signer.toml"), config).unwrap();
        let log = sd.join("signer.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(sibling("box-signer", "box-signer"))
            .args(["run", "--config"])
            .arg(sd.join("signer.toml"))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let signer = Signer { child, log };

        // The identities and the profile.
        let keys = d.join("keys");
        let mut profile = format!(
            "gateway = \"https://{}\"\nca = \"ca.pem\"\ngenesis = \"{}\"\ndefault_identity = \"admin\"\n",
            gateway.addr,
            genesis.display()
        );
        for (name, k) in people() {
            write_identity(&keys, name, &k);
            profile.push_str(&format!(
                "\n[identities.{name}]\nkeystore = \"keys/{name}.json\"\npassword_file = \"keys/{name}.password\"\n"
            ));
        }
        let path = d.join("profile.toml");
        std::fs::write(&path, profile).unwrap();
        Self { anvil, cluster, gateway, signer, dir, profile: path }
    }

    /// Runs boxctl on this deployment as `who` (an identity name, or "" for the default).
    pub fn run(&self, who: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut e: Vec<(&str, &str)> = vec![("BOX_PROFILE", self.profile.to_str().unwrap())];
        if !who.is_empty() {
            e.push(("BOX_AS", who));
        }
        e.extend_from_slice(env);
        boxctl(args, &e)
    }

    /// A file path in the deployment's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Polls `boxctl … --json` until `ok` holds (a readiness wait with a deadline, not a timed assertion).
    pub async fn until(
        &self,
        what: &str,
        who: &str,
        args: &[&str],
        ok: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        eventually(what, Duration::from_secs(120), || async {
            let r = self.run(who, args, &[]);
            if r.code != 0 {
                return None;
            }
            serde_json::from_str(&r.stdout).ok().filter(|v| ok(v))
        })
        .await
    }
}
