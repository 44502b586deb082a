//! The web console (issue 16) in a real browser against a real deployment:
//! `boxctl dev up` (anvil, three box-node, box-gateway, box-signer), then
//! Debian's headless Chromium driven by puppeteer-core
//! (`tools/test-support/console-e2e.mjs`, one phase per run):
//!
//! - a key holder authorizes the flow through an injected EIP-1193 wallet that
//!   signs with @metamask/eth-sig-util (the other two with boxctl's client);
//! - an employee applies with a keystore file; a level-1 approver approves
//!   with a keystore file and a level-2 approver through the injected wallet;
//!   the transfer confirms on anvil with the right amount;
//! - the same level-2 approver, through a relay that changes the destination
//!   in the JSON, is refused in the browser before anything is signed;
//! - a wrong keystore password, an expired session and a 429 from the gateway
//!   each show a clear message;
//! - the auditor's verify button checks the history; a key holder pauses.
//!
//! Screenshots of every page go to `target/tmp/console-screenshots/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use box_api::{Client, FlowState, Role, TransferState};
use box_cli::dev::Stack;
use box_cli::keystore::{self, ScryptCost};
use box_core::crypto::SecretKey;
use box_core::ids::{FlowHash, TransferId};
use box_core::typed::{ApprovalLevel, AssetLimit, BoxFlow};
use box_core::{Address, U256};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BOXCTL: &str = env!("CARGO_BIN_EXE_boxctl");

/// box-node, box-signer and box-gateway beside boxctl, built now: the
/// gateway embeds the console, which must be the one under test (a no-op when
/// they are up to date).
fn siblings() {
    // With the environment a shell has: the test runner's variables would give
    // cargo other fingerprints and rebuild the dependencies (twice per run).
    let mut cargo = Command::new(env!("CARGO"));
    cargo.env_clear().args(["build", "--workspace", "--bins"]).current_dir(env!("CARGO_MANIFEST_DIR"));
    for v in ["PATH", "HOME", "CARGO_HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN", "CARGO_TARGET_DIR", "TMPDIR"] {
        if let Some(x) = std::env::var_os(v) {
            cargo.env(v, x);
        }
    }
    let status = cargo.status().unwrap();
    assert!(status.success(), "cargo build --bins failed");
}

/// Stops the deployment even when an assertion fails.
struct Down(PathBuf);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = Command::new(BOXCTL).args(["dev", "down", "--dir"]).arg(&self.0).output();
    }
}

fn tools() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools")
}

/// Runs one phase of the browser script; returns what it printed (JSON).
fn browser(phase: &str, config: &Value) -> Value {
    assert!(Path::new("/usr/bin/chromium").exists(), "Debian's chromium is needed (tools/test installs it)");
    assert!(tools().join("node_modules/puppeteer-core").is_dir(), "run `npm ci --prefix tools` (tools/test does)");
    let out = Command::new("node")
        .arg(tools().join("test-support/console-e2e.mjs"))
        .arg(phase)
        .arg(config.to_string())
        .current_dir(tools())
        .stdin(Stdio::null())
        .output()
        .expect("node is needed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "browser phase {phase} failed:\n{stderr}\n{stdout}");
    let v: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("phase {phase} printed no JSON ({e}):\n{stdout}\n{stderr}"));
    assert_eq!(v["errors"], json!([]), "phase {phase}: script errors in the page");
    v
}

/// The primary types the injected wallet was asked to sign, other than API requests.
fn objects_signed(v: &Value) -> Vec<String> {
    v["signed"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|t| *t != "ApiRequest")
        .map(String::from)
        .collect()
}

