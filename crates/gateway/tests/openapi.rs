//! The OpenAPI document is generated from the code, served, and valid
//! OpenAPI 3: checked by the reference validator (`openapi-spec-validator`
//! from PyPI, installed in a venv under the target dir on first use) and by
//! walking every `$ref` here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

const VALIDATOR: &str = "openapi-spec-validator==0.9.0";

fn refs<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match v {
        serde_json::Value::Object(m) => {
            if let Some(serde_json::Value::String(r)) = m.get("$ref") {
                out.push(r);
            }
            m.values().for_each(|v| refs(v, out));
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

fn validator() -> std::path::PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("openapi-venv");
    let bin = venv.join("bin/openapi-spec-validator");
    if !bin.exists() {
        let ok = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().expect("python3 is needed").success();
        assert!(ok, "python3 -m venv failed");
        let ok = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", VALIDATOR])
            .status()
            .unwrap()
            .success();
        assert!(ok, "pip install {VALIDATOR} failed");
    }
    bin
}

#[test]
fn the_document_is_valid_openapi_3_and_covers_every_endpoint() {
    let doc = box_gateway::api::openapi();
    let json: serde_json::Value = serde_json::from_str(&doc.to_json().unwrap()).unwrap();
    assert!(json["openapi"].as_str().unwrap().starts_with("3."));
    // Every reference resolves.
    let mut found = Vec::new();
    refs(&json, &mut found);
    assert!(!found.is_empty());
    for r in found {
        let path = r.strip_prefix("#/").unwrap_or_else(|| panic!("external ref {r}"));
        let target = path.split('/').fold(&json, |v, k| &v[k]);
        assert!(!target.is_null(), "{r} does not resolve");
    }
    // Every endpoint the router serves is documented, with its method.
    let paths = json["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/deployment", "get"),
        ("/v1/health", "get"),
        ("/v1/openapi.json", "get"),
        ("/v1/status", "get"),
        ("/v1/cluster", "get"),
        ("/v1/audit/export", "get"),
        ("/v1/me", "get"),
        ("/v1/people", "get"),
        ("/v1/people", "post"),
        ("/v1/people/{address}", "get"),
        ("/v1/people/{address}/keystore", "put"),
        ("/v1/people/{address}/keystore", "get"),
        ("/v1/people/{address}/keystore/claim", "post"),
        ("/v1/flows", "get"),
        ("/v1/flows", "post"),
        ("/v1/flows/{hash}", "get"),
        ("/v1/flows/{hash}/submit", "post"),
        ("/v1/flows/{hash}/authorizations", "post"),
        ("/v1/governance", "get"),
        ("/v1/governance", "post"),
        ("/v1/governance/{hash}", "get"),
        ("/v1/transfers", "get"),
        ("/v1/transfers", "post"),
        ("/v1/transfers/{id}", "get"),
        ("/v1/transfers/{id}/approvals", "post"),
        ("/v1/transfers/{id}/reject", "post"),
        ("/v1/approvals/pending", "get"),
        ("/v1/ceremony/messages", "post"),
        ("/v1/ceremony/signer", "get"),
        ("/v1/wallet", "get"),
        ("/v1/assets", "get"),
        ("/v1/typed-data", "get"),
        ("/v1/typed-data/transfer-request", "post"),
        ("/v1/transfers/{id}/typed-data", "get"),
        ("/v1/flows/{hash}/typed-data", "get"),
        ("/v1/governance/{hash}/typed-data", "get"),
        ("/v1/governance/typed-data", "post"),
    ] {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} is not documented");
    }
    // Issue 11: the keystore is read signed only; an issued one is claimed
    // once with its token, with one answer for every failure; JSON bodies only.
    let get_ks = &paths["/v1/people/{address}/keystore"]["get"];
    assert!(
        get_ks["security"].as_array().unwrap().iter().all(|s| !s.as_object().unwrap().is_empty()),
        "the keystore read is signed only: {get_ks}"
    );
    let claim = &paths["/v1/people/{address}/keystore/claim"]["post"];
    assert!(claim["responses"]["404"]["description"].as_str().unwrap().contains("same answer"), "{claim}");
    let text = format!(
        "{} {}",
        claim["summary"].as_str().unwrap_or_default(),
        claim["description"].as_str().unwrap_or_default()
    );
    assert!(text.contains("once") && text.contains("signed"), "{claim}");
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            if op.get("requestBody").is_some() && path != "/v1/ceremony/messages" {
                assert!(op["responses"].get("415").is_some(), "{method} {path} does not document 415");
            }
        }
    }
    let about = json["info"]["description"].as_str().unwrap();
    assert!(about.contains("415 unsupported_media_type") && about.contains("source_throttled"), "{about}");
    assert!(!about.contains("key_locked"), "{about}");
    // The reference validator accepts it.
    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join("box-gateway-openapi.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
    let out = Command::new(validator()).arg(&file).output().unwrap();
    assert!(
        out.status.success(),
        "openapi-spec-validator refused the document:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // And a deliberately broken copy is refused, so the check can fail.
    let mut broken = json.clone();
    broken["paths"]["/v1/me"]["get"]["responses"] = serde_json::json!("not an object");
    std::fs::write(&file, serde_json::to_vec(&broken).unwrap()).unwrap();
    assert!(!Command::new(validator()).arg(&file).output().unwrap().status.success(), "the validator accepts anything");
}

/// A flow's limits travel as box-core's `AssetLimit` (box-api's
/// `Eip712Json`), so issue 11's `maxFee` is in the document, required, as a
/// decimal string, with what it bounds.
#[test]
fn a_flow_limit_documents_its_fee_cap() {
    let json: serde_json::Value = serde_json::from_str(&box_gateway::api::openapi().to_json().unwrap()).unwrap();
    let limit = &json["components"]["schemas"]["BoxFlow"]["properties"]["limits"]["items"];
    assert!(limit["required"].as_array().unwrap().iter().any(|f| f == "maxFee"), "{limit}");
    let max_fee = &limit["properties"]["maxFee"];
    assert_eq!(max_fee["pattern"], "^[0-9]+$", "{max_fee}");
    let text = max_fee["description"].as_str().unwrap();
    assert!(text.contains("fee cap") && text.contains("ETH period limit"), "{text}");
}
