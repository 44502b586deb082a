//! Wallet-signable typed data (issue 14, item 9), over real HTTPS against a
//! real 3-node cluster: the API's `eth_signTypedData_v4` JSON of each object a
//! person signs is signed by an independent implementation
//! (`@metamask/eth-sig-util` from npm, run by node, `tools/test-support`),
//! and the gateway and the nodes' companions accept what it signed: the key
//! holders' flow authorizations make the flow authorized, the applicant's
//! request and both levels' approvals get the transfer notarized, a key
//! holder's pause pauses transfers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_api::client::decode;
use box_api::{AssetOut, Client, FlowState, GovernanceKind, GovernanceTypedData, Role, TransferState};
use box_core::Address;
use box_core::crypto::SecretKey;
use box_core::ids::{FlowHash, TransferId};
use box_gateway::Gateway;
use box_gateway::config::GatewayConfig;
use box_testkit::{Cluster, eventually, free_port};
use common::*;
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Signs each `(key, typed data)` with @metamask/eth-sig-util (node).
fn eth_sig_util(jobs: &[(&SecretKey, &Value)]) -> Vec<String> {
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools");
    assert!(
        tools.join("node_modules/@metamask/eth-sig-util").is_dir(),
        "run `npm ci --prefix tools` first (tools/test does)"
    );
    let input: Vec<Value> = jobs
        .iter()
        .map(|(k, td)| json!({ "key": format!("0x{}", hex::encode(k.expose_bytes())), "typedData": td }))
        .collect();
    let mut child = Command::new("node")
        .arg(tools.join("test-support/sign-typed-data.mjs"))
        .current_dir(&tools)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node is needed");
    child.stdin.take().unwrap().write_all(&serde_json::to_vec(&input).unwrap()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "sign-typed-data.mjs failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn post<T: serde::de::DeserializeOwned>(c: &Client, path: &str, body: &Value) -> Result<T, String> {
    decode(c.send("POST", path, body.to_string().into_bytes(), true).await.unwrap()).map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_made_by_an_independent_library_over_the_apis_typed_data_are_accepted() {
    let cluster = Cluster::start(&box_node(), 3, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(&cluster, dir.path(), &Db::Sqlite, free_port(), TEST_LIMITS);
    let gw = Gateway::start(&GatewayConfig::load(&cfg).unwrap()).await.unwrap();
    let p = People::new();
    let admin = client(&cluster, gw.addr, &p.admin);

    // The catalogue is public and names the domain as wallets read it.
    let anon = client(&cluster, gw.addr, &box_testkit::key("nobody"));
    let cat = anon.typed_data_catalogue().await.unwrap();
    assert_eq!(cat.domain["chainId"], json!(box_testkit::CHAIN_ID));
    assert_eq!(cat.domain["salt"], json!(cluster.domain.deployment.0.to_string()));
    for t in ["EIP712Domain", "ApiRequest", "TransferRequest", "Approval", "FlowAuthorization", "PauseTransfers"] {
        assert!(cat.types[t].is_array(), "{t} is in the catalogue");
    }

    // The asset registry with the chain's decimals, for clients that turn units into base units.
    let assets = admin.assets().await.unwrap();
    assert_eq!(assets[0], AssetOut { asset: Address::ZERO, symbol: "ETH".into(), decimals: 18 });

    // A flow, authorized by every key holder through eth-sig-util.
    admin.register(p.employee.address(), "Erin", &[Role::Employee]).await.unwrap();
    for (i, a) in p.l1.iter().chain(&p.l2).enumerate() {
        // l2[0] is also in the flow's employee group.
        let roles: &[Role] =
            if a.address() == p.l2[0].address() { &[Role::Approver, Role::Employee] } else { &[Role::Approver] };
        admin.register(a.address(), &format!("Approver {i}"), roles).await.unwrap();
    }
    let flow = flow_with(&p, 1, 1);
    let hash: FlowHash = admin.create_flow(&flow).await.unwrap().hash;
    admin.submit_flow(hash).await.unwrap();
    wait_flow(&admin, hash, FlowState::Notarized).await;
    for kh in &cluster.key_holders {
        let c = client(&cluster, gw.addr, kh);
        let td = c.flow_typed_data(hash, true).await.unwrap();
        assert_eq!(td.hash, hash);
        assert_eq!(td.flow["primaryType"], "BoxFlow");
        assert_eq!(td.authorization["message"], json!({ "flowHash": hash.to_string(), "enable": true }));
        let sig = eth_sig_util(&[(kh, &td.authorization)]).remove(0);
        post::<Value>(&c, &format!("/v1/flows/{hash}/authorizations"), &json!({ "enable": true, "signature": sig }))
            .await
            .unwrap();
    }
    wait_flow(&admin, hash, FlowState::Authorized).await;
    anchor(&cluster, hash).await;
    wait_flow(&admin, hash, FlowState::Active).await;

    // An application: the API's typed data of the request, signed by eth-sig-util.
    let employee = client(&cluster, gw.addr, &p.employee);
    let req = request(hash, &p.employee, 10u128.pow(18), "typed-data-1");
    let req_json = serde_json::to_value(box_api::TransferRequestJson::from(req.clone())).unwrap();
    let td = employee.transfer_request_typed_data(&req).await.unwrap();
    assert_eq!(td["message"]["amount"], "1000000000000000000");
    let sig = eth_sig_util(&[(&p.employee, &td)]).remove(0);
    let applied: Value =
        post(&employee, "/v1/transfers", &json!({ "request": req_json, "signature": sig })).await.unwrap();
    let id: TransferId = serde_json::from_value::<box_api::TransferOut>(applied).unwrap().id;
    assert_eq!(id, cluster.domain.transfer_id(&req));

    // Each level approves by signing the Approval the API shows for its open level.
    for (level, approver) in [(1u32, &p.l1[0]), (2, &p.l2[1])] {
        let c = client(&cluster, gw.addr, approver);
        let t = c.transfer_typed_data(&id).await.unwrap();
        assert_eq!(t.id, id);
        assert_eq!(t.open_level, Some(level));
        let approval = t.approval.unwrap();
        assert_eq!(approval["primaryType"], "Approval");
        assert_eq!(approval["message"]["request"], t.request["message"], "the approval nests the request");
        let sig = eth_sig_util(&[(approver, &approval)]).remove(0);
        post::<Value>(&c, &format!("/v1/transfers/{id}/approvals"), &json!({ "level": level, "signature": sig }))
            .await
            .unwrap();
    }
    // The companions accept the transbox: notarized (no signer runs here).
    wait_transfer(&employee, &id, TransferState::Notarized).await;

    // A key holder's pause, drafted and signed through the typed data.
    let kh = &cluster.key_holders[0];
    let c = client(&cluster, gw.addr, kh);
    let draft = json!({ "paused": true, "reason": "typed data drill", "nonce": 9 });
    let g = c.draft_governance(GovernanceKind::PauseTransfers, draft.clone()).await.unwrap();
    assert_eq!(g.typed_data["message"], draft);
    let sig = eth_sig_util(&[(kh, &g.typed_data)]).remove(0);
    post::<Value>(&c, "/v1/governance", &json!({ "action": g.action, "signature": sig })).await.unwrap();
    let back: GovernanceTypedData = c.governance_typed_data(g.hash).await.unwrap();
    assert_eq!(back, g, "the pending action reads back as the same typed data");
    eventually("transfers paused", Duration::from_secs(90), || async {
        admin.status().await.ok().and_then(|s| s.paused).filter(|r| r.contains("typed data drill"))
    })
    .await;

    // A signature over other typed data is refused.
    let other = json!({ "paused": false, "reason": "x", "nonce": 9 });
    let g2 = c.draft_governance(GovernanceKind::PauseTransfers, other).await.unwrap();
    let e = post::<Value>(&c, "/v1/governance", &json!({ "action": g2.action, "signature": sig })).await.unwrap_err();
    assert!(e.contains("bad_governance_signature"), "{e}");
    gw.stop().await;
}
