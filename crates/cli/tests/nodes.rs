//! Adding and removing nodes on a live deployment (issue 15 item 3), as
//! processes: `boxctl dev up` (anvil, three box-node, box-gateway,
//! box-signer), an employee's transfers flowing through `boxctl` the whole
//! time, `boxctl dev node add` twice (3 → 5 nodes), `boxctl dev node remove`
//! of an original node (5 → 4). Nothing is lost: every transfer submitted
//! confirms, exactly once (the recipient holds exactly their sum); the
//! majority is recomputed (status: quorum 3 of 5, then 3 of 4); a transfer
//! applied after each change confirms (the signer verified its quorum
//! certificate against the new registry); the gateway verified blocks sealed
//! after the change; `boxctl audit verify` checks the whole history offline.
//! The removal goes through the operator's `boxctl node` commands (the
//! runbook's): `node remove` shows what is signed and how many signatures it
//! still needs, a second signature by the same key and one by a key that is
//! no node account are refused, the incomplete change is not submitted,
//! `node sign` by two more operators completes it, `node submit`
//! through node 1 with its certificate notarizes it, and `dev node remove`
//! finishes (raft and the gateway drop the node, its process stops).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BOXCTL: &str = env!("CARGO_BIN_EXE_boxctl");
/// Each transfer moves 0.001 ETH.
const MILLI: u128 = 1_000_000_000_000_000;

fn siblings() {
    let dir = Path::new(BOXCTL).parent().unwrap();
    if ["box-node", "box-signer", "box-gateway"].iter().any(|b| !dir.join(b).is_file()) {
        let status = Command::new(env!("CARGO")).args(["build", "--bins"]).status().unwrap();
        assert!(status.success(), "cargo build --bins failed");
    }
}

struct Dev {
    dir: PathBuf,
}

impl Drop for Dev {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Keep the logs for whoever reads the failure (the directory goes with the test).
            let keep = std::env::temp_dir().join(format!("box-nodes-test-logs-{}", std::process::id()));
            let _ = Command::new("cp").arg("-r").arg(self.dir.join("logs")).arg(&keep).status();
            let _ = Command::new("cp").arg(self.dir.join("dev.json")).arg(&keep).status();
            eprintln!("the deployment's logs are kept in {}", keep.display());
        }
        let _ = Command::new(BOXCTL).args(["dev", "down", "--dir"]).arg(&self.dir).output();
    }
}

/// The passphrase node 2's operator encrypts its account key under.
const NODE_KEY_PASSPHRASE: &str = "operator two keeps this passphrase offline";

impl Dev {
    /// Runs boxctl with the deployment's profile; (success, stdout, stderr).
    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let mut cmd = Command::new(BOXCTL);
        cmd.args(args).current_dir(&self.dir).stdin(Stdio::null());
        for v in ["BOX_AS", "BOX_PASSWORD", "BOX_BIN_DIR", "BOX_ANVIL"] {
            cmd.env_remove(v);
        }
        cmd.env("BOX_PROFILE", self.dir.join("boxctl.toml"));
        // The passphrase of the one node account key the test encrypts (node 2's).
        cmd.env(box_ops::unlock::ENV_PASSPHRASE, NODE_KEY_PASSPHRASE);
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args);
        assert!(ok, "boxctl {args:?} failed:\n{out}\n{err}");
        out
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        serde_json::from_str(&self.ok(&a)).unwrap()
    }

    fn status(&self) -> Value {
        self.json(&["--as", "admin", "status"])
    }

    fn registry(&self) -> (Vec<u64>, u64) {
        let st = self.status();
        let ids = st["gateway"]["nodes"].as_array().unwrap().iter().map(|n| n["id"].as_u64().unwrap()).collect();
        (ids, st["gateway"]["quorum"].as_u64().unwrap())
    }

    fn anvil_port(&self) -> u16 {
        let v: Value = serde_json::from_slice(&std::fs::read(self.dir.join("dev.json")).unwrap()).unwrap();
        v["anvil_port"].as_u64().unwrap() as u16
    }
}

