//! `boxctl key new|inspect` as processes: a new key opens in an independent
//! implementation (node, @noble) and in `key inspect`; `key inspect` reads the
//! published keystore vectors and other tools' spellings; hostile files and
//! weak passwords are refused with their reasons (issue 17 item 1, issue 14 item 11).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

const PASSWORD: &str = "violet anchor under seven rains";

fn testdata(file: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ops/testdata/keystores").join(file);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Decrypts each `(keystore, password)` with @noble (node); the address, or null.
fn independent_addresses(jobs: &[(&Value, &str)]) -> Vec<Value> {
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools");
    assert!(tools.join("node_modules/@noble/hashes").is_dir(), "run `npm ci --prefix tools` first (tools/test does)");
    let input: Vec<Value> = jobs.iter().map(|(k, p)| json!({ "keystore": k, "password": p })).collect();
    let mut child = Command::new("node")
        .arg(tools.join("test-support/keystore.mjs"))
        .current_dir(&tools)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node is needed");
    child.stdin.take().unwrap().write_all(&serde_json::to_vec(&input).unwrap()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "keystore.mjs failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn write_case(dir: &Path, name: &str, keystore: &Value) -> String {
    let f = dir.join(format!("{name}.json"));
    std::fs::write(&f, keystore.to_string()).unwrap();
    f.to_str().unwrap().to_owned()
}

#[test]
fn key_new_writes_a_standard_keystore_that_other_tools_and_key_inspect_open() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("holder.json");
    let out_s = out.to_str().unwrap();
    let made = boxctl(&["key", "new", "--out", out_s, "--json"], &[("BOX_PASSWORD", PASSWORD)]).json();
    let address = made["address"].as_str().unwrap().to_owned();
    let checksummed: box_core::Address = address.parse().unwrap();
    assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(file["crypto"]["kdfparams"]["n"], json!(262_144), "geth's standard scrypt cost");
    assert_eq!(file["crypto"]["kdfparams"]["r"], json!(8));
    assert!(!std::fs::read_to_string(&out).unwrap().contains(PASSWORD));
    // An independent implementation opens it to the same address; a wrong password does not.
    assert_eq!(
        independent_addresses(&[(&file, PASSWORD), (&file, "not the password")]),
        vec![json!(checksummed.to_checksum(None)), Value::Null]
    );
    // key inspect, as text and JSON.
    let text = boxctl(&["key", "inspect", out_s], &[("BOX_PASSWORD", PASSWORD)]).ok().to_owned();
    assert!(
        text.contains(&checksummed.to_checksum(None)) && text.contains("scrypt (N = 2^18, r = 8, p = 1)"),
        "{text}"
    );
    let seen = boxctl(&["key", "inspect", out_s, "--json"], &[("BOX_PASSWORD", PASSWORD)]).json();
    assert_eq!(seen["address"], json!(address));
    assert_eq!(seen["kdf"], json!({"kdf": "scrypt", "n": 262_144, "r": 8, "p": 1}));
    assert_eq!(seen["passwordForm"], json!("typed"));
    // Never overwritten; a wrong password is a usage error naming the file.
    boxctl(&["key", "new", "--out", out_s], &[("BOX_PASSWORD", PASSWORD)]).refused(2, "already exists");
    boxctl(&["key", "inspect", out_s], &[("BOX_PASSWORD", "wrong password")]).refused(2, "wrong password for");
    // Without BOX_PASSWORD and without a terminal there is nobody to ask.
    boxctl(&["key", "inspect", out_s], &[]).refused(2, "needs a terminal");
}

#[test]
fn key_new_refuses_weak_and_unnormalised_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("k.json");
    let out_s = out.to_str().unwrap();
    boxctl(&["key", "new", "--out", out_s], &[("BOX_PASSWORD", "short")]).refused(2, "use at least 16");
    boxctl(&["key", "new", "--out", out_s], &[("BOX_PASSWORD", "abcdefghijklmnopqrs")]).refused(2, "sequence");
    let fullwidth = "\u{ff30}\u{ff41}\u{ff53}\u{ff53} violet anchor rains";
    boxctl(&["key", "new", "--out", out_s], &[("BOX_PASSWORD", fullwidth)]).refused(2, "NFKC");
    assert!(!out.exists(), "nothing was written");
}

#[test]
fn key_inspect_reads_the_published_vectors_and_other_tools_spellings() {
    let dir = tempfile::tempdir().unwrap();
    let vectors = testdata("published_vectors.json");
    // test2 (scrypt N = 2^18, r = 1, p = 8) is checked by the unit tests; here the cheaper ones as processes.
    for name in ["test1", "evilnonce", "mycrypto", "31_byte_key"] {
        let case = &vectors[name];
        let f = write_case(dir.path(), name, &case["json"]);
        let r = boxctl(&["key", "inspect", &f, "--json"], &[("BOX_PASSWORD", case["password"].as_str().unwrap())]);
        let seen = r.json();
        let priv_hex = format!("{:0>64}", case["priv"].as_str().unwrap());
        let key = box_core::crypto::SecretKey::from_bytes(&hex::decode(priv_hex).unwrap().try_into().unwrap()).unwrap();
        assert_eq!(seen["address"], json!(key.address()), "{name}");
    }
    for (name, form) in [("odd_iv", "typed"), ("crypto_capitalised_upper_hex", "typed"), ("nfkc", "nfkc")] {
        let case = testdata(&format!("{name}.json"));
        let f = write_case(dir.path(), name, &case["json"]);
        let seen =
            boxctl(&["key", "inspect", &f, "--json"], &[("BOX_PASSWORD", case["password"].as_str().unwrap())]).json();
        assert_eq!(seen["address"], json!("0x2c7536e3605d9c16a7a3d7b1898e529396a65c23"), "{name}");
        assert_eq!(seen["passwordForm"], json!(form), "{name}");
    }
}

#[test]
fn key_inspect_refuses_hostile_files_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let base = testdata("published_vectors.json")["mycrypto"]["json"].clone();
    let mut huge = base.clone();
    huge["crypto"]["kdfparams"]["n"] = json!(1u64 << 40);
    let mut slow = base.clone();
    slow["crypto"]["kdf"] = json!("pbkdf2");
    slow["crypto"]["kdfparams"] = json!({"dklen": 32, "c": 50_000_000, "prf": "hmac-sha256", "salt": "00"});
    for (name, v, reason) in [("huge", huge, "over the limit of 256 MiB"), ("slow", slow, "must be from 1 to 10000000")]
    {
        let f = write_case(dir.path(), name, &v);
        boxctl(&["key", "inspect", &f], &[("BOX_PASSWORD", "x")]).refused(2, reason);
    }
    let big = dir.path().join("big.json");
    std::fs::write(&big, format!("{{\"pad\": \"{}\"}}", "a".repeat(100_000))).unwrap();
    boxctl(&["key", "inspect", big.to_str().unwrap()], &[("BOX_PASSWORD", "x")]).refused(2, "not a keystore file");
}
