//! `boxctl genesis new|check|fingerprint` as processes (issue 17 item 2): a
//! genesis made from a plan (with the assets read from a real anvil), its
//! fingerprint the same in every command and for any JSON spelling, and
//! `genesis check` refusing each broken field with its reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_testkit::anvil::Anvil;
use box_testkit::{eventually, key};
use common::*;
use serde_json::{Value, json};
use std::path::Path;

fn plan(eth_rpc: Option<&str>, chain_id: u64, asset: &str) -> String {
    let holders: Vec<String> = (1..=3).map(|i| format!("\"{}\"", key(&format!("kh-{i}")).address())).collect();
    let nodes: String = (1..=3)
        .map(|i| {
            format!(
                "[[nodes]]\nid = {i}\nendpoint = \"node-{i}.example.com:7001\"\naccount = \"{}\"\n",
                key(&format!("node-{i}")).address()
            )
        })
        .collect();
    let rpc = eth_rpc.map(|u| format!("eth_rpc = \"{u}\"\n")).unwrap_or_default();
    format!(
        "chain_id = {chain_id}\n{rpc}key_holders = [{}]\nsigner = \"{}\"\n{nodes}[[assets]]\n{asset}\n",
        holders.join(", "),
        key("signer").address()
    )
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn genesis_new_reads_the_assets_from_the_chain_and_every_command_shows_one_fingerprint() {
    let anvil = Anvil::start().await;
    let token = anvil.deploy_erc20(key("treasury").address()).await;
    let dir = tempfile::tempdir().unwrap();
    let rpc = anvil.endpoint();
    let from = write(dir.path(), "plan.toml", &plan(Some(&rpc), anvil.chain_id(), &format!("token = \"{token}\"")));
    let out = dir.path().join("genesis.json");
    let out_s = out.to_str().unwrap();
    let made = boxctl(&["genesis", "new", "--from", &from, "--out", out_s, "--json"], &[]).json();
    let g: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(g["assets"], json!([{ "token": token.to_string().to_lowercase(), "symbol": "BOXT", "decimals": 18 }]));
    assert_eq!(g["chainId"], json!(anvil.chain_id()));
    assert_ne!(g["deploymentId"], json!(format!("0x{}", "00".repeat(32))));
    let short = made["fingerprint"].as_str().unwrap().to_owned();
    assert_eq!(short.len(), 24, "{short}");
    // fingerprint and check agree, as text and JSON.
    assert_eq!(boxctl(&["genesis", "fingerprint", out_s], &[]).ok().trim(), short);
    assert!(boxctl(&["genesis", "check", out_s], &[]).ok().contains(&short));
    // Another JSON spelling of the same genesis (compact, reordered) has the same fingerprint.
    let respelled = write(dir.path(), "compact.json", &serde_json::to_string(&g).unwrap());
    assert_eq!(boxctl(&["genesis", "fingerprint", &respelled, "--json"], &[]).json()["fingerprint"], json!(short));
    // Never overwritten.
    boxctl(&["genesis", "new", "--from", &from, "--out", out_s], &[]).refused(2, "already exists");

    // The chain's word wins: a plan for another chain, or a symbol the token does not have.
    let other = dir.path().join("other.json");
    let other_s = other.to_str().unwrap();
    let wrong_chain = write(dir.path(), "wrong-chain.toml", &plan(Some(&rpc), 1, &format!("token = \"{token}\"")));
    boxctl(&["genesis", "new", "--from", &wrong_chain, "--out", other_s], &[]).refused(2, "serves chain 31337");
    let lie =
        write(dir.path(), "lie.toml", &plan(Some(&rpc), 31337, &format!("token = \"{token}\"\nsymbol = \"USDC\"")));
    boxctl(&["genesis", "new", "--from", &lie, "--out", other_s], &[]).refused(2, "the token contract");
    let no_code = format!("token = \"{}\"", key("not-a-contract").address());
    let empty = write(dir.path(), "empty.toml", &plan(Some(&rpc), 31337, &no_code));
    boxctl(&["genesis", "new", "--from", &empty, "--out", other_s], &[]).refused(2, "does not answer symbol()");
    // Without an RPC, symbol and decimals must be given.
    let offline = write(dir.path(), "offline.toml", &plan(None, 1, &format!("token = \"{token}\"")));
    boxctl(&["genesis", "new", "--from", &offline, "--out", other_s], &[]).refused(2, "give symbol and decimals");
    assert!(!other.exists());
}

#[test]
fn genesis_check_refuses_each_broken_field_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let from = write(
        dir.path(),
        "plan.toml",
        &plan(None, 1, "token = \"0x1111111111111111111111111111111111111111\"\nsymbol = \"USDC\"\ndecimals = 6"),
    );
    let good = dir.path().join("genesis.json");
    boxctl(&["genesis", "new", "--from", &from, "--out", good.to_str().unwrap()], &[]).ok();
    let g: Value = serde_json::from_str(&std::fs::read_to_string(&good).unwrap()).unwrap();
    let kh0 = g["keyHolders"][0].clone();
    type Breaks = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Breaks, &str)> = vec![
        ("deploymentId", Box::new(|g| g["deploymentId"] = json!(format!("0x{}", "00".repeat(32)))), "32 random bytes"),
        ("chainId", Box::new(|g| g["chainId"] = json!(0)), "EIP-155"),
        (
            "keyHolders",
            Box::new(|g| {
                g["keyHolders"].as_array_mut().unwrap().pop();
            }),
            "3 to 16",
        ),
        ("keyHolders[2]", Box::new(move |g| g["keyHolders"][2] = kh0.clone()), "already a key holder"),
        ("signer", Box::new(|g| g["signer"] = g["keyHolders"][1].clone()), "its own key"),
        ("nodes[1].nodeId", Box::new(|g| g["nodes"][1]["nodeId"] = json!(1)), "listed twice"),
        ("nodes[2].endpoint", Box::new(|g| g["nodes"][2]["endpoint"] = json!("https://node-3:7001")), "host:port"),
        (
            "nodes[0].account",
            Box::new(|g| g["nodes"][0]["account"] = json!(format!("0x{}", "00".repeat(20)))),
            "address(0)",
        ),
        ("assets[0]", Box::new(|g| g["assets"][0]["decimals"] = json!(78)), "decimals"),
        ("assets[0].symbol", Box::new(|g| g["assets"][0]["symbol"] = json!("ETH")), "already taken"),
        ("time", Box::new(|g| g["time"] = json!(0)), "Unix seconds"),
        ("time", Box::new(|g| g["time"] = json!(4_000_000_000u64)), "in the future"),
    ];
    for (i, (field, break_it, reason)) in cases.into_iter().enumerate() {
        let mut bad = g.clone();
        break_it(&mut bad);
        let f = write(dir.path(), &format!("bad-{i}.json"), &bad.to_string());
        let r = boxctl(&["genesis", "check", &f], &[]);
        r.refused(2, &format!("{field}: "));
        assert!(r.stderr.contains(reason), "{field}: {}", r.stderr);
        assert!(!r.stderr.contains("Some(") && !r.stderr.contains("{ "), "{}", r.stderr);
        // --json lists the same problems on stdout.
        let j = boxctl(&["genesis", "check", &f, "--json"], &[]);
        assert_eq!(j.code, 2);
        let listed: Value = serde_json::from_str(&j.stdout).unwrap();
        assert!(
            listed["problems"].as_array().unwrap().iter().any(|p| p.as_str().unwrap().starts_with(field)),
            "{listed}"
        );
    }
    // Not a genesis at all, or an unknown field: named in words.
    let f = write(dir.path(), "extra.json", &{
        let mut e = g.clone();
        e["owner"] = json!("me");
        e.to_string()
    });
    boxctl(&["genesis", "check", &f], &[]).refused(2, "is not a BOX genesis");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signer_given_another_genesis_than_the_nodes_refuses_to_run_naming_both_fingerprints() {
    use box_core::genesis::Fingerprint;
    let anvil = Anvil::start().await;
    let cluster = box_testkit::Cluster::start(&sibling("box-node", "box-chain"), 3, 0).await;
    let mut other = cluster.genesis.clone();
    other.time += 1;
    let (ours, theirs) = (Fingerprint::of(&cluster.genesis).short(), Fingerprint::of(&other).short());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("other-genesis.json"), serde_json::to_vec_pretty(&other).unwrap()).unwrap();
    std::fs::write(d.join("ca.pem"), cluster.ca.ca_pem()).unwrap();
    let (cert, key_pem) =
        cluster.ca.issue("box-signer", box_ops::role::CertRole::Signer, &["127.0.0.1".into()]).unwrap();
    std::fs::write(d.join("signer.pem"), cert).unwrap();
    std::fs::write(d.join("signer.key"), key_pem).unwrap();
    box_ops::keyfile::generate(&d.join("identity.json"), *cluster.signer.expose_bytes()).unwrap();
    let nodes: Vec<String> = cluster.nodes.iter().map(|n| format!("\"{}\"", n.addr)).collect();
    std::fs::write(
        d.join("signer.toml"),
        format!(
            "data_dir = \"data\"\ngenesis = \"other-genesis.json\"\nidentity_key = \"identity.json\"\nnodes = [{}]\n\
             lock_after_failures = 3\n\n[tls]\nca = \"ca.pem\"\ncert = \"signer.pem\"\nkey = \"signer.key\"\n\n\
             [ethereum]\nrpc = \"{}\"\nchain_id = {}\nconfirmations = 1\npoll_ms = 100\nreplace_after_secs = 60\n",
            nodes.join(", "),
            anvil.endpoint(),
            anvil.chain_id(),
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(sibling("box-signer", "box-signer"))
        .args(["run", "--dev", "--config"])
        .arg(d.join("signer.toml"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The refusal comes once a node answers; a signer still running after this deadline did not refuse
    // (e.g. a stale box-node without the fingerprint: rebuild it). Generous for a loaded machine.
    eventually("box-signer exits", std::time::Duration::from_secs(120), || {
        let done = child.try_wait().unwrap().is_some();
        async move { done.then_some(()) }
    })
    .await;
    let out = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains(&format!("fingerprint is {theirs}")) && text.contains(&format!("fingerprint {ours}")),
        "{text}"
    );
    assert!(!text.contains("enrolment code"), "nothing of the vault is shown before the check: {text}");
}
