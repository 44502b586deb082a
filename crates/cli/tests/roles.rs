//! Every role's commands as processes against a real deployment: anvil, a
//! 3-node cluster, box-signer and box-gateway over HTTPS. One story: the key
//! holders enrol and create the wallet, the admin registers people, issues
//! an employee key and builds a two-level flow, the key holders authorize it,
//! the employee fetches the key and applies, approvers approve level by
//! level, the signer pays; then the refusals (over the limit, a rejection, a
//! weak phrase, a wrong code), pause and resume, the audit export verified
//! and tampered, a panic lock and unseal, and a lost device re-enrolled.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_core::{Address, U256};
use box_testkit::key;
use common::*;
use serde_json::Value;

const PHRASES: [&str; 3] = ["copper lantern orbits quietly", "seven herons fold the map", "violet anchor under rain"];

fn ether(milli: u64) -> U256 {
    U256::from(milli) * U256::from(10u64).pow(U256::from(15u64))
}

fn field<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {label} in:\n{out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_end_to_end_with_real_processes() {
    let d = Deployment::start().await;
    let holders = ["kh-1", "kh-2", "kh-3"];

    // --- the key ceremony, by the key holders with boxctl ---
    let code = d.signer.enrolment_code().await;
    let st = d.until("the signer announced", "kh-1", &["status", "--json"], |v| !v["signer"].is_null()).await;
    assert_eq!(st["signer"]["state"], "awaiting_enrolment");
    d.run("kh-1", &["keyholder", "enrol", "--code", "WRONG-CODE-0000", "--wait", "60"], &[])
        .refused(3, "wrong enrolment code");
    d.run("admin", &["keyholder", "enrol", "--code", &code], &[]).refused(3, "not a key holder");
    for kh in holders {
        let v = d.run(kh, &["keyholder", "enrol", "--code", &code, "--json"], &[]).json();
        assert!(v["devices"].as_array().unwrap().iter().filter(|x| !x.is_null()).count() >= 1, "{v}");
    }
    d.run("kh-1", &["keyholder", "phrase"], &[("BOX_PHRASE", "short")]).refused(2, "would be refused");
    let mut last = String::new();
    for (kh, phrase) in holders.iter().zip(PHRASES) {
        last = d.run(kh, &["keyholder", "phrase"], &[("BOX_PHRASE", phrase)]).ok().to_owned();
    }
    assert!(last.contains("hot wallet: 0x"), "{last}");
    let wallet: Address = field(&last, "hot wallet:").parse().unwrap();
    // d is for the paper backup, but never in a log file: the signer's output here is a file, not a terminal.
    assert!(d.signer.d().is_none(), "the signer printed d into its log");
    assert!(d.signer.output().contains("box-signer show-backup"), "{}", d.signer.output());
    d.anvil.fund(wallet, ether(20_000)).await;

    // --- the admin: people, an issued key, a flow ---
    let m = |n: &str| key(n).address().to_checksum(None);
    for (who, name) in [("manager-1", "Mia"), ("manager-2", "Max"), ("finance-1", "Fay"), ("finance-2", "Fox")] {
        let out = d
            .run("", &["admin", "register", "--address", &m(who), "--name", name, "--role", "approver"], &[])
            .ok()
            .to_owned();
        // Roles in words, not Rust debug text (issue 11, fault 8).
        assert!(out.contains(&format!("registered as {name} (approver)")), "{out}");
    }
    d.run("", &["admin", "register", "--address", &m("auditor"), "--name", "Ada", "--role", "auditor"], &[]).ok();
    d.run("", &["admin", "register", "--address", &m("key-holder-0"), "--name", "K", "--role", "approver"], &[])
        .refused(3, "separation_of_duties");
    let copy = d.path("erin-copy.json");
    let issued = d.run("", &["admin", "issue-key", "--name", "Erin", "--out", copy.to_str().unwrap()], &[]);
    let out = issued.ok();
    assert!(issued.stderr.contains("shown this once"), "{}", issued.stderr);
    let employee: Address = field(out, "address:").parse().unwrap();
    let password = field(out, "password:").to_owned();
    assert_eq!(password.len(), 29, "{out}");
    let people = d.run("", &["admin", "people", "--json"], &[]).json();
    assert!(people.as_array().unwrap().iter().any(|p| p["name"] == "Erin" && p["roles"][0] == "employee"));
    assert!(!people.to_string().contains(&password));
    let parked: Value = serde_json::from_slice(&std::fs::read(&copy).unwrap()).unwrap();
    let opened = box_cli::keystore::decrypt(&parked, &password).unwrap();
    assert_eq!(opened.address(), employee, "the copy is the issued key under the shown password");
    assert!(!std::fs::read_to_string(&copy).unwrap().contains(&password));

    // Step E: the employee downloads and decrypts the key (no key of their own yet).
    let erin = d.path("erin.json");
    let erin_s = erin.to_str().unwrap();
    let addr = employee.to_checksum(None);
    d.run("", &["employee", "fetch-key", "--address", &addr, "--out", erin_s], &[("BOX_PASSWORD", "not it")])
        .refused(2, "password does not open");
    d.run("", &["employee", "fetch-key", "--address", &addr, "--out", erin_s], &[("BOX_PASSWORD", &password)]).ok();
    // Once (issue 11, fault 7): the unsigned download is spent; the same
    // answer as for someone who never had a key; then only signed reads.
    let again = d.path("erin-again.json");
    let again_s = again.to_str().unwrap();
    let second =
        d.run("", &["employee", "fetch-key", "--address", &addr, "--out", again_s], &[("BOX_PASSWORD", &password)]);
    second.refused(2, "downloaded once");
    let stranger = key("never-issued").address().to_checksum(None);
    let unknown =
        d.run("", &["employee", "fetch-key", "--address", &stranger, "--out", again_s], &[("BOX_PASSWORD", &password)]);
    assert_eq!(unknown.stderr.replace(&stranger, "ADDRESS"), second.stderr.replace(&addr, "ADDRESS"));
    assert!(!again.exists());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&erin).unwrap().permissions().mode() & 0o777, 0o600);
    let as_erin = |args: &[&str], env: &[(&str, &str)]| {
        let mut a = args.to_vec();
        a.extend(["--key", erin_s]);
        let mut e = vec![("BOX_PASSWORD", password.as_str())];
        e.extend_from_slice(env);
        d.run("", &a, &e)
    };

    let flow_file = d.path("flow.toml");
    std::fs::write(
        &flow_file,
        format!(
            "name = \"Payments\"\nemployees = [\"{addr}\"]\n\n[[levels]]\nname = \"Managers\"\napprovers = [\"{}\", \"{}\"]\nthreshold = 1\n\n\
             [[levels]]\nname = \"Finance\"\napprovers = [\"{}\", \"{}\"]\nthreshold = 2\n\n\
             [[limits]]\nasset = \"ETH\"\nper_transfer = \"5\"\nper_period = \"8\"\nperiod = \"1d\"\nmax_fee = \"0.01\"\n",
            m("manager-1"),
            m("manager-2"),
            m("finance-1"),
            m("finance-2")
        ),
    )
    .unwrap();
    let created =
        d.run("", &["admin", "flow", "create", "--file", flow_file.to_str().unwrap(), "--submit", "--json"], &[]);
    let created = created.json();
    let flow = created["flow"]["hash"].as_str().unwrap().to_owned();
    let flow_status = |want: &'static str| {
        let flow = flow.clone();
        move |v: &Value| v.as_array().unwrap().iter().any(|f| f["hash"] == flow.as_str() && f["status"] == want)
    };
    d.until("the flow notarized", "", &["admin", "flow", "list", "--json"], flow_status("notarized")).await;
    let shown = d.run("", &["admin", "flow", "show", &flow], &[]).ok().to_owned();
    assert!(shown.contains("name = \"Payments\"") && shown.contains("per_transfer = \"5\""), "{shown}");
    for kh in holders {
        let out = d.run(kh, &["keyholder", "authorize", &flow], &[]).ok().to_owned();
        assert!(out.contains("enable(") && out.contains("Finance"), "{out}");
    }
    // A second draft (another nonce), submitted on its own.
    let text =
        std::fs::read_to_string(&flow_file).unwrap().replace("name = \"Payments\"", "name = \"Payments\"\nnonce = 2");
    let second = d.path("flow2.toml");
    std::fs::write(&second, text).unwrap();
    let draft = d.run("", &["admin", "flow", "create", "--file", second.to_str().unwrap(), "--json"], &[]).json();
    assert_eq!(draft["flow"]["status"], "draft");
    assert!(draft["submitted"].is_null());
    let h2 = draft["flow"]["hash"].as_str().unwrap();
    assert_ne!(h2, flow);
    assert!(d.run("", &["admin", "flow", "submit", h2], &[]).ok().contains("submitted for notarization"));
    d.run("", &["admin", "flow", "submit", &format!("0x{}", "ab".repeat(32))], &[]).refused(3, "");
    d.until(
        "the flow active (anchored by the signer)",
        "",
        &["admin", "flow", "list", "--json"],
        flow_status("active"),
    )
    .await;

    // --- a transfer, approved level by level, paid by the signer ---
    let to = Address::repeat_byte(0xD5);
    let to_s = to.to_checksum(None);
    // Amounts are plain decimals, the API's grammar (issue 11, fault 6): refused
    // with the reason before anything is signed or sent.
    for (bad, why) in [
        ("1e18", "not a plain decimal number"),
        (" 1", "not a plain decimal number"),
        ("1,5", "not a plain decimal number"),
        ("0x10", "not a plain decimal number"),
        ("-1", "negative or signed"),
        ("1.0000000000000000001", "has 19 decimal places but the asset has only 18"),
    ] {
        let arg = format!("--amount={bad}");
        let r = as_erin(&["employee", "apply", "--asset", "ETH", "--to", &to_s, &arg], &[]);
        r.refused(2, why);
        assert!(!r.stderr.contains("to be signed"), "refused before the summary: {}", r.stderr);
    }
    assert!(as_erin(&["employee", "list", "--json"], &[]).json().as_array().unwrap().is_empty(), "nothing applied");
    // What will be signed is shown first: amount with symbol, EIP-55 destination, fee cap.
    let applied = as_erin(&["employee", "apply", "--asset", "eth", "--to", &to_s, "--amount", "1.5", "--json"], &[]);
    for shown in ["amount:  1.5 ETH (1500000000000000000 base units)", &format!("to:      {to_s}"), "fee cap: 0.01 ETH"]
    {
        assert!(applied.stderr.contains(shown), "{shown:?} not shown before signing:\n{}", applied.stderr);
    }
    let t = applied.json();
    let id = t["id"].as_str().unwrap().to_owned();
    assert_eq!(t["displayAmount"], "1.5 ETH");
    assert_eq!(t["amount"], "1500000000000000000");
    let pending = d.run("manager-1", &["approve", "list", "--json"], &[]).json();
    let p = pending.as_array().unwrap().iter().find(|x| x["id"] == id.as_str()).expect("pending for manager-1");
    assert_eq!((p["displayAmount"].as_str(), p["to"].as_str()), (Some("1.5 ETH"), Some(to_s.as_str())));
    assert_eq!((p["applicant"].as_str(), p["flowName"].as_str()), (Some(addr.as_str()), Some("Payments")));
    assert_eq!((p["levels"][0]["need"].as_u64(), p["levels"][1]["need"].as_u64()), (Some(1), Some(2)));
    let text = d.run("manager-1", &["approve", "list"], &[]).ok().to_owned();
    assert!(text.contains("1.5 ETH") && text.contains("level 2 Finance") && text.contains("0/2"), "{text}");
    assert!(d.run("finance-1", &["approve", "list", "--json"], &[]).json().as_array().unwrap().is_empty());
    as_erin(&["approve", "yes", &id], &[]).refused(3, "");
    d.run("manager-1", &["approve", "yes", &id], &[]).ok();
    assert!(d.run("manager-2", &["approve", "list", "--json"], &[]).json().as_array().unwrap().is_empty());
    d.run("finance-1", &["approve", "yes", &id], &[]).ok();
    d.run("finance-2", &["approve", "yes", &id, "--json"], &[]).ok();
    let show = ["employee", "show", id.as_str(), "--json"];
    let done = d.until("the transfer confirmed", "", &show, |v| v["state"] == "confirmed").await;
    assert!(done["txHash"].as_str().unwrap().starts_with("0x"));
    assert_eq!(d.anvil.balance(to).await, ether(1500));
    let mine = as_erin(&["employee", "list"], &[]).ok().to_owned();
    assert!(mine.contains(&id) && mine.contains("1.5 ETH"), "{mine}");

    // --- refusals: over the limit, a rejection with its reason ---
    as_erin(&["employee", "apply", "--asset", "ETH", "--to", &to_s, "--amount", "6"], &[]).refused(3, "limit");
    as_erin(&["employee", "apply", "--asset", "ETH", "--to", &to_s, "--amount", "1.0000000000000000001"], &[])
        .refused(2, "decimal places");
    as_erin(&["employee", "apply", "--asset", "DOGE", "--to", &to_s, "--amount", "1"], &[])
        .refused(2, "not registered");
    let t2 = as_erin(&["employee", "apply", "--asset", "ETH", "--to", &to_s, "--amount", "0.1", "--json"], &[]).json();
    let id2 = t2["id"].as_str().unwrap();
    d.run("manager-2", &["approve", "reject", id2, "--reason", "not budgeted"], &[]).ok();
    let r = as_erin(&["employee", "show", id2, "--json"], &[]).json();
    assert_eq!((r["state"].as_str(), r["reason"].as_str()), (Some("rejected_by_approver"), Some("not budgeted")));

    // --- pause (one key holder) and resume (every key holder) ---
    let p = d.run("kh-2", &["keyholder", "pause", "--reason", "incident drill"], &[]).ok().to_owned();
    assert!(p.contains("pause transfers: incident drill"), "{p}");
    d.until("paused", "kh-1", &["status", "--json"], |v| v["gateway"]["paused"] == "incident drill").await;
    let r1 = d.run("kh-1", &["keyholder", "resume"], &[]).ok().to_owned();
    assert!(r1.contains("1 of 3"), "{r1}");
    assert!(d.run("kh-3", &["keyholder", "resume"], &[]).ok().contains("2 of 3"));
    assert!(d.run("kh-2", &["keyholder", "resume"], &[]).ok().contains("every key holder"));
    d.until("resumed", "kh-1", &["status", "--json"], |v| v["gateway"]["paused"].is_null()).await;

    // --- status ---
    let st = d.run("kh-1", &["status", "--json"], &[]).json();
    assert_eq!(st["cluster"]["nodes"].as_array().unwrap().len(), 3);
    assert!(st["cluster"]["leader"].is_u64(), "{st}");
    assert_eq!(st["signer"]["state"], "unsealed");
    assert_eq!(st["wallet"]["address"], wallet.to_checksum(None));
    assert_eq!(st["wallet"]["balances"][0]["symbol"], "ETH");
    assert_eq!(st["transfers"]["confirmed"], 1);
    let text = d.run("kh-1", &["status"], &[]).ok().to_owned();
    assert!(text.contains("unsealed") && text.contains("leader node") && text.contains(" ETH"), "{text}");

    // --- the audit: export, verify offline, and a tampered copy refused ---
    let hist = d.path("history.json");
    let hist_s = hist.to_str().unwrap();
    d.run("auditor", &["audit", "export", "--out", hist_s], &[]).ok();
    let v = d.run("auditor", &["audit", "verify", hist_s, "--json"], &[]).json();
    assert!(v["blocks"].as_u64().unwrap() > 3 && v["notarized"].as_u64().unwrap() > 3, "{v}");
    let mut file: Value = serde_json::from_slice(&std::fs::read(&hist).unwrap()).unwrap();
    let block = file["blocks"][2].as_str().unwrap().to_owned();
    let flip = if block.ends_with('0') { "1" } else { "0" };
    file["blocks"][2] = Value::String(format!("{}{flip}", &block[..block.len() - 1]));
    let bad = d.path("tampered.json");
    std::fs::write(&bad, serde_json::to_vec(&file).unwrap()).unwrap();
    d.run("auditor", &["audit", "verify", bad.to_str().unwrap()], &[]).refused(3, "block 3");
    d.run("manager-1", &["audit", "export", "--out", d.path("h2.json").to_str().unwrap()], &[])
        .refused(3, "role_required");

    // --- panic: locked at once; every key holder's phrase unseals it again ---
    let v = d.run("kh-3", &["keyholder", "panic", "--json"], &[]).json();
    assert_eq!(v["state"], "locked");
    assert!(v["detail"].as_str().unwrap().contains("panic"), "{v}");
    for (kh, phrase) in holders.iter().zip(PHRASES) {
        d.run(kh, &["keyholder", "phrase"], &[("BOX_PHRASE", phrase)]).ok();
    }
    d.until("unsealed after the panic", "kh-1", &["status", "--json"], |v| v["signer"]["state"] == "unsealed").await;

    // --- a lost device: key holder 3 re-enrols a new key with the original phrase ---
    // and key holder 1's endorsement (without one, nothing reaches the signer).
    let new_key = key("key-holder-2-new-phone");
    let new_addr = new_key.address().to_checksum(None);
    let new_file = write_identity(&d.path("new-phone"), "phone", &new_key);
    let pw = std::fs::read_to_string(d.path("new-phone/phone.password")).unwrap();
    let new_s = new_file.to_str().unwrap();
    d.run("manager-1", &["keyholder", "endorse", "--slot", "3", "--device", &new_addr], &[])
        .refused(3, "not an enrolled key-holder device");
    let stranger =
        box_core::ceremony::endorse(&d.cluster.domain, &key("stranger"), Default::default(), 2, new_key.address());
    let stranger = format!("0x{}", hex::encode(stranger.as_bytes()));
    d.run(
        "",
        &["keyholder", "reenrol", "--slot", "3", "--key", new_s, "--endorsement", &stranger],
        &[("BOX_PASSWORD", &pw), ("BOX_PHRASE", PHRASES[2])],
    )
    .refused(3, "keyholder endorse --slot 3");
    let e = d.run("kh-1", &["keyholder", "endorse", "--slot", "3", "--device", &new_addr, "--json"], &[]).json();
    let endorsement = e["endorsement"].as_str().unwrap().to_owned();
    d.run(
        "",
        &["keyholder", "reenrol", "--slot", "3", "--key", new_s, "--endorsement", &endorsement],
        &[("BOX_PASSWORD", &pw), ("BOX_PHRASE", "wrong")],
    )
    .refused(3, "wrong phrase for re-enrolling slot 3");
    let v = d
        .run(
            "",
            &["keyholder", "reenrol", "--slot", "3", "--key", new_s, "--endorsement", &endorsement, "--json"],
            &[("BOX_PASSWORD", &pw), ("BOX_PHRASE", PHRASES[2])],
        )
        .json();
    assert_eq!(v["devices"][2], new_key.address().to_checksum(None));
    // The new device speaks for key holder 3 through the gateway: after a panic, it unseals with the others.
    assert_eq!(d.run("kh-1", &["keyholder", "panic", "--json"], &[]).json()["state"], "locked");
    for (kh, phrase) in holders.iter().zip(PHRASES).take(2) {
        d.run(kh, &["keyholder", "phrase"], &[("BOX_PHRASE", phrase)]).ok();
    }
    d.run("", &["keyholder", "phrase", "--key", new_s], &[("BOX_PASSWORD", &pw), ("BOX_PHRASE", PHRASES[2])]).ok();
    d.until("unsealed with the new device", "kh-1", &["status", "--json"], |v| v["signer"]["state"] == "unsealed")
        .await;

    // The paper backup's d comes from `box-signer show-backup` (signer stopped); the log never had it.
    let config = d.dir.path().join("signer/signer.toml");
    let mut d = d;
    let (backup_wallet, backup_d) = d.signer.stop_and_show_backup(&config);
    assert_eq!(backup_wallet, wallet);
    assert!(!d.signer.output().contains(backup_d.trim_start_matches("0x")), "d is in the signer's log");
    // The services' own words for people (issue 17 item 6): no Rust Debug text.
    box_testkit::assert_for_people("the signer's output", &d.signer.output());
    for id in 1..=3 {
        box_testkit::assert_for_people(&format!("node {id}'s log"), &d.cluster.log(id));
    }
}