async fn wait<T, F, Fut>(what: &str, within: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn eth(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18u64))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_chromium_applies_approves_refuses_a_tampered_transfer_and_explains_refusals() {
    siblings();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("box-dev");
    let _down = Down(dir.clone());
    let up = Command::new(BOXCTL).args(["dev", "up", "--dir"]).arg(&dir).stdin(Stdio::null()).output().unwrap();
    let text = String::from_utf8_lossy(&up.stdout).into_owned();
    assert!(up.status.success(), "dev up failed:\n{text}{}", String::from_utf8_lossy(&up.stderr));
    let stack = Stack::open(&dir).unwrap().unwrap();
    assert!(
        text.contains(&format!("web console    {}/console/", stack.gateway_url())),
        "dev up prints the console URL:\n{text}"
    );
    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    let _ = std::fs::remove_dir_all(&artifacts);

    // People: the dev identities, and an auditor with a keystore made here.
    let admin = stack.client("admin").unwrap();
    let key = |n: &str| stack.key(n).unwrap();
    let auditor_key = SecretKey::from_label_unchecked("console auditor");
    let auditor_file = tmp.path().join("auditor.json");
    std::fs::write(
        &auditor_file,
        keystore::encrypt(&auditor_key, "auditor pw", ScryptCost::LIGHT).unwrap().to_string(),
    )
    .unwrap();
    for (name, who, role) in [
        ("Erin Employee", key("manager-1").address(), Role::Employee),
        ("Lee Lead", key("manager-2").address(), Role::Approver),
        ("Fay Finance", key("finance-1").address(), Role::Approver),
        ("Gus Finance", key("finance-2").address(), Role::Approver),
        ("Ada Auditor", auditor_key.address(), Role::Auditor),
    ] {
        admin.register(who, name, &[role]).await.unwrap();
    }
    let flow = BoxFlow {
        name: "Console payments".into(),
        employees: vec![key("manager-1").address()],
        levels: vec![
            ApprovalLevel { name: "Team lead".into(), approvers: vec![key("manager-2").address()], threshold: 1 },
            ApprovalLevel {
                name: "Finance".into(),
                approvers: vec![key("finance-1").address(), key("finance-2").address()],
                threshold: 1,
            },
        ],
        limits: vec![AssetLimit {
            asset: Address::ZERO,
            perTransfer: eth(10),
            perPeriod: eth(50),
            periodSeconds: 86_400,
            maxFee: U256::from(10u64).pow(U256::from(17u64)),
        }],
        nonce: 16,
        addressBookOnly: false,
    };
    let hash: FlowHash = admin.create_flow(&flow).await.unwrap().hash;
    admin.submit_flow(hash).await.unwrap();
    let flow_is = |want: FlowState| {
        let admin = &admin;
        async move {
            wait(&format!("flow {want}"), Duration::from_secs(120), || async {
                admin.flow(hash).await.ok().filter(|f| f.status == want).map(|_| ())
            })
            .await
        }
    };
    flow_is(FlowState::Notarized).await;

    let hex_key = |k: &SecretKey| format!("0x{}", hex::encode(k.expose_bytes()));
    let person = |name: &str| {
        let d = stack.dir.join("identities");
        json!({ "keystore": d.join(format!("{name}.json")), "password": std::fs::read_to_string(d.join(format!("{name}.password"))).unwrap().trim() })
    };
    let recipient = Address::repeat_byte(0x5C);
    let config = |extra: Value| {
        let mut c = json!({
            "gateway": stack.gateway_url(),
            "ca": stack.dir.join("tls/ca.pem"),
            "cert": stack.dir.join("tls/gateway.pem"),
            "key": stack.dir.join("tls/gateway.key"),
            "artifacts": artifacts,
            "people": {
                "keyholder-1": { "privateKey": hex_key(&key("keyholder-1")) },
                "employee": person("manager-1"),
                "lead": person("manager-2"),
                "finance": { "privateKey": hex_key(&key("finance-1")) },
                "auditor": { "keystore": auditor_file, "password": "auditor pw" },
            },
        });
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };

    // `boxctl … --typed-data` prints what it would sign: the API's JSON, byte for byte.
    let gateway_td = |path: String| {
        let c = stack.client("keyholder-1").unwrap();
        async move { box_api::client::decode::<Value>(c.send("GET", &path, vec![], true).await.unwrap()).unwrap() }
    };
    let cli_td = |who: &str, args: &[&str]| {
        let mut all = vec!["--as", who];
        all.extend_from_slice(args);
        let out = Command::new(BOXCTL)
            .args(&all)
            .env("BOX_PROFILE", dir.join("boxctl.toml"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "boxctl {all:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let auth = cli_td("keyholder-1", &["keyholder", "authorize", &hash.to_string(), "--typed-data"]);
    assert_eq!(auth, gateway_td(format!("/v1/flows/{hash}/typed-data?enable=true")).await["authorization"]);
    assert_eq!(auth["domain"]["chainId"], json!(31337));

    // A key holder authorizes in the browser through the injected wallet; the others with boxctl's client.
    let r = browser(
        "authorize",
        &config(json!({ "as": "keyholder-1", "flow": hash.to_string(), "flowName": "Console payments" })),
    );
    assert_eq!(objects_signed(&r), ["FlowAuthorization"], "{r}");
    for kh in ["keyholder-2", "keyholder-3"] {
        stack.client(kh).unwrap().authorize_flow(hash, true).await.unwrap();
    }
    flow_is(FlowState::Active).await; // the companions accepted eth-sig-util's signature, the signer anchored the flow

    // A wrong password: said so, nothing sent.
    let r = browser("wrongPassword", &config(json!({ "as": "employee" })));
    assert!(r["alert"].as_str().unwrap().contains("Wrong password"), "{r}");

    // The employee applies for 1.5 ETH with a keystore file.
    let r = browser("apply", &config(json!({ "as": "employee", "to": recipient.to_checksum(None), "amount": "1.5" })));
    let id = r["id"].as_str().unwrap().to_owned();
    let tid: TransferId = id.parse().unwrap();
    let employee = stack.client("manager-1").unwrap();
    let t = employee.transfer(&tid).await.unwrap();
    assert_eq!((t.request.0.amount, t.request.0.to), (U256::from(1_500_000_000_000_000_000u64), recipient));

    // Level 1 approves with a keystore file; the destination is shown EIP-55, with the new-destination badge.
    let r =
        browser("approve", &config(json!({ "as": "lead", "id": id, "level": 1, "to": recipient.to_checksum(None) })));
    assert_eq!(r["destination"], json!(recipient.to_checksum(None)));
    assert_eq!(r["isNew"], json!(true));

    // What boxctl would have level 2 sign is what the gateway shows (and the console computes).
    let approval = cli_td("finance-1", &["approve", "yes", &id, "--typed-data"]);
    assert_eq!(approval, gateway_td(format!("/v1/transfers/{id}/typed-data")).await["approval"]);
    assert_eq!(approval["message"]["level"], json!(2));
    let application = cli_td(
        "manager-1",
        &["employee", "apply", "--asset", "ETH", "--to", &recipient.to_checksum(None), "--amount", "2", "--typed-data"],
    );
    assert_eq!(
        (application["primaryType"].as_str(), application["message"]["amount"].as_str()),
        (Some("TransferRequest"), Some("2000000000000000000"))
    );

    // Level 2 through a relay that rewrites the destination: refused before the Approval is signed.
    let attacker = Address::repeat_byte(0xBA).to_checksum(None);
    let r = browser(
        "approve",
        &config(
            json!({ "as": "finance", "id": id, "level": 2, "to": recipient.to_checksum(None), "tamperTo": attacker }),
        ),
    );
    assert!(r["refused"].as_str().unwrap().contains("does not hash to transfer id"), "{r}");
    assert_eq!(objects_signed(&r), Vec::<String>::new(), "the wallet was asked to sign {r}");
    let t = employee.transfer(&tid).await.unwrap();
    assert_eq!(t.open_level, Some(2));
    assert!(t.levels[1].signatures.is_empty(), "nothing reached the gateway");

    // Level 2 through the gateway itself, with the injected wallet (eth-sig-util).
    let r = browser(
        "approve",
        &config(json!({ "as": "finance", "id": id, "level": 2, "to": recipient.to_checksum(None) })),
    );
    assert_eq!(objects_signed(&r), ["Approval"], "{r}");

    // Confirmed on anvil with the right amount.
    let chain = stack.chain().await.unwrap();
    wait("the transfer confirmed", Duration::from_secs(180), || async {
        employee.transfer(&tid).await.ok().filter(|t| t.status.state == TransferState::Confirmed).map(|_| ())
    })
    .await;
    assert_eq!(chain.balance(recipient).await.unwrap(), U256::from(1_500_000_000_000_000_000u64));
    let r = browser("confirmed", &config(json!({ "as": "employee", "id": id })));
    assert!(r["row"].as_str().unwrap().contains("1.5 ETH") && r["row"].as_str().unwrap().contains("0x"), "{r}");
    assert!(r["chart"].as_str().unwrap().contains("1.5 ETH out over the last 30 days; limit 50 ETH"), "{r}");

    // The auditor: status with the chart, history verified in the browser.
    let r = browser("audit", &config(json!({ "as": "auditor" })));
    assert!(r["verified"].as_str().unwrap().contains("The history verifies"), "{r}");
    assert!(r["signer"].as_str().unwrap().contains("unsealed"), "{r}");

    // An idle session expires: the key is forgotten and the page says why.
    let r = browser("expired", &config(json!({ "as": "employee" })));
    assert!(r["message"].as_str().unwrap().contains("expired after 15 minutes"), "{r}");
    assert_eq!(r["navHidden"], json!(true));

    // A key holder proposes an address-book entry in the browser; the others co-sign with
    // boxctl's client; the key holder's page then shows it (issue 15 item 2).
    let dest = Address::repeat_byte(0xAB).to_checksum(None);
    let book_cfg = config(json!({ "as": "keyholder-1", "address": dest, "label": "Console supplier" }));
    let r = browser("addressBook", &book_cfg);
    assert_eq!(objects_signed(&r), ["AddressBookEntry"], "{r}");
    let pending = admin.governance_pending().await.unwrap();
    let open = pending.iter().find(|g| g.description.contains("Console supplier")).expect("the listing is pending");
    assert_eq!(open.signers.len(), 1, "{open:?}");
    let action = box_api::action::decode_action(&open.action.0).unwrap();
    for kh in ["keyholder-2", "keyholder-3"] {
        stack.client(kh).unwrap().sign_governance(&action).await.unwrap();
    }
    wait("listed in the address book", Duration::from_secs(120), || async {
        admin.address_book().await.ok().filter(|b| b.iter().any(|e| e.label == "Console supplier"))
    })
    .await;
    let r = browser("bookShown", &book_cfg);
    assert!(objects_signed(&r).is_empty(), "{r}");

    // A key holder pauses through the wallet; the chain records it.
    let r = browser("pause", &config(json!({ "as": "keyholder-1", "reason": "console drill" })));
    assert_eq!(objects_signed(&r), ["PauseTransfers"], "{r}");
    wait("transfers paused", Duration::from_secs(120), || async {
        admin.status().await.ok().and_then(|s| s.paused).filter(|p| p.contains("console drill"))
    })
    .await;

    // Last: bad signatures from this machine throttle its source; the console says 429 in words.
    throttle_source(&stack).await;
    let r = browser("throttled", &config(json!({ "as": "employee" })));
    let alert = r["alert"].as_str().unwrap();
    assert!(alert.contains("refusing requests from this network") && alert.contains("Try again in"), "{alert}");
    println!("screenshots: {}", artifacts.display());
}

/// Sends requests with bad signatures until the gateway throttles 127.0.0.1 (429 `source_throttled`).
async fn throttle_source(stack: &Stack) {
    let forger: Client = stack.client_with(SecretKey::from_label_unchecked("forger")).unwrap();
    let victim = stack.key("manager-1").unwrap().address().to_checksum(None);
    for n in 0..100u64 {
        let nonce = box_core::B256::from(U256::from(n + 1));
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let mut h = forger.sign_headers("GET", "/v1/me", b"", now, nonce);
        h[0].1 = victim.clone();
        let r = forger.send_with("GET", "/v1/me", vec![], &h).await.unwrap();
        if r.status == 429 {
            return;
        }
    }
    panic!("the gateway never throttled the source");
}
