//! A token that keeps a fee on transfer, moved through a real deployment
//! (anvil, a 3-node cluster, box-signer, box-gateway over HTTPS) by
//! `boxctl`: the chain's confirmed status carries the shortfall the
//! signer reported, and people see it, in the token's units with its
//! symbol: the gateway's transfer view (API JSON), `boxctl employee show`
//! (text and JSON), and `boxctl audit report` (JSON, text and the CSV's
//! `detail` column). Issue 14, item 5's visible part.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_core::U256;
use box_core::ids::TransferId;
use box_testkit::anvil::Odd;
use box_testkit::key;
use common::*;

const PHRASES: [&str; 3] = ["copper lantern orbits quietly", "seven herons fold the map", "violet anchor under rain"];
const HOLDERS: [&str; 3] = ["kh-1", "kh-2", "kh-3"];
const SHORTFALL: &str = "shortfall: delivered 247.5 of 250 FEE; 2.5 FEE did not arrive";

fn field<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {label} in:\n{out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fee_on_transfer_tokens_shortfall_is_shown_by_the_gateway_boxctl_and_the_audit_report() {
    let d = Deployment::start().await;
    let code = d.signer.enrolment_code().await;
    d.until("the signer announced", "kh-1", &["status", "--json"], |v| !v["signer"].is_null()).await;
    for kh in HOLDERS {
        d.run(kh, &["keyholder", "enrol", "--code", &code], &[]).ok();
    }
    let mut last = String::new();
    for (kh, phrase) in HOLDERS.iter().zip(PHRASES) {
        last = d.run(kh, &["keyholder", "phrase"], &[("BOX_PHRASE", phrase)]).ok().to_owned();
    }
    let wallet: box_core::Address = field(&last, "hot wallet:").parse().unwrap();
    d.anvil.fund(wallet, U256::from(10u64).pow(U256::from(19u64))).await;

    // A token that keeps 1 % of every transfer, registered by every key holder.
    let supply = U256::from(1_000_000u64) * U256::from(10u64).pow(U256::from(18u64));
    let token = d.anvil.deploy_odd(Odd::FeeToken, wallet, supply).await;
    let token_s = token.to_checksum(None);
    for kh in HOLDERS {
        d.run(kh, &["keyholder", "asset", "add", &token_s], &[]).ok();
    }
    d.until("the asset registered", "kh-1", &["status", "--json"], |v| {
        v["gateway"]["assets"].as_array().unwrap().iter().any(|a| a.as_str().unwrap().contains(&token_s))
    })
    .await;

    // An employee, an approver and a flow over the token.
    let erin_key = key("erin");
    let erin = erin_key.address().to_checksum(None);
    let erin_file = write_identity(&d.path("erin"), "erin", &erin_key);
    let erin_file = erin_file.to_str().unwrap().to_owned();
    let as_erin = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend(["--key", erin_file.as_str()]);
        d.run("", &a, &[("BOX_PASSWORD", "password of erin")])
    };
    let m1 = key("manager-1").address().to_checksum(None);
    d.run("", &["admin", "register", "--address", &m1, "--name", "Mia", "--role", "approver"], &[]).ok();
    d.run("", &["admin", "register", "--address", &erin, "--name", "Erin", "--role", "employee"], &[]).ok();
    let auditor = key("auditor").address().to_checksum(None);
    d.run("", &["admin", "register", "--address", &auditor, "--name", "Ada", "--role", "auditor"], &[]).ok();
    let flow_file = d.path("flow.toml");
    std::fs::write(
        &flow_file,
        format!(
            "name = \"Payments\"\nemployees = [\"{erin}\"]\n\n[[levels]]\nname = \"Managers\"\napprovers = [\"{m1}\"]\nthreshold = 1\n\n\
             [[limits]]\nasset = \"ETH\"\nper_transfer = \"5\"\nper_period = \"50\"\nperiod = \"1d\"\nmax_fee = \"0.01\"\n\n\
             [[limits]]\nasset = \"FEE\"\nper_transfer = \"1000\"\nper_period = \"5000\"\nperiod = \"1d\"\nmax_fee = \"0.01\"\n",
        ),
    )
    .unwrap();
    let created =
        d.run("", &["admin", "flow", "create", "--file", flow_file.to_str().unwrap(), "--submit", "--json"], &[]);
    let flow = created.json()["flow"]["hash"].as_str().unwrap().to_owned();
    let flow_is = |want: &'static str| {
        let flow = flow.clone();
        move |v: &serde_json::Value| {
            v.as_array().unwrap().iter().any(|f| f["hash"] == flow.as_str() && f["status"] == want)
        }
    };
    d.until("the flow notarized", "", &["admin", "flow", "list", "--json"], flow_is("notarized")).await;
    for kh in HOLDERS {
        d.run(kh, &["keyholder", "authorize", &flow], &[]).ok();
    }
    d.until("the flow active", "", &["admin", "flow", "list", "--json"], flow_is("active")).await;

    // 250 FEE applied for, approved, confirmed: 247.5 arrive.
    let to = box_core::Address::repeat_byte(0xD5);
    let to_s = to.to_checksum(None);
    let t = as_erin(&["employee", "apply", "--asset", "FEE", "--to", &to_s, "--amount", "250", "--json"]).json();
    let id = t["id"].as_str().unwrap().to_owned();
    d.run("manager-1", &["approve", "yes", &id], &[]).ok();
    let shown = d
        .until("the transfer confirmed", "", &["employee", "show", &id, "--json"], |v| v["state"] == "confirmed")
        .await;
    let delivered = U256::from(2475u64) * U256::from(10u64).pow(U256::from(17u64));
    assert_eq!(d.anvil.erc20_balance(token, to).await, delivered, "the test's premise: 1 % kept");

    // boxctl: JSON and text, for the approver too.
    assert!(shown["detail"].as_str().unwrap().starts_with(SHORTFALL), "{shown}");
    let text = d.run("manager-1", &["employee", "show", &id], &[]).ok().to_owned();
    assert!(text.contains(&format!("detail     {SHORTFALL}")), "{text}");

    // The gateway's transfer view (API JSON, the client's typed reading).
    let session = box_cli::Session::new(box_cli::Profile::load(&d.profile).unwrap(), key("manager-1")).unwrap();
    let client = session.client().await.unwrap();
    let tid: TransferId = TransferId(id.parse().unwrap());
    let out = client.transfer(&tid).await.unwrap();
    assert_eq!(out.status.state, box_api::TransferState::Confirmed);
    assert!(out.status.detail.as_deref().unwrap().starts_with(SHORTFALL), "{:?}", out.status);
    let as_auditor = box_cli::Session::new(box_cli::Profile::load(&d.profile).unwrap(), key("auditor")).unwrap();
    let list = as_auditor.client().await.unwrap().transfers(&box_api::TransferQuery::default()).await.unwrap();
    let row = list.iter().find(|t| t.id == tid).unwrap();
    assert!(row.status.detail.as_deref().unwrap_or_default().starts_with(SHORTFALL), "{:?}", row.status);

    // The regulator's report: JSON, text, and the CSV's detail column.
    let csv = d.path("report.csv");
    let rep = d.run("auditor", &["audit", "report", "--csv", csv.to_str().unwrap(), "--json"], &[]).json();
    let line = rep["transfers"].as_array().unwrap().iter().find(|t| t["id"] == id.as_str()).unwrap().clone();
    assert_eq!((line["status"].as_str(), line["amount"].as_str()), (Some("confirmed"), Some("250 FEE")));
    assert!(line["detail"].as_str().unwrap().starts_with(SHORTFALL), "{line}");
    let text = d.run("auditor", &["audit", "report"], &[]).ok().to_owned();
    assert!(text.contains(&format!("detail: {SHORTFALL}")), "{text}");
    let csv = std::fs::read_to_string(&csv).unwrap();
    let row = csv.lines().find(|l| l.starts_with("transfer,") && l.contains(&id)).unwrap();
    assert!(row.contains(SHORTFALL), "{row}");
}
