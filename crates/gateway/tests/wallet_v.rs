//! Signatures with v = 0/1, as Ledger devices return them (issue 14, item 10),
//! over real HTTPS against a real 3-node cluster: the gateway accepts them in
//! the request header and in an approval, stores and shows them with v 27/28,
//! never counts the other spelling of the same approval again, and the
//! companions notarize the transfer (the chain's canonical encoding, which
//! still refuses 0/1, gets only the 27/28 form).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use box_api::client::RawResponse;
use box_api::{Client, TransferState};
use box_core::B256;
use box_core::crypto::SecretKey;
use box_core::ids::TransferId;
use box_gateway::Gateway;
use box_gateway::config::GatewayConfig;
use box_testkit::{Cluster, free_port};
use common::*;
use serde_json::{Value, json};

/// `sig` as a device returns it: v 0 or 1.
fn device_form(sig: &box_core::Signature) -> String {
    let mut b = sig.as_bytes();
    b[64] -= 27;
    format!("0x{}", hex::encode(b))
}

fn body(r: &RawResponse) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_default()
}

/// Posts `approval` for `id` with the request header's signature in the device form too.
async fn post_approval(c: &Client, id: &TransferId, approval: &Value, nonce: u8) -> RawResponse {
    let path = format!("/v1/transfers/{id}/approvals");
    let bytes = approval.to_string().into_bytes();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let mut h = c.sign_headers("POST", &path, &bytes, now, B256::repeat_byte(nonce));
    let mut sig = hex::decode(h[3].1.trim_start_matches("0x")).unwrap();
    sig[64] -= 27;
    h[3].1 = format!("0x{}", hex::encode(sig));
    c.send_with("POST", &path, bytes, &h).await.unwrap()
}

/// The approval of `approver` at the open level of `id`, signed.
async fn approval_of(
    cluster: &Cluster,
    c: &Client,
    approver: &SecretKey,
    id: &TransferId,
) -> (u32, box_core::Signature) {
    let (_, tb, level) = c.verified_transfer(id).await.unwrap();
    (level, cluster.domain.sign(approver, &tb.approval_for(level as usize)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_signed_with_v_0_or_1_count_once_and_are_stored_as_27_or_28() {
    let cluster = Cluster::start(&box_node(), 3, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(&cluster, dir.path(), &Db::Sqlite, free_port(), TEST_LIMITS);
    let gw = Gateway::start(&GatewayConfig::load(&cfg).unwrap()).await.unwrap();
    let p = People::new();
    // Level 1 needs 2 of 3: a second count of one approver would close it.
    let hash = active_flow(&cluster, gw.addr, &p, 1).await;
    let employee = client(&cluster, gw.addr, &p.employee);
    let id = employee.apply(&request(hash, &p.employee, 10u128.pow(18), "ledger-v")).await.unwrap().id;

    // Level 1, first approver: a device signature (v 0/1) in the header and the body.
    let lead = client(&cluster, gw.addr, &p.l1[0]);
    let (level, sig) = approval_of(&cluster, &lead, &p.l1[0], &id).await;
    let r = post_approval(&lead, &id, &json!({ "level": level, "signature": device_form(&sig) }), 1).await;
    assert_eq!(r.status, 200, "{}", body(&r));
    let canonical = format!("0x{}", hex::encode(sig.as_bytes()));
    assert!(canonical.ends_with("1b") || canonical.ends_with("1c"));
    let shown = body(&r)["levels"][0]["signatures"].clone();
    assert_eq!(shown, json!([{ "approver": p.l1[0].address().to_checksum(None), "signature": canonical }]));

    // The same approval again, in either spelling: it never counts a second time.
    for (spelling, nonce) in [(canonical.clone(), 2u8), (device_form(&sig), 3)] {
        let r = post_approval(&lead, &id, &json!({ "level": level, "signature": spelling }), nonce).await;
        assert_eq!((r.status, body(&r)["code"].clone()), (409, json!("already_approved")), "{}", body(&r));
    }
    let raw = lead.send("GET", &format!("/v1/transfers/{id}"), vec![], true).await.unwrap();
    let t = body(&raw);
    assert_eq!(t["openLevel"], json!(1), "level 1 is still open: one approval of 2");
    assert_eq!(t["levels"][0]["signatures"].as_array().unwrap().len(), 1);

    // The second lead approves as usual, the finance approver with a device signature.
    client(&cluster, gw.addr, &p.l1[1]).approve(&id).await.unwrap();
    let finance = client(&cluster, gw.addr, &p.l2[1]);
    let (level, sig) = approval_of(&cluster, &finance, &p.l2[1], &id).await;
    assert_eq!(level, 2);
    let r = post_approval(&finance, &id, &json!({ "level": 2, "signature": device_form(&sig) }), 4).await;
    assert_eq!(r.status, 200, "{}", body(&r));
    // The companions verify the transbox the gateway relays: only the canonical form reaches them.
    wait_transfer(&employee, &id, TransferState::Notarized).await;
    gw.stop().await;
}
