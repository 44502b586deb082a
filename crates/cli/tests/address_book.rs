//! Destination allowlists through `boxctl`, as processes against a real
//! deployment (anvil, a 3-node cluster, box-signer, box-gateway over HTTPS):
//! a flow with `address_book_only` refuses an unlisted destination at the
//! gateway by the rule's name (`destination_not_in_address_book`, the
//! address in EIP-55); listing it takes every key holder (two of three are
//! not enough), after which a transfer there confirms; one key holder's
//! removal makes it refused again. Status, `governance list|show|sign` and
//! the OpenAPI document show the address book.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_core::{Address, U256};
use box_testkit::key;
use common::*;
use serde_json::Value;

const PHRASES: [&str; 3] = ["copper lantern orbits quietly", "seven herons fold the map", "violet anchor under rain"];
const HOLDERS: [&str; 3] = ["kh-1", "kh-2", "kh-3"];

fn ether(milli: u64) -> U256 {
    U256::from(milli) * U256::from(10u64).pow(U256::from(15u64))
}

/// The key ceremony by the three key holders; returns the hot wallet.
async fn ceremony(d: &Deployment) -> Address {
    let code = d.signer.enrolment_code().await;
    d.until("the signer announced", "kh-1", &["status", "--json"], |v| !v["signer"].is_null()).await;
    for kh in HOLDERS {
        d.run(kh, &["keyholder", "enrol", "--code", &code], &[]).ok();
    }
    let mut last = String::new();
    for (kh, phrase) in HOLDERS.iter().zip(PHRASES) {
        last = d.run(kh, &["keyholder", "phrase"], &[("BOX_PHRASE", phrase)]).ok().to_owned();
    }
    let line = last.lines().find_map(|l| l.trim().strip_prefix("hot wallet:")).expect("the hot wallet is shown");
    line.trim().parse().unwrap()
}

