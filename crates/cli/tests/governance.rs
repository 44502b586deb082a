//! Every governed action through `boxctl`, as processes against a real
//! deployment (anvil, a 3-node cluster, box-signer, box-gateway over HTTPS):
//! an ERC-20 registered after the genesis (symbol and decimals read from the
//! chain, every key holder signing) that an employee then moves; freeze, which
//! refuses the employee's new application and their already-notarized
//! transfer at the signer; unfreeze, which two of three key holders cannot
//! do; block and unblock; the destination rules by name; and status showing
//! what governance decided.
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

fn field<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {label} in:\n{out}"))
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
    field(&last, "hot wallet:").parse().unwrap()
}

fn frozen(v: &Value) -> Vec<String> {
    v["gateway"]["frozen"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_governed_action_from_boxctl_against_real_processes() {
    let d = Deployment::start().await;
    let wallet = ceremony(&d).await;
    d.anvil.fund(wallet, ether(100_000)).await;
    let m = |n: &str| key(n).address().to_checksum(None);

    // --- an ERC-20 registered after the genesis: the chain's symbol and decimals, every key holder ---
    let token = d.anvil.deploy_erc20(wallet).await;
    let token_s = token.to_checksum(None);
    d.run("manager-1", &["keyholder", "asset", "add", &token_s], &[]).refused(3, "not_a_key_holder");
    let first = d.run("kh-1", &["keyholder", "asset", "add", &token_s], &[]);
    let out = first.ok().to_owned();
    // What the chain says and what is signed are shown before signing.
    assert!(first.stderr.contains("18 decimals"), "{}", first.stderr);
    assert!(first.stderr.contains("to be signed (RegisterAsset)"), "{}", first.stderr);
    assert!(first.stderr.contains(&format!("token        {token_s}")), "{}", first.stderr);
    assert!(out.contains("1 of 3 signed; waiting for"), "{out}");
    let open = d.run("kh-2", &["governance", "list", "--json"], &[]).json();
    let open = open.as_array().unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!((open[0]["kind"].as_str(), open[0]["state"].as_str()), (Some("RegisterAsset"), Some("collecting")));
    assert_eq!(open[0]["waitingFor"].as_array().unwrap().len(), 2);
    let hash = open[0]["hash"].as_str().unwrap().to_owned();
    let shown = d.run("kh-2", &["governance", "show", &hash], &[]).ok().to_owned();
    assert!(shown.contains("register asset") && shown.contains("1 of 3 signed"), "{shown}");
    assert!(d.run("kh-2", &["governance", "sign", &hash], &[]).ok().contains("2 of 3 signed"));
    // The third key holder runs the same command: it co-signs the open registration.
    let last = d.run("kh-3", &["keyholder", "asset", "add", &token_s], &[]).ok().to_owned();
    assert!(last.contains("3 of 3 signed"), "{last}");
    d.run("kh-1", &["governance", "sign", &hash], &[]).refused(3, "has its signatures already");
    let symbol = d
        .until("the asset registered", "kh-1", &["status", "--json"], |v| {
            v["gateway"]["assets"].as_array().unwrap().iter().any(|a| a.as_str().unwrap().contains(&token_s))
        })
        .await;
    let text = d.run("kh-1", &["status"], &[]).ok().to_owned();
    assert!(text.contains(&token_s) && text.contains("frozen:  none"), "{symbol}\n{text}");
    let sym = d.anvil.eth().token_symbol(token).await.unwrap();
    // --typed-data: the wallet-signable JSON of what would be signed, and nothing signed.
    let cc = Address::repeat_byte(0xCC).to_checksum(None);
    let td = d.run("kh-1", &["keyholder", "block", &cc, "--reason", "typed", "--typed-data"], &[]).json();
    assert_eq!(
        (td["primaryType"].as_str(), td["message"]["reason"].as_str()),
        (Some("BlockDestination"), Some("typed"))
    );
    let all = d.run("kh-1", &["governance", "list", "--all", "--json"], &[]).json();
    assert!(all.as_array().unwrap().iter().all(|a| a["kind"] != "BlockDestination"), "{all}");

    // --- people and a flow over ETH and the new token ---
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
            "name = \"Payments\"\nemployees = [\"{erin}\"]\n\n[[levels]]\nname = \"Managers\"\napprovers = [\"{}\"]\nthreshold = 1\n\n\
             [[limits]]\nasset = \"ETH\"\nper_transfer = \"5\"\nper_period = \"50\"\nperiod = \"1d\"\nmax_fee = \"0.01\"\n\n\
             [[limits]]\nasset = \"{sym}\"\nper_transfer = \"1000\"\nper_period = \"5000\"\nperiod = \"1d\"\nmax_fee = \"0.01\"\n",
            m("manager-1"),
        ),
    )
    .unwrap();
    let created =
        d.run("", &["admin", "flow", "create", "--file", flow_file.to_str().unwrap(), "--submit", "--json"], &[]);
    let flow = created.json()["flow"]["hash"].as_str().unwrap().to_owned();
    let flow_is = |want: &'static str| {
        let flow = flow.clone();
        move |v: &Value| v.as_array().unwrap().iter().any(|f| f["hash"] == flow.as_str() && f["status"] == want)
    };
    d.until("the flow notarized", "", &["admin", "flow", "list", "--json"], flow_is("notarized")).await;
    for kh in HOLDERS {
        d.run(kh, &["keyholder", "authorize", &flow], &[]).ok();
    }
    d.until("the flow active", "", &["admin", "flow", "list", "--json"], flow_is("active")).await;

    // --- the employee applies in the token registered after the genesis; it confirms ---
    let to = Address::repeat_byte(0xD5);
    let to_s = to.to_checksum(None);
    let t = as_erin(&["employee", "apply", "--asset", &sym, "--to", &to_s, "--amount", "250", "--json"]).json();
    let id = t["id"].as_str().unwrap().to_owned();
    d.run("manager-1", &["approve", "yes", &id], &[]).ok();
    d.until("the token transfer confirmed", "", &["employee", "show", &id, "--json"], |v| v["state"] == "confirmed")
        .await;
    assert_eq!(d.anvil.erc20_balance(token, to).await, U256::from(250u64) * U256::from(10u64).pow(U256::from(18u64)));

    // --- the destination rules, by name (issue 14 item 7) ---
    let wallet_s = wallet.to_checksum(None);
    as_erin(&["employee", "apply", "--asset", "ETH", "--to", &wallet_s, "--amount", "0.1"])
        .refused(3, "destination_is_hot_wallet");
    as_erin(&["employee", "apply", "--asset", &sym, "--to", &token_s, "--amount", "1"])
        .refused(3, "token_to_own_contract");

    // --- freeze: a transfer notarized while the signer is locked is refused once it unseals ---
    assert_eq!(d.run("kh-3", &["keyholder", "panic", "--json"], &[]).json()["state"], "locked");
    let t = as_erin(&["employee", "apply", "--asset", "ETH", "--to", &to_s, "--amount", "0.2", "--json"]).json();
    let held = t["id"].as_str().unwrap().to_owned();
    d.run("manager-1", &["approve", "yes", &held], &[]).ok();
    d.until("the held transfer notarized", "", &["employee", "show", &held, "--json"], |v| v["state"] == "notarized")
        .await;
    d.run("kh-1", &["keyholder", "freeze", &erin], &[]).refused(2, "--reason");
    let f = d.run("kh-1", &["keyholder", "freeze", &erin, "--reason", "left the company"], &[]);
    assert!(f.stderr.contains("reason       left the company"), "{}", f.stderr);
    assert!(f.ok().contains("1 of 1 signed"), "{}", f.stdout);
    d.until("frozen", "kh-1", &["status", "--json"], |v| frozen(v) == [erin.clone()]).await;
    assert!(d.run("kh-2", &["status"], &[]).ok().contains(&format!("frozen:  {erin}")));
    // A new application is refused at once.
    as_erin(&["employee", "apply", "--asset", "ETH", "--to", &to_s, "--amount", "0.1"]).refused(3, "frozen");
    // The notarized one is refused by the signer once it unseals.
    for (kh, phrase) in HOLDERS.iter().zip(PHRASES) {
        d.run(kh, &["keyholder", "phrase"], &[("BOX_PHRASE", phrase)]).ok();
    }
    let refused = d
        .until("the held transfer refused by the signer", "", &["employee", "show", &held, "--json"], |v| {
            v["state"] == "refused"
        })
        .await;
    assert!(refused["reason"].as_str().unwrap().contains("frozen"), "{refused}");
    assert_eq!(d.anvil.balance(to).await, U256::ZERO, "nothing moved in ETH to {to_s}");

    // --- unfreeze needs every key holder: two of three change nothing ---
    let u1 = d.run("kh-1", &["keyholder", "unfreeze", &erin, "--reason", "rehired"], &[]).ok().to_owned();
    assert!(u1.contains("needs every key holder (3): 1 of 3 signed"), "{u1}");
    let open = d.run("kh-2", &["governance", "list", "--json"], &[]).json();
    let unfreeze = open.as_array().unwrap().iter().find(|a| a["kind"] == "FreezeEmployee").unwrap().clone();
    assert!(unfreeze["what"].as_str().unwrap().contains("unfreeze employee"), "{unfreeze}");
    let h = unfreeze["hash"].as_str().unwrap();
    assert!(d.run("kh-2", &["governance", "sign", h], &[]).ok().contains("2 of 3 signed"));
    let v = d.run("kh-1", &["governance", "show", h, "--json"], &[]).json();
    assert_eq!(
        (v["state"].as_str(), v["waitingFor"][0].as_str()),
        (Some("collecting"), Some(m("key-holder-2").as_str()))
    );
    assert_eq!(frozen(&d.run("kh-1", &["status", "--json"], &[]).json()), vec![erin.clone()], "two of three unfroze");
    as_erin(&["employee", "apply", "--asset", "ETH", "--to", &to_s, "--amount", "0.1"]).refused(3, "frozen");
    // The last key holder runs the same command: it co-signs.
    assert!(d.run("kh-3", &["keyholder", "unfreeze", &erin], &[]).ok().contains("3 of 3 signed"));
    d.until("unfrozen", "kh-1", &["status", "--json"], |v| frozen(v).is_empty()).await;

    // --- block: a transfer to the address is refused; unblock needs every key holder ---
    let bad = Address::repeat_byte(0xBA).to_checksum(None);
    let before = as_erin(&["employee", "apply", "--asset", "ETH", "--to", &bad, "--amount", "0.1", "--json"]).json();
    let before = before["id"].as_str().unwrap().to_owned();
    assert!(d.run("kh-2", &["keyholder", "block", &bad, "--reason", "phishing report"], &[]).ok().contains("1 of 1"));
    d.until("blocked", "kh-1", &["status", "--json"], |v| v["gateway"]["blocked"][0] == bad.as_str()).await;
    // The approver's view says so; the approval that completes it is refused.
    let l = d.run("manager-1", &["approve", "list"], &[]);
    assert!(l.stderr.contains(&format!("the destination {bad} is blocked by governance")), "{}", l.stderr);
    d.run("manager-1", &["approve", "yes", &before], &[]).refused(3, "blocked");
    as_erin(&["employee", "apply", "--asset", "ETH", "--to", &bad, "--amount", "0.1"]).refused(3, "blocked");
    for kh in HOLDERS {
        d.run(kh, &["keyholder", "unblock", &bad], &[]).ok();
    }
    d.until("unblocked", "kh-1", &["status", "--json"], |v| v["gateway"]["blocked"].as_array().unwrap().is_empty())
        .await;
    let t = as_erin(&["employee", "apply", "--asset", "ETH", "--to", &bad, "--amount", "0.1", "--json"]).json();
    d.run("manager-1", &["approve", "yes", t["id"].as_str().unwrap()], &[]).ok();
    d.until("the unblocked transfer confirmed", "", &["employee", "show", t["id"].as_str().unwrap(), "--json"], |v| {
        v["state"] == "confirmed"
    })
    .await;

    // --- an approver leaves: a new flow version, the difference shown to the key holders ---
    let (m1, m2) = (m("manager-1"), m("manager-2"));
    d.run("", &["admin", "register", "--address", &m2, "--name", "Max", "--role", "approver"], &[]).ok();
    let r = d
        .run(
            "",
            &["admin", "flow", "replace-approver", &flow, "--approver", &m1, "--with", &m2, "--submit", "--json"],
            &[],
        )
        .json();
    let next = r["flow"]["hash"].as_str().unwrap().to_owned();
    let diff: Vec<&str> = r["diff"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    assert!(diff.contains(&format!("- approvers = [\"{m1}\"]").as_str()), "{diff:?}");
    assert!(diff.contains(&format!("+ approvers = [\"{m2}\"]").as_str()), "{diff:?}");
    let next_is = |want: &'static str| {
        let next = next.clone();
        move |v: &Value| v.as_array().unwrap().iter().any(|f| f["hash"] == next.as_str() && f["status"] == want)
    };
    d.until("the new version notarized", "", &["admin", "flow", "list", "--json"], next_is("notarized")).await;
    let k1 = d.run("kh-1", &["keyholder", "authorize", &next, "--replaces", &flow], &[]);
    assert!(k1.stderr.contains(&format!("- approvers = [\"{m1}\"]")), "the diff before signing: {}", k1.stderr);
    assert!(k1.ok().contains(&format!("disable({flow}) signed")), "{}", k1.stdout);
    // One key holder's disable stops the old flow at once.
    d.until("the old flow disabled", "", &["admin", "flow", "list", "--json"], flow_is("disabled")).await;
    for kh in ["kh-2", "kh-3"] {
        assert!(
            d.run(kh, &["keyholder", "authorize", &next, "--replaces", &flow], &[]).ok().contains("disabled already")
        );
    }
    d.until("the new version active", "", &["admin", "flow", "list", "--json"], next_is("active")).await;
    let t = as_erin(&["employee", "apply", "--asset", "ETH", "--to", &to_s, "--amount", "0.1", "--json"]).json();
    let tid = t["id"].as_str().unwrap();
    assert!(d.run("manager-2", &["approve", "list", "--json"], &[]).json().as_array().unwrap().len() == 1);
    d.run("manager-1", &["approve", "yes", tid], &[]).refused(3, "");
    d.run("manager-2", &["approve", "yes", tid], &[]).ok();
    d.until("approved by the successor, confirmed", "", &["employee", "show", tid, "--json"], |v| {
        v["state"] == "confirmed"
    })
    .await;

    // --- asset remove: one key holder; the token can no longer be applied in ---
    assert!(d.run("kh-3", &["keyholder", "asset", "remove", &token_s], &[]).ok().contains("1 of 1 signed"));
    d.until("the asset removed", "kh-1", &["status", "--json"], |v| {
        !v["gateway"]["assets"].as_array().unwrap().iter().any(|a| a.as_str().unwrap().contains(&token_s))
    })
    .await;
    as_erin(&["employee", "apply", "--asset", &sym, "--to", &to_s, "--amount", "1"]).refused(2, "not registered");

    // --- employee lifecycle: `issue-key --json` carries the password, once ---
    let issued = d.run("", &["admin", "issue-key", "--name", "Olly", "--json"], &[]);
    let j = issued.json();
    let password = j["password"].as_str().unwrap().to_owned();
    assert_eq!(password.len(), 29, "{j}");
    assert_eq!(issued.stdout.matches(&password).count(), 1, "{}", issued.stdout);
    assert!(!issued.stderr.contains(&password));
    let olly: Address = j["address"].as_str().unwrap().parse().unwrap();
    let admin = box_cli::Session::new(box_cli::Profile::load(&d.profile).unwrap(), key("admin")).unwrap();
    admin.client().await.unwrap().keystore(olly).await.expect("the issued key is escrowed");

    // --- offboarding in one command: frozen, escrow revoked, pending applications cancelled ---
    let olly_s = olly.to_checksum(None);
    let off = d.run("kh-1", &["keyholder", "offboard", &olly_s, "--reason", "contract ended", "--json"], &[]).json();
    assert_eq!(
        (off["gateway"]["keystoreRevoked"].as_bool(), off["freeze"]["required"].as_u64()),
        (Some(true), Some(1))
    );
    assert!(admin.client().await.unwrap().keystore(olly).await.is_err(), "the escrow is revoked");
    let claim = d.path("olly.json");
    d.run(
        "",
        &["employee", "fetch-key", "--address", &olly_s, "--out", claim.to_str().unwrap()],
        &[("BOX_PASSWORD", &password)],
    )
    .refused(2, "");
    let pending = as_erin(&["employee", "apply", "--asset", "ETH", "--to", &to_s, "--amount", "0.3", "--json"]).json();
    let pending = pending["id"].as_str().unwrap().to_owned();
    let off = d.run("kh-2", &["keyholder", "offboard", &erin, "--reason", "left the company"], &[]);
    let text = off.ok();
    // This one, and the one to the blocked address whose approval was refused: both still collecting.
    assert!(text.contains("2 pending application(s) cancelled"), "{text}");
    assert!(text.contains(&pending) && text.contains(&before), "{text}");
    assert!(off.stderr.contains("to be signed (FreezeEmployee)"), "{}", off.stderr);
    let v = d.run("", &["employee", "show", &pending, "--json"], &[]).json();
    assert_eq!(v["state"], "rejected_by_approver", "{v}");
    assert_eq!(v["reason"], "offboarded: left the company", "{v}");
    d.until("both frozen", "kh-1", &["status", "--json"], |v| frozen(v).len() == 2).await;
    as_erin(&["employee", "apply", "--asset", "ETH", "--to", &to_s, "--amount", "0.1"]).refused(3, "frozen");

    // --- the regulator's report, verified against the genesis ---
    d.run("", &["admin", "register", "--address", &m("auditor"), "--name", "Ada", "--role", "auditor"], &[]).ok();
    let csv = d.path("report.csv");
    let rep = d.run("auditor", &["audit", "report", "--csv", csv.to_str().unwrap(), "--json"], &[]).json();
    let find = |tid: &str| rep["transfers"].as_array().unwrap().iter().find(|t| t["id"] == tid).unwrap().clone();
    let tok = find(&id);
    assert_eq!(
        (tok["status"].as_str(), tok["amount"].as_str()),
        (Some("confirmed"), Some(format!("250 {sym}").as_str()))
    );
    assert_eq!(tok["approvers"], serde_json::json!([[m1]]));
    assert_eq!(tok["applicant"], erin.as_str());
    assert!(tok["nodes"].as_array().unwrap().len() >= 2, "{tok}");
    assert!(tok["txHash"].as_str().unwrap().starts_with("0x"));
    let held_line = find(&held);
    assert_eq!(held_line["status"], "refused");
    assert!(held_line["reason"].as_str().unwrap().contains("frozen"), "{held_line}");
    let gov = rep["governance"].as_array().unwrap();
    let freeze = format!("freeze employee {erin}: left the company");
    let f = gov.iter().find(|g| g["action"] == freeze.as_str()).unwrap_or_else(|| panic!("{gov:?}"));
    assert_eq!(f["signers"], serde_json::json!([m("key-holder-0")]));
    let unfreeze = gov.iter().find(|g| g["action"].as_str().unwrap().starts_with("unfreeze")).unwrap();
    assert_eq!(unfreeze["signers"].as_array().unwrap().len(), 3, "{unfreeze}");
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("kind,notarized_at,id,applicant,approvers,nodes,to,amount,status,tx_hash,detail\n"));
    assert!(text.contains("\ntransfer,") && text.contains(&held) && text.contains(&freeze), "{text}");
    // Offline, from an export file: the same report.
    let hist = d.path("history.json");
    d.run("auditor", &["audit", "export", "--out", hist.to_str().unwrap()], &[]).ok();
    let offline = d.run("", &["audit", "report", "--file", hist.to_str().unwrap(), "--json"], &[]).json();
    assert_eq!(offline["transfers"], rep["transfers"]);
    let none = d.run("auditor", &["audit", "report", "--to", "1", "--json"], &[]).json();
    assert!(none["transfers"].as_array().unwrap().is_empty() && none["governance"].as_array().unwrap().is_empty());

    // --- every action stays listed with its signatures and state ---
    let all = d.run("kh-1", &["governance", "list", "--all", "--json"], &[]).json();
    assert!(all.as_array().unwrap().iter().all(|a| a["state"] == "notarized"), "{all}");
    assert!(d.run("kh-1", &["governance", "list"], &[]).ok().contains("no governance action is collecting"));

    // --- the auditor's follower: a verified replica that resumes; the auditor cannot write ---
    let replica = d.path("replica");
    let replica_s = replica.to_str().unwrap();
    let f1 = d.run("auditor", &["audit", "follow", "--out", replica_s, "--once", "--json"], &[]).json();
    let h1 = f1["height"].as_u64().unwrap();
    assert!(h1 > 10 && f1["resumedFrom"] == 0, "{f1}");
    let lines = || std::fs::read_to_string(replica.join("blocks.jsonl")).unwrap().lines().count() as u64;
    assert_eq!(lines(), h1);
    d.run("kh-1", &["keyholder", "block", &Address::repeat_byte(0xBB).to_checksum(None), "--reason", "later"], &[])
        .ok();
    d.until("more blocks", "kh-1", &["status", "--json"], |v| v["gateway"]["verifiedHeight"].as_u64() > Some(h1)).await;
    let f2 = d.run("auditor", &["audit", "follow", "--out", replica_s, "--once", "--json"], &[]).json();
    assert_eq!(f2["resumedFrom"].as_u64(), Some(h1), "{f2}");
    assert!(f2["height"].as_u64().unwrap() > h1 && lines() == f2["height"].as_u64().unwrap(), "{f2}");
    // The checkpoint is box-core's binary one; edited (its claimed state
    // root), it is refused with the reason instead of resumed from.
    let checkpoint = std::fs::read(replica.join("checkpoint.bin")).unwrap();
    assert!(checkpoint[8..].starts_with(box_core::checkpoint::MAGIC));
    let edited = d.path("replica-edited");
    std::fs::create_dir_all(&edited).unwrap();
    for f in ["genesis.json", "blocks.jsonl"] {
        std::fs::copy(replica.join(f), edited.join(f)).unwrap();
    }
    let mut forged = checkpoint.clone();
    forged[8 + box_core::checkpoint::MAGIC.len() + 8] ^= 1;
    std::fs::write(edited.join("checkpoint.bin"), &forged).unwrap();
    d.run("auditor", &["audit", "follow", "--out", edited.to_str().unwrap(), "--once"], &[])
        .refused(1, "is damaged (the persisted verified state is discarded: the state root of its rows is");
    // A replica written by an earlier version (checkpoint.json) is resumed
    // from, and its checkpoint replaced by the binary one.
    let genesis: box_core::typed::Genesis =
        serde_json::from_slice(&std::fs::read(replica.join("genesis.json")).unwrap()).unwrap();
    let c = box_core::checkpoint::decode(&genesis, &checkpoint[8..]).unwrap();
    let covered = u64::from_be_bytes(checkpoint[..8].try_into().unwrap());
    let old = d.path("replica-old");
    std::fs::create_dir_all(&old).unwrap();
    for f in ["genesis.json", "blocks.jsonl"] {
        std::fs::copy(replica.join(f), old.join(f)).unwrap();
    }
    let json = serde_json::json!({ "verifier": c.verifier, "bytes": covered });
    std::fs::write(old.join("checkpoint.json"), serde_json::to_vec(&json).unwrap()).unwrap();
    let f3 = d.run("auditor", &["audit", "follow", "--out", old.to_str().unwrap(), "--once", "--json"], &[]).json();
    assert_eq!(f3["resumedFrom"].as_u64(), f2["height"].as_u64(), "{f3}");
    if f3["height"] != f3["resumedFrom"] {
        assert!(!old.join("checkpoint.json").exists() && old.join("checkpoint.bin").exists());
    }
    d.run("auditor", &["keyholder", "freeze", &erin, "--reason", "x"], &[]).refused(3, "not_a_key_holder");
    // And at the API, whatever a client does: no offboarding, no token reads.
    let auditor = box_cli::Session::new(box_cli::Profile::load(&d.profile).unwrap(), key("auditor")).unwrap();
    let forbidden = |r: Result<(), box_api::ClientError>| {
        assert!(matches!(r, Err(box_api::ClientError::Api { status: 403, .. })), "{r:?}");
    };
    let c = auditor.client().await.unwrap();
    forbidden(c.offboard(erin_key.address(), "not mine to do").await.map(|_| ()));
    forbidden(c.token(token).await.map(|_| ()));
    d.run("auditor", &["admin", "register", "--address", &erin, "--name", "E", "--role", "approver"], &[])
        .refused(3, "role_required");
}