/// An address's ETH balance on anvil (JSON-RPC over plain HTTP, 127.0.0.1).
fn balance(port: u16, address: &str) -> u128 {
    let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["{address}","latest"]}}"#);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let json = &text[text.find("\r\n\r\n").unwrap() + 4..];
    let v: Value = serde_json::from_str(json.trim()).unwrap();
    u128::from_str_radix(v["result"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

/// Polls `f` every half second until it gives a value, for at most `secs`.
fn until<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// One transfer applied and approved: its id and when it was applied.
type Applied = (String, Instant);

/// Runs boxctl until it is not refused for the rate limit (the gateway's
/// 600 requests a minute per identity; the load and the checks share it).
fn patient(d: &Dev, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    loop {
        let (ok, out, err) = d.run(&a);
        if ok {
            return serde_json::from_str(&out).unwrap();
        }
        assert!(err.contains("rate_limited"), "boxctl {args:?} failed:\n{out}\n{err}");
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// The employee applies for 0.001 ETH to `to` and manager-1 approves.
fn transfer(d: &Dev, to: &str) -> String {
    let t = patient(
        d,
        &["--as", "employee", "employee", "apply", "--asset", "ETH", "--to", to, "--amount", "0.001", "--yes"],
    );
    let id = t["id"].as_str().unwrap().to_owned();
    patient(d, &["--as", "manager-1", "approve", "yes", &id]);
    id
}

/// Every transfer of the employee's, by id: its state (one request).
fn states(d: &Dev) -> std::collections::HashMap<String, String> {
    let list = patient(d, &["--as", "employee", "employee", "list"]);
    list.as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_str().unwrap().to_owned(), t["status"]["state"].as_str().unwrap().to_owned()))
        .collect()
}

/// Waits until a transfer applied after `since` has confirmed.
fn one_after(d: &Dev, applied: &Mutex<Vec<Applied>>, since: Instant, what: &str) {
    until(what, 300, || {
        let later: Vec<String> =
            applied.lock().unwrap().iter().filter(|(_, at)| *at > since).map(|(id, _)| id.clone()).collect();
        let states = states(d);
        later.iter().any(|id| states.get(id).is_some_and(|s| s == "confirmed")).then_some(())
    });
}

#[test]
fn a_live_deployment_grows_from_three_to_five_nodes_under_load_and_loses_one() {
    siblings();
    let tmp = tempfile::tempdir().unwrap();
    let d = Dev { dir: tmp.path().join("box-dev") };
    std::fs::create_dir_all(&d.dir).unwrap();
    let dir = d.dir.to_str().unwrap().to_owned();
    let (ok, out, err) = d.run(&["dev", "up", "--dir", &dir]);
    assert!(ok, "boxctl dev up failed:\n{out}\n{err}");
    assert_eq!(d.registry(), (vec![1, 2, 3], 2));

    // An employee and a one-level flow, through boxctl.
    let key = box_core::crypto::SecretKey::from_bytes(&[7u8; 32]).unwrap();
    let id = box_cli::profile::write_dev_identity(&d.dir.join("identities"), "employee", &key).unwrap();
    let mut profile = std::fs::read_to_string(d.dir.join("boxctl.toml")).unwrap();
    profile.push_str(&format!(
        "\n[identities.employee]\nkeystore = \"{}\"\npassword_file = \"{}\"\n",
        id.keystore.display(),
        id.password_file.unwrap().display()
    ));
    std::fs::write(d.dir.join("boxctl.toml"), profile).unwrap();
    let employee = key.address().to_checksum(None);
    d.ok(&["--as", "admin", "admin", "register", "--address", &employee, "--name", "Erin", "--role", "employee"]);
    let flow = d.dir.join("flow.toml");
    let keystore: Value =
        serde_json::from_slice(&std::fs::read(d.dir.join("identities/manager-1.json")).unwrap()).unwrap();
    let manager_address = format!("0x{}", keystore["address"].as_str().unwrap().trim_start_matches("0x"));
    d.ok(&["--as", "admin", "admin", "register", "--address", &manager_address, "--name", "Mia", "--role", "approver"]);
    std::fs::write(
        &flow,
        format!(
            "name = \"Payroll\"\nemployees = [\"{employee}\"]\n\n[[levels]]\nname = \"Managers\"\napprovers = [\"{manager_address}\"]\nthreshold = 1\n\n\
             [[limits]]\nasset = \"ETH\"\nper_transfer = \"1\"\nper_period = \"50\"\nperiod = \"1d\"\nmax_fee = \"0.01\"\n"
        ),
    )
    .unwrap();
    let created = d.json(&["--as", "admin", "admin", "flow", "create", "--file", flow.to_str().unwrap(), "--submit"]);
    let hash = created["flow"]["hash"].as_str().unwrap().to_owned();
    let flow_is = |want: &str| {
        d.json(&["--as", "admin", "admin", "flow", "list"])
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["hash"] == hash.as_str() && f["status"] == want)
    };
    until("the flow notarized", 120, || flow_is("notarized").then_some(()));
    for kh in ["keyholder-1", "keyholder-2", "keyholder-3"] {
        d.ok(&["--as", kh, "keyholder", "authorize", &hash, "--yes"]);
    }
    until("the flow active", 180, || flow_is("active").then_some(()));

    // Transfers flow the whole time, one after another, to one recipient.
    let to = format!("0x{}", "5a".repeat(20));
    let applied: Arc<Mutex<Vec<Applied>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (dir, applied, stop, to) = (d.dir.clone(), applied.clone(), stop.clone(), to.clone());
        std::thread::spawn(move || {
            let d = Dev { dir };
            // At most 400: `employee list` shows 500.
            while !stop.load(Ordering::SeqCst) && applied.lock().unwrap().len() < 400 {
                let at = Instant::now();
                let id = transfer(&d, &to);
                applied.lock().unwrap().push((id, at));
                // A steady load, not a flood: the rate limit is per identity.
                std::thread::sleep(Duration::from_millis(500));
            }
            std::mem::forget(d); // the main thread's guard stops the deployment
        })
    };

    // --- 3 → 5 ---
    for (node, want) in [(4u64, vec![1, 2, 3, 4]), (5, vec![1, 2, 3, 4, 5])] {
        let (ok, out, err) = d.run(&["dev", "node", "add", "--dir", &dir]);
        assert!(ok, "dev node add failed:\n{out}\n{err}");
        assert!(out.contains(&format!("node {node} added")), "{out}");
        assert!(out.contains("to be signed (NodeChange): add node"), "{out}");
        assert!(out.contains(&format!("{0} of {0} signed: ready to submit", node - 1)), "{out}");
        assert!(out.contains(&format!("node {node} is a voter and has caught up")), "{out}");
        let since = Instant::now();
        assert_eq!(d.registry().0, want);
        one_after(&d, &applied, since, &format!("a transfer applied after node {node} joined, confirmed"));
    }
    let (_, quorum) = d.registry();
    assert_eq!(quorum, 3, "3 of 5");
    let text = d.ok(&["--as", "admin", "status"]);
    assert!(text.contains("node registry (verified): quorum 3 of 5"), "{text}");

    // --- the operator's commands: what is signed, what is still needed ---
    let file = d.dir.join("remove-3.json");
    let file_s = file.to_str().unwrap();
    // The dev deployment's node keys are plaintext: read only with --dev, as box-node does.
    let (ok, _, err) =
        d.run(&["--as", "admin", "node", "remove", "3", "--sign-with", "keys/node-1.json", "--file", file_s]);
    assert!(!ok && err.contains("is not encrypted; a plaintext key is accepted only with --dev"), "{err}");
    assert!(!file.exists(), "nothing written after a refusal");
    let (ok, out, err) =
        d.run(&["--as", "admin", "node", "remove", "3", "--sign-with", "keys/node-1.json", "--dev", "--file", file_s]);
    assert!(ok, "{out}{err}");
    assert!(err.contains("to be signed (NodeChange): remove node 3"), "{err}");
    assert!(out.contains("1 of 3 signed; waiting for 2 more of"), "{out}");
    let (ok, _, err) = d.run(&["--as", "admin", "node", "sign", file_s, "--sign-with", "keys/node-1.json", "--dev"]);
    assert!(!ok && err.contains("has signed this change already"), "{err}");
    let stranger = d.dir.join("stranger.json");
    box_ops::keyfile::generate(&stranger, [9u8; 32]).unwrap();
    let (ok, _, err) =
        d.run(&["--as", "admin", "node", "sign", file_s, "--sign-with", stranger.to_str().unwrap(), "--dev"]);
    assert!(!ok && err.contains("is not a registered node account"), "{err}");
    let dev_json: Value = serde_json::from_slice(&std::fs::read(d.dir.join("dev.json")).unwrap()).unwrap();
    let node1 = format!("127.0.0.1:{}", dev_json["node_ports"][0]);
    let submit = [
        "--as",
        "admin",
        "node",
        "submit",
        file_s,
        "--node",
        &node1,
        "--ca",
        "tls/ca.pem",
        "--cert",
        "tls/node-1.pem",
        "--cert-key",
        "tls/node-1.key",
    ];
    let (ok, out, err) = d.run(&submit);
    assert!(!ok && err.contains("1 of 3 signed") && err.contains("nothing was submitted"), "{out}{err}");
    // Completed by two more operators, submitted by hand through node 1.
    // Node 2's operator keeps its account key encrypted, as production does
    // (`box-node keygen --from` converts the plaintext one).
    let keygen = Command::new(Path::new(BOXCTL).with_file_name("box-node"))
        .args(["keygen", "--from", "keys/node-2.json", "--out", "node-2.keystore"])
        .current_dir(&d.dir)
        .env(box_ops::unlock::ENV_PASSPHRASE, NODE_KEY_PASSPHRASE)
        .output()
        .unwrap();
    assert!(keygen.status.success(), "{}", String::from_utf8_lossy(&keygen.stderr));
    let out = d.ok(&["--as", "admin", "node", "sign", file_s, "--sign-with", "node-2.keystore"]);
    assert!(out.contains("2 of 3 signed; waiting for 1 more of"), "{out}");
    let out = d.ok(&["--as", "admin", "node", "sign", file_s, "--sign-with", "keys/node-4.json", "--dev"]);
    assert!(out.contains("3 of 3 signed: ready to submit"), "{out}");
    let out = d.ok(&submit);
    assert!(out.contains("notarized: remove node 3"), "{out}");
    // The runbook's check: the gateway's verified registry drops it, the majority is recomputed.
    until("the gateway's registry without node 3", 120, || (d.registry() == (vec![1, 2, 4, 5], 3)).then_some(()));

    // --- 5 → 4: an original node leaves (the signer and gateway listed it) ---
    // `dev node remove` finishes it: raft and the gateway drop node 3, its process stops.
    let (ok, out, err) = d.run(&["dev", "node", "remove", "3", "--dir", &dir]);
    assert!(ok, "dev node remove failed:\n{out}\n{err}");
    assert!(out.contains("no longer registered") && out.contains("box-node 3 stopped"), "{out}");
    let since = Instant::now();
    assert_eq!(d.registry(), (vec![1, 2, 4, 5], 3), "3 of 4");
    one_after(&d, &applied, since, "a transfer applied after node 3 left, confirmed");
    let text = d.ok(&["--as", "admin", "status"]);
    assert!(text.contains("node registry (verified): quorum 3 of 4"), "{text}");

    // --- nothing lost: every transfer confirms, exactly once ---
    stop.store(true, Ordering::SeqCst);
    load.join().unwrap();
    let all: Vec<String> = applied.lock().unwrap().iter().map(|(id, _)| id.clone()).collect();
    assert!(all.len() >= 3, "only {} transfers flowed", all.len());
    until("every transfer confirmed", 600, || {
        let states = states(&d);
        all.iter().all(|id| states.get(id).is_some_and(|s| s == "confirmed")).then_some(())
    });
    assert_eq!(
        balance(d.anvil_port(), &to),
        all.len() as u128 * MILLI,
        "each of {} transfers paid exactly once",
        all.len()
    );
    eprintln!("{} transfers flowed through 3 → 4 → 5 → 4 nodes; each confirmed and paid once", all.len());

    // The gateway verified past the change, and the history verifies offline.
    let st = d.status();
    assert!(st["gateway"]["verifiedHeight"].as_u64().unwrap() > 0);
    let export = d.dir.join("export.json");
    d.ok(&["--as", "admin", "audit", "export", "--out", export.to_str().unwrap()]);
    let v = d.json(&["--as", "admin", "audit", "verify", export.to_str().unwrap()]);
    assert!(v["blocks"].as_u64().unwrap() > 0, "{v}");
}