fn book(v: &Value) -> Vec<Value> {
    v["gateway"]["addressBook"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_book_flow_pays_only_listed_destinations_listed_by_every_key_holder() {
    let d = Deployment::start().await;
    let wallet = ceremony(&d).await;
    d.anvil.fund(wallet, ether(100_000)).await;
    let m = |n: &str| key(n).address().to_checksum(None);

    // --- a flow that pays only the address book ---
    let erin_key = key("erin");
    let erin = erin_key.address().to_checksum(None);
    let erin_file = write_identity(&d.path("erin"), "erin", &erin_key);
    let erin_file = erin_file.to_str().unwrap().to_owned();
    let as_erin = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend(["--key", erin_file.as_str()]);
        d.run("", &a, &[("BOX_PASSWORD", "password of erin")])
    };
    d.run("", &["admin", "register", "--address", &m("manager-1"), "--name", "Mia", "--role", "approver"], &[]).ok();
    d.run("", &["admin", "register", "--address", &erin, "--name", "Erin", "--role", "employee"], &[]).ok();
    let flow_file = d.path("flow.toml");
    std::fs::write(
        &flow_file,
        format!(
            "name = \"Suppliers\"\naddress_book_only = true\nemployees = [\"{erin}\"]\n\n[[levels]]\nname = \"Managers\"\n\
             approvers = [\"{}\"]\nthreshold = 1\n\n[[limits]]\nasset = \"ETH\"\nper_transfer = \"5\"\nper_period = \"50\"\n\
             period = \"1d\"\nmax_fee = \"0.01\"\n",
            m("manager-1"),
        ),
    )
    .unwrap();
    let created =
        d.run("", &["admin", "flow", "create", "--file", flow_file.to_str().unwrap(), "--submit", "--json"], &[]);
    let created = created.json();
    assert_eq!(created["flow"]["flow"]["addressBookOnly"], true, "{created}");
    let flow = created["flow"]["hash"].as_str().unwrap().to_owned();
    let shown = d.run("", &["admin", "flow", "show", &flow], &[]).ok().to_owned();
    assert!(shown.contains("address_book_only = true"), "{shown}");
    let flow_is = |want: &'static str| {
        let flow = flow.clone();
        move |v: &Value| v.as_array().unwrap().iter().any(|f| f["hash"] == flow.as_str() && f["status"] == want)
    };
    d.until("the flow notarized", "", &["admin", "flow", "list", "--json"], flow_is("notarized")).await;
    for kh in HOLDERS {
        d.run(kh, &["keyholder", "authorize", &flow], &[]).ok();
    }
    d.until("the flow active", "", &["admin", "flow", "list", "--json"], flow_is("active")).await;

    // --- not in the book: refused at the gateway by the rule's name, the address in EIP-55 ---
    let to = Address::repeat_byte(0xD5);
    let to_s = to.to_checksum(None);
    let apply = |amount: &str| as_erin(&["employee", "apply", "--asset", "ETH", "--to", &to_s, "--amount", amount]);
    let refused = apply("0.1");
    refused.refused(3, "refused (destination_not_in_address_book)");
    assert!(refused.stderr.contains(&to_s), "{}", refused.stderr);
    assert!(d.run("kh-1", &["status"], &[]).ok().contains("address book: empty"));

    // --- listing needs every key holder: what is signed is shown, two of three change nothing ---
    let bad_label = d.run("kh-1", &["keyholder", "addressbook", "add", &to_s, "--label", " "], &[]);
    bad_label.refused(2, "label");
    let first =
        d.run("kh-1", &["keyholder", "addressbook", "add", &to_s, "--label", "Supplier GmbH", "--flow", &flow], &[]);
    assert!(first.stderr.contains("to be signed (AddressBookEntry)"), "{}", first.stderr);
    assert!(first.stderr.contains(&format!("destination  {to_s}")), "{}", first.stderr);
    assert!(first.stderr.contains("label        Supplier GmbH"), "{}", first.stderr);
    assert!(first.ok().contains("needs every key holder (3): 1 of 3 signed"), "{}", first.stdout);
    let open = d.run("kh-2", &["governance", "list", "--json"], &[]).json();
    let entry = open.as_array().unwrap().iter().find(|a| a["kind"] == "AddressBookEntry").unwrap().clone();
    assert!(entry["what"].as_str().unwrap().contains("Supplier GmbH"), "{entry}");
    assert_eq!(entry["signed"]["flowHash"], flow.as_str(), "{entry}");
    let hash = entry["hash"].as_str().unwrap().to_owned();
    let shown = d.run("kh-2", &["governance", "show", &hash], &[]).ok().to_owned();
    assert!(shown.contains("list") && shown.contains("1 of 3 signed"), "{shown}");
    assert!(d.run("kh-2", &["governance", "sign", &hash], &[]).ok().contains("2 of 3 signed"));
    apply("0.1").refused(3, "destination_not_in_address_book");
    // The last key holder runs the same command: it co-signs the open listing.
    let last =
        d.run("kh-3", &["keyholder", "addressbook", "add", &to_s, "--label", "Supplier GmbH", "--flow", &flow], &[]);
    assert!(last.ok().contains("3 of 3 signed"), "{}", last.stdout);
    let status = d.until("listed", "kh-1", &["status", "--json"], |v| book(v).len() == 1).await;
    let listed = &book(&status)[0];
    assert_eq!((listed["address"].as_str(), listed["label"].as_str()), (Some(to_s.as_str()), Some("Supplier GmbH")));
    assert_eq!(listed["flow"], flow.as_str());
    let text = d.run("kh-2", &["status"], &[]).ok().to_owned();
    assert!(text.contains(&format!("{to_s}  \"Supplier GmbH\"  (flow {flow})")), "{text}");
    let listing = d.run("kh-1", &["keyholder", "addressbook", "list", "--json"], &[]).json();
    assert_eq!(listing.as_array().unwrap().len(), 1, "{listing}");

    // --- listed: a transfer there confirms ---
    let t = as_erin(&["employee", "apply", "--asset", "ETH", "--to", &to_s, "--amount", "0.25", "--json"]).json();
    let id = t["id"].as_str().unwrap().to_owned();
    d.run("manager-1", &["approve", "yes", &id], &[]).ok();
    d.until("the listed transfer confirmed", "", &["employee", "show", &id, "--json"], |v| v["state"] == "confirmed")
        .await;
    assert_eq!(d.anvil.balance(to).await, ether(250));

    // --- one key holder removes it: refused again ---
    let removed = d.run("kh-2", &["keyholder", "addressbook", "remove", &to_s], &[]);
    assert!(removed.stderr.contains("to be signed (AddressBookEntry)"), "{}", removed.stderr);
    assert!(removed.ok().contains("1 of 1 signed"), "{}", removed.stdout);
    d.until("removed", "kh-1", &["status", "--json"], |v| book(v).is_empty()).await;
    let again = apply("0.1");
    again.refused(3, "refused (destination_not_in_address_book)");
    assert!(again.stderr.contains(&to_s), "{}", again.stderr);
    d.run("kh-2", &["keyholder", "addressbook", "remove", &to_s], &[]).refused(3, "not_listed");

    // --- the API documents the address book ---
    let admin = box_cli::Session::new(box_cli::Profile::load(&d.profile).unwrap(), key("admin")).unwrap();
    let doc = admin.client().await.unwrap().openapi().await.unwrap();
    assert!(doc["paths"]["/v1/address-book"]["get"].is_object(), "GET /v1/address-book is documented");
    assert!(doc["components"]["schemas"]["AddressBookOut"].is_object());
}
